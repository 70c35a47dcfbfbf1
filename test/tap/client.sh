#!/usr/bin/env bash
# test/tap/client.sh: the noetl program's own behaviour.
#
# Against the cluster named by the PG* variables (noetl installed, its
# broker worker running): options that are refused (exit status 2, a
# message naming the option, nothing started), the application_name of
# each connection in pg_stat_activity and one a --dsn gives, a worker whose
# descriptors are all above FD_SETSIZE, the task fields the lease statement
# flattens (bind parameters, query parameters) or that the worker checks
# (an HTTP body nested too deep to pass on as JSON), what a task prints, and
# how noetl run --wait and noetl status show loops and child executions.
set -u
# shellcheck source=../lib/client_tap.sh
. "$(dirname "$0")/../lib/client_tap.sh"
stop_worker() { kill -TERM "$worker"; wait "$worker"; }
refused() {  # refused MESSAGE ARGS...: noetl ARGS exits 2 at once, saying MESSAGE
    local msg=$1; shift
    timeout 5 "$NOETL" "$@" >"$tmp/refused.out" 2>&1
    local status=$?
    ok $([ "$status" = 2 ] && grep -qF -- "$msg" "$tmp/refused.out"; echo $?) \
       "noetl $* is refused: $(head -1 "$tmp/refused.out")"
}
echo "1..46"

[ -x "$NOETL" ] || { echo "Bail out! client/noetl is not built"; exit 1; }

# refused options: the worker would otherwise start, and run until timeout kills it
refused 'invalid value "3x" for option --jobs' worker --jobs 3x
refused '--jobs must be in range 1..1000' worker --jobs 0
refused '--jobs must be in range 1..1000' worker --jobs 99999999999
refused '--lease-seconds must be in range 1..86400' worker --lease-seconds 0
refused '--lease-seconds must be in range 1..86400' worker --lease-seconds -5
refused 'invalid value "1.5" for option --lease-seconds' worker --lease-seconds 1.5
refused 'invalid value "soon" for option --poll' worker --poll soon
refused '--poll must be greater than 0' worker --poll 0
refused '--task-timeout must be greater than 0' worker --task-timeout -1
refused 'invalid value "inf" for option --task-timeout' worker --task-timeout inf
refused '--grace must be at least 0' worker --grace -0.5
refused 'invalid value "python,ftp" for option --tools' worker --tools python,ftp
refused 'invalid value "" for option --id' worker --id ''
refused "option '--jobs' requires an argument" worker --jobs
refused "unrecognized option '--jbos'" worker --jbos 2
refused 'invalid value "2x" for option --version' run examples/hello --version 2x
refused "unrecognized option '--bogus'" --bogus status

# application_name, and what a --dsn says
"$NOETL" register "$SRC"/examples/hello.yaml "$SRC"/examples/postgres.yaml - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/client/whoami}
workflow:
  - step: start
    next: [whoami]
  - step: whoami
    tool: postgres
    command: SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()
    next: [end]
  - step: end
    result: {name: "{{ whoami.rows[0].application_name }}"}
YAML
start_worker client-pg --tools postgres --poll 1
wait_for "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'noetl worker client-pg'"
ok $? "a running worker shows in pg_stat_activity as \"noetl worker client-pg\""
run whoami tests/client/whoami
whoami_q=$(q "SELECT queue_id FROM noetl.queue WHERE execution_id = ${eid:-0} AND node_id = 'whoami'")
ok $([ "$rc" = 0 ] && [ "$(result)" = "{\"name\": \"noetl task $whoami_q\"}" ] \
     && wait_for "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'noetl worker client-pg slot 0'" 5; echo $?) \
   "a postgres task's connection is \"noetl task QUEUE_ID\" while it runs it ($(result)), its slot's \"noetl worker ID slot N\" while idle"
"$NOETL" run examples/hello --wait >"$tmp/waiting.out" 2>&1 &
waiting=$!
pids+=("$waiting")
wait_for "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'noetl run'"
ok $? "noetl run --wait, waiting for a python worker, shows as \"noetl run\""
kill -TERM "$waiting"; wait "$waiting" 2>/dev/null
stop_worker
"$NOETL" --dsn "dbname=$PGDATABASE application_name=mine" worker --id client-dsn --poll 1 \
    2>>"$tmp/client-dsn.log" &
worker=$!
pids+=("$worker")
wait_for "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'mine'"
ok $? "an application_name in --dsn wins over the worker's own"
stop_worker
"$NOETL" --dsn "postgresql:///$PGDATABASE?host=$(printf %s "$PGHOST" | sed 's|/|%2F|g')" status >/dev/null 2>&1
ok $? "--dsn takes a URI"

# a worker whose descriptors are all above FD_SETSIZE (1024): poll, not select
(
    ulimit -n 4096 || exit 1
    for fd in $(seq 3 1100); do eval "exec $fd</dev/null"; done
    exec "$NOETL" worker --id client-fds --poll 1 2>>"$tmp/client-fds.log"
) &
worker=$!
pids+=("$worker")
run fds examples/postgres
ok $([ "$rc" = 0 ] && [ "$(result)" = '{"evens": [2, 4], "label": "squares", "sum_of_squares": 55}' ]; echo $?) \
   "a worker with 1100 descriptors open runs a postgres and a python task"
ok $(kill -0 "$worker" 2>/dev/null; echo $?) "... and is still running"
stop_worker

# the fields the lease statement flattens, and an HTTP body too deep to pass on
python3 "$SRC/test/lib/http_server.py" 0 >"$tmp/http.port" 2>"$tmp/http.log" &
pids+=($!)
for i in $(seq 1 50); do [ -s "$tmp/http.port" ] && break; sleep 0.1; done
port=$(head -1 "$tmp/http.port")
"$NOETL" register - >/dev/null <<'YAML'
metadata: {path: tests/client/fields}
workflow:
  - step: start
    next: [bind]
  - step: bind
    tool: postgres
    command: SELECT $1::text IS NULL AS is_null, $2 AS comma, $3 AS dash, $4 AS rs, $5::jsonb AS obj
    params: [null, "a,b", "-", "x\u001ey", {"k": [1, "2"]}]
    next: [query]
  - step: query
    tool: http
    method: GET
    url: "{{ workload.base_url }}/query"
    headers: {X-Example: "x, \"y\""}
    params: {rs: "x\u001ey", amp: "a&b=c", none: null}
    next: [deep]
  - step: deep
    tool: http
    method: GET
    url: "{{ workload.base_url }}/deep?n=100000"
    next: [talk]
  - step: talk
    tool: python
    code: |
      def main():
          print("said by the task")
          return {}
    next: [end]
  - step: end
    result:
      bind: "{{ bind.rows[0] }}"
      query: "{{ query.data }}"
      deep: "{{ deep.data | length }}"
YAML
start_worker client-fields --poll 1
run fields tests/client/fields --workload "{\"base_url\": \"http://127.0.0.1:$port\"}"
ok $([ "$rc" = 0 ]; echo $?) "a playbook of awkward fields completes"
ok $([ "$(q "SELECT result -> 'bind' FROM noetl.execution WHERE execution_id = ${eid:-0}")" = \
       '{"rs": "x\u001ey", "obj": {"k": [1, "2"]}, "dash": "-", "comma": "a,b", "is_null": true}' ]; echo $?) \
   "bind parameters: null, a comma, a dash, U+001E and an object, each as given"
ok $([ "$(q "SELECT result -> 'query' FROM noetl.execution WHERE execution_id = ${eid:-0}")" = \
       '{"query": {"rs": "x\u001ey", "amp": "a&b=c"}, "x_example": "x, \"y\""}' ]; echo $?) \
   "query parameters and a header: U+001E and & kept, a null one left out"
ok $([ "$(q "SELECT result ->> 'deep' FROM noetl.execution WHERE execution_id = ${eid:-0}")" = 200000 ]; echo $?) \
   "an HTTP body nested 100,000 deep is passed on as text, not as JSON"
ok $(kill -0 "$worker" 2>/dev/null; echo $?) "... and the worker is still running"
ok $(grep -q "said by the task" "$tmp/client-fields.log"; echo $?) "what a python task prints goes to the worker's log"
stop_worker

# noetl register prints what registration ignored to stderr, and still registers
"$NOETL" register - >"$tmp/register.out" 2>"$tmp/register.err" <<'YAML'
metadata: {path: tests/client/typo}
workflow:
  - {step: start, nexts: [end]}
  - {step: end}
YAML
rc=$?
ok $([ "$rc" = 0 ] && grep -q '^tests/client/typo version [0-9]* (-)$' "$tmp/register.out" &&
     [ "$(cat "$tmp/register.err")" = 'noetl: warning: -: workflow[0]: unknown key "nexts" (ignored)' ]; echo $?) \
   "noetl register prints a warning to stderr and registers: $(head -1 "$tmp/register.err")"

# loops and child executions: noetl run --wait's progress and noetl status (docs/loops.md, §4).
# No worker runs: the test leases and reports the python tasks itself, one at a time.
q "SELECT count(noetl.cancel(execution_id)) FROM noetl.execution WHERE status = 'running'" >/dev/null
task() {  # task [NODE_ID]: leases one python task and completes it, or fails it if it is NODE_ID
    q "SELECT CASE WHEN t.node_id = '${1:-}' THEN noetl.fail(t.queue_id, t.lease_token, 'boom')
                   ELSE noetl.complete(t.queue_id, t.lease_token, '{\"status\": \"success\", \"data\": 1}') END
         FROM noetl.lease('client-sql', 1, 60, ARRAY['python']) t" >/dev/null
}
wait_grep() {  # wait_grep PATTERN FILE: polls (10 s) until grep -E PATTERN FILE matches
    local i
    for i in $(seq 1 100); do grep -qE -- "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
widest() {  # widest FILE: the most characters a line of FILE has, its padding left out
    python3 -c 'import re, sys
lines = re.split("[\r\n]", open(sys.argv[1], encoding="utf-8").read())
print(max(len(l.rstrip(" ")) for l in lines))' "$1"
}
started() { sed -n 's/^execution \([0-9]*\) of .* started.*$/\1/p' "$1" | head -1; }
"$NOETL" register - >/dev/null 2>&1 <<'YAML'
metadata: {path: tests/client/loop}
workflow:
  - step: start
    next: [process_items]
  - step: process_items
    tool: python
    code: |
      def main(n):
          return n
    args: {n: "{{ n }}"}
    loop: {collection: [1, 2, 3, 4, 5, 6], element: n, mode: parallel, max_in_flight: 2,
           on_item_error: continue}
    next: [end]
  - step: end
YAML
"$NOETL" register - >/dev/null 2>&1 <<'YAML'
metadata: {path: tests/client/kid}
workflow:
  - step: start
    tool: python
    code: |
      def main(n):
          return n
    args: {n: "{{ workload.n }}"}
    next: [end]
  - step: end
YAML
"$NOETL" register - >/dev/null 2>&1 <<'YAML'
metadata: {path: tests/client/kids}
workflow:
  - step: start
    next: [users]
  - step: users
    tool: playbook
    path: tests/client/kid
    args: {n: "{{ u }}"}
    loop: {collection: [1, 2, 3], element: u, mode: parallel, max_in_flight: 2}
    next: [end]
  - step: end
YAML

# without a terminal: a line for a failed iteration, and the loop's counters when they change
timeout 60 "$NOETL" run tests/client/loop --wait --warn-after 3600 >"$tmp/loop.out" 2>&1 &
runner=$!
pids+=("$runner")
wait_grep 'started$' "$tmp/loop.out"
loop=$(started "$tmp/loop.out")
wait_for "SELECT count(*) = 2 FROM noetl.queue WHERE execution_id = ${loop:-0} AND status = 'queued'"
task
wait_grep '^ +[0-9.]+s  loop_progress +process_items 1/6 \(2 in flight\)$' "$tmp/loop.out"
ok $? "noetl run --wait, without a terminal, prints a loop's counters: $(grep loop_progress "$tmp/loop.out" | tail -1)"
"$NOETL" status "$loop" >"$tmp/status_running.out" 2>&1
ok $(grep -qE '^  process_items +running +1/6 \(2 in flight\), window 2$' "$tmp/status_running.out"; echo $?) \
   "noetl status shows a running loop's counters: $(grep '^  process_items' "$tmp/status_running.out")"
task 'process_items[1]'
wait_grep 'loop_progress +process_items 2/6 \(2 in flight, 1 failed\)$' "$tmp/loop.out"
ok $([ $? = 0 ] && grep -qE '^ +[0-9.]+s  iteration_failed +process_items\[1\]  boom$' "$tmp/loop.out"; echo $?) \
   "... the failed iteration, by its node_id, with its error, and the failure in the counters"
for i in 1 2 3 4; do task; done
wait "$runner"
rc=$?
ok $([ "$rc" = 0 ] && grep -q loop_progress "$tmp/loop.out" && [ -z "$(grep loop_progress "$tmp/loop.out" | sed 's/^ *[0-9.]*s *//' | uniq -d)" ] \
     && ! grep -q loop_iteration "$tmp/loop.out" && grep -q "^execution $loop completed" "$tmp/loop.out"; echo $?) \
   "... not every iteration, nor the same counters twice ($(grep -c loop_progress "$tmp/loop.out") lines), and the end"

"$NOETL" status "$loop" >"$tmp/status_loop.out" 2>&1
ok $([ $? = 0 ] && grep -qE '^  process_items +completed +6/6 \(1 failed\), window 2$' "$tmp/status_loop.out"; echo $?) \
   "noetl status shows the loop's counters: $(grep process_items "$tmp/status_loop.out" | head -1)"
ok $([ "$(grep -cE '^ +[0-9.]+  loop_iteration +process_items\[[0-5]\] ' "$tmp/status_loop.out")" = 6 ] \
     && grep -qE '^ +[0-9.]+  iteration_failed +process_items\[1\] +failed +boom$' "$tmp/status_loop.out"; echo $?) \
   "... and the timeline its iterations and the failed one by node_id"

# on a terminal (script(1) gives the program one): the line, fitted, with the running children
if command -v script >/dev/null; then
    timeout 60 script -qfec "stty cols 100; exec '$NOETL' run tests/client/kids --wait --warn-after 3600" /dev/null \
        >"$tmp/kids.out" 2>&1 </dev/null &
    runner=$!
    pids+=("$runner")
    wait_grep 'started' "$tmp/kids.out"
    kids=$(started "$tmp/kids.out")
    wait_for "SELECT count(*) = 2 FROM noetl.execution WHERE parent_execution_id = ${kids:-0} AND status = 'running'"
    first=$(q "SELECT execution_id FROM noetl.execution WHERE parent_execution_id = ${kids:-0} AND parent_step = 'users[0]'")
    wait_grep "users 0/3 \(2 in flight\); children: $first \(users\[0\]\) \+1" "$tmp/kids.out"
    ok $? "noetl run --wait on a terminal shows the loop's counters and the first running child by its id: $(
        tr '\r' '\n' <"$tmp/kids.out" | grep children | tail -1 | sed 's/ *$//')"
    task
    second=$(q "SELECT execution_id FROM noetl.execution WHERE parent_execution_id = ${kids:-0} AND parent_step = 'users[1]'")
    wait_grep "users 1/3 \(2 in flight\); children: $second \(users\[1\]\) \+1" "$tmp/kids.out"
    ok $? "... and moves on when a child ends"
    task; task
    wait "$runner"
    rc=$?
    widest=$(widest "$tmp/kids.out")
    ok $([ "$rc" = 0 ] && [ "$widest" -le 99 ] && tr '\r' '\n' <"$tmp/kids.out" | grep -q "^completed, [0-9.]* s, 3/3 steps done"; echo $?) \
       "... within 100 columns (the widest line $widest), to the end"
    timeout 60 script -qfec "stty cols 60; exec '$NOETL' run tests/client/kids --wait --warn-after 3600" /dev/null \
        >"$tmp/narrow.out" 2>&1 </dev/null &
    runner=$!
    pids+=("$runner")
    wait_grep 'in flight' "$tmp/narrow.out"
    sleep 0.3
    for i in 1 2 3 4 5 6; do task; done
    wait "$runner"
    rc=$?
    widest=$(widest "$tmp/narrow.out")
    ok $([ "$rc" = 0 ] && [ "$widest" = 59 ] && tr '\r' '\n' <"$tmp/narrow.out" | grep -q '…$'; echo $?) \
       "... cut to 59 characters on a terminal of 60: $(tr '\r' '\n' <"$tmp/narrow.out" | grep '…$' | tail -1)"
else
    for i in 1 2 3 4; do n=$((n + 1)); echo "ok $n # SKIP script(1) is not installed"; done
    for i in 1 2 3 4 5 6; do task; done
    kids=$(q "SELECT execution_id FROM noetl.execution x JOIN noetl.catalog c USING (catalog_id)
               WHERE c.path = 'tests/client/kids' ORDER BY execution_id DESC LIMIT 1")
fi

# noetl status of the parent: its children by id; of a child: its parent
"$NOETL" status "$kids" >"$tmp/status_kids.out" 2>&1
child=$(q "SELECT execution_id FROM noetl.execution WHERE parent_execution_id = ${kids:-0} AND parent_step = 'users[2]'")
ok $([ $? = 0 ] && grep -qx 'children: 3 (3 completed)' "$tmp/status_kids.out" \
     && [ "$(grep -cE '^  [0-9]{18,} +users\[[0-2]\] +completed +[0-9.]+$' "$tmp/status_kids.out")" = 3 ] \
     && grep -qE "^  $child +users\[2\] +completed" "$tmp/status_kids.out"; echo $?) \
   "noetl status counts the children by status and lists them: id, step, status, seconds"
ok $(grep -qE "^ +[0-9.]+  loop_iteration +users\[2\] .* child $child\$" "$tmp/status_kids.out" \
     && grep -qE "^ +[0-9.]+  action_completed +users\[2\] .* child $child\$" "$tmp/status_kids.out"; echo $?) \
   "... and its timeline the child's start and end, with its id"
"$NOETL" status "$child" >"$tmp/status_child.out" 2>&1
ok $([ $? = 0 ] && grep -qx "parent: $kids (users\[2\])" "$tmp/status_child.out" \
     && grep -q "^execution $child of tests/client/kid v[0-9]*: completed" "$tmp/status_child.out"; echo $?) \
   "noetl status CHILD names its parent and the parent's step: $(grep '^parent' "$tmp/status_child.out")"
# the first 20 children, then a count: rows a superuser adds for the display
# (none running: the broker worker cancels a running child of a finished parent)
q "INSERT INTO noetl.execution (execution_id, catalog_id, parent_execution_id, parent_step, depth, status, ended_at)
   SELECT noetl.snowflake_id(), catalog_id, execution_id, 'users[' || i || ']', 1,
          CASE WHEN i < 5 THEN 'failed' ELSE 'completed' END, pg_catalog.now()
     FROM noetl.execution, generate_series(3, 24) i WHERE execution_id = ${kids:-0}" >/dev/null
"$NOETL" status "$kids" >"$tmp/status_many.out" 2>&1
ok $([ $? = 0 ] && grep -qx 'children: 25 (23 completed, 2 failed)' "$tmp/status_many.out" \
     && [ "$(grep -cE '^  [0-9]{18,} +users\[[0-9]+\] +(completed|failed) ' "$tmp/status_many.out")" = 20 ] \
     && grep -qx '  ... and 5 more' "$tmp/status_many.out"; echo $?) \
   "... the first 20 of 25, then how many more"
# a sub-playbook step, without a terminal: its start and its end, each with the child's id
"$NOETL" register - >/dev/null 2>&1 <<'YAML'
metadata: {path: tests/client/call}
workflow:
  - step: start
    next: [call]
  - step: call
    tool: playbook
    path: tests/client/kid
    args: {n: 7}
    next: [end]
  - step: end
YAML
timeout 60 "$NOETL" run tests/client/call --wait --warn-after 3600 >"$tmp/call.out" 2>&1 &
runner=$!
pids+=("$runner")
wait_grep 'started$' "$tmp/call.out"
call=$(started "$tmp/call.out")
wait_for "SELECT count(*) = 1 FROM noetl.queue q JOIN noetl.execution x USING (execution_id)
           WHERE x.parent_execution_id = ${call:-0} AND q.status = 'queued'"
task
wait "$runner"
rc=$?
child=$(q "SELECT execution_id FROM noetl.execution WHERE parent_execution_id = ${call:-0} AND parent_step = 'call'")
ok $([ "$rc" = 0 ] && [ -n "$child" ] && grep -qE "^ +[0-9.]+s  step_started +call  child $child\$" "$tmp/call.out" \
     && grep -qE "^ +[0-9.]+s  action_completed +call  child $child\$" "$tmp/call.out"; echo $?) \
   "noetl run --wait of a sub-playbook step prints the child's id at its start and its end"
[ "$failed" = 0 ] || tail -n 20 "$tmp"/*.log
exit $((failed > 0))
