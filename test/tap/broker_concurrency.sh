#!/usr/bin/env bash
# Concurrency and atomicity of the broker, with real sessions:
#  - 16 parallel branches completed from 16 connections at the same moment
#    leave the execution completed with exactly one execution_complete;
#  - a transaction that starts an execution and rolls back leaves no event,
#    no execution and no queue row (the failure NoETL's broker had);
#  - 8 sessions drain a parallel loop of 2,000 items (max_in_flight 16)
#    while another samples it: never more than 16 in flight, the list exact.
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

# A parallel loop of 2,000 items, max_in_flight 16, drained by 8 sessions at
# once, each leasing two tasks at a time and completing them one transaction
# each, while another session samples the loop: in flight (its rows queued,
# leased or retry) and loop_next - loop_done, read in one snapshot, never
# above the window; and the list is exact.
q -c "SELECT version FROM noetl.register(E'metadata:\n  path: tests/concurrency/loop2000\nworkflow:\n  - step: start\n    tool: python\n    code: x\n    priority: 5\n    args: {n: \"{{ n }}\"}\n    loop:\n      collection: \"{{ range(2000) }}\"\n      element: n\n      mode: parallel\n      max_in_flight: 16\n')" >/dev/null
q <<'SQL' >/dev/null
DROP TABLE IF EXISTS loop2000_done, loop2000_samples;
-- what each worker completed each item with, written in the completion's transaction
CREATE TABLE loop2000_done (node_id text PRIMARY KEY, value jsonb NOT NULL);
CREATE TABLE loop2000_samples (in_flight bigint, admitted_open integer);
CREATE PROCEDURE loop2000_work(wid text, eid bigint) LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
    toks text[];
    nodes text[];
    items jsonb[];
    eids bigint[];
    v jsonb;
    deadline timestamptz := clock_timestamp() + interval '120 s';
BEGIN
    WHILE clock_timestamp() < deadline LOOP
        SELECT array_agg(queue_id), array_agg(lease_token), array_agg(node_id),
               array_agg(action -> 'loop' -> 'item'), array_agg(execution_id)
          INTO ids, toks, nodes, items, eids
          FROM noetl.lease(wid, 2, 120);
        COMMIT;
        FOR i IN 1 .. COALESCE(cardinality(ids), 0) LOOP
            IF eids[i] <> eid THEN
                -- another test's task, given back (the loop's come first: priority 5)
                PERFORM noetl.release(ids[i], toks[i]);
                COMMIT;
                CONTINUE;
            END IF;
            v := jsonb_build_object('item', items[i], 'by', wid);
            PERFORM noetl.complete(ids[i], toks[i], jsonb_build_object('status', 'success', 'data', v));
            INSERT INTO loop2000_done VALUES (nodes[i], v);
            COMMIT;
        END LOOP;
        IF ids IS NULL OR NOT eid = ANY (eids) THEN
            EXIT WHEN (SELECT status FROM noetl.execution WHERE execution_id = eid) <> 'running';
            PERFORM pg_sleep(0.002);
        END IF;
    END LOOP;
END $$;
CREATE PROCEDURE loop2000_sample(eid bigint) LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + interval '120 s';
BEGIN
    WHILE clock_timestamp() < deadline LOOP
        -- one statement, one snapshot: the rows and the counters agree
        INSERT INTO loop2000_samples
        SELECT (SELECT count(*) FROM noetl.queue
                 WHERE execution_id = eid AND node_name = 'start' AND node_id <> 'start'
                   AND status IN ('queued', 'leased', 'retry')),
               s.loop_next - s.loop_done
          FROM noetl.step_state s WHERE s.execution_id = eid AND s.step = 'start';
        COMMIT;
        EXIT WHEN (SELECT status FROM noetl.execution WHERE execution_id = eid) <> 'running';
        PERFORM pg_sleep(0.005);
    END LOOP;
END $$;
SQL
eid=$(q -c "SELECT noetl.execute('tests/concurrency/loop2000')")
q -c "CALL loop2000_sample($eid)" 2>/tmp/loop2000.sample.err &
sampler=$!
# the workers start once the sampler has sampled (on a loaded machine a
# session can take a while to connect)
for _ in $(seq 1 300); do
    [ "$(q -c "SELECT count(*) FROM loop2000_samples")" -gt 0 ] && break
    sleep 0.1
done
pids=()
for i in $(seq 1 8); do
    q -c "CALL loop2000_work('loop2000-w$i', $eid)" 2>"/tmp/loop2000.$i.err" &
    pids+=($!)
done
errors=0
for p in "${pids[@]}"; do wait "$p" || errors=$((errors + 1)); done
wait "$sampler" || errors=$((errors + 1))
[ "$errors" = 0 ]; check $? "8 workers drained the loop of 2,000 items while another session sampled it ($errors sessions failed)"
cat /tmp/loop2000.*.err 2>/dev/null | head -5 | sed 's/^/# /'
rm -f /tmp/loop2000.*.err
read -r samples max_flight max_open < <(q -F ' ' -c "SELECT count(*), max(in_flight), max(admitted_open) FROM loop2000_samples")
echo "# $samples samples: at most $max_flight in flight, loop_next - loop_done at most $max_open"
[ "$samples" -ge 5 ] && [ "$max_flight" -ge 2 ] && [ "$max_flight" -le 16 ]
check $? "the sampled window never held more than 16 items, and held several ($max_flight, in $samples samples)"
[ "$samples" -ge 5 ] && [ "$max_open" -le 16 ]
check $? "loop_next - loop_done never exceeded 16 ($max_open)"
read -r status pending done workers < <(q -F ' ' -c "SELECT x.status, x.pending, (SELECT count(*) FROM loop2000_done),
    (SELECT count(DISTINCT value ->> 'by') FROM loop2000_done) FROM noetl.execution x WHERE x.execution_id = $eid")
[ "$status" = completed ] && [ "$pending" = 0 ] && [ "$done" = 2000 ]
check $? "the execution completed with nothing pending, every item completed once ($status, $pending, $done by $workers workers)"
bad=$(q -c "SELECT jsonb_array_length(s.result) <> 2000
                   OR s.result IS DISTINCT FROM (SELECT jsonb_agg(d.value ORDER BY g)
                                                   FROM generate_series(0, 1999) g
                                                   LEFT JOIN loop2000_done d ON d.node_id = 'start[' || g || ']')
                   OR EXISTS (SELECT FROM generate_series(0, 1999) g WHERE (s.result -> g -> 'item')::int <> g)
              FROM noetl.step_state s WHERE s.execution_id = $eid AND s.step = 'start'")
[ "$bad" = f ]; check $? "the loop's result is the 2,000 values its items were completed with, in input order"
c=$(q -c "SELECT count(*) FILTER (WHERE event_type = 'loop_iteration') || ' ' ||
                 count(*) FILTER (WHERE event_type = 'step_completed') || ' ' ||
                 count(*) FILTER (WHERE event_type = 'execution_complete')
            FROM noetl.event WHERE execution_id = $eid")
[ "$c" = "2000 1 1" ]; check $? "each item admitted once, one step_completed, one execution_complete ($c)"
q -c "DROP PROCEDURE loop2000_work, loop2000_sample" -c "DROP TABLE loop2000_done, loop2000_samples" >/dev/null

echo "1..$n"
exit $fail
