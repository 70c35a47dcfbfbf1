#!/usr/bin/env bash
# Concurrency and atomicity of the broker, with real sessions:
#  - 16 parallel branches completed from 16 connections at the same moment
#    leave the execution completed with exactly one execution_complete;
#  - a transaction that starts an execution and rolls back leaves no event,
#    no execution and no queue row (the failure NoETL's broker had).
set -u
export PGOPTIONS="-c client_min_messages=warning"
n=0; fail=0
check() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
q() { psql -XqAt -v ON_ERROR_STOP=1 "$@"; }

branches=$(for i in $(seq 1 16); do printf 'b%s, ' "$i"; done)
steps=$(for i in $(seq 1 16); do printf '  - step: b%s\n    tool: python\n    code: x\n    next: [end]\n' "$i"; done)
doc=$(printf 'metadata:\n  path: tests/concurrency/fan16\nworkflow:\n  - step: start\n    next: [%s]\n%s\n  - step: end\n' "${branches%, }" "$steps")
q -v doc="$doc" <<< "SELECT version FROM noetl.register(:'doc')" >/dev/null || exit 1
eid=$(q -c "SELECT noetl.execute('tests/concurrency/fan16')")
q -c "CREATE TABLE fan16_leases AS SELECT node_id, queue_id, lease_token FROM noetl.lease('fan', 100) WHERE execution_id = $eid" >/dev/null
leased=$(q -c "SELECT count(*) FROM fan16_leases")
[ "$leased" = 16 ]; check $? "16 branches were queued and leased ($leased)"

at=$(q -c "SELECT clock_timestamp() + interval '1.5 s'")
pids=()
for i in $(seq 1 16); do
    q -c "SELECT pg_sleep_until('$at')" \
      -c "SELECT noetl.complete(queue_id, lease_token, '{\"i\": $i}') FROM fan16_leases WHERE node_id = 'b$i'" \
      >/dev/null 2>"/tmp/fan16.$i.err" &
    pids+=($!)
done
errors=0
for p in "${pids[@]}"; do wait "$p" || errors=$((errors + 1)); done
[ "$errors" = 0 ]; check $? "all 16 concurrent completions succeeded without a retry ($errors failed)"
cat /tmp/fan16.*.err 2>/dev/null | head -5 | sed 's/^/# /'
rm -f /tmp/fan16.*.err
q -c "DROP TABLE fan16_leases" >/dev/null

read -r status pending < <(q -F ' ' -c "SELECT status, pending FROM noetl.execution WHERE execution_id = $eid")
[ "$status" = completed ] && [ "$pending" = 0 ]; check $? "the execution is completed with nothing pending ($status, $pending)"
c=$(q -c "SELECT count(*) FROM noetl.event WHERE execution_id = $eid AND event_type = 'execution_complete'")
[ "$c" = 1 ]; check $? "exactly one execution_complete ($c)"
c=$(q -c "SELECT count(*) FROM noetl.event WHERE execution_id = $eid AND event_type = 'step_completed' AND node_name = 'end'")
[ "$c" = 1 ]; check $? "the end step ran once ($c)"
c=$(q -c "SELECT count(DISTINCT node_name) FROM noetl.event WHERE execution_id = $eid AND event_type = 'step_completed' AND node_name LIKE 'b%'")
[ "$c" = 16 ]; check $? "every branch completed once ($c)"
spread=$(q -c "SELECT round(extract(epoch FROM max(created_at) - min(created_at)) * 1000) FROM noetl.event WHERE execution_id = $eid AND event_type = 'action_completed'")
echo "# the 16 completions were inserted within $spread ms"

# the seed failure: event and consequences roll back together
rolled=$(q -c "BEGIN" -c "SELECT noetl.execute('tests/concurrency/fan16')" -c "ROLLBACK" | grep -E '^[0-9]+$')
left=$(q -c "SELECT (SELECT count(*) FROM noetl.event WHERE execution_id = $rolled)
                  + (SELECT count(*) FROM noetl.execution WHERE execution_id = $rolled)
                  + (SELECT count(*) FROM noetl.queue WHERE execution_id = $rolled)")
[ -n "$rolled" ] && [ "$left" = 0 ]; check $? "a start rolled back leaves no event, execution or queue row ($left rows of $rolled)"

# an error in the middle of evaluation also takes the event with it
q -c "SELECT version FROM noetl.register(E'metadata:\n  path: tests/concurrency/boom\nworkflow:\n  - step: start\n    tool: python\n    code: x\n')" >/dev/null
before=$(q -c "SELECT count(*) FROM noetl.event")
q -c "BEGIN" -c "SELECT noetl.execute('tests/concurrency/boom')" -c "SELECT 1/0" -c "COMMIT" >/dev/null 2>&1
after=$(q -c "SELECT count(*) FROM noetl.event")
[ "$before" = "$after" ]; check $? "a transaction that fails after inserting a start leaves nothing behind"

echo "1..$n"
exit $fail
