#!/usr/bin/env bash
# test/tap/worker_runners.sh: the runners that noetl worker keeps per job slot.
#
# Against the cluster named by the PG* variables (noetl installed, its
# broker worker running), with one worker of one job at a time, so that
# consecutive tasks run in the same slot: python tasks share their slot's
# interpreter (and with --isolate do not), each in a namespace of its own,
# with the standard streams, working directory and environment put back;
# what a task prints reaches the log, never its report, and is its stack
# trace when its runner dies; a task that runs out of time, or whose
# runner is killed, fails and the next task runs in a new runner; postgres
# tasks share their slot's connection, which a task's open or failed
# transaction, settings and temp tables do not outlive; frames of 1 MB
# each way.
set -u
# shellcheck source=../lib/client_tap.sh
. "$(dirname "$0")/../lib/client_tap.sh"
stop_worker() { kill -TERM "$worker"; wait "$worker"; }
# field KEY: the execution's result's KEY, as text
field() { q "SELECT result ->> '$1' FROM noetl.execution WHERE execution_id = ${eid:-0}"; }
# error: the execution's error
error() { q "SELECT error FROM noetl.execution WHERE execution_id = ${eid:-0}"; }
# trace: the stack trace of the execution's failed task
trace() { q "SELECT stack_trace FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error'"; }
echo "1..28"

[ -x "$NOETL" ] || { echo "Bail out! client/noetl is not built"; exit 1; }

"$NOETL" register - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/runners/python}
workflow:
  - step: start
    next: [first]
  - step: first
    tool: python
    code: |
      import os, sys
      LEFT_BEHIND = 1
      sys.noetl_test_mark = "kept"
      def main():
          print("first says", end="")
          sys.stdout.write('12\n{"ok": true}')
          os.write(1, b'7\n{"x":1}')
          os.chdir("/")
          os.environ["NOETL_TEST_VAR"] = "set by first"
          sys.stdout = open(os.devnull, "w")
          return {"pid": os.getpid()}
    next: [second]
  - step: second
    tool: python
    code: |
      import os, sys
      def main():
          print("second says")
          return {"pid": os.getpid(), "left_behind": "LEFT_BEHIND" in globals(),
                  "mark": getattr(sys, "noetl_test_mark", None), "cwd": os.getcwd(),
                  "var": os.environ.get("NOETL_TEST_VAR")}
    next: [end]
  - step: end
    result:
      first: "{{ first.pid }}"
      second: "{{ second.pid }}"
      left_behind: "{{ second.left_behind }}"
      mark: "{{ second.mark }}"
      cwd: "{{ second.cwd }}"
      var: "{{ second.var }}"
YAML
for timeout in 1 60; do
    "$NOETL" register - >/dev/null <<YAML || echo "# register failed"
metadata: {path: tests/runners/stuck$timeout}
workflow:
  - step: start
    next: [stuck]
  - step: stuck
    tool: python
    timeout: $timeout
    code: |
      import os, sys, time
      def main():
          print("stuck says")
          with open("$tmp/stuck.pid", "w") as f:
              f.write(str(os.getpid()))
          time.sleep(60)
YAML
done
"$NOETL" register - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/runners/dies}
workflow:
  - step: start
    next: [talk]
  - step: talk
    tool: python
    code: |
      def main():
          print("said before")
          return {}
    next: [dies]
  - step: dies
    tool: python
    code: |
      import os, sys
      def main():
          print("last words")
          sys.stdout.flush()
          os._exit(3)
YAML
"$NOETL" register - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/runners/big}
workflow:
  - step: start
    next: [echo]
  - step: echo
    tool: python
    args: {s: "{{ workload.big }}"}
    code: |
      def main(s):
          print(s[:10])
          return {"len": len(s), "back": s + "y"}
    next: [rows]
  - step: rows
    tool: postgres
    command: SELECT repeat('z', 1000000) AS v
    next: [end]
  - step: end
    result:
      len: "{{ echo.len }}"
      back: "{{ echo.back | length }}"
      rows: "{{ rows.rows[0].v | length }}"
YAML
"$NOETL" register - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/runners/sql}
workflow:
  - step: start
    next: [sql]
  - step: sql
    tool: postgres
    command: "{{ workload.command }}"
    next: [end]
  - step: end
    result: {rows: "{{ sql.rows }}"}
YAML

# python: one interpreter per slot, one namespace per task
start_worker runners-py --jobs 1 --tools python --poll 1
run py tests/runners/python
ok $([ "$rc" = 0 ] && [ -n "$(field first)" ] && [ "$(field first)" = "$(field second)" ]; echo $?) \
   "two python tasks in a row on one slot run in the same python3 ($(field first), $(field second))"
ok $([ "$(field mark)" = kept ]; echo $?) "... which keeps what a task left in a module (sys.noetl_test_mark)"
ok $([ "$(field left_behind)" = false ]; echo $?) "... but runs each task's code in a namespace of its own"
ok $([ "$(field cwd)" = "$(pwd)" ] && [ -z "$(field var)" ]; echo $?) \
   "... and puts back the working directory ($(field cwd)) and the environment"
ok $([ "$(q "SELECT result FROM noetl.queue WHERE execution_id = ${eid:-0} AND node_id = 'first'")" = "{\"pid\": $(field first)}" ]; echo $?) \
   "a task that writes frames to its stdout (and replaces sys.stdout) gets its own report"
ok $(grep -q 'first says12' "$tmp/runners-py.log" && grep -q 'second says' "$tmp/runners-py.log"; echo $?) \
   "... and what it wrote, and what the next task printed, are in the worker's log"

# a task that runs out of time: its runner is killed, the next task gets a new one
rm -f "$tmp/stuck.pid"
run stuck tests/runners/stuck1
stuck_pid=$(cat "$tmp/stuck.pid" 2>/dev/null)
ok $([ "$rc" = 1 ] && [ "$(error)" = "timed out after 1 s" ] && trace | grep -q 'stuck says'; echo $?) \
   "a task past its timeout fails, with what it printed as its stack trace"
sleep 0.2
ok $([ -n "$stuck_pid" ] && ! kill -0 "$stuck_pid" 2>/dev/null; echo $?) "... and its runner ($stuck_pid) is gone"
run py2 tests/runners/python
ok $([ "$rc" = 0 ] && [ "$(field first)" != "$stuck_pid" ] && [ "$(field first)" = "$(field second)" ]; echo $?) \
   "the slot's next tasks run, in a new runner ($(field first))"

# a runner killed mid-task
rm -f "$tmp/stuck.pid"
"$NOETL" run tests/runners/stuck60 --wait >"$tmp/killed.out" 2>&1 &
waiting=$!
pids+=("$waiting")
for i in $(seq 1 100); do [ -s "$tmp/stuck.pid" ] && break; sleep 0.1; done
kill -KILL "$(cat "$tmp/stuck.pid")"
wait "$waiting"; rc=$?
eid=$(sed -n 's/^execution \([0-9]*\) of .* started$/\1/p' "$tmp/killed.out")
ok $([ "$rc" = 1 ] && [ "$(error)" = "the python task was killed by signal 9" ] && trace | grep -q 'stuck says'; echo $?) \
   "a runner killed with SIGKILL mid-task: the task fails ($(error)), with what it printed"
run py3 tests/runners/python
ok $([ "$rc" = 0 ] && [ "$(field first)" = "$(field second)" ]; echo $?) "... and the next tasks run in a new runner"

# a runner that exits without a report: what the task printed, and only that
run dies tests/runners/dies
ok $([ "$rc" = 1 ] && [ "$(error)" = "the python task exited with status 3 without a report" ]; echo $?) \
   "a task whose runner exits without a report fails: $(error)"
ok $(trace | grep -q 'last words' && ! trace | grep -q 'said before'; echo $?) \
   "... its stack trace is what that task printed, not what the task before it printed"
run py4 tests/runners/python
ok $([ "$rc" = 0 ]; echo $?) "... and the next task runs"

# frames of 1 MB each way
eid=$(q "SELECT noetl.execute('tests/runners/big', jsonb_build_object('big', repeat('x', 1048576)))")
stop_worker
start_worker runners-big --jobs 1 --poll 1
wait_for "SELECT status <> 'running' FROM noetl.execution WHERE execution_id = ${eid:-0}" 30
ok $([ "$(field len)" = 1048576 ] && [ "$(field back)" = 1048577 ] && [ "$(field rows)" = 1000000 ]; echo $?) \
   "1 MB of args to a python task, and 1 MB results of python and postgres tasks, pass whole"
stop_worker

# --isolate: a fresh process per task
start_worker runners-iso --jobs 1 --poll 1 --isolate
run iso tests/runners/python
ok $([ "$rc" = 0 ] && [ -n "$(field first)" ] && [ "$(field first)" != "$(field second)" ] && [ "$(field mark)" = "" ]; echo $?) \
   "with --isolate, two python tasks in a row run in two python3 processes ($(field first), $(field second))"
run iso-pg tests/runners/sql --workload '{"command": "SELECT pg_backend_pid() AS pid"}'
iso1=$(q "SELECT result -> 'rows' -> 0 ->> 'pid' FROM noetl.execution WHERE execution_id = ${eid:-0}")
run iso-pg2 tests/runners/sql --workload '{"command": "SELECT pg_backend_pid() AS pid"}'
iso2=$(q "SELECT result -> 'rows' -> 0 ->> 'pid' FROM noetl.execution WHERE execution_id = ${eid:-0}")
ok $([ "$rc" = 0 ] && [ -n "$iso1" ] && [ "$iso1" != "$iso2" ]; echo $?) \
   "... and two postgres tasks on two connections (backends $iso1, $iso2)"
run iso-dies tests/runners/dies
ok $([ "$rc" = 1 ] && [ "$(error)" = "the python task exited with status 3 without a report" ] \
     && trace | grep -q 'last words'; echo $?) "... where a task that exits without a report fails as before"
stop_worker

# postgres: one connection per slot, put back as new after each task
start_worker runners-pg --jobs 1 --tools postgres --poll 1
sql() {  # sql NAME COMMAND: runs COMMAND as a postgres task; its first row in $row
    run "$1" tests/runners/sql --workload "$(jq -cn --arg c "$2" '{command: $c}' 2>/dev/null \
        || python3 -c 'import json, sys; print(json.dumps({"command": sys.argv[1]}))' "$2")"
    row=$(q "SELECT result -> 'rows' -> 0 FROM noetl.execution WHERE execution_id = ${eid:-0}")
}
probe="SELECT pg_backend_pid() AS pid, current_setting('application_name') AS app, current_setting('work_mem') AS work_mem, now() = statement_timestamp() AS fresh, to_regclass('pg_temp.runner_t') IS NULL AS no_temp, (SELECT count(*) FROM pg_prepared_statements) AS prepared"
sql pg1 "$probe"
pid1=$(echo "$row" | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null)
first_row=$row
sql pg2 "$probe"
pid2=$(echo "$row" | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null)
ok $([ "$rc" = 0 ] && [ -n "$pid1" ] && [ "$pid1" = "$pid2" ]; echo $?) \
   "two postgres tasks in a row on one slot share a connection (backend $pid1, $pid2)"
ok $([ "$first_row" = "$row" ] && echo "$row" | grep -q '"app": "noetl worker runners-pg slot 0"'; echo $?) \
   "... named \"noetl worker ID slot N\": $row"
ok $([ "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'noetl worker runners-pg slot %'")" = 1 ]; echo $?) \
   "... and the slot holds one connection"
sql open "BEGIN; CREATE TEMP TABLE runner_t (x int); SET work_mem = '7MB'; PREPARE runner_p AS SELECT 1"
ok $([ "$rc" = 0 ]; echo $?) "a task that leaves a transaction open, a temp table, a setting and a prepared statement completes"
sql after-open "$probe"
ok $([ "$rc" = 0 ] && [ "$row" = "$first_row" ]; echo $?) "... and the next task on its connection starts as the first did: $row"
sql broken "BEGIN; SET work_mem = '9MB'; SELECT 1 / 0; SELECT 2"
ok $([ "$rc" = 1 ] && [ "$(error)" = "division by zero" ]; echo $?) "a multi-statement task that fails in its transaction fails: $(error)"
sql after-broken "$probe"
ok $([ "$rc" = 0 ] && [ "$row" = "$first_row" ]; echo $?) "... and the next task runs, in a fresh transaction on the same connection: $row"
sql terminated "SELECT pg_terminate_backend(pg_backend_pid())"
sql after-terminated "$probe"
pid3=$(echo "$row" | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null)
ok $([ "$rc" = 0 ] && [ -n "$pid3" ] && [ "$pid3" != "$pid1" ]; echo $?) \
   "a task that loses its connection: the next task connects again (backend $pid3)"
sql copy "COPY (SELECT 1) TO STDOUT"
ok $([ "$rc" = 1 ] && [ "$(error)" = "the postgres tool does not run COPY FROM STDIN or TO STDOUT" ]; echo $?) \
   "COPY TO STDOUT is refused: $(error)"
sql after-copy "SELECT 1 AS one"
ok $([ "$rc" = 0 ] && [ "$row" = '{"one": 1}' ]; echo $?) "... and the next task runs"
stop_worker
[ "$failed" = 0 ] || tail -n 30 "$tmp"/*.log
exit $((failed > 0))
