#!/usr/bin/env bash
# bench/loops.sh: what a loop costs against the same queue rows made and
# completed by hand, in one run (docs/loops.md, section 5).
#
# loop  one execution of a playbook whose start step is a parallel loop of
#       N items (max_in_flight WINDOW, args {n: "{{ n }}"}), drained by
#       noetl.lease of BATCH tasks and noetl.complete_many of them, one
#       transaction per batch, from noetl.execute to the execution's end;
# hand  one execution of a playbook whose start step is one task of the same
#       tool, plus N - 1 queue rows inserted by hand in the same transaction
#       (one INSERT ... SELECT over generate_series, with the loop's node ids
#       "start[i]" and the very actions the loop's items are given, all
#       queued at once, pending raised by N - 1), drained the same way, with
#       the same results, to the execution's end.
#
# Both sides lease and complete N tasks of one execution through the same
# functions, so each completion writes the same action_completed event and
# task update and moves the same execution's pending down; the hand rows
# end as iterations of a step that is not a running loop (no counters,
# nothing admitted, no list), the first as a plain step.  So loop ÷ hand is
# the loop's own cost: its fan-out (the rows inserted waiting), each item's
# admission (read by key, rendered, queued, its loop_iteration event), the
# counters in the step's row and the one ordered read of the results at the
# end.  The issue's target is ≤ 2; and the loop's cost per item at BIG
# (100,000) items within 1.2 of that at N (10,000).
#
# The collection comes from "{{ range(workload.n) }}" (the workload is
# {n: N}), and, at N only (at BIG too with WBIG=1), from
# "{{ workload.items }}", the workload holding the list (as NoETL's
# examples do; the hand side then carries the same workload): every event
# of an execution reads its whole workload, so that case shows what a big
# workload costs every report (bench/README.md).  Rounds alternate the sides
# (A B, then B A, ...), ROUNDS times, each from emptied tables, and the
# medians are compared; each run is checked afterwards (every task
# completed once, the execution completed, the loop's list its items in
# order) or the benchmark fails.  QUICK=1 runs small sizes as a smoke test
# whose figures mean nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if [ "${QUICK:-0}" = 1 ]; then
    N=${N:-1000} BIG=${BIG:-5000} ROUNDS=${ROUNDS:-1}
fi
N=${N:-10000}
BIG=${BIG:-100000}
BATCH=${BATCH:-100}
WINDOW=${WINDOW:-100}
ROUNDS=${ROUNDS:-3}
bench_setup
trap bench_teardown EXIT

psql -Xq -v ON_ERROR_STOP=1 -v n="$N" -v big="$BIG" -v batch="$BATCH" -v window="$WINDOW" \
     -v rounds="$ROUNDS" -v wbig="$([ "${WBIG:-0}" = 1 ] && echo "$BIG" || echo 0)" <<'SQL'
SET client_min_messages = warning;
SELECT set_config('noetl.template_max_range', greatest(:big, 100000)::text, false) \g /dev/null
DROP TABLE IF EXISTS loop_timing;
CREATE TABLE loop_timing (src text, side text, n int, round int, start_ms float8, drain_ms float8);
-- the loop, its collection made by range() from workload.n, or read from
-- workload.items; the hand rows' playbook, whose start step is one task
SELECT noetl.register(format(E'metadata:\n  path: bench/loops/%s\nworkflow:\n  - step: start\n    tool: python\n    code: "def main(n): return n"\n    args: {n: "{{ n }}"}\n    loop:\n      collection: "{{ %s }}"\n      element: n\n      mode: parallel\n      max_in_flight: %s\n',
              src, CASE src WHEN 'range' THEN 'range(workload.n)' ELSE 'workload.items' END, :window))
  FROM unnest(ARRAY['range', 'workload']) src \g /dev/null
SELECT version FROM noetl.register(E'metadata:\n  path: bench/loops/hand\nworkflow:\n  - step: start\n    tool: python\n    code: "def main(n): return n"\n    args: {n: 0}\n') \g /dev/null

-- drain leases and completes every ready task, BATCH per transaction, each
-- with the result {status: success, data: its item}; returns how many
CREATE PROCEDURE pg_temp.drain(batch int, INOUT done bigint) LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
    toks text[];
    res jsonb[];
BEGIN
    done := 0;
    LOOP
        SELECT array_agg(queue_id), array_agg(lease_token),
               array_agg(jsonb_build_object('status', 'success',
                                            'data', COALESCE(action -> 'loop' -> 'item', '0')))
          INTO ids, toks, res
          FROM noetl.lease('bench', batch, 600);
        EXIT WHEN ids IS NULL;
        PERFORM noetl.complete_many(ids, toks, res);
        done := done + cardinality(ids);
        COMMIT;
    END LOOP;
END $$;

CREATE PROCEDURE pg_temp.run(src text, side text, n int, batch int, round int) LANGUAGE plpgsql AS $$
DECLARE
    workload jsonb;
    t0 timestamptz;
    t1 timestamptz;
    eid bigint;
    done bigint;
BEGIN
    TRUNCATE noetl.event, noetl.queue, noetl.step_state, noetl.execution;
    IF src = 'range' THEN
        workload := jsonb_build_object('n', n);
    ELSE
        workload := jsonb_build_object('items', (SELECT jsonb_agg(g) FROM generate_series(0, n - 1) g));
    END IF;
    COMMIT;
    t0 := clock_timestamp();
    IF side = 'loop' THEN
        eid := noetl.execute('bench/loops/' || src, workload);
    ELSE
        eid := noetl.execute('bench/loops/hand', workload);
        -- the loop's rows as it queues them: ids in index order, its actions
        INSERT INTO noetl.queue (queue_id, execution_id, catalog_id, node_id, node_name, tool, action)
        SELECT noetl.snowflake_id(), eid, x.catalog_id, 'start[' || g || ']', 'start', 'python',
               jsonb_build_object('args', jsonb_build_object('n', g), 'code', 'def main(n): return n',
                                  'loop', jsonb_build_object('item', g, 'count', n, 'index', g, 'element', 'n'),
                                  'step', 'start', 'tool', 'python')
          FROM noetl.execution x, generate_series(1, n - 1) g
         WHERE x.execution_id = eid
         ORDER BY g;
        UPDATE noetl.execution SET pending = pending + n - 1 WHERE execution_id = eid;
    END IF;
    COMMIT;
    t1 := clock_timestamp();
    CALL pg_temp.drain(batch, done);
    INSERT INTO loop_timing VALUES (src, side, n, round, extract(epoch FROM t1 - t0) * 1000,
                                    extract(epoch FROM clock_timestamp() - t1) * 1000);
    -- checked after the clock: every task once, the execution ended, the list exact
    IF done <> n THEN
        RAISE 'bench/loops.sh: % side of % items completed % tasks', side, n, done;
    END IF;
    IF (SELECT status FROM noetl.execution WHERE execution_id = eid) <> 'completed' THEN
        RAISE 'bench/loops.sh: % side of % items did not complete its execution', side, n;
    END IF;
    IF (SELECT count(*) FROM noetl.queue WHERE execution_id = eid AND status <> 'done') <> 0 THEN
        RAISE 'bench/loops.sh: % side of % items left tasks unfinished', side, n;
    END IF;
    IF side = 'loop' AND (SELECT result FROM noetl.step_state WHERE execution_id = eid AND step = 'start')
                         IS DISTINCT FROM (SELECT jsonb_agg(g ORDER BY g) FROM generate_series(0, n - 1) g) THEN
        RAISE 'bench/loops.sh: the loop''s list of % items is not its items in order', n;
    END IF;
    COMMIT;
END $$;

-- a warm-up of each side, then the rounds, alternating which goes first
-- (one CALL per cell: a procedure may commit only when its CALL is alone):
-- range() at both sizes, workload.items at the small one (see above)
CALL pg_temp.run('range', 'loop', least(:n, 1000), :batch, 0);
CALL pg_temp.run('range', 'hand', least(:n, 1000), :batch, 0);
TRUNCATE loop_timing;
SELECT format('CALL pg_temp.run(%L, %L, %s, %s, %s)', src, CASE WHEN r % 2 = 1 THEN 'loop' ELSE 'hand' END, n, :batch, r),
       format('CALL pg_temp.run(%L, %L, %s, %s, %s)', src, CASE WHEN r % 2 = 1 THEN 'hand' ELSE 'loop' END, n, :batch, r)
  FROM (VALUES ('range', :n), ('range', :big), ('workload', :n), ('workload', :wbig)) s(src, n),
       generate_series(1, :rounds) r
 WHERE n > 0
 ORDER BY src, n, r \gexec

\echo bench/loops.sh: a loop of n items, max_in_flight :window, against the same rows by hand, :batch tasks leased and completed per transaction, medians of :rounds rounds
\echo start: noetl.execute and its commit, drain: the leases and completions to the end of the execution
\echo best ÷ best: the fastest round of each side, less sensitive to other work on the machine
CREATE TEMP VIEW per_item AS
SELECT src, side, n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY start_ms) AS start_ms,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY drain_ms) AS drain_ms,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY start_ms + drain_ms) * 1000 / n AS us,
       min(start_ms + drain_ms) * 1000 / n AS min_us,
       max(start_ms + drain_ms) * 1000 / n AS max_us
  FROM loop_timing GROUP BY src, side, n;
SELECT src AS collection, n, side, round(start_ms::numeric) AS start_ms, round(drain_ms::numeric) AS drain_ms,
       round(us::numeric, 1) AS "µs/item", round(min_us::numeric, 1) || '–' || round(max_us::numeric, 1) AS "range"
  FROM per_item ORDER BY src, n, side DESC;
SELECT l.src AS collection, l.n, round((l.us / h.us)::numeric, 2) AS "loop ÷ hand (target ≤ 2)",
       round((l.min_us / h.min_us)::numeric, 2) AS "best ÷ best",
       round((l.start_ms / h.start_ms)::numeric, 2) AS "start, loop ÷ hand",
       round((l.drain_ms / h.drain_ms)::numeric, 2) AS "drain, loop ÷ hand"
  FROM per_item l JOIN per_item h ON h.src = l.src AND h.n = l.n AND h.side = 'hand'
 WHERE l.side = 'loop' ORDER BY l.src, l.n;
\echo µs per item at :big items ÷ at :n items, target ≤ 1.2 for the loop
SELECT src AS collection, side, round((b.us / s.us)::numeric, 2) AS "per item, big ÷ small",
       round((b.min_us / s.min_us)::numeric, 2) AS "best ÷ best"
  FROM per_item s JOIN per_item b USING (src, side) WHERE s.n = :n AND b.n = :big
 ORDER BY src, side DESC;
SQL
