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
# each way.  And what went wrong before: a killed runner sent the next
# task, a pooled connection closed while idle, close_range(2) refused,
# frames written by a task, a runner that died while idle, --isolate
# waiting on a daemon, reports too large to hold, action_started
# reported by the lease's statement (deadlocks).
set -u
# shellcheck source=../lib/client_tap.sh
. "$(dirname "$0")/../lib/client_tap.sh"
# stop_worker: SIGTERM, then SIGKILL if it has not stopped within 15 s
stop_worker() {
    local i
    kill -TERM "$worker" 2>/dev/null
    for i in $(seq 1 150); do kill -0 "$worker" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$worker" 2>/dev/null
    wait "$worker" 2>/dev/null
}
# field KEY: the execution's result's KEY, as text
field() { q "SELECT result ->> '$1' FROM noetl.execution WHERE execution_id = ${eid:-0}"; }
# error: the execution's error
error() { q "SELECT error FROM noetl.execution WHERE execution_id = ${eid:-0}"; }
# trace: the stack trace of the execution's failed task
trace() { q "SELECT stack_trace FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error'"; }
echo "1..51"

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
    dsn: "{{ workload.dsn | default(none) }}"
    args: "{{ workload.params }}"
    next: [end]
  - step: end
    result: {rows: "{{ sql.rows }}"}
YAML
"$NOETL" register - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/runners/pid}
workflow:
  - step: start
    next: [pid]
  - step: pid
    tool: python
    code: |
      import os
      def main():
          return {"pid": os.getpid()}
    next: [end]
  - step: end
    result: {pid: "{{ pid.pid }}"}
YAML
"$NOETL" register - >/dev/null <<YAML || echo "# register failed"
metadata: {path: tests/runners/mark}
workflow:
  - step: start
    next: [mark]
  - step: mark
    tool: python
    code: |
      import os
      def main():
          with open("$tmp/mark", "a") as f:
              f.write("%d\\n" % os.getpid())
          return {"pid": os.getpid()}
    next: [end]
  - step: end
    result: {pid: "{{ mark.pid }}"}
YAML
"$NOETL" register - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/runners/leftovers}
workflow:
  - step: start
    next: [meddle]
  - step: meddle
    tool: python
    code: |
      import os, signal
      def main():
          try:
              os.write(3, b'2\n{}')
              os.write(3, b'1 2\n{}')
          except OSError:
              pass
          os.closerange(3, 100)
          os.umask(0o077)
          signal.alarm(1)
          return {"pid": os.getpid()}
    next: [after]
  - step: after
    tool: python
    code: |
      import os, time
      def main():
          time.sleep(1.5)
          u = os.umask(0)
          os.umask(u)
          return {"pid": os.getpid(), "umask": u}
    next: [end]
  - step: end
    result: {first: "{{ meddle.pid }}", second: "{{ after.pid }}", umask: "{{ after.umask }}"}
YAML
"$NOETL" register - >/dev/null <<YAML || echo "# register failed"
metadata: {path: tests/runners/daemon}
workflow:
  - step: start
    next: [daemon]
  - step: daemon
    tool: python
    code: |
      import subprocess
      def main():
          p = subprocess.Popen(["sleep", "30"], start_new_session=True)
          with open("$tmp/daemon.pids", "a") as f:
              f.write("%d\\n" % p.pid)
          return {"daemon": p.pid}
YAML
"$NOETL" register - >/dev/null <<YAML || echo "# register failed"
metadata: {path: tests/runners/daemon-stuck}
workflow:
  - step: start
    next: [daemon]
  - step: daemon
    tool: python
    timeout: 1
    code: |
      import subprocess, time
      def main():
          p = subprocess.Popen(["sleep", "30"], start_new_session=True)
          with open("$tmp/daemon.pids", "a") as f:
              f.write("%d\\n" % p.pid)
          time.sleep(60)
YAML
"$NOETL" register - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/runners/huge}
workflow:
  - step: start
    next: [huge]
  - step: huge
    tool: python
    code: |
      def main():
          return "x" * (70 << 20)
YAML
"$NOETL" register - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/runners/chatty}
workflow:
  - step: start
    next: [chatty]
  - step: chatty
    tool: python
    code: |
      import os, sys
      def main():
          sys.stdout.write("start of the output\n" + "y" * 300000 + "\nend of the output\n")
          sys.stdout.flush()
          os._exit(3)
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
ok $([ -n "$stuck_pid" ] && ! kill -0 "$stuck_pid" 2>/dev/null; echo $?) \
   "... reported once its runner ($stuck_pid) is gone"
rm -f "$tmp/mark"
run mark tests/runners/mark
ok $([ "$rc" = 0 ] && [ -s "$tmp/mark" ] && [ "$(cat "$tmp/mark")" = "$(field pid)" ] && [ "$(field pid)" != "$stuck_pid" ]; echo $?) \
   "the slot's next task runs (its file written), in a new runner ($(field pid))"
run py2 tests/runners/python
ok $([ "$rc" = 0 ] && [ "$(field first)" != "$stuck_pid" ] && [ "$(field first)" = "$(field second)" ]; echo $?) \
   "... and so do the tasks after it, in that runner ($(field first))"

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

# a runner that dies while idle: the next task goes to a new one
run idle1 tests/runners/pid
idle_pid=$(field pid)
[ -n "$idle_pid" ] && kill -KILL "$idle_pid"
for i in $(seq 1 50); do kill -0 "$idle_pid" 2>/dev/null || break; sleep 0.1; done
run idle2 tests/runners/pid
ok $([ "$rc" = 0 ] && [ -n "$(field pid)" ] && [ "$(field pid)" != "$idle_pid" ]; echo $?) \
   "a runner killed while idle ($idle_pid): the next task runs in a new one ($(field pid))"
run idle3 tests/runners/python
ok $([ "$rc" = 0 ] && [ "$(q "SELECT count(*) FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error'")" = 0 ]; echo $?) \
   "... and nothing it left in its pipes is taken for a later task's"

# what a task leaves: frames on descriptor 3, closed descriptors, an alarm, a umask
run left tests/runners/leftovers
ok $([ "$rc" = 0 ] && [ -n "$(field first)" ] && [ "$(field first)" = "$(field second)" ]; echo $?) \
   "a task that writes frames to descriptor 3 and closes 3 to 99 leaves its runner working ($(error))"
ok $([ "$(field umask)" = "$((8#$(umask)))" ]; echo $?) \
   "... and its umask and pending alarm do not outlive it (umask $(field umask))"

# a report too large to hold, and output too long to keep
run huge tests/runners/huge
ok $([ "$rc" = 1 ] && [ "$(error)" = "the python task's report is larger than 65 MB" ]; echo $?) \
   "a report larger than the broker takes fails its task: $(error)"
run after-huge tests/runners/pid
ok $([ "$rc" = 0 ]; echo $?) "... and the next task runs"
run chatty tests/runners/chatty
len=$(q "SELECT length(stack_trace) FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error'")
ok $([ "$rc" = 1 ] && [ "${len:-0}" -lt 70000 ] && trace | grep -q 'were cut' && trace | grep -q 'end of the output' \
     && ! trace | grep -q 'start of the output'; echo $?) \
   "the output kept of a task is its last 64 kB, marked as cut ($len characters)"

# a runner killed at its timeout, with a daemon holding its output's pipe
t0=$(date +%s)
run daemon-stuck tests/runners/daemon-stuck
ok $([ "$rc" = 1 ] && [ "$(error)" = "timed out after 1 s" ] && [ $(($(date +%s) - t0)) -lt 10 ]; echo $?) \
   "a task that timed out with a daemon holding its output is reported in $(($(date +%s) - t0)) s, not when the daemon ends"

# frames of 1 MB each way
stop_worker
eid=$(q "SELECT noetl.execute('tests/runners/big', jsonb_build_object('big', repeat('x', 1048576)))")
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
t0=$(date +%s)
run iso-daemon tests/runners/daemon
ok $([ "$rc" = 0 ] && [ $(($(date +%s) - t0)) -lt 10 ]; echo $?) \
   "... and a task that leaves a daemon holding its output completes in $(($(date +%s) - t0)) s"
stop_worker

# postgres: one connection per slot, put back as new after each task
start_worker runners-pg --jobs 1 --tools postgres --poll 1
sql() {  # sql NAME COMMAND: runs COMMAND as a postgres task; its first row in $row
    run "$1" tests/runners/sql --workload "$(jq -cn --arg c "$2" '{command: $c}' 2>/dev/null \
        || python3 -c 'import json, sys; print(json.dumps({"command": sys.argv[1]}))' "$2")"
    row=$(q "SELECT result -> 'rows' -> 0 FROM noetl.execution WHERE execution_id = ${eid:-0}")
}
# sqlw NAME WORKLOAD: the same with a workload of its own (JSON)
sqlw() {
    run "$1" tests/runners/sql --workload "$2"
    row=$(q "SELECT result -> 'rows' -> 0 FROM noetl.execution WHERE execution_id = ${eid:-0}")
}
# rowpid: the pid in $row
rowpid() { echo "$row" | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null; }
qid() { q "SELECT queue_id FROM noetl.queue WHERE execution_id = ${eid:-0} AND node_id = 'sql'"; }
probe="SELECT pg_backend_pid() AS pid, current_setting('work_mem') AS work_mem, now() = statement_timestamp() AS fresh, to_regclass('pg_temp.runner_t') IS NULL AS no_temp, (SELECT count(*) FROM pg_prepared_statements) AS prepared"
sql pg1 "$probe"
pid1=$(echo "$row" | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null)
first_row=$row
sql pg2 "$probe"
pid2=$(echo "$row" | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null)
ok $([ "$rc" = 0 ] && [ -n "$pid1" ] && [ "$pid1" = "$pid2" ]; echo $?) \
   "two postgres tasks in a row on one slot share a connection (backend $pid1, $pid2)"
ok $([ "$first_row" = "$row" ] && wait_for "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'noetl worker runners-pg slot 0'" 5; echo $?) \
   "... and the slot holds one connection, named \"noetl worker ID slot N\" while idle"
sql app "SELECT current_setting('application_name') AS app"
ok $([ "$rc" = 0 ] && [ "$row" = "{\"app\": \"noetl task $(qid)\"}" ]; echo $?) \
   "... and \"noetl task QUEUE_ID\" while it runs a task: $row"
sqlw app-bind '{"command": "SELECT current_setting($$application_name$$) AS app, $1::int AS x, pg_backend_pid() AS pid", "params": [7]}'
ok $([ "$rc" = 0 ] && [ "$row" = "{\"x\": 7, \"app\": \"noetl task $(qid)\", \"pid\": $pid1}" ]; echo $?) \
   "... a task with params too, on the same connection: $row"
sqlw app-named '{"command": "SELECT current_setting($$application_name$$) AS app", "dsn": "application_name=mine"}'
ok $([ "$rc" = 0 ] && [ "$row" = '{"app": "mine"}' ]; echo $?) "... unless its dsn names it: $row"
sqlw bind-fails '{"command": "SELECT 1 / $1::int", "params": [0]}'
ok $([ "$rc" = 1 ] && [ "$(error)" = "division by zero" ]; echo $?) "a task with params that fails fails: $(error)"
sql after-bind-fails "$probe"
ok $([ "$rc" = 0 ] && [ "$row" = "$first_row" ]; echo $?) "... and the next task runs on the same connection: $row"
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
# a connection closed while idle: by pg_terminate_backend, by idle_session_timeout
q "SELECT pg_terminate_backend($pid3)" >/dev/null
wait_for "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid3" 5
sql after-kill "$probe"
pid4=$(rowpid)
ok $([ "$rc" = 0 ] && [ -n "$pid4" ] && [ "$pid4" != "$pid3" ]; echo $?) \
   "a pooled connection terminated between two tasks: the next task runs on a new one (backend $pid4): $(error)"
idle_dsn="options='-c idle_session_timeout=1000'"
sqlw idle1 "$(python3 -c 'import json, sys; print(json.dumps({"command": "SELECT pg_backend_pid() AS pid", "dsn": sys.argv[1]}))' "$idle_dsn")"
idle1=$(rowpid)
sleep 1.5
sqlw idle2 "$(python3 -c 'import json, sys; print(json.dumps({"command": "SELECT pg_backend_pid() AS pid", "dsn": sys.argv[1]}))' "$idle_dsn")"
idle2=$(rowpid)
ok $([ "$rc" = 0 ] && [ -n "$idle1" ] && [ -n "$idle2" ] && [ "$idle1" != "$idle2" ]; echo $?) \
   "a pooled connection closed by idle_session_timeout: the next task runs on a new one ($idle1, $idle2): $(error)"
sqlw empty-dsn '{"command": "SELECT pg_backend_pid() AS pid", "dsn": ""}'
empty=$(rowpid)
sql own-dsn "$probe"
ok $([ -n "$empty" ] && [ "$empty" != "$(rowpid)" ] && [ "$(rowpid)" = "$pid4" ]; echo $?) \
   "dsn \"\" and no dsn are two connections ($empty, $(rowpid))"
sql copy "COPY (SELECT 1) TO STDOUT"
ok $([ "$rc" = 1 ] && [ "$(error)" = "the postgres tool does not run COPY FROM STDIN or TO STDOUT" ]; echo $?) \
   "COPY TO STDOUT is refused: $(error)"
sql after-copy "SELECT 1 AS one"
ok $([ "$rc" = 0 ] && [ "$row" = '{"one": 1}' ]; echo $?) "... and the next task runs"
stop_worker
# close_range(2) refused (ENOSYS, as on kernels before 5.9): the native
# runner closes the worker's descriptors all the same, and runs its tasks
cat >"$tmp/no_close_range.c" <<'C'
#include <errno.h>
int close_range(unsigned int first, unsigned int last, int flags)
{
	(void) first; (void) last; (void) flags;
	errno = ENOSYS;
	return -1;
}
C
if cc -shared -fPIC -o "$tmp/no_close_range.so" "$tmp/no_close_range.c" 2>/dev/null; then
    LD_PRELOAD="$tmp/no_close_range.so" start_worker runners-ncr --jobs 1 --tools postgres --poll 1
    sql ncr "$probe"
    runner=$(pgrep -P "$worker" | head -1)
    nfds=$(ls "/proc/$runner/fd" 2>/dev/null | wc -l)
    ok $([ "$rc" = 0 ] && [ "$nfds" = 6 ]; echo $?) \
       "without close_range(2), a postgres task runs, in a runner holding 6 descriptors (0 to 4, its connection): $nfds"
    stop_worker
else
    ok 0 "# SKIP no C compiler for the close_range(2) shim"
fi

# a task killed at its timeout just as its report came: the report is not
# taken, and the slot's next task goes to a new runner, not to the dying
# one.  The late task runs in slot 0; the worker is held in the report of
# the task of slot 1 (a row lock on that task's queue row) while the late
# task finishes and its deadline passes; then it kills the late task and
# reads its report, and leases two more tasks.  The late task's runner
# holds 400 MB, so that it takes a while to die.
"$NOETL" register - >/dev/null <<YAML || echo "# register failed"
metadata: {path: tests/runners/quick}
workflow:
  - step: start
    next: [quick]
  - step: quick
    tool: python
    code: |
      import time
      def main():
          time.sleep(1)
          return 1
YAML
"$NOETL" register - >/dev/null <<YAML || echo "# register failed"
metadata: {path: tests/runners/late}
workflow:
  - step: start
    next: [late]
  - step: late
    tool: python
    timeout: 2.5
    code: |
      import time
      def main():
          ballast = b"x" * (400 << 20)
          time.sleep(1.8)
          return len(ballast)
YAML
start_worker runners-race --jobs 2 --tools python --poll 1
late=$(q "SELECT noetl.execute('tests/runners/late', '{}')")
wait_for "SELECT status = 'leased' FROM noetl.queue WHERE execution_id = ${late:-0} AND node_id = 'late'" 10
quick=$(q "SELECT noetl.execute('tests/runners/quick', '{}')")
wait_for "SELECT status = 'leased' FROM noetl.queue WHERE execution_id = ${quick:-0} AND node_id = 'quick'" 10
quick_q=$(q "SELECT queue_id FROM noetl.queue WHERE execution_id = ${quick:-0} AND node_id = 'quick'")
# locked from now until 3.5 s after the late task's lease; the quick task's report waits for it
psql -XAtq -c "BEGIN" -c "SELECT 1 FROM noetl.queue WHERE queue_id = ${quick_q:-0} FOR UPDATE" \
     -c "SELECT pg_sleep(3.2)" -c "COMMIT" >/dev/null &
locker=$!
pids+=("$locker")
sleep 2.5
rm -f "$tmp/mark"
next=$(q "SELECT string_agg(e::text, ',') FROM unnest(noetl.execute_many('tests/runners/mark', array_fill('{}'::jsonb, ARRAY[2]))) e")
wait "$locker"
wait_for "SELECT count(*) = 0 FROM noetl.execution WHERE execution_id IN (${next:-0}, ${late:-0}) AND status = 'running'" 20
eid=$late
ok $([ "$(error)" = "timed out after 2.5 s" ]; echo $?) "a task whose report came as it timed out fails: $(error)"
ran=$(q "SELECT count(*) FROM noetl.execution WHERE execution_id IN (${next:-0}) AND status = 'completed'")
ok $([ "$ran" = 2 ] && [ "$(wc -l <"$tmp/mark")" = 2 ]; echo $?) \
   "... and the tasks leased next both run (their files written), none sent to the dying runner ($ran completed)"
stop_worker

# two workers of 4 jobs on fan-out executions, some cancelled as they run:
# action_started in a transaction of its own, so no lease holds tasks
# while it locks their executions (the broker locks an execution first)
"$NOETL" register - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/runners/fan}
workflow:
  - step: start
    next: [a, b, c, d, e, f]
  - {step: a, tool: postgres, command: "SELECT pg_sleep(0.002)", next: [end]}
  - {step: b, tool: postgres, command: "SELECT pg_sleep(0.002)", next: [end]}
  - {step: c, tool: postgres, command: "SELECT pg_sleep(0.002)", next: [end]}
  - {step: d, tool: postgres, command: "SELECT pg_sleep(0.002)", next: [end]}
  - {step: e, tool: postgres, command: "SELECT pg_sleep(0.002)", next: [end]}
  - {step: f, tool: postgres, command: "SELECT pg_sleep(0.002)", next: [end]}
  - step: end
YAML
log_lines=$(wc -l <"$PGDATA/server.log" 2>/dev/null || echo 0)
start_worker runners-fan1 --jobs 4 --tools postgres --poll 1
worker1=$worker
start_worker runners-fan2 --jobs 4 --tools postgres --poll 1
fan=$(q "SELECT string_agg(e::text, ',') FROM unnest(noetl.execute_many('tests/runners/fan', array_fill('{}'::jsonb, ARRAY[40]))) e")
# then, in one session, 20 times: an execution cancelled as soon as it
# started, and one left to run
started=$(for i in $(seq 1 20); do
    echo "SELECT 'c', e.id FROM noetl.execute('tests/runners/fan', '{}') e(id), LATERAL noetl.cancel(e.id);"
    echo "SELECT 'k', noetl.execute('tests/runners/fan', '{}');"
done | psql -XAtq -F ' ' -v ON_ERROR_STOP=1)
cancel=$(echo "$started" | sed -n 's/^c //p' | paste -sd, -)
fan="$fan,$(echo "$started" | sed -n 's/^k //p' | paste -sd, -)"
wait_for "SELECT count(*) = 0 FROM noetl.execution WHERE execution_id IN (${fan:-0}, ${cancel:-0}) AND status = 'running'" 60
done_fan=$(q "SELECT count(*) FROM noetl.execution WHERE execution_id IN (${fan:-0}) AND status = 'completed'")
ended=$(q "SELECT count(*) FROM noetl.execution WHERE execution_id IN (${cancel:-0}) AND status IN ('completed', 'cancelled')")
stop_worker
worker=$worker1
stop_worker
ok $([ "$done_fan" = 60 ] && [ "$ended" = 20 ]; echo $?) \
   "2 workers x 4 jobs: 60 fan-out executions complete ($done_fan), 20 cancelled as they started end ($ended)"
deadlocks=$(tail -n +$((log_lines + 1)) "$PGDATA/server.log" 2>/dev/null | grep -c 'deadlock detected')
ok $([ -r "$PGDATA/server.log" ] && [ "$deadlocks" = 0 ]; echo $?) "... with no deadlock in the server log ($deadlocks)"
! grep -q 'could not report action_started' "$tmp"/runners-fan*.log
ok $? "... and every action_started reported"
[ -s "$tmp/daemon.pids" ] && kill $(cat "$tmp/daemon.pids") 2>/dev/null
[ "$failed" = 0 ] || tail -n 30 "$tmp"/*.log
exit $((failed > 0))
