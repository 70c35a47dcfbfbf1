#!/usr/bin/env bash
# test/tap/workers.sh: noetl worker announcing itself, and the warnings of
# tools no live worker runs.
#
# Against the cluster named by the PG* variables (noetl installed, its
# broker worker running): --tools refusing a tool the worker does not have
# (with the name it probably meant) or cannot run (python without
# python3), and leaving python out of the default tools without python3;
# a worker's row in noetl.workers() (its tools, host and pid) appearing at
# start, refreshed while it runs, gone at a clean stop, and turning stale
# when the worker is killed; noetl run --wait and noetl status warning of a
# task that waits for a tool no live worker runs, naming the tool, and the
# task completing once a worker for it starts.  noetl.worker_live_seconds
# is set to 3 for the run (ALTER SYSTEM, reset at exit).
set -u
# shellcheck source=../lib/client_tap.sh
. "$(dirname "$0")/../lib/client_tap.sh"
workers_cleanup() {
    { q "ALTER SYSTEM RESET noetl.worker_live_seconds" && q "SELECT pg_reload_conf()"; } >/dev/null 2>&1
    client_tap_cleanup
}
trap workers_cleanup EXIT
stop_worker() { kill -TERM "$worker"; wait "$worker"; }
echo "1..25"

[ -x "$NOETL" ] || { echo "Bail out! client/noetl is not built"; exit 1; }

# --tools: what the worker does not have, or cannot run
timeout 5 "$NOETL" worker --tools pyhton >"$tmp/typo.out" 2>&1
ok $([ $? = 2 ]; echo $?) "--tools pyhton: refused with exit status 2"
ok $(grep -qF 'invalid value "pyhton" for option --tools: no tool "pyhton"' "$tmp/typo.out"; echo $?) \
   "... naming the tool: $(head -1 "$tmp/typo.out")"
ok $(grep -qF 'hint: Did you mean "python"?' "$tmp/typo.out"; echo $?) "... with a hint of the tool meant"
timeout 5 "$NOETL" worker --tools http,postgrse >"$tmp/typo2.out" 2>&1
ok $([ $? = 2 ] && grep -qF 'Did you mean "postgres"?' "$tmp/typo2.out"; echo $?) \
   "--tools http,postgrse: refused, the second tool named"
timeout 5 env PATH=/nonexistent "$NOETL" worker --tools python,http >"$tmp/nopy.out" 2>&1
ok $([ $? = 2 ] && grep -qF 'cannot run tool "python": python3 is not on PATH' "$tmp/nopy.out"; echo $?) \
   "--tools python without python3 on PATH: refused: $(head -1 "$tmp/nopy.out")"
q "DELETE FROM noetl.worker"    # rows of workers killed by other tests
q "ALTER SYSTEM SET noetl.worker_live_seconds = 3" && q "SELECT pg_reload_conf()" >/dev/null
wait_for "SELECT noetl.worker_live_seconds() = 3" 5 || echo "# the setting was not reloaded"
PATH=/nonexistent start_worker workers-nopy --poll 1
wait_for "SELECT count(*) = 1 FROM noetl.workers() WHERE worker_id = 'workers-nopy'"
ok $([ "$(q "SELECT tools FROM noetl.workers() WHERE worker_id = 'workers-nopy'")" = "{http,postgres,sink,transfer}" ] &&
     grep -qF 'not running python tasks: python3 is not on PATH' "$tmp/workers-nopy.log"; echo $?) \
   "without python3, the default tools leave python out, with a warning"
stop_worker

# a worker's row: at start, refreshed, gone at a clean stop
start_worker workers-a --tools python,http --jobs 3 --poll 1
wait_for "SELECT count(*) = 1 FROM noetl.workers() WHERE worker_id = 'workers-a'"
ok $? "a worker announces itself at start"
ok $([ "$(q "SELECT tools, host, pid, jobs, version, live FROM noetl.workers() WHERE worker_id = 'workers-a'")" = \
       "{python,http}|$(hostname)|$worker|3|$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SRC/noetl.control")|t" ]; echo $?) \
   "... with its tools, host, pid, jobs and version, live"
seen=$(q "SELECT last_seen FROM noetl.worker WHERE worker_id = 'workers-a'")
wait_for "SELECT last_seen > '$seen' FROM noetl.worker WHERE worker_id = 'workers-a'" 10
ok $? "... and refreshes its row while it runs (every third of noetl.worker_live_seconds)"
q "DELETE FROM noetl.worker WHERE worker_id = 'workers-a'"
wait_for "SELECT count(*) = 1 FROM noetl.workers() WHERE worker_id = 'workers-a' AND live" 10
ok $? "... announcing itself again when its row is gone"
stop_worker
ok $([ "$(q "SELECT count(*) FROM noetl.worker WHERE worker_id = 'workers-a'")" = 0 ]; echo $?) \
   "a worker stopped cleanly has removed its row"

# a killed worker: its row stays, and turns stale
start_worker workers-k --tools http --poll 1
wait_for "SELECT count(*) = 1 FROM noetl.workers() WHERE worker_id = 'workers-k' AND live"
kill -KILL "$worker"; wait "$worker" 2>/dev/null
ok $([ "$(q "SELECT count(*) FROM noetl.worker WHERE worker_id = 'workers-k'")" = 1 ]; echo $?) \
   "a killed worker's row stays"
wait_for "SELECT NOT live FROM noetl.workers() WHERE worker_id = 'workers-k'" 10
ok $? "... and is not live once not seen for noetl.worker_live_seconds"

# a worker whose role may not announce runs all the same, warning once
q "DROP ROLE IF EXISTS regress_workers_nogrant; CREATE ROLE regress_workers_nogrant LOGIN" >/dev/null 2>&1
q "GRANT EXECUTE ON FUNCTION noetl.lease(text, integer, integer, text[]), noetl.heartbeat(bigint, text, integer),
         noetl.report(bigint, text, text, jsonb, text, text, double precision, jsonb) TO regress_workers_nogrant"
PGUSER=regress_workers_nogrant start_worker workers-nogrant --tools http --poll 1
wait_for "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'noetl worker workers-nogrant'"
sleep 2.5    # refreshes are due every second: each tries to announce again
ok $([ "$(grep -c 'could not announce worker workers-nogrant' "$tmp/workers-nogrant.log")" = 1 ] &&
     kill -0 "$worker"; echo $?) \
   "a worker whose role may not announce runs, and warns once: $(grep -m1 'could not announce' "$tmp/workers-nogrant.log")"
stop_worker
ok $([ "$(q "SELECT count(*) FROM noetl.worker WHERE worker_id = 'workers-nogrant'")" = 0 ]; echo $?) "... and has no row"
q "DROP OWNED BY regress_workers_nogrant; DROP ROLE regress_workers_nogrant" >/dev/null

# a task waits for a tool no live worker runs
"$NOETL" register - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/workers/python}
workflow:
  - step: start
    next: [compute]
  - step: compute
    tool: python
    code: |
      def main():
          return {"answer": 42}
    next: [end]
  - step: end
    result: {answer: "{{ compute.answer }}"}
YAML
start_worker workers-http --tools http --poll 1    # a live worker, of another tool
http_worker=$worker
wait_for "SELECT count(*) = 1 FROM noetl.workers() WHERE worker_id = 'workers-http' AND live"
timeout 60 "$NOETL" run tests/workers/python --wait --warn-after 1 >"$tmp/wait.out" 2>&1 &
runner=$!
pids+=("$runner")
for i in $(seq 1 100); do grep -q 'warning' "$tmp/wait.out" && break; sleep 0.1; done
eid=$(sed -n 's/^execution \([0-9]*\) of .* started$/\1/p' "$tmp/wait.out")
ok $(grep -qE "warning: 1 task\(s\) of execution $eid \(step\(s\) compute\) waited [0-9.]+ s for tool \"python\", which no live worker runs" \
     "$tmp/wait.out"; echo $?) \
   "noetl run --wait warns of the task waiting for python: $(grep warning "$tmp/wait.out" | head -1)"
ok $(grep -qF 'hint: Start a worker that runs it (noetl worker --tools python)' "$tmp/wait.out"; echo $?) \
   "... with a hint"
"$NOETL" status --warn-after 0 "$eid" >"$tmp/status.out" 2>&1
ok $(grep -qF "for tool \"python\", which no live worker runs" "$tmp/status.out"; echo $?) \
   "noetl status EXECUTION_ID warns of it too"
"$NOETL" status --warn-after 0 >"$tmp/status_all.out" 2>&1
ok $(grep -qE "warning: [0-9]+ ready task\(s\) \(step\(s\) ([^)]*, )?compute(, [^)]*)?\) waited up to [0-9.]+ s for tool \"python\"" "$tmp/status_all.out"; echo $?) \
   "noetl status (all executions) warns of it"
"$NOETL" status --warn-after 3600 "$eid" >"$tmp/status_late.out" 2>&1
ok $(grep -q "$eid" "$tmp/status_late.out" && ! grep -q warning "$tmp/status_late.out"; echo $?) \
   "... and does not before --warn-after seconds"
ok $([ "$(q "SELECT noetl.status() -> 'unserved_tools' @> '[{\"tool\": \"python\"}]'")" = t ]; echo $?) \
   "noetl.status() lists python among the unserved tools"
start_worker workers-py --tools python --poll 1
wait "$runner"
rc=$?
ok $([ "$rc" = 0 ] && grep -q "^execution $eid completed" "$tmp/wait.out"; echo $?) \
   "once a python worker starts, the task runs and noetl run --wait ends: $(grep "^execution $eid" "$tmp/wait.out" | tail -1)"
ok $([ "$(grep -c 'warning' "$tmp/wait.out")" = 1 ]; echo $?) "... having warned once"
"$NOETL" status --warn-after 0 "$eid" >"$tmp/status_after.out" 2>&1
ok $([ $? = 0 ] && grep -q "$eid" "$tmp/status_after.out" && ! grep -q warning "$tmp/status_after.out"; echo $?) \
   "noetl status EXECUTION_ID warns of nothing then"
stop_worker
worker=$http_worker stop_worker

# the refresh period follows the setting when a reload lowers it: from 30 s
# (a refresh every 10 s) to 3 s, the worker stays live from its next refresh
q "ALTER SYSTEM SET noetl.worker_live_seconds = 30" && q "SELECT pg_reload_conf()" >/dev/null
wait_for "SELECT noetl.worker_live_seconds() = 30" 5 || echo "# the setting was not reloaded"
start_worker workers-reload --tools http --poll 1
wait_for "SELECT count(*) = 1 FROM noetl.worker WHERE worker_id = 'workers-reload'"
q "ALTER SYSTEM SET noetl.worker_live_seconds = 3" && q "SELECT pg_reload_conf()" >/dev/null
sleep 11     # the refresh due 10 s after the announcement reads the new setting
stale=0
for i in 1 2 3 4 5 6; do
    [ "$(q "SELECT live FROM noetl.workers() WHERE worker_id = 'workers-reload'")" = t ] || stale=$((stale + 1))
    sleep 1
done
ok $([ "$stale" = 0 ]; echo $?) "a worker refreshes every third of a lowered noetl.worker_live_seconds ($stale of 6 looks not live)"
stop_worker

exit $((failed > 0))
