-- Loops (docs/loops.md §1, §2, §5), with the worker written in SQL
-- (test/lib/sqlworker.sql) and reports made by hand: the window of
-- sequential and parallel loops held at every step, the list in input
-- order whatever order the items end in, on_item_error continue and fail,
-- per-item retries and lease expiry, cancellation mid-loop, what "next"
-- and a task's context see of a loop, noetl.max_loop_items, the filters
-- and the frame, empty and malformed collections, a loop as the end step
-- and reached twice, an item that cannot be rendered, and the cost of a
-- report that admits an item, flat in the item's index.
BEGIN;
-- leases must see only this file's tasks: any others are out of the way until ROLLBACK
DELETE FROM noetl.queue;
\i test/lib/sqlworker.sql
SELECT plan(110);

-- pg_temp.items(eid): the execution's iterations, by index
CREATE FUNCTION pg_temp.items(eid bigint)
RETURNS TABLE (node_id text, status text, attempts int, result jsonb, error text)
LANGUAGE sql AS $$
    SELECT node_id, status::text, attempts, result, error FROM noetl.queue
     WHERE execution_id = eid AND node_id <> node_name
     ORDER BY substring(node_id from '\[(\d+)\]$')::int
$$;

-- pg_temp.count_items(eid, statuses): how many iterations are in one of statuses
CREATE FUNCTION pg_temp.count_items(eid bigint, statuses text[])
RETURNS int LANGUAGE sql AS $$
    SELECT count(*)::int FROM noetl.queue
     WHERE execution_id = eid AND node_id <> node_name AND status::text = ANY (statuses)
$$;

-- pg_temp.drain(eid, w, canned): runs the execution's tasks one lease at a
-- time (completing each with canned[node_id], else {"i": node_id}) and
-- checks before every lease that the loop holds its window w: no more than
-- w iterations queued, leased or waiting to retry, loop_next - loop_done
-- equal to them, pending equal to them plus the loop itself.  Returns the
-- most iterations seen in flight at once and how many checks failed.
CREATE FUNCTION pg_temp.drain(eid bigint, w int, canned jsonb DEFAULT '{}',
                              OUT most int, OUT violations int, OUT reports int)
LANGUAGE plpgsql AS $$
DECLARE
    t record;
    inflight int;
    st record;
    p int;
BEGIN
    most := 0; violations := 0; reports := 0;
    LOOP
        inflight := pg_temp.count_items(eid, '{queued,leased,retry}');
        SELECT s.loop_next, s.loop_done, s.status INTO st
          FROM noetl.step_state s WHERE s.execution_id = eid AND s.loop_total IS NOT NULL;
        SELECT pending INTO p FROM noetl.execution WHERE execution_id = eid;
        IF st.status = 'dispatched' THEN
            most := greatest(most, inflight);
            IF inflight > w OR st.loop_next - st.loop_done <> inflight
               OR p <> inflight + 1 THEN
                violations := violations + 1;
            END IF;
        END IF;
        SELECT * INTO t FROM noetl.lease('drain', 1) l WHERE l.execution_id = eid;
        EXIT WHEN NOT FOUND;
        reports := reports + 1;
        PERFORM noetl.complete(t.queue_id, t.lease_token,
                               COALESCE(canned -> t.node_id, jsonb_build_object('i', t.node_id)));
    END LOOP;
END
$$;

-- ---------------------------------------------------------------- the window

SELECT noetl.register($$
metadata: {name: loop_seq, path: tests/loops/sequential}
workflow:
  - step: start
    next: [s]
  - step: s
    tool: python
    code: x
    args: {v: "{{ n }}"}
    loop: {collection: [10, 20, 30, 40, 50], element: n}
    next:
      - step: after
        args: {whole: "{{ s }}", list: "{{ s.result }}", len: "{{ s | length }}", second: "{{ s[1].i }}"}
  - step: after
    tool: python
    code: y
    next: [end]
  - step: end
$$) \g /dev/null
SELECT noetl.execute('tests/loops/sequential') AS seq \gset
SELECT results_eq($$SELECT status::text, loop_total, loop_next, loop_done, loop_failed, loop_window
                      FROM noetl.step_state WHERE execution_id = $$ || :seq || $$ AND step = 's'$$,
                  $$VALUES ('dispatched'::text, 5, 1, 0, 0, 1)$$,
                  'a sequential loop starts with one iteration admitted, its counters in step_state');
SELECT results_eq($$SELECT node_id, status FROM pg_temp.items($$ || :seq || $$)$$,
                  $$VALUES ('s[0]', 'queued'), ('s[1]', 'waiting'), ('s[2]', 'waiting'), ('s[3]', 'waiting'), ('s[4]', 'waiting')$$,
                  'one queue row per iteration, the rest waiting');
SELECT is((SELECT action FROM noetl.queue WHERE execution_id = :seq AND node_id = 's[3]'),
          '{"loop": {"item": 40, "count": 5, "index": 3, "element": "n"}}',
          'a waiting iteration holds only its frame');
SELECT is((SELECT action -> 'args' FROM noetl.queue WHERE execution_id = :seq AND node_id = 's[0]'),
          '{"v": 10}', 'an admitted iteration is rendered with its element');
SELECT is((SELECT pending FROM noetl.execution WHERE execution_id = :seq), 2,
          'pending counts the admitted iteration and the loop');
SELECT results_eq($$SELECT most, violations, reports FROM pg_temp.drain($$ || :seq || $$, 1)$$,
                  $$VALUES (1, 0, 6)$$,
                  'sequential: never more than one iteration queued or leased, the counters and pending right at every step');
SELECT is((SELECT result FROM noetl.step_state WHERE execution_id = :seq AND step = 's'),
          '[{"i": "s[0]"}, {"i": "s[1]"}, {"i": "s[2]"}, {"i": "s[3]"}, {"i": "s[4]"}]',
          'the loop''s result is the list of its items'' results, in order');
SELECT results_eq($$SELECT status::text, pending FROM noetl.execution WHERE execution_id = $$ || :seq,
                  $$VALUES ('completed'::text, 0)$$, 'the execution completes');
-- next sees the list as the step's value, its .result and its length
SELECT is((SELECT action -> 'args' FROM noetl.queue WHERE execution_id = :seq AND node_id = 'after'),
          '{"len": 5, "list": [{"i": "s[0]"}, {"i": "s[1]"}, {"i": "s[2]"}, {"i": "s[3]"}, {"i": "s[4]"}], "whole": [{"i": "s[0]"}, {"i": "s[1]"}, {"i": "s[2]"}, {"i": "s[3]"}, {"i": "s[4]"}], "second": "s[1]"}',
          'next sees {{ s }}, {{ s.result }} and {{ s | length }} as the list, and {{ s[1].i }} in it');
SELECT results_eq($$SELECT meta, result FROM noetl.event WHERE execution_id = $$ || :seq || $$ AND event_type = 'step_completed' AND node_name = 's'$$,
                  $$VALUES ('{"count": 5, "errors": [], "failed": 0}'::jsonb,
                            '[{"i": "s[0]"}, {"i": "s[1]"}, {"i": "s[2]"}, {"i": "s[3]"}, {"i": "s[4]"}]'::jsonb)$$,
                  'one step_completed, with the list and meta {count, failed, errors}');
SELECT is((SELECT count(*)::int FROM noetl.event WHERE execution_id = :seq AND event_type = 'loop_iteration'), 5,
          'one loop_iteration per item');
SELECT is((SELECT count(*)::int FROM noetl.event WHERE execution_id = :seq AND event_type = 'step_started' AND node_name = 's'), 1,
          'one step_started for the loop, none per item');

-- parallel: max_in_flight, concurrency, and the default of 8
SELECT noetl.register($$
metadata: {name: loop_mif, path: tests/loops/max_in_flight}
workflow:
  - step: start
    tool: python
    code: x
    loop: {collection: "{{ range(10) | list }}", element: n, mode: parallel, max_in_flight: 3}
$$) \g /dev/null
SELECT noetl.register($$
metadata: {name: loop_conc, path: tests/loops/concurrency}
workflow:
  - step: start
    tool: python
    code: x
    loop: {collection: "{{ range(7) | list }}", element: n, mode: parallel, concurrency: "{{ workload.c }}"}
$$) \g /dev/null
SELECT noetl.register($$
metadata: {name: loop_par, path: tests/loops/parallel}
workflow:
  - step: start
    tool: python
    code: x
    loop: {collection: "{{ range(20) | list }}", element: n, mode: parallel}
$$) \g /dev/null
SELECT noetl.execute('tests/loops/max_in_flight') AS mif \gset
SELECT is(pg_temp.count_items(:mif, '{queued}'), 3, 'max_in_flight 3: three iterations admitted at the start');
SELECT results_eq($$SELECT most, violations FROM pg_temp.drain($$ || :mif || $$, 3)$$, $$VALUES (3, 0)$$,
                  'max_in_flight 3: at most three in flight, and three reached');
SELECT is((SELECT jsonb_array_length(result) FROM noetl.step_state WHERE execution_id = :mif), 10, 'max_in_flight 3: ten results');
SELECT noetl.execute('tests/loops/concurrency', '{"c": 2}') AS conc \gset
SELECT is((SELECT loop_window FROM noetl.step_state WHERE execution_id = :conc), 2, 'concurrency: a template rendered to 2');
SELECT results_eq($$SELECT most, violations FROM pg_temp.drain($$ || :conc || $$, 2)$$, $$VALUES (2, 0)$$,
                  'concurrency 2: at most two in flight');
SELECT noetl.execute('tests/loops/concurrency', '{"c": 0}') AS conc0 \gset
SELECT is((SELECT error FROM noetl.execution WHERE execution_id = :conc0),
          'step "start": the loop''s concurrency must be an integer of 1 or more, not 0',
          'a concurrency rendered below 1 fails the step');
SELECT noetl.execute('tests/loops/parallel') AS par \gset
SELECT results_eq($$SELECT status::text, loop_window FROM noetl.step_state WHERE execution_id = $$ || :par,
                  $$VALUES ('dispatched'::text, 8)$$, 'mode parallel alone: a window of 8');
SELECT results_eq($$SELECT most, violations FROM pg_temp.drain($$ || :par || $$, 8)$$, $$VALUES (8, 0)$$,
                  'the default window: at most eight in flight');

-- a window wider than 10,000 is 10,000: one transaction's admissions stay bounded
SELECT noetl.register($$
metadata: {name: loop_wide, path: tests/loops/wide}
workflow:
  - step: start
    tool: python
    code: x
    loop: {collection: "{{ range(10005) | list }}", element: n, mode: parallel, max_in_flight: 50000}
$$) \g /dev/null
SELECT noetl.execute('tests/loops/wide') AS wide \gset
SELECT results_eq($$SELECT loop_window, loop_next, pg_temp.count_items($$ || :wide || $$, '{queued}'), (SELECT pending FROM noetl.execution WHERE execution_id = $$ || :wide || $$)
                      FROM noetl.step_state WHERE execution_id = $$ || :wide,
                  $$VALUES (10000, 10000, 10000, 10001)$$, 'max_in_flight 50,000: a window of 10,000');
SELECT noetl.cancel(:wide) \g /dev/null

-- ---------------------------------------------------------------- order

SELECT noetl.register($$
metadata: {name: loop_rev, path: tests/loops/reverse}
workflow:
  - step: start
    tool: python
    code: x
    loop: {collection: [a, b, c, d, e], element: n, mode: parallel}
$$) \g /dev/null
SELECT noetl.execute('tests/loops/reverse') AS rev \gset
CREATE TEMP TABLE rev_leases AS SELECT * FROM noetl.lease('w', 10);
SELECT is((SELECT count(*)::int FROM rev_leases), 5, 'all five iterations are leased at once');
SELECT is(count(noetl.complete(queue_id, lease_token, jsonb_build_object('r', action -> 'loop' ->> 'item')))::int, 5, 'the five completed in reverse order')
  FROM (SELECT * FROM rev_leases ORDER BY node_id DESC) r;
SELECT results_eq($$SELECT event_type, node_id FROM noetl.event WHERE execution_id = $$ || :rev || $$ AND event_type = 'action_completed' ORDER BY event_id$$,
                  $$VALUES ('action_completed'::text, 'start[4]'::text), ('action_completed', 'start[3]'), ('action_completed', 'start[2]'), ('action_completed', 'start[1]'), ('action_completed', 'start[0]')$$,
                  'the items completed in reverse order');
SELECT is((SELECT result FROM noetl.step_state WHERE execution_id = :rev),
          '[{"r": "a"}, {"r": "b"}, {"r": "c"}, {"r": "d"}, {"r": "e"}]',
          'the list is in input order all the same');

-- several items' reports in one statement (noetl.complete_many): each sees the one before
SELECT noetl.execute('tests/loops/max_in_flight') AS many \gset
CREATE TEMP TABLE many_leases AS SELECT * FROM noetl.lease('w', 10);
SELECT is(noetl.complete_many(array_agg(queue_id ORDER BY node_id DESC), array_agg(lease_token ORDER BY node_id DESC),
                              array_agg(jsonb_build_object('n', node_id) ORDER BY node_id DESC)), 3,
          'complete_many reports the three items in flight at once')
  FROM many_leases;
SELECT results_eq($$SELECT loop_next, loop_done, pg_temp.count_items($$ || :many || $$, '{queued,leased,retry}'),
                           (SELECT pending FROM noetl.execution WHERE execution_id = $$ || :many || $$)
                      FROM noetl.step_state WHERE execution_id = $$ || :many,
                  $$VALUES (6, 3, 3, 4)$$, 'complete_many: three more admitted, the window held');
SELECT pg_temp.work(:many) \g /dev/null
SELECT is((SELECT result -> 0 FROM noetl.step_state WHERE execution_id = :many), '{"n": "start[0]"}',
          'complete_many: the list in input order');

-- the list is a result: more than noetl.max_result_size fails the step
SET noetl.max_result_size = '64kB';
SELECT noetl.execute('tests/loops/reverse') AS huge \gset
SELECT is(pg_temp.work(:huge, (SELECT jsonb_object_agg('start[' || g || ']', jsonb_build_object('pad', repeat('x', 20000))) FROM generate_series(0, 4) g)), 5,
          'noetl.max_result_size: five items of 20 kB each');
RESET noetl.max_result_size;
SELECT results_eq($$SELECT x.status::text, x.pending, x.error LIKE 'step "start": its list of 5 results takes 100___ bytes, more than noetl.max_result_size (64 kB)',
                           s.status::text, s.result IS NULL
                      FROM noetl.execution x JOIN noetl.step_state s USING (execution_id) WHERE x.execution_id = $$ || :huge,
                  $$VALUES ('failed'::text, 0, true, 'failed'::text, true)$$,
                  'noetl.max_result_size: a list larger fails the step, and the message names its size');

-- ---------------------------------------------------------------- failures

-- era B's iterator: continue by default
SELECT noetl.register($$
metadata: {name: loop_cont, path: tests/loops/continue}
workflow:
  - step: start
    type: iterator
    collection: [0, 1, 2, 3]
    element: n
    mode: async
    task: {type: python, code: x}
    next: [after]
  - step: after
    tool: python
    code: y
    args: {got: "{{ start }}"}
$$) \g /dev/null
SELECT noetl.execute('tests/loops/continue') AS cont \gset
SELECT is(pg_temp.work(:cont, '{"start[1]": {"__fail": "one is odd"}, "start[3]": {"__fail": "three is odd", "result": {"why": 3}}}'), 5,
          'continue: four items and the next step ran');
SELECT results_eq($$SELECT node_id, status, error FROM pg_temp.items($$ || :cont || $$)$$,
                  $$VALUES ('start[0]', 'done', NULL), ('start[1]', 'dead', 'one is odd'), ('start[2]', 'done', NULL), ('start[3]', 'dead', 'three is odd')$$,
                  'continue: the failed items are dead, with their errors on their rows');
SELECT is((SELECT loop_window FROM noetl.step_state WHERE execution_id = :cont), 8, 'era B''s iterator, mode async alone: a window of 8');
SELECT results_eq($$SELECT status::text, loop_done, loop_failed, result FROM noetl.step_state WHERE execution_id = $$ || :cont || $$ AND step = 'start'$$,
                  $$VALUES ('completed'::text, 4, 2, '[{"step": "start[0]"}, null, {"step": "start[2]"}, null]'::jsonb)$$,
                  'continue: the step completes, the failed items null in the list');
SELECT is((SELECT meta FROM noetl.event WHERE execution_id = :cont AND event_type = 'step_completed' AND node_name = 'start'),
          '{"count": 4, "errors": [{"index": 1, "message": "one is odd"}, {"index": 3, "message": "three is odd"}], "failed": 2}',
          'continue: meta.errors lists {index, message} in index order');
SELECT results_eq($$SELECT node_id, error, meta FROM noetl.event WHERE execution_id = $$ || :cont || $$ AND event_type = 'iteration_failed' ORDER BY event_id$$,
                  $$VALUES ('start[1]'::text, 'one is odd'::text, '{"index": 1}'::jsonb), ('start[3]', 'three is odd', '{"index": 3}')$$,
                  'continue: one iteration_failed per dead item');
SELECT results_eq($$SELECT status::text, pending FROM noetl.execution WHERE execution_id = $$ || :cont,
                  $$VALUES ('completed'::text, 0)$$, 'continue: the execution completes');
SELECT is((SELECT action -> 'args' -> 'got' FROM noetl.queue WHERE execution_id = :cont AND node_id = 'after'),
          '[{"step": "start[0]"}, null, {"step": "start[2]"}, null]', 'continue: next sees the list with its nulls');

-- loop: fails by default, at the first dead item
SELECT noetl.register($$
metadata: {name: loop_fail, path: tests/loops/fail}
workflow:
  - step: start
    next: [s, other]
  - step: s
    tool: python
    code: x
    loop: {collection: [0, 1, 2, 3, 4, 5], element: n, mode: parallel, max_in_flight: 2}
    next: [end]
  - step: other
    tool: python
    code: z
    next: [end]
  - step: end
$$) \g /dev/null
SELECT noetl.execute('tests/loops/fail') AS fl \gset
CREATE TEMP TABLE fl_leases AS SELECT * FROM noetl.lease('w', 10);
SELECT is((SELECT count(*)::int FROM fl_leases), 3, 'fail: two items and the other branch leased');
SELECT noetl.complete(queue_id, lease_token, '{"ok": 0}') FROM fl_leases WHERE node_id = 's[0]' \g /dev/null
SELECT is(pg_temp.count_items(:fl, '{queued}'), 1, 'fail: the first item''s end admitted the third');
SELECT noetl.fail(queue_id, lease_token, 'item one broke') FROM fl_leases WHERE node_id = 's[1]' \g /dev/null
SELECT results_eq($$SELECT status::text, pending, error FROM noetl.execution WHERE execution_id = $$ || :fl,
                  $$VALUES ('failed'::text, 0, 'step "s": iteration 1 failed: item one broke'::text)$$,
                  'fail: one dead item fails the execution');
SELECT results_eq($$SELECT node_id, status FROM pg_temp.items($$ || :fl || $$)$$,
                  $$VALUES ('s[0]', 'done'), ('s[1]', 'dead'), ('s[2]', 'cancelled'), ('s[3]', 'cancelled'), ('s[4]', 'cancelled'), ('s[5]', 'cancelled')$$,
                  'fail: the queued and the waiting items are cancelled');
SELECT is((SELECT status::text FROM noetl.queue WHERE execution_id = :fl AND node_id = 'other'), 'cancelled',
          'fail: the execution''s other task is cancelled too');
SELECT results_eq($$SELECT status::text, loop_done, loop_failed, result FROM noetl.step_state WHERE execution_id = $$ || :fl || $$ AND step = 's'$$,
                  $$VALUES ('failed'::text, 2, 1, '[{"ok": 0}, null, null, null, null, null]'::jsonb)$$,
                  'fail: the step is failed, with the partial list');
SELECT results_eq($$SELECT result, meta, error FROM noetl.event WHERE execution_id = $$ || :fl || $$ AND event_type = 'step_failed'$$,
                  $$VALUES ('[{"ok": 0}, null, null, null, null, null]'::jsonb,
                            '{"count": 6, "errors": [{"index": 1, "message": "item one broke"}], "failed": 1}'::jsonb,
                            'step "s": iteration 1 failed: item one broke'::text)$$,
                  'fail: one step_failed, carrying the partial list and the errors');
SELECT is((SELECT count(*)::int FROM noetl.event WHERE execution_id = :fl AND event_type IN ('iteration_failed', 'step_completed') AND node_name = 's'), 0,
          'fail: no iteration_failed, no step_completed');
SELECT is((SELECT event_type FROM noetl.event WHERE execution_id = :fl ORDER BY event_id DESC LIMIT 1), 'execution_failed',
          'fail: execution_failed is the last event');
-- the other branch's late report is ignored, and admits nothing
SELECT noetl.complete(queue_id, lease_token, '{}') FROM fl_leases WHERE node_id = 'other' \g /dev/null
SELECT results_eq($$SELECT e.status, s.loop_next, (SELECT count(*)::int FROM noetl.event WHERE execution_id = $$ || :fl || $$ AND event_type = 'loop_iteration')
                      FROM noetl.event e, noetl.step_state s
                     WHERE e.execution_id = $$ || :fl || $$ AND e.node_id = 'other' AND e.event_type = 'action_completed'
                       AND s.execution_id = e.execution_id AND s.step = 's'$$,
                  $$VALUES ('ignored'::text, 3, 3)$$, 'fail: a late report is ignored and admits nothing');

-- the other branch failing fails the execution: the running loop is cancelled
SELECT noetl.execute('tests/loops/fail') AS fo \gset
SELECT noetl.fail(l.queue_id, l.lease_token, 'the other broke')
  FROM noetl.lease('w', 10) l WHERE l.execution_id = :fo AND l.node_id = 'other' \g /dev/null
SELECT results_eq($$SELECT x.status::text, x.pending, x.error, s.status::text, s.result
                      FROM noetl.execution x JOIN noetl.step_state s ON s.execution_id = x.execution_id AND s.step = 's'
                     WHERE x.execution_id = $$ || :fo,
                  $$VALUES ('failed'::text, 0, 'the other broke'::text, 'cancelled'::text, NULL::jsonb)$$,
                  'another step failing: the execution fails, the loop step is cancelled, with no list');
SELECT results_eq($$SELECT status, count(*)::int FROM pg_temp.items($$ || :fo || $$) GROUP BY status$$,
                  $$VALUES ('cancelled'::text, 6)$$, 'another step failing: the loop''s items, leased and waiting, are cancelled');

-- ---------------------------------------------------------------- retries

SELECT noetl.register($$
metadata: {name: loop_retry, path: tests/loops/retry}
workflow:
  - step: start
    tool: python
    code: x
    retry: 3
    loop: {collection: [0, 1, 2, 3], element: n}
$$) \g /dev/null
CREATE FUNCTION pg_temp.flaky(eid bigint, node text, failures int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE t record; n int := 0;
BEGIN
    LOOP
        PERFORM pg_temp.due(eid);
        SELECT * INTO t FROM noetl.lease('flaky', 1) l WHERE l.execution_id = eid;
        EXIT WHEN NOT FOUND;
        n := n + 1;
        IF t.node_id = node AND t.attempts <= failures THEN
            PERFORM noetl.fail(t.queue_id, t.lease_token, 'flaky ' || t.attempts);
        ELSE
            PERFORM noetl.complete(t.queue_id, t.lease_token, jsonb_build_object('n', t.action -> 'loop' -> 'item'));
        END IF;
    END LOOP;
    RETURN n;
END $$;
SELECT noetl.execute('tests/loops/retry') AS rt \gset
SELECT is(pg_temp.flaky(:rt, 'start[2]', 2), 6, 'retries: four items, one of them three times');
SELECT results_eq($$SELECT node_id, status, attempts FROM pg_temp.items($$ || :rt || $$)$$,
                  $$VALUES ('start[0]', 'done', 1), ('start[1]', 'done', 1), ('start[2]', 'done', 3), ('start[3]', 'done', 1)$$,
                  'retries: the attempts are the retried item''s only');
SELECT results_eq($$SELECT node_id, error FROM noetl.event WHERE execution_id = $$ || :rt || $$ AND event_type = 'step_retry' ORDER BY event_id$$,
                  $$VALUES ('start[2]'::text, 'flaky 1'::text), ('start[2]', 'flaky 2')$$,
                  'retries: step_retry names the item');
SELECT results_eq($$SELECT x.status::text, s.result FROM noetl.execution x JOIN noetl.step_state s USING (execution_id) WHERE x.execution_id = $$ || :rt,
                  $$VALUES ('completed'::text, '[{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}]'::jsonb)$$,
                  'retries: the loop completes with every result');
-- while an item waits to retry it keeps its place in the window
SELECT noetl.execute('tests/loops/retry') AS rt2 \gset
SELECT noetl.fail(l.queue_id, l.lease_token, 'first') FROM noetl.lease('w', 1) l \g /dev/null
SELECT results_eq($$SELECT node_id, status FROM pg_temp.items($$ || :rt2 || $$) WHERE status <> 'waiting'$$,
                  $$VALUES ('start[0]', 'retry')$$, 'retries: an item waiting to retry holds the window of 1');
SELECT results_eq($$SELECT loop_next, loop_done, (SELECT pending FROM noetl.execution WHERE execution_id = $$ || :rt2 || $$)
                      FROM noetl.step_state WHERE execution_id = $$ || :rt2,
                  $$VALUES (1, 0, 2)$$, 'retries: the counters and pending unchanged by the retry');
-- an item's lease expiry, reported as the broker worker's check does
-- (bgworker.c, expire_leases: an action_error "lease expired"), is a
-- failed attempt: retried, and dead once no attempt is left
-- (here with the lease's token: only the broker worker may report
-- without one; test/tap/lease_expiry.sh runs the worker's own check)
CREATE FUNCTION pg_temp.expire(eid bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE t record;
BEGIN
    PERFORM pg_temp.due(eid);
    SELECT * INTO t FROM noetl.lease('expiring', 1, 1) l WHERE l.execution_id = eid;
    IF NOT FOUND THEN
        RETURN 'nothing to lease';
    END IF;
    INSERT INTO noetl.event (event_type, queue_id, lease_token, error, meta)
    VALUES ('action_error', t.queue_id, t.lease_token, 'lease expired',
            jsonb_build_object('lease_expired', true, 'attempt', t.attempts));
    RETURN t.node_id || ' ' || (SELECT status FROM noetl.queue WHERE queue_id = t.queue_id);
END $$;
SELECT is(pg_temp.expire(:rt2), 'start[0] retry', 'lease expiry: the item''s second attempt expires, and it waits to retry');
SELECT is(pg_temp.count_items(:rt2, '{queued,leased,retry}'), 1, 'lease expiry: no other item was admitted');
SELECT is(pg_temp.expire(:rt2), 'start[0] dead', 'lease expiry: its third attempt expires, and it is dead');
SELECT results_eq($$SELECT status::text, error FROM noetl.execution WHERE execution_id = $$ || :rt2,
                  $$VALUES ('failed'::text, 'step "start": iteration 0 failed: lease expired'::text)$$,
                  'lease expiry: the loop (on_item_error fail) fails with it');
SELECT results_eq($$SELECT node_id, status, attempts, error FROM pg_temp.items($$ || :rt2 || $$)$$,
                  $$VALUES ('start[0]', 'dead', 3, 'lease expired'), ('start[1]', 'cancelled', 0, NULL),
                           ('start[2]', 'cancelled', 0, NULL), ('start[3]', 'cancelled', 0, NULL)$$,
                  'lease expiry: the dead item keeps its last error, the waiting ones are cancelled');

-- ---------------------------------------------------------------- cancellation

SELECT noetl.register($$
metadata: {name: loop_cancel, path: tests/loops/cancel}
workflow:
  - step: start
    tool: python
    code: x
    loop: {collection: "{{ range(8) | list }}", element: n, mode: parallel, max_in_flight: 3}
$$) \g /dev/null
SELECT noetl.execute('tests/loops/cancel') AS cn \gset
CREATE TEMP TABLE cn_leases AS SELECT * FROM noetl.lease('w', 2);
SELECT noetl.complete(queue_id, lease_token, '{}') FROM cn_leases WHERE node_id = 'start[0]' \g /dev/null
SELECT results_eq($$SELECT status, count(*)::int FROM pg_temp.items($$ || :cn || $$) GROUP BY status ORDER BY status$$,
                  $$VALUES ('done'::text, 1), ('leased', 1), ('queued', 2), ('waiting', 4)$$,
                  'cancel: mid-loop, items done, leased, queued and waiting');
SELECT noetl.cancel(:cn) \g /dev/null
SELECT results_eq($$SELECT status, count(*)::int FROM pg_temp.items($$ || :cn || $$) GROUP BY status ORDER BY status$$,
                  $$VALUES ('cancelled'::text, 7), ('done', 1)$$,
                  'cancel: every waiting, queued and leased item is cancelled');
SELECT results_eq($$SELECT x.status::text, x.pending, s.status::text FROM noetl.execution x JOIN noetl.step_state s USING (execution_id) WHERE x.execution_id = $$ || :cn,
                  $$VALUES ('cancelled'::text, 0, 'cancelled'::text)$$,
                  'cancel: the execution is cancelled with nothing pending, the loop step cancelled');
SELECT noetl.complete(queue_id, lease_token, '{}') FROM cn_leases WHERE node_id = 'start[1]' \g /dev/null
SELECT results_eq($$SELECT status FROM noetl.event WHERE execution_id = $$ || :cn || $$ AND node_id = 'start[1]' AND event_type = 'action_completed'$$,
                  $$VALUES ('ignored'::text)$$, 'cancel: the leased item''s late completion is ignored');
SELECT results_eq($$SELECT loop_next, loop_done, (SELECT count(*)::int FROM noetl.event WHERE execution_id = $$ || :cn || $$ AND event_type = 'loop_iteration')
                      FROM noetl.step_state WHERE execution_id = $$ || :cn,
                  $$VALUES (4, 1, 4)$$, 'cancel: and admits nothing');

-- ---------------------------------------------------------------- a task's context

SELECT noetl.register($$
metadata: {name: loop_ctx, path: tests/loops/context}
workflow:
  - step: start
    next: [s, side]
  - step: s
    tool: python
    code: x
    loop: {collection: [1, 2, 3], element: n, mode: parallel}
  - step: side
    tool: python
    code: y
$$) \g /dev/null
SELECT noetl.execute('tests/loops/context') AS cx \gset
CREATE TEMP TABLE cx_leases AS SELECT * FROM noetl.lease('w', 10);
SELECT noetl.complete(queue_id, lease_token, jsonb_build_object('n', node_id)) FROM cx_leases WHERE node_id IN ('s[0]', 's[1]') \g /dev/null
SELECT is((SELECT noetl.task_context(queue_id, lease_token) - 'workload' - 'work' - 'context' - 'execution_id'
             FROM cx_leases WHERE node_id = 'side'),
          '{"start": null}', 'task_context while the loop runs: its finished items are not steps');
SELECT noetl.complete(queue_id, lease_token, jsonb_build_object('n', node_id)) FROM cx_leases WHERE node_id = 's[2]' \g /dev/null
SELECT is((SELECT noetl.task_context(queue_id, lease_token) - 'workload' - 'work' - 'context' - 'execution_id'
             FROM cx_leases WHERE node_id = 'side'),
          '{"s": [{"n": "s[0]"}, {"n": "s[1]"}, {"n": "s[2]"}], "start": null}', 'task_context once the loop is done: the loop step, its list');
SELECT set_eq($$SELECT step FROM noetl.task_context_steps($$ || :cx || $$)$$, ARRAY['start', 's'],
              'task_context_steps lists steps, not items');

-- ---------------------------------------------------------------- noetl.max_loop_items

SET noetl.max_loop_items = 3;
SELECT noetl.execute('tests/loops/reverse') AS big \gset
SELECT results_eq($$SELECT status::text, error FROM noetl.execution WHERE execution_id = $$ || :big,
                  $$VALUES ('failed'::text, 'step "start": the loop has 5 iterations, more than noetl.max_loop_items (3)'::text)$$,
                  'noetl.max_loop_items: a loop with more iterations fails its step');
SELECT is((SELECT count(*)::int FROM noetl.queue WHERE execution_id = :big), 0, 'noetl.max_loop_items: and queues nothing');
SELECT noetl.execute('tests/loops/retry') AS small \gset
SELECT is((SELECT status::text FROM noetl.execution WHERE execution_id = :small), 'failed', 'noetl.max_loop_items: 4 > 3 too');
SET noetl.max_loop_items = 5;
SELECT noetl.execute('tests/loops/reverse') AS fits \gset
SELECT is((SELECT loop_total FROM noetl.step_state WHERE execution_id = :fits), 5, 'noetl.max_loop_items: as many as the limit run');
RESET noetl.max_loop_items;
SELECT pg_temp.work(:fits) \g /dev/null

-- ---------------------------------------------------------------- where, order_by, limit, chunk, the frame

SELECT noetl.register($$
metadata: {name: loop_filters, path: tests/loops/filters}
workload:
  min_age: 18
  people:
    - {name: ann, age: 31, ok: "yes"}
    - {name: bob, age: 17, ok: "yes"}
    - {name: cy, age: 45, ok: "Y"}
    - {name: di, age: 22, ok: "off"}
    - {name: ed, age: 22, ok: "banana"}
    - {name: fa, age: 60, ok: 1}
    - {name: gus, age: 70, ok: "None"}
workflow:
  - step: start
    tool: python
    code: x
    args: {who: "{{ p.name }}", i: "{{ index }}", lp: "{{ _loop }}", self: "{{ start }}", n: "{{ parent.workload.people | length }}"}
    loop:
      collection: "{{ workload.people }}"
      element: p
      mode: parallel
      where: "{{ p.ok if p.age >= parent.workload.min_age else 'no' }}"
      order_by: "{{ p.age }}"
      limit: 3
      enumerate: true
$$) \g /dev/null
SELECT noetl.execute('tests/loops/filters') AS flt \gset
SELECT results_eq($$SELECT node_id, action -> 'loop' FROM noetl.queue WHERE execution_id = $$ || :flt || $$ ORDER BY node_id$$,
                  $$VALUES ('start[0]'::text, '{"item": {"ok": "banana", "age": 22, "name": "ed"}, "count": 3, "index": 0, "element": "p"}'::jsonb),
                           ('start[1]', '{"item": {"ok": "yes", "age": 31, "name": "ann"}, "count": 3, "index": 1, "element": "p"}'),
                           ('start[2]', '{"item": {"ok": "Y", "age": 45, "name": "cy"}, "count": 3, "index": 2, "element": "p"}')$$,
                  'where (NoETL''s iterator truthy, parent in scope), then order_by, then limit: the frames as action.loop');
SELECT is((SELECT action -> 'args' FROM noetl.queue WHERE execution_id = :flt AND node_id = 'start[1]'),
          '{"i": 1, "n": 7, "lp": {"item": {"ok": "yes", "age": 31, "name": "ann"}, "count": 3, "index": 1, "current_index": 1}, "who": "ann", "self": {"result_index": 1}}',
          'the rendering sees the element, index (enumerate), _loop, the step as {result_index} and parent');
SELECT is((SELECT count(*)::int FROM noetl.event WHERE execution_id = :flt AND event_type = 'warning'), 0, 'no warning when where renders');
SELECT pg_temp.work(:flt) \g /dev/null

SELECT noetl.register($$
metadata: {name: loop_chunk, path: tests/loops/chunk}
workflow:
  - step: start
    tool: python
    code: x
    args: {b: "{{ batch }}", e: "{{ xs }}", c: "{{ _loop.count }}", i: "{{ _loop.index }}", nobatch: "{{ index is defined }}"}
    loop:
      collection: [{v: 1}, {v: 2}, {v: 3}, 4, {v: 5}, {v: 6}]
      element: xs
      chunk: "{{ 2 }}"
      where: "{{ xs.v > 1 }}"
      mode: parallel
$$) \g /dev/null
SELECT noetl.execute('tests/loops/chunk') AS ch \gset
SELECT results_eq($$SELECT node_id, action -> 'loop', action -> 'args' FROM noetl.queue WHERE execution_id = $$ || :ch || $$ ORDER BY node_id$$,
                  $$VALUES ('start[0]'::text, '{"item": [{"v": 2}, {"v": 3}], "batch": [{"v": 2}, {"v": 3}], "count": 2, "index": 0, "element": "xs"}'::jsonb,
                            '{"b": [{"v": 2}, {"v": 3}], "c": 2, "e": [{"v": 2}, {"v": 3}], "i": 0, "nobatch": false}'::jsonb),
                           ('start[1]', '{"item": [{"v": 5}, {"v": 6}], "batch": [{"v": 5}, {"v": 6}], "count": 2, "index": 1, "element": "xs"}',
                            '{"b": [{"v": 5}, {"v": 6}], "c": 2, "e": [{"v": 5}, {"v": 6}], "i": 1, "nobatch": false}')$$,
                  'chunk: batches of 2 after where, the batch as the element and as batch, no index without enumerate');
SELECT results_eq($$SELECT node_name, error FROM noetl.event WHERE execution_id = $$ || :ch || $$ AND event_type = 'warning'$$,
                  $$VALUES ('start'::text, 'the loop''s where of step "start" counts as false for element 3: template error at line 1, column 4: ''int object'' has no attribute ''v'''::text)$$,
                  'a where that cannot be rendered counts as false, with one warning');
SELECT pg_temp.work(:ch) \g /dev/null

-- ---------------------------------------------------------------- empty and malformed collections

SELECT noetl.register($$
metadata: {name: loop_coll, path: tests/loops/collection}
workload: {m: {a: 1}, s: abc, num: 3, nul: null, empty: []}
workflow:
  - step: start
    tool: python
    code: x
    loop: {collection: "{{ workload[workload.which] }}", element: n}
    next:
      - step: after
        args: {got: "{{ start }}", len: "{{ start | length }}"}
  - step: after
    tool: python
    code: y
$$) \g /dev/null
SELECT noetl.execute('tests/loops/collection', '{"which": "empty"}') AS em \gset
SELECT results_eq($$SELECT status::text, result, loop_total FROM noetl.step_state WHERE execution_id = $$ || :em || $$ AND step = 'start'$$,
                  $$VALUES ('completed'::text, '[]'::jsonb, 0)$$, 'an empty collection: the loop completes at once with []');
SELECT results_eq($$SELECT node_id, status::text, action -> 'args' FROM noetl.queue WHERE execution_id = $$ || :em,
                  $$VALUES ('after'::text, 'queued'::text, '{"got": [], "len": 0}'::jsonb)$$,
                  'an empty collection: next runs in the same transaction, and sees []');
SELECT results_eq($$SELECT event_type, node_id, result FROM noetl.event WHERE execution_id = $$ || :em || $$ AND node_name = 'start' ORDER BY event_id$$,
                  $$VALUES ('step_started'::text, 'start'::text, NULL::jsonb), ('step_completed', 'start', '[]')$$,
                  'an empty collection: step_started and step_completed, no iteration');
SELECT is((SELECT pending FROM noetl.execution WHERE execution_id = :em), 1, 'an empty collection: only the next step is pending');
SELECT pg_temp.work(:em) \g /dev/null

CREATE FUNCTION pg_temp.malformed(which text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE x bigint; r text;
BEGIN
    x := noetl.execute('tests/loops/collection', jsonb_build_object('which', which));
    SELECT status || ', ' || pending || ', ' || error
           || ', ' || (SELECT count(*) FROM noetl.queue q WHERE q.execution_id = x)
           || ', ' || (SELECT count(*) FROM noetl.step_state s WHERE s.execution_id = x AND s.step = 'start')
      INTO r FROM noetl.execution WHERE execution_id = x;
    RETURN r;
END $$;
SELECT is(pg_temp.malformed('m'), 'failed, 0, step "start": the loop''s collection is a mapping, not a list, 0, 0',
          'a mapping is not a collection: the step fails, nothing queued, no loop recorded');
SELECT is(pg_temp.malformed('s'), 'failed, 0, step "start": the loop''s collection is a string, not a list, 0, 0',
          'a string is not a collection');
SELECT is(pg_temp.malformed('num'), 'failed, 0, step "start": the loop''s collection is a number, not a list, 0, 0',
          'a number is not a collection');
SELECT is(pg_temp.malformed('nul'), 'failed, 0, step "start": the loop''s collection is null, not a list, 0, 0',
          'null is not a collection');
SELECT is(pg_temp.malformed('nope'), 'failed, 0, step "start": the loop''s collection is a string, not a list, 0, 0',
          'an undefined value renders as "": not a collection either');
SELECT noetl.register($$
metadata: {name: loop_tpl, path: tests/loops/collection_error}
workflow:
  - step: start
    tool: python
    code: x
    loop: {collection: "{{ workload.a.b }}", element: n}
$$) \g /dev/null
SELECT noetl.execute('tests/loops/collection_error') AS ce \gset
SELECT results_eq($$SELECT status::text, error FROM noetl.execution WHERE execution_id = $$ || :ce,
                  $$VALUES ('failed'::text, 'step "start": the loop''s collection: template error at line 1, column 14: ''dict object'' has no attribute ''a'''::text)$$,
                  'a collection that cannot be rendered fails the step with the template''s error');
SELECT results_eq($$SELECT event_type, node_name FROM noetl.event WHERE execution_id = $$ || :ce || $$ ORDER BY event_id$$,
                  $$VALUES ('execution_start'::text, NULL::text), ('step_failed', 'start'), ('execution_failed', NULL)$$,
                  'a collection that cannot be rendered: step_failed, execution_failed');

-- ---------------------------------------------------------------- the end step, reached twice

SELECT noetl.register($$
metadata: {name: loop_end, path: tests/loops/end}
workflow:
  - step: start
    next: [a, b]
  - step: a
    tool: python
    code: x
    next: [end]
  - step: b
    tool: python
    code: x
    next: [end]
  - step: end
    tool: python
    code: z
    args: {from_a: "{{ a.v }}"}
    loop: {collection: "{{ workload.items }}", element: n, mode: parallel}
$$) \g /dev/null
SELECT noetl.execute('tests/loops/end', '{"items": [1, 2]}') AS en \gset
SELECT is(pg_temp.work(:en, '{"a": {"v": "A"}, "end[0]": {"e": 0}, "end[1]": {"e": 1}}'), 4, 'a loop as the end step runs after the join');
SELECT results_eq($$SELECT status::text, pending, result FROM noetl.execution WHERE execution_id = $$ || :en,
                  $$VALUES ('completed'::text, 0, '[{"e": 0}, {"e": 1}]'::jsonb)$$,
                  'a loop as the end step: the execution''s result is the list');
SELECT is((SELECT action -> 'args' FROM noetl.queue WHERE execution_id = :en AND node_id = 'end[1]'), '{"from_a": "A"}',
          'a loop as the end step: its items see the branches'' results');
SELECT ok((SELECT max(event_id) FILTER (WHERE node_name IN ('a', 'b') AND event_type = 'step_completed')
                < min(event_id) FILTER (WHERE node_name = 'end')
             FROM noetl.event WHERE execution_id = :en), 'a loop as the end step starts after both branches');
SELECT noetl.execute('tests/loops/end', '{"items": []}') AS en0 \gset
SELECT is(pg_temp.work(:en0, '{"a": {"v": "A"}}'), 2, 'an empty loop as the end step');
SELECT results_eq($$SELECT status::text, pending, result FROM noetl.execution WHERE execution_id = $$ || :en0,
                  $$VALUES ('completed'::text, 0, '[]'::jsonb)$$, 'an empty loop as the end step: the execution completes with []');

SELECT noetl.register($$
metadata: {name: loop_twice, path: tests/loops/twice}
workflow:
  - step: start
    next: [s, s]
  - step: s
    tool: python
    code: x
    loop: {collection: [1, 2, 3], element: n, mode: parallel}
$$) \g /dev/null
SELECT noetl.execute('tests/loops/twice') AS tw \gset
SELECT results_eq($$SELECT count(*)::int, (SELECT pending FROM noetl.execution WHERE execution_id = $$ || :tw || $$)
                      FROM noetl.queue WHERE execution_id = $$ || :tw,
                  $$VALUES (3, 4)$$, 'a loop reached twice at once starts once: three items, pending 3 + 1');
SELECT is(pg_temp.work(:tw), 3, 'a loop reached twice runs its items once');
SELECT results_eq($$SELECT status::text, pending, (SELECT count(*)::int FROM noetl.event e WHERE e.execution_id = x.execution_id AND e.event_type = 'step_completed' AND e.node_name = 's')
                      FROM noetl.execution x WHERE execution_id = $$ || :tw,
                  $$VALUES ('completed'::text, 0, 1)$$, 'a loop reached twice completes once');

-- reached again by another branch, in another transaction: the loop is
-- not rendered again (its where warns once per loop)
SELECT noetl.register($$
metadata: {name: loop_again, path: tests/loops/again}
workflow:
  - step: start
    next: [a, b]
  - step: a
    tool: python
    code: x
    next: [s]
  - step: b
    tool: python
    code: x
    next: [s]
  - step: s
    tool: python
    code: x
    loop: {collection: [{v: 1}, 2, {v: 3}], element: n, where: "{{ n.v > 0 }}"}
$$) \g /dev/null
SELECT noetl.execute('tests/loops/again') AS ag \gset
SELECT is(pg_temp.work(:ag), 4, 'a loop reached by two branches runs its two items once');
SELECT results_eq($$SELECT x.status::text, s.result, (SELECT count(*)::int FROM noetl.event e WHERE e.execution_id = x.execution_id AND e.event_type = 'warning')
                      FROM noetl.execution x JOIN noetl.step_state s ON s.execution_id = x.execution_id AND s.step = 's'
                     WHERE x.execution_id = $$ || :ag,
                  $$VALUES ('completed'::text, '[{"step": "s[0]"}, {"step": "s[1]"}]'::jsonb, 1)$$,
                  'a loop reached by two branches is rendered once: one warning of its where');

-- ---------------------------------------------------------------- an item that cannot be rendered

SELECT noetl.register($$
metadata: {name: loop_render, path: tests/loops/render}
workflow:
  - step: start
    tool: python
    code: x
    retry: 3
    args: {q: "{{ 10 // n }}"}
    loop: {collection: [5, 0, 2], element: n, on_item_error: continue}
$$) \g /dev/null
SELECT noetl.execute('tests/loops/render') AS rd \gset
SELECT results_eq($$SELECT node_id, status, attempts, error FROM pg_temp.items($$ || :rd || $$)$$,
                  $$VALUES ('start[0]', 'queued', 0, NULL), ('start[1]', 'waiting', 0, NULL), ('start[2]', 'waiting', 0, NULL)$$,
                  'an item that cannot be rendered: nothing happens to it before its turn');
SELECT is(pg_temp.work(:rd, '{"start[0]": {"q": 2}, "start[2]": {"q": 5}}'), 2, 'an item that cannot be rendered is never leased');
SELECT results_eq($$SELECT node_id, status, attempts, error FROM pg_temp.items($$ || :rd || $$)$$,
                  $$VALUES ('start[0]', 'done', 1, NULL), ('start[1]', 'dead', 0, 'template error at line 1, column 7: integer division or modulo by zero'),
                           ('start[2]', 'done', 1, NULL)$$,
                  'an item that cannot be rendered is dead at once, without retries (retry: 3), with the error; the next one is admitted');
SELECT is((SELECT count(*)::int FROM noetl.event WHERE execution_id = :rd AND event_type = 'step_retry'), 0,
          'an item that cannot be rendered: no step_retry');
SELECT results_eq($$SELECT s.result, x.status::text, x.pending FROM noetl.step_state s JOIN noetl.execution x USING (execution_id) WHERE x.execution_id = $$ || :rd,
                  $$VALUES ('[{"q": 2}, null, {"q": 5}]'::jsonb, 'completed'::text, 0)$$,
                  'an item that cannot be rendered, under continue: null in the list, the execution completes');
SELECT results_eq($$SELECT node_id, meta FROM noetl.event WHERE execution_id = $$ || :rd || $$ AND event_type = 'iteration_failed'$$,
                  $$VALUES ('start[1]'::text, '{"index": 1}'::jsonb)$$, 'an item that cannot be rendered: iteration_failed');

-- ---------------------------------------------------------------- flat cost

-- A report that admits item k reads as many buffers of the queue and
-- step_state (heaps and indexes) at k = 10 as at k = 10,000: the window
-- reads the loop's row and item k by key, never the items before it.  The
-- 9,989 items between the two are finished by hand: run here, in one
-- transaction, their reports would make a chain of 20,000 versions of the
-- loop's step_state row, which no workload whose reports commit has.
CREATE FUNCTION pg_temp.blocks() RETURNS bigint LANGUAGE sql AS $$
    SELECT sum(pg_stat_get_xact_blocks_fetched(i.oid))::bigint
      FROM (SELECT 'noetl.queue'::regclass::oid UNION ALL SELECT 'noetl.step_state'::regclass
            UNION ALL SELECT indexrelid FROM pg_index WHERE indrelid IN ('noetl.queue'::regclass, 'noetl.step_state'::regclass)) i (oid)
$$;
-- the buffers read by the report of the one leased item of eid, which admits the next
CREATE FUNCTION pg_temp.admit_cost(eid bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE t record; b bigint;
BEGIN
    SELECT * INTO t FROM noetl.lease('cost', 1) l WHERE l.execution_id = eid;
    b := pg_temp.blocks();
    PERFORM noetl.complete(t.queue_id, t.lease_token, '{"ok": 1}');
    RETURN pg_temp.blocks() - b;
END $$;
SELECT noetl.register($$
metadata: {name: loop_big, path: tests/loops/big}
workflow:
  - step: start
    tool: python
    code: x
    args: {n: "{{ n }}"}
    loop: {collection: "{{ workload.items }}", element: n}
$$) \g /dev/null
SELECT noetl.execute('tests/loops/big', jsonb_build_object('items', (SELECT jsonb_agg(g) FROM generate_series(0, 10001) g))) AS bg \gset
SELECT count(pg_temp.admit_cost(:bg)) FROM generate_series(1, 9) \g /dev/null
SELECT pg_temp.admit_cost(:bg) AS small_cost \gset
SELECT is((SELECT node_id FROM noetl.queue WHERE execution_id = :bg AND status = 'queued'), 'start[10]', 'the report admitted item 10');
UPDATE noetl.queue SET status = 'done', attempts = 1, result = '{"ok": 1}'
 WHERE execution_id = :bg AND node_id <> node_name AND substring(node_id from '\[(\d+)\]$')::int BETWEEN 10 AND 9998;
UPDATE noetl.queue SET status = 'queued' WHERE execution_id = :bg AND node_id = 'start[9999]';
UPDATE noetl.step_state SET loop_next = 10000, loop_done = 9999 WHERE execution_id = :bg;
SELECT pg_temp.admit_cost(:bg) AS large_cost \gset
SELECT results_eq($$SELECT node_id, status::text FROM noetl.queue WHERE execution_id = $$ || :bg || $$ AND status <> 'done' ORDER BY queue_id$$,
                  $$VALUES ('start[10000]'::text, 'queued'::text), ('start[10001]', 'waiting')$$, 'the report admitted item 10,000');
SELECT ok(:large_cost <= :small_cost * 1.5 + 10,
          format('a report that admits item k reads %s buffers at k = 10, %s at k = 10,000', :small_cost, :large_cost));
SELECT ok(:small_cost > 0, 'the cost is measured');

SELECT * FROM finish();
ROLLBACK;
