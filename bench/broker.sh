#!/usr/bin/env bash
# bench/broker.sh: what the broker costs per event, in one run.
#
# (a) A task leased and reported (action_completed, which dispatches one
#     next task), against the floor of doing the same writes by hand with
#     no trigger: mark the queue row leased, insert the event row, mark the
#     queue row done, insert the next queue row (into copies of noetl.event
#     and noetl.queue with the same indexes).  Both sides lease by hand with
#     one UPDATE (the token "bench"), so that what is compared is the
#     report's cost, not noetl.lease's.  Target: <= 2.0x.
# (b) The same event in an execution that already has 10,000 events,
#     against one in a fresh execution.  Target: <= 1.2x.
#
# Each client works on its own execution of a long chain playbook
# (start -> s1 -> s2 -> ...), one event per transaction.  Time per event
# is pgbench's mean transaction latency (its per-transaction log), leaving
# out each connection's first transaction (preparing statements, loading
# the playbook).  Runs alternate and repeat ROUNDS times; the best of each
# is compared.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
CLIENTS=${CLIENTS:-2}
TX=${TX:-2000}
ROUNDS=${ROUNDS:-3}
ADVANCE=${ADVANCE:-3400}          # steps done beforehand: 3 events each
CHAIN=$((ADVANCE + TX * 2 + 100))
bench_setup

psql -Xq -v ON_ERROR_STOP=1 -v chain="$CHAIN" <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_event, bench_queue;
CREATE TABLE bench_event (LIKE noetl.event INCLUDING ALL);
CREATE TABLE bench_queue (LIKE noetl.queue INCLUDING ALL);
SELECT version FROM noetl.register((
    SELECT E'metadata:\n  path: bench/chain\nworkflow:\n  - step: start\n    next: [s1]\n' ||
           string_agg(format(E'  - step: s%s\n    tool: python\n    code: "def main(i): return i"\n    args: {i: "{{ execution_id }}"}\n    next: [s%s]\n', g, g + 1), '') ||
           format(E'  - step: s%s\n', :chain + 1)
      FROM generate_series(1, :chain) g)) \g /dev/null
SQL

dir=$(mktemp -d)
trap 'rm -rf "$dir"; bench_teardown' EXIT
# The client names the task it completes (pgbench keeps :step per client),
# so neither side pays for finding it.
cat >"$dir/noetl.sql" <<'EOF'
\set eid :base + :client_id
BEGIN;
UPDATE noetl.queue SET status = 'leased', worker_id = 'bench', attempts = attempts + 1,
       lease_until = clock_timestamp() + interval '60 s', lease_token = decode('1b32c28cb38c05480eccc1bd60ff97029b57a05c96718b96dad7e9d84894f549', 'hex')
 WHERE execution_id = :eid AND node_id = 's' || :step;
INSERT INTO noetl.event (execution_id, event_type, node_id, lease_token, result)
VALUES (:eid, 'action_completed', 's' || :step, 'bench', '{"status": "success", "data": {"v": 1}}');
END;
\set step :step + 1
EOF
cat >"$dir/floor.sql" <<'EOF'
\set eid :base + :client_id
BEGIN;
UPDATE bench_queue SET status = 'leased', worker_id = 'bench', attempts = attempts + 1,
       lease_until = clock_timestamp() + interval '60 s', lease_token = decode('1b32c28cb38c05480eccc1bd60ff97029b57a05c96718b96dad7e9d84894f549', 'hex')
 WHERE execution_id = :eid AND node_id = 's' || :step;
WITH ev AS (
    INSERT INTO bench_event (execution_id, event_id, event_type, node_id, node_name, result, created_at)
    VALUES (:eid, noetl.snowflake_id(), 'action_completed', 's' || :step, 's' || :step,
            '{"status": "success", "data": {"v": 1}}', clock_timestamp())
), up AS (
    UPDATE bench_queue SET status = 'done', result = '{"v": 1}', updated_at = clock_timestamp()
     WHERE execution_id = :eid AND node_id = 's' || :step
)
INSERT INTO bench_queue (queue_id, execution_id, catalog_id, node_id, node_name, tool, action)
VALUES (noetl.snowflake_id(), :eid, 1, 's' || :step + 1, 's' || :step + 1, 'python',
        '{"args": {"i": 1}, "code": "def main(i): return i", "tool": "python"}');
END;
\set step :step + 1
EOF

run() {  # run SCRIPT BASE FIRST_STEP: mean microseconds per event
    # Each client's first transaction prepares its statements and (for
    # noetl) loads the playbook: connection warm-up, left out of the mean.
    rm -f "$dir"/log.*
    (cd "$dir" && "$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -t "$TX" -D base="$2" -D step="$3" \
        -l --log-prefix="$dir/log" -f "$1" >/dev/null 2>&1) || { echo "pgbench failed: $1" >&2; exit 1; }
    cat "$dir"/log.* | awk '$2 > 0 { s += $3; n++ } END { if (n == 0) exit 1; printf "%.1f", s / n }'
}

# execution ids of this run: above any earlier run's
run_base=$(psql -XAtc "SELECT (coalesce(max(execution_id), 0) / 1000000000 + 1) * 1000000000 FROM noetl.execution")
best_floor=; best_fresh=; best_old=
min() { if [ -z "$1" ] || awk -v a="$2" -v b="$1" 'BEGIN { exit !(a < b) }'; then echo "$2"; else echo "$1"; fi; }
for r in $(seq 1 "$ROUNDS"); do
    fresh=$((run_base + 1000000 * r)); old=$((fresh + 500000)); floor=$((fresh + 700000))
    psql -Xq -v ON_ERROR_STOP=1 <<SQL
SET client_min_messages = warning;
INSERT INTO noetl.event (execution_id, event_type, context)
SELECT b + c, 'execution_start', '{"path": "bench/chain"}'
  FROM generate_series(0, $CLIENTS - 1) c, (VALUES ($fresh), ($old)) v(b);
INSERT INTO bench_queue (queue_id, execution_id, catalog_id, node_id, node_name, tool, action)
SELECT noetl.snowflake_id(), $floor + c, 1, 's1', 's1', 'python', '{}' FROM generate_series(0, $CLIENTS - 1) c;
SQL
    # age the "old" executions: ADVANCE steps, three events each
    for c in $(seq 0 $((CLIENTS - 1))); do
        psql -Xq -v ON_ERROR_STOP=1 <<SQL
DO \$\$
BEGIN
    FOR i IN 1..$ADVANCE LOOP
        UPDATE noetl.queue SET status = 'leased', lease_token = decode('1b32c28cb38c05480eccc1bd60ff97029b57a05c96718b96dad7e9d84894f549', 'hex')
         WHERE execution_id = $old + $c AND node_id = 's' || i;
        INSERT INTO noetl.event (execution_id, event_type, node_id, lease_token, result)
        VALUES ($old + $c, 'action_completed', 's' || i, 'bench', '{"v": 1}');
    END LOOP;
END
\$\$;
SQL
    done
    psql -Xq -c 'CHECKPOINT' 2>/dev/null
    events=$(psql -XAtc "SELECT min(n) FROM (SELECT count(*) n FROM noetl.event WHERE execution_id BETWEEN $old AND $old + $CLIENTS - 1 GROUP BY execution_id) s")
    # alternate the order from round to round, so neither side always runs first
    if [ $((r % 2)) = 1 ]; then
        f=$(run "$dir/floor.sql" "$floor" 1); n=$(run "$dir/noetl.sql" "$fresh" 1); o=$(run "$dir/noetl.sql" "$old" $((ADVANCE + 1)))
    else
        o=$(run "$dir/noetl.sql" "$old" $((ADVANCE + 1))); n=$(run "$dir/noetl.sql" "$fresh" 1); f=$(run "$dir/floor.sql" "$floor" 1)
    fi
    echo "round $r: µs per event: floor $f, noetl in a fresh execution $n, noetl in an execution with $events earlier events $o"
    best_floor=$(min "$best_floor" "$f"); best_fresh=$(min "$best_fresh" "$n"); best_old=$(min "$best_old" "$o")
done

# the runs must have done the work they claim
done_fresh=$(psql -XAtc "SELECT count(*) FROM noetl.queue WHERE execution_id BETWEEN $run_base AND $run_base + 1000000 * $ROUNDS + $CLIENTS AND execution_id % 1000000 < $CLIENTS AND status = 'done'")
echo "tasks completed through the broker in fresh executions: $done_fresh (expected $((ROUNDS * CLIENTS * TX)))"
# (a) again inside the server alone: one backend, a procedure that inserts
# one event per transaction, no client round trips
server=$(psql -XAtq -v ON_ERROR_STOP=1 -v rounds="$ROUNDS" -v n="$TX" <<'SQL'
SET client_min_messages = warning;
CREATE TEMP TABLE timing (side text, ms float8);
CREATE PROCEDURE pg_temp.events(eid bigint, first int, n int) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN first .. first + n - 1 LOOP
        UPDATE noetl.queue SET status = 'leased', worker_id = 'bench', attempts = attempts + 1,
               lease_until = clock_timestamp() + interval '60 s', lease_token = decode('1b32c28cb38c05480eccc1bd60ff97029b57a05c96718b96dad7e9d84894f549', 'hex')
         WHERE execution_id = eid AND node_id = 's' || i;
        INSERT INTO noetl.event (execution_id, event_type, node_id, lease_token, result)
        VALUES (eid, 'action_completed', 's' || i, 'bench', '{"status": "success", "data": {"v": 1}}');
        COMMIT;
    END LOOP;
END $$;
CREATE PROCEDURE pg_temp.floor(eid bigint, first int, n int) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN first .. first + n - 1 LOOP
        UPDATE bench_queue SET status = 'leased', worker_id = 'bench', attempts = attempts + 1,
               lease_until = clock_timestamp() + interval '60 s', lease_token = decode('1b32c28cb38c05480eccc1bd60ff97029b57a05c96718b96dad7e9d84894f549', 'hex')
         WHERE execution_id = eid AND node_id = 's' || i;
        WITH ev AS (
            INSERT INTO bench_event (execution_id, event_id, event_type, node_id, node_name, result, created_at)
            VALUES (eid, noetl.snowflake_id(), 'action_completed', 's' || i, 's' || i,
                    '{"status": "success", "data": {"v": 1}}', clock_timestamp())
        ), up AS (
            UPDATE bench_queue SET status = 'done', result = '{"v": 1}', updated_at = clock_timestamp()
             WHERE execution_id = eid AND node_id = 's' || i
        )
        INSERT INTO bench_queue (queue_id, execution_id, catalog_id, node_id, node_name, tool, action)
        VALUES (noetl.snowflake_id(), eid, 1, 's' || i + 1, 's' || i + 1, 'python',
                '{"args": {"i": 1}, "code": "def main(i): return i", "tool": "python"}');
        COMMIT;
    END LOOP;
END $$;
SELECT noetl.execute('bench/chain') AS eid \gset
INSERT INTO bench_queue (queue_id, execution_id, catalog_id, node_id, node_name, tool, action)
VALUES (noetl.snowflake_id(), :eid + 1, 1, 's1', 's1', 'python', '{}');
CALL pg_temp.events(:eid, 1, 20);    -- warm-up: statements prepared, playbook loaded
CALL pg_temp.floor(:eid + 1, 1, 20);
SELECT format($f$
    DO $d$ DECLARE t timestamptz; BEGIN FOR r IN 1 .. %1$s LOOP
        t := clock_timestamp(); CALL pg_temp.floor(%3$s + 1, 21 + (r - 1) * %2$s, %2$s);
        INSERT INTO timing VALUES ('floor', extract(epoch FROM clock_timestamp() - t) * 1000);
        t := clock_timestamp(); CALL pg_temp.events(%3$s, 21 + (r - 1) * %2$s, %2$s);
        INSERT INTO timing VALUES ('noetl', extract(epoch FROM clock_timestamp() - t) * 1000);
    END LOOP; END $d$ $f$, :rounds, :n, :eid) \gexec
SELECT format('%s %s', round((min(ms) FILTER (WHERE side = 'floor') * 1000 / :n)::numeric, 1),
                       round((min(ms) FILTER (WHERE side = 'noetl') * 1000 / :n)::numeric, 1)) FROM timing;
SQL
)
psql -Xq -c 'DROP TABLE bench_event, bench_queue'
awk -v f="$best_floor" -v n="$best_fresh" -v o="$best_old" -v s="$server" 'BEGIN {
    split(s, x, " ");
    printf "best: floor %.1f µs, noetl fresh %.1f µs, noetl after 10,000 events %.1f µs per event\n", f, n, o;
    printf "(a) ratio, time per event, noetl / hand-written writes: %.2f (target <= 2.00)\n", n / f;
    printf "(b) ratio, time per event, after 10,000 events / fresh: %.2f (target <= 1.20)\n", o / n;
    printf "(a) inside the server alone (one backend, no round trips): floor %.1f µs, noetl %.1f µs per event, ratio %.2f\n", x[1], x[2], x[2] / x[1] }'
