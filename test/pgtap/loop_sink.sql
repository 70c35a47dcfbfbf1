-- Era B's step-level save on an iterator (docs/loops.md, "A loop's own
-- sink"): registration keeps it as the loop's sink, apart from the items'
-- save; when the last item ends, the broker queues one task, step[save],
-- tool "sink", with the sink unrendered and args {results, errors, count};
-- the loop stays outstanding until that task ends, then completes with its
-- list; a failed save is recorded (meta.save_error) or fails the step
-- under on_error: fail; a loop cancelled before its end queues no save.
-- The worker is written in SQL (test/lib/sqlworker.sql) or is a report by hand.
BEGIN;
DELETE FROM noetl.queue;
\i test/lib/sqlworker.sql
SELECT plan(36);

-- pg_temp.take(eid, node_id): leases the execution's task node_id (others are given back)
CREATE FUNCTION pg_temp.take(eid bigint, node text, OUT queue_id bigint, OUT lease_token text)
LANGUAGE plpgsql AS $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM noetl.lease('sinktest', 100) LOOP
        IF t.execution_id = eid AND t.node_id = node AND queue_id IS NULL THEN
            queue_id := t.queue_id;
            lease_token := t.lease_token;
        ELSE
            PERFORM noetl.release(t.queue_id, t.lease_token);
        END IF;
    END LOOP;
    IF queue_id IS NULL THEN
        RAISE EXCEPTION 'task % of execution % is not ready', node, eid;
    END IF;
END
$$;

-- pg_temp.done(eid, node_id, result): completes that task with result
CREATE FUNCTION pg_temp.done(eid bigint, node text, result jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t record;
BEGIN
    SELECT * INTO t FROM pg_temp.take(eid, node);
    PERFORM noetl.complete(t.queue_id, t.lease_token, result);
END
$$;

-- pg_temp.failed(eid, node_id, error): fails that task
CREATE FUNCTION pg_temp.failed(eid bigint, node text, error text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t record;
BEGIN
    SELECT * INTO t FROM pg_temp.take(eid, node);
    PERFORM noetl.fail(t.queue_id, t.lease_token, error, NULL);
END
$$;

-- ---------------------------------------------------------------- registration

SELECT noetl.register($$
metadata: {name: it_save, path: tests/loop_sink/save}
workload: {pg_auth: pg_local}
workflow:
  - step: start
    next: [s]
  - step: s
    type: iterator
    collection: [a, b, c]
    element: x
    mode: async
    task:
      type: python
      code: x
      save:
        storage: postgres
        table: per_item
        args: {v: "{{ x }}"}
    save:
      storage: {type: postgres, table: all_items, auth: "{{ workload.pg_auth }}"}
      args: {n: "{{ count }}", rows: "{{ results }}"}
    next:
      - step: after
        args: {got: "{{ s }}"}
  - step: after
    tool: python
    code: y
$$) \g /dev/null
SELECT is((SELECT (payload #> '{workflow,1,loop,sink}') - 'on_error' FROM noetl.catalog WHERE path = 'tests/loop_sink/save'),
          '{"tool": "postgres", "table": "all_items", "auth": "{{ workload.pg_auth }}", "args": {"n": "{{ count }}", "rows": "{{ results }}"}}'::jsonb,
          'an iterator''s step-level save is kept, normalised, as its loop''s sink');
SELECT is((SELECT payload #>> '{workflow,1,sink,table}' FROM noetl.catalog WHERE path = 'tests/loop_sink/save'),
          'per_item', 'the save inside its task stays the items'' sink');

SELECT noetl.register($$
metadata: {name: it_save_only, path: tests/loop_sink/only}
workflow:
  - step: start
    type: iterator
    collection: [1]
    element: x
    task: {type: python, code: x}
    save: {storage: event, args: {n: "{{ count }}"}}
$$) \g /dev/null
SELECT is((SELECT payload #> '{workflow,0}' ? 'sink' FROM noetl.catalog WHERE path = 'tests/loop_sink/only'),
          false, 'a step-level save alone is no longer merged into the items'' sink');
SELECT is((SELECT payload #>> '{workflow,0,loop,sink,tool}' FROM noetl.catalog WHERE path = 'tests/loop_sink/only'),
          'event', 'it is the loop''s sink');

SELECT noetl.register($$
metadata: {name: c_loop, path: tests/loop_sink/era_c}
workflow:
  - step: start
    tool: python
    code: x
    loop: {collection: [1], element: x}
    sink: {tool: event, args: {v: "{{ x }}"}}
$$) \g /dev/null
SELECT results_eq($$SELECT payload #>> '{workflow,0,sink,tool}', payload #> '{workflow,0,loop}' ? 'sink'
                      FROM noetl.catalog WHERE path = 'tests/loop_sink/era_c'$$,
                  $$VALUES ('event', false)$$,
                  'era C''s sink on a loop step stays per item');

SELECT throws_ok($$SELECT noetl.register('{"metadata": {"name": "bad", "path": "tests/loop_sink/bad"}, "workflow": [{"step": "start", "next": ["s[save]"]}, {"step": "s[save]", "tool": "python", "code": "x"}]}')$$,
                 '22023', NULL, 'a step named like a loop''s sink task is refused');

-- ---------------------------------------------------------------- the save task

SELECT noetl.execute('tests/loop_sink/save') AS ex \gset
SELECT is((SELECT count(*)::int FROM noetl.queue WHERE execution_id = :ex AND tool = 'python'), 3,
          'the three items are queued');
-- the items end in reverse order; the middle one fails (era B: continue)
SELECT pg_temp.done(:ex, 's[2]', '{"status": "success", "data": {"c": 3}}');
SELECT pg_temp.failed(:ex, 's[1]', 'b went wrong');
SELECT is((SELECT count(*)::int FROM noetl.queue WHERE execution_id = :ex AND node_id = 's[save]'), 0,
          'no save task before the last item ends');
SELECT pg_temp.done(:ex, 's[0]', '{"status": "success", "data": {"a": 1}}');
SELECT results_eq($$SELECT node_name, tool, status::text, max_attempts FROM noetl.queue WHERE execution_id = $$ || :ex || $$ AND node_id = 's[save]'$$,
                  $$VALUES ('s'::text, 'sink'::text, 'queued'::text, 1)$$,
                  'the last item queues one save task, step[save], tool sink, tried once');
SELECT is((SELECT action -> 'args' FROM noetl.queue WHERE execution_id = :ex AND node_id = 's[save]'),
          '{"results": [{"a": 1}, null, {"c": 3}], "errors": [{"index": 1, "message": "b went wrong"}], "count": 3}',
          'its args: the results in input order (null for the failed item), the errors and the count');
SELECT is((SELECT action -> 'sink' ->> 'auth' FROM noetl.queue WHERE execution_id = :ex AND node_id = 's[save]'),
          '{{ workload.pg_auth }}', 'its sink is passed unrendered, for the worker');
SELECT is((SELECT action ? 'loop' FROM noetl.queue WHERE execution_id = :ex AND node_id = 's[save]'),
          false, 'it is no iteration: no frame');
SELECT results_eq($$SELECT status::text, loop_done, loop_failed, result FROM noetl.step_state WHERE execution_id = $$ || :ex || $$ AND step = 's'$$,
                  $$VALUES ('dispatched'::text, 3, 1, NULL::jsonb)$$,
                  'the loop step is still running');
SELECT is((SELECT pending FROM noetl.execution WHERE execution_id = :ex), 2,
          'pending counts the save task and the loop');
SELECT is((SELECT count(*)::int FROM noetl.queue WHERE execution_id = :ex AND node_id = 'after'), 0,
          'next waits for the save');
SELECT is((SELECT meta FROM noetl.event WHERE execution_id = :ex AND event_type = 'loop_iteration' AND node_id = 's[save]'),
          '{"save": true, "count": 3}', 'a loop_iteration event announces it');
-- the save task's context does not count it as a step
SELECT is((SELECT count(*)::int FROM noetl.task_context_steps(:ex) WHERE step = 's' OR step LIKE 's[%'), 0,
          'task_context_steps lists neither the items nor the save task');
SELECT pg_temp.done(:ex, 's[save]', '{"results": [], "meta": {"sink": {"status": "success", "rows": 1}}}');
SELECT results_eq($$SELECT status::text, result FROM noetl.step_state WHERE execution_id = $$ || :ex || $$ AND step = 's'$$,
                  $$VALUES ('completed'::text, '[{"a": 1}, null, {"c": 3}]'::jsonb)$$,
                  'the save''s end completes the loop with its list');
SELECT is((SELECT meta FROM noetl.event WHERE execution_id = :ex AND event_type = 'step_completed' AND node_name = 's'),
          '{"count": 3, "failed": 1, "errors": [{"index": 1, "message": "b went wrong"}], "sink": {"status": "success", "rows": 1}}',
          'step_completed carries the sink''s outcome in its meta');
SELECT is((SELECT action -> 'args' -> 'got' FROM noetl.queue WHERE execution_id = :ex AND node_id = 'after'),
          '[{"a": 1}, null, {"c": 3}]', 'next sees the list');
SELECT is((SELECT pending FROM noetl.execution WHERE execution_id = :ex), 1, 'only the next step is outstanding');
SELECT is(pg_temp.work(:ex), 1, 'the next step runs');
SELECT is((SELECT status::text FROM noetl.execution WHERE execution_id = :ex), 'completed', 'the execution completes');
SELECT is((SELECT count(*)::int FROM noetl.queue WHERE execution_id = :ex AND node_id = 's[save]'), 1,
          'the save ran once');

-- a save that fails: era B records it and goes on
SELECT noetl.execute('tests/loop_sink/only') AS ex2 \gset
SELECT pg_temp.done(:ex2, 'start[0]', '{"status": "success", "data": 7}');
SELECT pg_temp.failed(:ex2, 'start[save]', 'the target is down');
SELECT results_eq($$SELECT status::text, result FROM noetl.step_state WHERE execution_id = $$ || :ex2 || $$ AND step = 'start'$$,
                  $$VALUES ('completed'::text, '[7]'::jsonb)$$,
                  'a failed save: the loop still completes with its list');
SELECT is((SELECT meta ->> 'save_error' FROM noetl.event WHERE execution_id = :ex2 AND event_type = 'step_completed' AND node_name = 'start'),
          'the target is down', 'its error is recorded as meta.save_error');
SELECT results_eq($$SELECT status::text, pending FROM noetl.execution WHERE execution_id = $$ || :ex2,
                  $$VALUES ('completed'::text, 0)$$, 'and the execution completes');

-- the worker's sink phase reports a save that failed under on_error: continue as a
-- success, the sink's outcome in its report's meta (client/worker.c)
SELECT noetl.execute('tests/loop_sink/only') AS ex6 \gset
SELECT pg_temp.done(:ex6, 'start[0]', '5');
SELECT noetl.report(t.queue_id, t.lease_token, 'action_completed', '{"results": [5]}', NULL, NULL, NULL,
                    '{"sink": {"kind": "postgres", "status": "error", "error": "no table"}, "save_error": "no table"}')
  FROM pg_temp.take(:ex6, 'start[save]') t \g /dev/null
SELECT is((SELECT meta FROM noetl.event WHERE execution_id = :ex6 AND event_type = 'step_completed' AND node_name = 'start'),
          '{"count": 1, "failed": 0, "errors": [], "sink": {"kind": "postgres", "status": "error", "error": "no table"}, "save_error": "no table"}',
          'the sink''s outcome in the report''s meta lands in step_completed''s meta');

-- on_error: fail makes a failed save fail the step
SELECT noetl.register($$
metadata: {name: it_save_fail, path: tests/loop_sink/fail}
workflow:
  - step: start
    type: iterator
    collection: [1, 2]
    element: x
    task: {type: python, code: x}
    save: {storage: event, on_error: fail}
$$) \g /dev/null
SELECT noetl.execute('tests/loop_sink/fail') AS ex3 \gset
SELECT pg_temp.done(:ex3, 'start[0]', '1');
SELECT pg_temp.done(:ex3, 'start[1]', '2');
SELECT pg_temp.failed(:ex3, 'start[save]', 'no table');
SELECT results_eq($$SELECT status::text, result FROM noetl.step_state WHERE execution_id = $$ || :ex3 || $$ AND step = 'start'$$,
                  $$VALUES ('failed'::text, '[1, 2]'::jsonb)$$,
                  'on_error: fail: the step fails, with its list');
SELECT results_eq($$SELECT status::text, pending, error FROM noetl.execution WHERE execution_id = $$ || :ex3,
                  $$VALUES ('failed'::text, 0, 'step "start": its save failed: no table')$$,
                  'and the execution fails, naming the save');

-- an empty collection: the save still runs once, over no results (as NoETL's did)
SELECT noetl.register($$
metadata: {name: it_save_empty, path: tests/loop_sink/empty}
workflow:
  - step: start
    type: iterator
    collection: []
    element: x
    task: {type: python, code: x}
    save: {storage: event}
$$) \g /dev/null
SELECT noetl.execute('tests/loop_sink/empty') AS ex7 \gset
SELECT is((SELECT action -> 'args' FROM noetl.queue WHERE execution_id = :ex7 AND node_id = 'start[save]'),
          '{"results": [], "errors": [], "count": 0}', 'an empty loop queues its save at once, over no results');
SELECT pg_temp.done(:ex7, 'start[save]', '{"results": []}');
SELECT results_eq($$SELECT s.status::text, s.result, x.status::text FROM noetl.step_state s JOIN noetl.execution x USING (execution_id)
                     WHERE s.execution_id = $$ || :ex7 || $$ AND s.step = 'start'$$,
                  $$VALUES ('completed'::text, '[]'::jsonb, 'completed'::text)$$,
                  'then completes with [] and the execution with it');

-- cancelled before the last item ends: no save is queued
SELECT noetl.execute('tests/loop_sink/save') AS ex4 \gset
SELECT pg_temp.done(:ex4, 's[0]', '1');
SELECT noetl.cancel(:ex4) \g /dev/null
SELECT is((SELECT count(*)::int FROM noetl.queue WHERE execution_id = :ex4 AND node_id = 's[save]'), 0,
          'a loop cancelled mid-way queues no save');
SELECT results_eq($$SELECT status::text, pending FROM noetl.execution WHERE execution_id = $$ || :ex4,
                  $$VALUES ('cancelled'::text, 0)$$, 'the execution is cancelled, nothing outstanding');

-- cancelled while the save task waits: it is cancelled with the loop
SELECT noetl.execute('tests/loop_sink/only') AS ex5 \gset
SELECT pg_temp.done(:ex5, 'start[0]', '1');
SELECT noetl.cancel(:ex5) \g /dev/null
SELECT results_eq($$SELECT q.status::text, s.status::text FROM noetl.queue q JOIN noetl.step_state s USING (execution_id)
                     WHERE q.execution_id = $$ || :ex5 || $$ AND q.node_id = 'start[save]' AND s.step = 'start'$$,
                  $$VALUES ('cancelled'::text, 'cancelled'::text)$$,
                  'a cancel while the save waits cancels it and the loop');
SELECT is((SELECT pending FROM noetl.execution WHERE execution_id = :ex5), 0, 'nothing is outstanding');

SELECT * FROM finish();
ROLLBACK;
