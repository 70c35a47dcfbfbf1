#!/usr/bin/env bash
# test/tap/e2e.sh: the examples, run end to end by the real worker.
#
# Against the cluster named by the PG* variables (noetl installed, its
# broker worker running): registers examples/, starts `noetl worker`, and
# runs each example with `noetl run --wait`, the http one against a local
# server on the loopback interface.  Then: a failing task, refused input, a
# worker stopped with SIGTERM that releases its task, a worker killed with
# SIGKILL mid-task whose task finishes on a second worker once the lease
# expires, and a worker that is never leased tools it does not run.
set -u
# shellcheck source=../lib/client_tap.sh
. "$(dirname "$0")/../lib/client_tap.sh"
echo "1..28"

[ -x "$NOETL" ] || { echo "Bail out! client/noetl is not built"; exit 1; }
python3 "$SRC/test/lib/http_server.py" 0 >"$tmp/http.port" 2>"$tmp/http.log" &
pids+=($!)
for i in $(seq 1 50); do [ -s "$tmp/http.port" ] && break; sleep 0.1; done
port=$(head -1 "$tmp/http.port")

"$NOETL" register "$SRC"/examples/*.yaml >"$tmp/register.out" 2>&1
ok $? "noetl register examples/*.yaml ($(wc -l <"$tmp/register.out") playbooks)"
start_worker e2e-a --jobs 2 --poll 1
worker_a=$worker

run hot examples/workbook_branches
ok $([ "$rc" = 0 ] && grep -q "completed" "$tmp/hot.out"; echo $?) "workbook_branches completes on the express lane (exit 0)"
ok $([ "$(q "SELECT string_agg(node_id, ',' ORDER BY node_id) FROM noetl.queue WHERE execution_id = $eid AND status = 'done'")" = "book_courier,classify,reserve_stock" ] \
     && [ "$(result)" = '{"lane": "express", "queued": null, "courier": "bike", "reserved": "A-1001"}' ]; echo $?) \
   "... having run classify, then reserve_stock and book_courier in parallel: $(result)"
run cold examples/workbook_branches --workload '{"order": {"id": "B-7", "total": 20}}'
ok $([ "$rc" = 0 ] && [ "$(q "SELECT string_agg(node_id, ',' ORDER BY node_id) FROM noetl.queue WHERE execution_id = $eid")" = "classify,queue_order" ] \
     && [ "$(q "SELECT result->>'queued' FROM noetl.execution WHERE execution_id = ${eid:-0}")" = B-7 ]; echo $?) \
   "workbook_branches completes on the standard lane (queue_order)"
run par examples/parallel_branches
ok $([ "$rc" = 0 ] && [ "$(result)" = '{"evens": [4, 2, 6], "total": 31, "largest": 9}' ]; echo $?) \
   "parallel_branches: three tasks at once, joined at end: $(result)"
run branch examples/branching
ok $([ "$rc" = 0 ] && [ "$(q "SELECT result->>'reason' FROM noetl.queue WHERE execution_id = $eid AND node_id = 'review'")" = "amount 1200 needs a review" ]; echo $?) \
   "branching: the large amount goes to review, with the transition's args"
run retry examples/retry
ok $([ "$rc" = 0 ] && [ "$(result)" = '{"attempts": 3}' ]; echo $?) "retry: a python task fails twice and succeeds on the third attempt"
ok $([ "$(q "SELECT count(*) FROM noetl.event WHERE execution_id = $eid AND event_type = 'step_retry'")" = 2 ] \
     && [ "$(q "SELECT attempts FROM noetl.queue WHERE execution_id = $eid AND node_id = 'flaky'")" = 3 ]; echo $?) \
   "... with two step_retry events and attempts = 3"
run http examples/http --workload "{\"base_url\": \"http://127.0.0.1:$port\"}"
ok $([ "$rc" = 0 ]; echo $?) "http: completes against a local server"
ok $([ "$(result)" = '{"echoed": {"received": {"count": 2, "first": {"id": 1, "name": "anvil"}}, "x_example": "noetl"}, "flaky_status": 200}' ]; echo $?) \
   "... GET with query parameters, POST of rendered args with a header: $(result)"
ok $([ "$(q "SELECT count(*) FROM noetl.event WHERE execution_id = $eid AND event_type = 'step_retry' AND node_name = 'flaky'")" = 2 ]; echo $?) \
   "... and two 503 answers retried by retry_when"
run pg examples/postgres
ok $([ "$rc" = 0 ] && [ "$(result)" = '{"evens": [2, 4], "label": "squares", "sum_of_squares": 55}' ]; echo $?) \
   "postgres: a query's rows, typed, feed a python task: $(result)"
q "CREATE TABLE e2e_canary (n int)" >/dev/null
run pgi examples/postgres --workload '{"n": 2, "label": "x'"'"'::text; DROP TABLE e2e_canary; --"}'
ok $([ "$rc" = 0 ] && [ "$(q "SELECT result->>'label' FROM noetl.execution WHERE execution_id = ${eid:-0}")" = "x'::text; DROP TABLE e2e_canary; --" ] \
     && [ "$(q "SELECT to_regclass('e2e_canary') IS NOT NULL")" = t ]; echo $?) \
   "postgres: a workload value meant as SQL stays a value (a bind parameter)"
q "DROP TABLE IF EXISTS e2e_canary" >/dev/null

# a failing task fails its execution, with the traceback in the log
"$NOETL" register - >/dev/null <<'YAML'
metadata: {path: tests/e2e/boom}
workflow:
  - step: start
    next: [boom]
  - step: boom
    tool: python
    code: |
      def main():
          raise ValueError("no such thing")
YAML
run boom tests/e2e/boom
ok $([ "$rc" = 1 ] && grep -q "failed" "$tmp/boom.out"; echo $?) "a task that raises fails the execution (exit 1)"
ok $([ "$(q "SELECT error FROM noetl.execution WHERE execution_id = $eid")" = "ValueError: no such thing" ] \
     && q "SELECT stack_trace FROM noetl.event WHERE execution_id = $eid AND event_type = 'action_error'" | grep -q 'line 2, in main'; echo $?) \
   "... with the exception as the error and its traceback as the stack trace"

# a task that outlives its timeout is killed and reported failed
"$NOETL" register - >/dev/null <<'YAML'
metadata: {path: tests/e2e/sleepy}
workflow:
  - step: start
    next: [sleepy]
  - step: sleepy
    tool: python
    timeout: 1
    code: |
      import time
      def main():
          time.sleep(30)
YAML
run sleepy tests/e2e/sleepy
ok $([ "$rc" = 1 ] && [ "$(q "SELECT error FROM noetl.execution WHERE execution_id = $eid")" = "timed out after 1 s" ]; echo $?) \
   "a task running past its timeout: is killed, and fails its execution"

# refused input
printf 'metadata: {path: x}\nworkflow: [{step: start, next: [nowhere]}]\n' >"$tmp/bad.yaml"
"$NOETL" register "$tmp/bad.yaml" >"$tmp/bad.out" 2>&1
ok $([ $? = 1 ] && grep -q 'step "nowhere" does not exist' "$tmp/bad.out"; echo $?) "noetl register refuses a broken playbook with the server's message"
"$NOETL" run no/such/playbook >"$tmp/nosuch.out" 2>&1
ok $([ $? = 2 ] && grep -q 'playbook "no/such/playbook" is not registered' "$tmp/nosuch.out"; echo $?) "noetl run of an unknown playbook says so"

# SIGTERM: the worker stops leasing, gives back what it cannot finish, exits 0
"$NOETL" register - >/dev/null <<'YAML'
metadata: {path: tests/e2e/slow}
workflow:
  - step: start
    next: [slow]
  - step: slow
    tool: python
    code: |
      import time
      def main():
          time.sleep(2)
          return {"slept": 2}
    retry: {max_attempts: 3, initial_delay: 0.2}
YAML
kill -TERM "$worker_a"; wait "$worker_a"
start_worker e2e-b --grace 1 --poll 1
slow=$("$NOETL" run tests/e2e/slow)
wait_for "SELECT worker_id = 'e2e-b' FROM noetl.queue WHERE execution_id = $slow"
kill -TERM "$worker"
wait "$worker"; status=$?
ok $([ "$status" = 0 ] && grep -q "released" "$tmp/e2e-b.log"; echo $?) "SIGTERM: the worker exits 0 after releasing the task it could not finish"
ok $([ "$(q "SELECT status || ' ' || attempts FROM noetl.queue WHERE execution_id = $slow")" = "queued 0" ] \
     && [ "$(q "SELECT count(*) FROM noetl.event WHERE execution_id = $slow AND event_type = 'action_released'")" = 1 ]; echo $?) \
   "... the task is queued again, its attempt uncounted"

# SIGKILL mid-task: the lease expires and another worker finishes the task
start_worker e2e-kill --lease-seconds 2 --poll 1
wait_for "SELECT status = 'leased' AND worker_id = 'e2e-kill' FROM noetl.queue WHERE execution_id = $slow"
ok $? "a worker leases the slow task"
sleep 0.5
# this worker's runners only: other workers may run on the machine
runners=$(pgrep -P "$worker" | tr '\n' ' ')
kill -KILL "$worker"
wait "$worker" 2>/dev/null
sleep 0.5
alive=0
# a zombie not yet reaped by init is dead
for p in $runners; do case $(ps -o stat= -p "$p") in ''|Z*) ;; *) alive=1 ;; esac; done
ok $([ -n "$runners" ] && [ "$alive" = 0 ]; echo $?) "SIGKILL: the worker's task process dies with it"
start_worker e2e-c --poll 1
wait_for "SELECT status = 'completed' FROM noetl.execution WHERE execution_id = $slow" 30
ok $? "the lease expires, and the task finishes on a second worker"
ok $([ "$(q "SELECT worker_id || ' ' || attempts FROM noetl.queue WHERE execution_id = $slow")" = "e2e-c 2" ] \
     && [ "$(q "SELECT error FROM noetl.event WHERE execution_id = $slow AND event_type = 'step_retry'")" = "lease expired" ]; echo $?) \
   "... done by e2e-c on attempt 2, after a step_retry for the expired lease"
kill -TERM "$worker"; wait "$worker"

# heartbeats keep a task alive past its lease
start_worker e2e-hb --lease-seconds 1 --poll 1
run hb tests/e2e/slow
ok $([ "$rc" = 0 ] && [ "$(q "SELECT attempts || ' ' || (SELECT count(*) FROM noetl.event e WHERE e.execution_id = q.execution_id AND e.event_type = 'step_retry') FROM noetl.queue q WHERE execution_id = $eid")" = "1 0" ]; echo $?) \
   "a 2 s task under 1 s leases completes on its first attempt: the worker heartbeats"
kill -TERM "$worker"; wait "$worker"

# noetl status: the list, and one execution's timeline
"$NOETL" status >"$tmp/status.out" 2>&1 && "$NOETL" status "$eid" >"$tmp/status1.out" 2>&1
ok $([ $? = 0 ] && grep -q "^$eid .*tests/e2e/slow v[0-9]* *completed" "$tmp/status.out" \
     && grep -q "action_completed *slow *e2e-hb" "$tmp/status1.out" \
     && grep -q "execution_complete" "$tmp/status1.out"; echo $?) \
   "noetl status lists the execution, and shows its timeline with the worker"

# a worker is never leased tasks of tools it does not run
start_worker e2e-http --tools http --poll 0.2
hello=$("$NOETL" run examples/hello)
sleep 1.5
ok $([ "$(q "SELECT status FROM noetl.queue WHERE execution_id = $hello")" = queued ]; echo $?) \
   "a worker running only http leaves a python task queued"
kill -TERM "$worker"; wait "$worker"
start_worker e2e-d --tools python --poll 1
wait_for "SELECT status = 'completed' FROM noetl.execution WHERE execution_id = $hello"
ok $? "... until a worker that runs python takes it"
kill -TERM "$worker"; wait "$worker"
exit $((failed > 0))
