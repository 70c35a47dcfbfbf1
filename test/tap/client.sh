#!/usr/bin/env bash
# test/tap/client.sh: the noetl program's own behaviour.
#
# Against the cluster named by the PG* variables (noetl installed, its
# broker worker running): options that are refused (exit status 2, a
# message naming the option, nothing started), the application_name of
# each connection in pg_stat_activity and one a --dsn gives, a worker whose
# descriptors are all above FD_SETSIZE, the task fields the lease statement
# flattens (bind parameters, query parameters) or that the worker checks
# (an HTTP body nested too deep to pass on as JSON), and what a task prints.
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
echo "1..31"

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
[ "$failed" = 0 ] || tail -n 20 "$tmp"/*.log
exit $((failed > 0))
