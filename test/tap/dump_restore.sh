#!/usr/bin/env bash
# test/tap/dump_restore.sh: a live system survives pg_dump and a restore.
#
# In a database of its own on the cluster named by the PG* variables, it
# starts executions in every state (completed, failed, cancelled, a task
# leased, tasks queued, a task waiting to retry), then dumps the database
# twice: as SQL text restored by psql -f, and in the custom format restored
# by pg_restore.  Each restored database must hold every row of every noetl
# table as it was (the event log included: rows restored by the table's
# owner are not taken for new events), and must then run the unfinished
# executions to completion: the leased task reported with the token its
# worker holds, the queued ones leased and completed anew.
set -u
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
tmp=$(mktemp -d)
chmod 755 "$tmp"
src=noetl_dump_src
dbs=("$src" noetl_dump_plain noetl_dump_custom)
cleanup() {
    local d
    for d in "${dbs[@]}"; do psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1; done
    rm -rf "$tmp"
}
trap cleanup EXIT
cleanup
mkdir -p "$tmp"

n=0; failed=0
ok() {  # ok STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
q() { local db=$1; shift; psql -XAtq -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
echo "1..13"

psql -XAtq -d postgres -c "CREATE DATABASE $src" >/dev/null || exit 1
q "$src" "CREATE EXTENSION noetl" >/dev/null || exit 1
psql -XAtq -v ON_ERROR_STOP=1 -d "$src" >/dev/null <<'SQL' || exit 1
SELECT noetl.register(E'metadata: {path: tests/dump/flow}\nworkflow:\n  - step: start\n    next: [a, b]\n  - step: a\n    tool: python\n    code: x\n    next: [end]\n  - step: b\n    tool: python\n    code: x\n    retry: {max_attempts: 3, initial_delay: 3600}\n    next: [end]\n  - step: end\n    result: {a: "{{ a.v }}", b: "{{ b.v }}"}\n');
CREATE TABLE held (execution_id bigint, queue_id bigint, lease_token text, node_id text);
CREATE FUNCTION run_all(eid bigint, fail_b boolean DEFAULT false) RETURNS void LANGUAGE plpgsql AS $$
DECLARE t record;
BEGIN
    FOR t IN SELECT * FROM noetl.lease('dumper', 100) LOOP
        IF t.execution_id <> eid THEN
            PERFORM noetl.release(t.queue_id, t.lease_token);
        ELSIF fail_b AND t.node_id = 'b' THEN
            PERFORM noetl.fail(t.queue_id, t.lease_token, 'no');
        ELSE
            PERFORM noetl.complete(t.queue_id, t.lease_token, jsonb_build_object('v', t.node_id));
        END IF;
    END LOOP;
END $$;
-- completed
SELECT run_all(noetl.execute('tests/dump/flow'));
-- b waits an hour to retry, a is done
SELECT run_all(noetl.execute('tests/dump/flow'), true);
-- cancelled
SELECT noetl.cancel(noetl.execute('tests/dump/flow'));
-- one task leased, its token kept by "the worker"; the other queued
SELECT noetl.execute('tests/dump/flow') AS e \gset
INSERT INTO held SELECT execution_id, queue_id, lease_token, node_id FROM noetl.lease('dumper', 1)
 WHERE execution_id = :e AND node_id = 'a';
-- both tasks queued
SELECT noetl.execute('tests/dump/flow');
SQL

# every row of every noetl table, in a comparable form
snapshot() {
    psql -XAtq -d "$1" -c "
        SELECT 'catalog', md5(string_agg(c::text, ',' ORDER BY catalog_id)) FROM noetl.catalog c
        UNION ALL SELECT 'execution', md5(string_agg(x::text, ',' ORDER BY execution_id)) FROM noetl.execution x
        UNION ALL SELECT 'step_state', md5(string_agg(s::text, ',' ORDER BY execution_id, step)) FROM noetl.step_state s
        UNION ALL SELECT 'queue', md5(string_agg(q::text, ',' ORDER BY queue_id)) FROM noetl.queue q
        UNION ALL SELECT 'event', md5(string_agg(e::text, ',' ORDER BY execution_id, event_id)) FROM noetl.event e
        UNION ALL SELECT 'events', count(*)::text FROM noetl.event"
}
snapshot "$src" >"$tmp/src.snap"
events=$(sed -n 's/^events|//p' "$tmp/src.snap")
running=$(q "$src" "SELECT count(*) FROM noetl.execution WHERE status = 'running'")
ok $([ "${events:-0}" -gt 20 ] && [ "$running" = 3 ]; echo $?) \
   "the source holds executions in every state ($events events, $running running)"

"$PGBIN/pg_dump" -d "$src" -f "$tmp/dump.sql" 2>"$tmp/dump.err"
ok $? "pg_dump writes the live database as SQL"
"$PGBIN/pg_dump" -Fc -d "$src" -f "$tmp/dump.custom" 2>>"$tmp/dump.err"
ok $? "pg_dump -Fc writes it in the custom format"

q postgres "CREATE DATABASE noetl_dump_plain" >/dev/null
psql -Xq -v ON_ERROR_STOP=1 -d noetl_dump_plain -f "$tmp/dump.sql" >/dev/null 2>"$tmp/plain.out"
ok $? "psql -f restores the SQL dump without an error"
q postgres "CREATE DATABASE noetl_dump_custom" >/dev/null
"$PGBIN/pg_restore" --exit-on-error -d noetl_dump_custom "$tmp/dump.custom" >"$tmp/custom.out" 2>&1
ok $? "pg_restore restores the custom dump without an error"
sed 's/^/# /' "$tmp/dump.err" "$tmp/plain.out" "$tmp/custom.out" | grep -v '^# SET\|^# $' | head -20

for db in noetl_dump_plain noetl_dump_custom; do
    snapshot "$db" >"$tmp/$db.snap"
    diff -q "$tmp/src.snap" "$tmp/$db.snap" >/dev/null
    same=$?
    ok $same "$db holds every row of the catalog, executions, step state, queue and event log as they were"
    [ $same = 0 ] || diff "$tmp/src.snap" "$tmp/$db.snap" | sed 's/^/# /'
done

# the restored databases go on running the executions
for db in noetl_dump_plain noetl_dump_custom; do
    psql -XAtq -v ON_ERROR_STOP=1 -d "$db" >/dev/null 2>"$tmp/$db.err" <<'SQL'
SELECT noetl.complete(queue_id, lease_token, '{"v": "held"}') FROM held;
SELECT run_all(execution_id) FROM noetl.execution WHERE status = 'running' ORDER BY execution_id;
SELECT run_all(execution_id) FROM noetl.execution WHERE status = 'running' ORDER BY execution_id;
SQL
    ok $? "$db: the held lease is reported with its worker's token, the queued tasks leased and completed"
    sed 's/^/# /' "$tmp/$db.err" | head -5
    # the execution whose b waits an hour to retry is still running; every other ran to its end
    left=$(q "$db" "SELECT count(*) FROM noetl.execution WHERE status = 'running'")
    retrying=$(q "$db" "SELECT count(*) FROM noetl.queue WHERE status = 'retry'")
    done_held=$(q "$db" "SELECT x.status || ' ' || (x.result ->> 'a') FROM noetl.execution x JOIN held h USING (execution_id)")
    ok $([ "$left" = 1 ] && [ "$retrying" = 1 ] && [ "$done_held" = "completed held" ]; echo $?) \
       "$db: the unfinished executions complete (running: $left, the one waiting to retry; held: $done_held)"
    ok $([ "$(q "$db" "SELECT count(*) - count(DISTINCT (execution_id, event_id)) FROM noetl.event")" = 0 ]; echo $?) \
       "$db: new events take ids of their own"
done

exit $((failed > 0))
