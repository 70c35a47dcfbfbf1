#!/usr/bin/env bash
# test/tap/held_snapshot.sh: leases stay cheap and correct while a snapshot
# is held.
#
# Against the cluster named by the PG* variables.  A REPEATABLE READ
# transaction is held open in the background, so that vacuum cannot remove
# the index entries of leased tasks; 3,000 executions are started and
# their tasks leased and completed one per transaction.  Then:
#   - every task was done exactly once;
#   - one lease reads a handful of index entries, although 3,000 dead ones
#     lie at the start of queue_ready_idx; with the queue's mark forgotten
#     (a SQL statement wrote the queue) the next lease reads them all, which
#     shows the held snapshot is in effect, and once the mark was raised
#     again (by the lease after it) a lease reads a handful again;
#   - tasks made ready behind the mark are leased: a task of higher
#     priority, a retry, a released task, a leased task an administrator's
#     UPDATE put back, and one put back by a write no trigger sees (found by
#     the sweep below the mark, within two minutes).
# The test's tasks have a tool of their own and a priority above the other
# tests' (so their entries come first in the index, before any task other
# tests leave behind). Without the library preloaded (no shared memory, no
# mark) the entry counts are skipped; the rest holds either way.
set -u
n=0; failed=0
ok() {  # ok CONDITION-STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
# lease_reads: index entries of queue_ready_idx one lease of a held_probe
# task reads (visible or not), in a transaction rolled back
lease_reads() {
    psql -XAtq -v ON_ERROR_STOP=1 <<SQL | tail -1
BEGIN;
SELECT count(*) FROM noetl.lease('held-probe', 1, 60, ARRAY['$T']);
SELECT pg_stat_get_xact_tuples_returned('noetl.queue_ready_idx'::regclass);
ROLLBACK;
SQL
}
# a tool and paths of this run's own: the database may hold other runs' rows
T=held_probe_$$
echo "1..14"
preloaded=$(q "SELECT current_setting('shared_preload_libraries') ~ '(^|[ ,])noetl([ ,]|$)'")

q "SELECT noetl.register(E'metadata: {path: tests/held/$T/one}\nworkflow:\n  - step: start\n    next: [task]\n  - step: task\n    tool: $T\n    priority: 500000\n    code: x\n    retry: {max_attempts: 2, initial_delay: 0}\n')" >/dev/null
q "SELECT noetl.register(E'metadata: {path: tests/held/$T/other}\nworkflow:\n  - step: start\n    next: [task]\n  - step: task\n    tool: ${T}_other\n    priority: 500000\n    code: x\n')" >/dev/null
q "SELECT noetl.register(E'metadata: {path: tests/held/$T/urgent}\nworkflow:\n  - step: start\n    next: [task]\n  - step: task\n    tool: $T\n    priority: 600000\n    code: x\n')" >/dev/null

# Another test's task left ready (or waiting to retry) at a priority above
# this test's pins the mark before the 3,000 dead entries, and the first
# lease then reads them all: this test needs the queue to itself, so it
# cancels whatever earlier tests left running (the broker fuzzer's tasks of
# priority 1000000 of a tool nobody runs, say).
q "SELECT count(noetl.cancel(execution_id)) FROM noetl.execution WHERE status = 'running'" >/dev/null

# the catalog ids of this test's playbooks (the database may hold others' rows)
mine=$(q "SELECT string_agg(catalog_id::text, ',') FROM noetl.catalog WHERE path LIKE 'tests/held/$T/%'")

# the snapshot, held until the end
psql -XAtq -v ON_ERROR_STOP=1 -c "SET application_name = 'held-snapshot-test'" \
     -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT 1" \
     -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
holder=$!
cleanup() {
    q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'held-snapshot-test'" >/dev/null 2>&1
    kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
}
trap cleanup EXIT
for i in $(seq 1 100); do
    [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'held-snapshot-test' AND backend_xmin IS NOT NULL")" = 1 ] && break
    sleep 0.1
done
ok $([ "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'held-snapshot-test' AND backend_xmin IS NOT NULL")" = 1 ]; echo $?) \
   "a REPEATABLE READ transaction holds a snapshot"

q "SELECT count(noetl.execute('tests/held/$T/one')) FROM generate_series(1, 3000)" >/dev/null
for i in $(seq 1 3000); do
    echo "SELECT count(noetl.complete(queue_id, lease_token, '{}')) FROM noetl.lease('held-w', 1, 60, ARRAY['$T']);"
done | psql -XAtq -v ON_ERROR_STOP=1 >/dev/null
ok $? "3,000 tasks leased and completed, one per transaction"
ok $([ "$(q "SELECT count(*) FILTER (WHERE status = 'done' AND attempts = 1) || ' ' || count(*) FROM noetl.queue WHERE tool = '$T'")" = "3000 3000" ] &&
     [ "$(q "SELECT count(*) FROM noetl.execution WHERE status = 'completed' AND catalog_id IN ($mine)")" = 3000 ]; echo $?) \
   "every task was done exactly once, every execution completed"

q "SELECT count(noetl.execute('tests/held/$T/one')) FROM generate_series(1, 20)" >/dev/null
if [ "$preloaded" = t ]; then
    r1=$(lease_reads)
    ok $([ "${r1:-99999}" -lt 50 ]; echo $?) "one lease reads ${r1:-?} index entries, with 3,000 dead ones before the ready ones"
    [ "${r1:-99999}" -lt 50 ] || echo "#   tasks of other tools that may be ready: $(q "SELECT coalesce(string_agg(tool || ' ' || status || ' ' || priority, ', '), 'none') FROM noetl.queue WHERE status IN ('queued', 'retry') AND tool <> '$T'")"
    q "UPDATE noetl.queue SET priority = priority WHERE false" >/dev/null
    r2=$(lease_reads)
    ok $([ "${r2:-0}" -ge 3000 ]; echo $?) "with the mark forgotten (a SQL statement wrote the queue), a lease reads them all: ${r2:-?}"
    q "SELECT count(*) FROM noetl.lease('held-raise', 1, 60, ARRAY['no such tool'])" >/dev/null
    r3=$(lease_reads)
    ok $([ "${r3:-99999}" -lt 50 ]; echo $?) "once a lease raised the mark, one reads ${r3:-?} again"
else
    skip "lease reads: noetl is not preloaded, there is no mark"
    skip "lease reads with the mark forgotten: not preloaded"
    skip "lease reads after a raise: not preloaded"
fi

# drain the 20 (the last lease's raise moves the mark past them)
for i in $(seq 1 21); do
    echo "SELECT count(noetl.complete(queue_id, lease_token, '{}')) FROM noetl.lease('held-w', 1, 60, ARRAY['$T']);"
done | psql -XAtq -v ON_ERROR_STOP=1 >/dev/null
ok $([ "$(q "SELECT count(*) FROM noetl.queue WHERE tool = '$T' AND status <> 'done'")" = 0 ]; echo $?) "the queue is drained"

# a task of higher priority sorts before the mark: it is leased
urgent=$(q "SELECT noetl.execute('tests/held/$T/urgent')")
got=$(q "SELECT execution_id FROM noetl.lease('held-w', 1, 60, ARRAY['$T'])")
ok $([ "$got" = "$urgent" ]; echo $?) "a task queued with a higher priority after the mark moved is leased"

# a retry and a release put a task back behind later ones that were
# leased: q1 and q2 are leased, then 40 later tasks are leased and
# completed, and the leases stepping over their entries raise the mark past
# all of them
e1=$(q "SELECT noetl.execute('tests/held/$T/one')")
e2=$(q "SELECT noetl.execute('tests/held/$T/one')")
q "SELECT count(noetl.execute('tests/held/$T/one')) FROM generate_series(1, 40)" >/dev/null
read -r q1 t1 < <(psql -XAtq -F ' ' -c "SELECT queue_id, lease_token FROM noetl.lease('held-w', 1, 600, ARRAY['$T']) WHERE execution_id = $e1")
read -r q2 t2 < <(psql -XAtq -F ' ' -c "SELECT queue_id, lease_token FROM noetl.lease('held-w', 1, 600, ARRAY['$T']) WHERE execution_id = $e2")
for i in $(seq 1 42); do
    echo "SELECT count(noetl.complete(queue_id, lease_token, '{}')) FROM noetl.lease('held-w', 1, 60, ARRAY['$T']);"
done | psql -XAtq -v ON_ERROR_STOP=1 >/dev/null
e3=$(q "SELECT noetl.execute('tests/held/$T/one')")   # one ready task after them
if [ "$preloaded" = t ]; then
    # the minute's sweep below the mark (2,000 entries a lease) may be under
    # way: it ends within two leases, after which a lease starts at the mark,
    # whereas a mark left behind q1 would have every lease read the 40 again
    reads=""
    for i in 1 2 3; do
        r=$(lease_reads)
        reads="$reads ${r:-?}"
        [ "${r:-99}" -lt 40 ] && break
    done
    ok $([ "${r:-99}" -lt 40 ]; echo $?) "the mark is past the two leased tasks and the 40 done (leases read$reads entries)"
else
    skip "the mark: not preloaded"
fi
q "SELECT noetl.fail($q1, '$t1', 'try again')" >/dev/null
got=$(q "SELECT queue_id || ' ' || attempts FROM noetl.lease('held-w', 1, 600, ARRAY['$T'])")
ok $([ "$got" = "$q1 2" ]; echo $?) "a failed task waiting to retry is leased again (${got:-nothing})"
q "SELECT noetl.release($q2, '$t2')" >/dev/null
got=$(q "SELECT queue_id || ' ' || attempts FROM noetl.lease('held-w', 1, 600, ARRAY['$T'])")
ok $([ "$got" = "$q2 1" ]; echo $?) "a released task is leased again, its attempt uncounted (${got:-nothing})"

# an administrator puts a leased task back by hand (UPDATE ... SET status =
# 'queued', as one does with a stuck lease) after the mark moved past it
e4=$(q "SELECT noetl.execute('tests/held/$T/one')")
q4=$(q "SELECT queue_id FROM noetl.lease('held-stuck', 10, 600, ARRAY['$T']) WHERE execution_id = $e4")
q "UPDATE noetl.queue SET priority = priority WHERE false" >/dev/null   # forget the mark ...
for i in 1 2 3; do                                                     # ... and raise it past q4
    q "SELECT count(*) FROM noetl.lease('held-w', 1, 60, ARRAY['no such tool'])" >/dev/null
done
q "UPDATE noetl.queue SET status = 'queued', worker_id = NULL, lease_until = NULL WHERE queue_id = $q4" >/dev/null
read -r got admin_token < <(psql -XAtq -F ' ' -c "SELECT queue_id, lease_token FROM noetl.lease('held-admin', 1, 60, ARRAY['$T'])")
ok $([ "$got" = "$q4" ]; echo $?) "a task a SQL UPDATE made ready, behind the mark, is leased (${got:-nothing})"
[ -n "${admin_token:-}" ] && q "SELECT noetl.complete($got, '$admin_token', '{}')" >/dev/null
admin_token=

# a write no trigger sees (as a replica applies rows): the periodic sweep
# below the mark finds it (within two periods of 60 s)
e5=$(q "SELECT noetl.execute('tests/held/$T/one')")
q5=$(q "SELECT queue_id FROM noetl.lease('held-stuck', 10, 600, ARRAY['$T']) WHERE execution_id = $e5")
e6=$(q "SELECT noetl.execute('tests/held/$T/other')")   # a ready task after q5, of another tool
q "UPDATE noetl.queue SET priority = priority WHERE false" >/dev/null   # forget the mark ...
for i in 1 2 3; do                                                     # ... and raise it past q5
    q "SELECT count(*) FROM noetl.lease('held-w', 1, 60, ARRAY['no such tool'])" >/dev/null
done
psql -XAtq -v ON_ERROR_STOP=1 -c "SET session_replication_role = replica" \
     -c "UPDATE noetl.queue SET status = 'queued', worker_id = NULL, lease_until = NULL WHERE queue_id = $q5" >/dev/null
got=
for i in $(seq 1 150); do   # (the leases held last 600 s: nothing else of ours becomes ready)
    read -r got admin_token < <(psql -XAtq -F ' ' -c "SELECT queue_id, lease_token FROM noetl.lease('held-admin', 1, 60, ARRAY['$T'])")
    [ -n "$got" ] && break
    sleep 1
done
ok $([ "$got" = "$q5" ]; echo $?) "a task made ready by a write no trigger sees is leased within two sweeps (after ${i} s)"
ok $([ "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'held-snapshot-test' AND backend_xmin IS NOT NULL")" = 1 ]; echo $?) \
   "the snapshot was held throughout"

cleanup
# leave no task of ours ready or leased (an expired lease would be retried),
# since nobody would lease it again
[ -n "${admin_token:-}" ] && q "SELECT noetl.complete($got, '$admin_token', '{}')" >/dev/null
q "SELECT count(noetl.cancel(execution_id)) FROM noetl.execution WHERE catalog_id IN ($mine) AND status = 'running'" >/dev/null
[ "$failed" = 0 ]
