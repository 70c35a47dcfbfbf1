#!/usr/bin/env bash
# test/tap/lease_expiry.sh: a worker that dies does not keep its task.
#
# Against the cluster named by the PG* variables, whose broker worker
# serves $PGDATABASE (with noetl.lease_check_interval at most a few seconds).  A task leased for
# one second and never finished is leased again with attempts = 2; when
# that lease runs out too, with max_attempts reached, the execution fails
# with "lease expired".  A heartbeat keeps a lease alive.  A sub-playbook
# step's row, leased by its child execution with no lease end, never
# expires.
set -u
n=0; failed=0
ok() {  # ok CONDITION-STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
# wait_for SQL: polls (up to 15 s) until SQL returns t
wait_for() {
    local i
    for i in $(seq 1 150); do
        [ "$(q "$1")" = t ] && return 0
        sleep 0.1
    done
    return 1
}
echo "1..16"

q "SELECT noetl.register(E'metadata: {path: tests/lease/expiry}\nworkflow:\n  - step: start\n    next: [task]\n  - step: task\n    tool: lease_probe\n    code: x\n    retry: {max_attempts: 2, initial_delay: 0.2}\n')" >/dev/null
eid=$(q "SELECT noetl.execute('tests/lease/expiry')")
read -r first first_token < <(psql -XAtq -F ' ' -c "SELECT attempts, lease_token FROM noetl.lease('doomed-worker', 1, 1, ARRAY['lease_probe'])")
ok $([ "$first" = 1 ]; echo $?) "a worker leases the task for one second (attempts = $first)"

# the lease runs out; the broker worker sends the task back to retry, then it is due
wait_for "SELECT EXISTS (SELECT 1 FROM noetl.event WHERE execution_id = $eid AND event_type = 'step_retry')"
ok $? "the expired lease is reported and the task waits to retry"
ok $([ "$(q "SELECT error FROM noetl.event WHERE execution_id = $eid AND event_type = 'step_retry'")" = "lease expired" ]; echo $?) \
   "the retry records why: lease expired"
second=
for i in $(seq 1 150); do
    second=$(q "SELECT attempts FROM noetl.lease('second-worker', 1, 1, ARRAY['lease_probe'])")
    [ -n "$second" ] && break
    sleep 0.1
done
ok $([ "$second" = 2 ]; echo $?) "another worker leases it again, attempts = ${second:-none}"
late=$(psql -XAtq -c "SELECT noetl.complete(queue_id, '$first_token', '{}') FROM noetl.queue WHERE execution_id = $eid" 2>&1)
ok $(echo "$late" | grep -q 'is not leased with this token'; echo $?) "the first worker's late report is refused ($(echo "$late" | head -1))"
ok $(echo "$late" | grep -q 'second-worker'; [ $? = 1 ]; echo $?) "... and the refusal names no worker"

# the second lease runs out too: no attempt is left
wait_for "SELECT status = 'failed' FROM noetl.execution WHERE execution_id = $eid"
ok $? "with max_attempts reached, the execution fails"
ok $([ "$(q "SELECT q.status || ': ' || e.error FROM noetl.queue q JOIN noetl.event e ON e.execution_id = q.execution_id AND e.node_name = q.node_id WHERE q.execution_id = $eid AND e.event_type = 'step_failed'")" = "dead: lease expired" ]; echo $?) \
   "the task is dead, and step_failed says: lease expired"

# a heartbeat keeps the lease
eid2=$(q "SELECT noetl.execute('tests/lease/expiry')")
read -r qid2 token2 < <(psql -XAtq -F ' ' -c "SELECT queue_id, lease_token FROM noetl.lease('live-worker', 1, 1, ARRAY['lease_probe'])")
q "SELECT noetl.heartbeat($qid2, '$token2', 30)" >/dev/null
sleep 2.5
ok $([ "$(q "SELECT status || ' ' || attempts FROM noetl.queue WHERE queue_id = $qid2")" = "leased 1" ]; echo $?) \
   "a task whose lease was extended by a heartbeat stays leased"
ok $([ "$(q "SELECT count(*) FROM noetl.event WHERE execution_id = $eid2 AND event_type IN ('step_retry', 'action_error')")" = 0 ]; echo $?) \
   "... and no expiry was reported for it"
q "SELECT noetl.cancel($eid2)" >/dev/null

# expired leases whose reports cannot be applied (here: 150 tasks of an
# execution that does not exist, each expiry an error) do not hide an
# honest expired lease behind them, however many come first
q "INSERT INTO noetl.queue (queue_id, execution_id, catalog_id, node_id, node_name, tool, action,
                            status, attempts, worker_id, lease_until)
   SELECT -g, -1, 1, 'ghost' || g, 'ghost' || g, 'ghost', '{}', 'leased', 1, 'ghost', now() - interval '1 hour'
     FROM generate_series(1, 150) g" >/dev/null
eid3=$(q "SELECT noetl.execute('tests/lease/expiry')")
qid3=$(q "SELECT queue_id FROM noetl.lease('doomed-worker', 1, 1, ARRAY['lease_probe'])")
wait_for "SELECT count(*) > 0 FROM noetl.event WHERE queue_id = ${qid3:-0} AND error = 'lease expired'"
ok $? "an expired lease behind 150 whose expiry fails is still expired"
q "DELETE FROM noetl.queue WHERE execution_id = -1" >/dev/null
q "SELECT noetl.cancel($eid3)" >/dev/null

# a retry condition that would run for hours is stopped by its budget in
# the broker worker: the step fails, and the broker goes on
q "SELECT noetl.register(E'metadata: {path: tests/lease/runaway}\nworkflow:\n  - step: start\n    next: [task]\n  - step: task\n    tool: lease_probe\n    code: x\n    retry:\n      max_attempts: 3\n      retry_when: \"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}true\"\n')" >/dev/null
broker=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'noetl broker'")
eid4=$(q "SELECT noetl.execute('tests/lease/runaway')")
q "SELECT count(*) FROM noetl.lease('doomed-worker', 1, 1, ARRAY['lease_probe'])" >/dev/null
wait_for "SELECT status = 'failed' FROM noetl.execution WHERE execution_id = $eid4"
ok $? "a retry condition beyond noetl.template_max_steps, evaluated by the broker worker, fails the step"
ok $([ "$(q "SELECT count(*) FROM noetl.event WHERE execution_id = $eid4 AND event_type = 'warning' AND error LIKE '%noetl.template_max_steps%'")" = 1 ]; echo $?) \
   "... with a warning naming the budget"
eid5=$(q "SELECT noetl.execute('tests/lease/expiry')")
q "SELECT count(*) FROM noetl.lease('doomed-worker', 1, 1, ARRAY['lease_probe'])" >/dev/null
wait_for "SELECT count(*) > 0 FROM noetl.event WHERE execution_id = $eid5 AND error = 'lease expired'"
ok $([ $? = 0 ] && [ "$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'noetl broker'")" = "$broker" ]; echo $?) \
   "... and the same broker worker goes on expiring leases"
q "SELECT noetl.cancel($eid5)" >/dev/null
# a sub-playbook's row is held leased by its child, with no lease end: the
# broker worker's expiry never takes it, however long the child runs (here:
# while an honest lease started after it expires, and is reported)
q "SELECT noetl.register(E'metadata: {path: tests/lease/child}\nworkflow:\n  - step: start\n    tool: child_probe\n    code: x\n')" >/dev/null
q "SELECT noetl.register(E'metadata: {path: tests/lease/parent}\nworkflow:\n  - step: start\n    tool: playbook\n    path: tests/lease/child\n')" >/dev/null
eid6=$(q "SELECT noetl.execute('tests/lease/parent')")
eid7=$(q "SELECT noetl.execute('tests/lease/expiry')")
qid7=$(q "SELECT queue_id FROM noetl.lease('doomed-worker', 1, 1, ARRAY['lease_probe'])")
wait_for "SELECT count(*) > 0 FROM noetl.event WHERE queue_id = ${qid7:-0} AND error = 'lease expired'"
ok $? "a lease started after the child's row expires and is reported"
ok $([ "$(q "SELECT status || ' ' || attempts || ' ' || (lease_until IS NULL) || ' ' || (SELECT count(*) FROM noetl.event e WHERE e.execution_id = $eid6 AND e.event_type IN ('action_error', 'step_retry')) FROM noetl.queue WHERE execution_id = $eid6")" = "leased 1 true 0" ]; echo $?) \
   "... while the parent's row, held by its child, stays leased with no lease end and no expiry reported"
q "SELECT noetl.cancel($eid6), noetl.cancel($eid7)" >/dev/null
exit $((failed > 0))
