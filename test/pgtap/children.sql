-- Sub-playbooks (docs/loops.md §3): a tool: playbook step's row is held
-- leased by its child execution, which starts in the transaction that
-- dispatches the step; the child's end completes, retries or fails the
-- row.  The children's tasks are done by the SQL worker
-- (test/lib/sqlworker.sql) or by noetl.lease/complete/fail directly.
-- Covered: a child's result (its end's, else return_step's); retries with
-- new children, then dead; a child cancelled by a client; the parent
-- cancelled (its children and theirs with it); noetl.max_playbook_depth;
-- a child that ends within its own start; an unregistered path; versions;
-- the args laid over the child's workload; loops of children, sequential
-- and parallel; a late report after the cascade; what a role that may
-- only insert events can do to a child's row; child rows and the
-- lease-expiry query.
\set ON_ERROR_STOP 1
\set leaf `cat test/playbooks/child_leaf.yaml`
\set bare `cat test/playbooks/child_bare.yaml`
\set control `cat test/playbooks/child_control.yaml`
\set broken `cat test/playbooks/child_broken.yaml`
\set mid `cat test/playbooks/child_mid.yaml`
\set parent `cat test/playbooks/child_parent.yaml`
\set loop `cat test/playbooks/child_loop.yaml`
\set loop_parallel `cat test/playbooks/child_loop_parallel.yaml`
\set recursive `cat test/playbooks/recursive.yaml`
\unset ON_ERROR_STOP
BEGIN;
-- leases must see only this file's tasks: any others are out of the way until ROLLBACK
DELETE FROM noetl.queue;
\i test/lib/sqlworker.sql
SELECT plan(105);

SELECT noetl.register(:'leaf'), noetl.register(:'bare'), noetl.register(:'control'), noetl.register(:'broken'),
       noetl.register(:'mid'), noetl.register(:'parent'), noetl.register(:'loop'),
       noetl.register(:'loop_parallel'), noetl.register(:'recursive') \g /dev/null

-- pg_temp.child(execution_id, node_id): the child execution holding the row now
CREATE FUNCTION pg_temp.child(eid bigint, node text) RETURNS bigint
LANGUAGE sql AS $$
    SELECT substr(worker_id, 7)::bigint FROM noetl.queue
     WHERE execution_id = eid AND node_id = node AND worker_id LIKE 'child:%'
$$;
-- pg_temp.terminals(execution_id): its terminal events, by type
CREATE FUNCTION pg_temp.terminals(eid bigint) RETURNS text
LANGUAGE sql AS $$
    SELECT COALESCE(string_agg(event_type, ',' ORDER BY event_id), '') FROM noetl.event
     WHERE execution_id = eid
       AND event_type IN ('execution_complete', 'execution_failed', 'execution_cancelled')
$$;
-- pg_temp.running_children(execution_id): how many of its children run
CREATE FUNCTION pg_temp.running_children(eid bigint) RETURNS integer
LANGUAGE sql AS $$
    SELECT count(*)::int FROM noetl.execution WHERE parent_execution_id = eid AND status = 'running'
$$;

-- ---------------------------------------------------------------- a child completes
SELECT noetl.execute('tests/child/parent') AS p1 \gset
SELECT pg_temp.child(:p1, 'start') AS c1 \gset
SELECT results_eq($$SELECT status::text, attempts, lease_until IS NULL, lease_token IS NULL, tool
                      FROM noetl.queue WHERE execution_id = $$ || :p1,
                  $$VALUES ('leased'::text, 1, true, true, 'playbook'::text)$$,
                  'the parent''s row is leased by its child: one attempt, no lease end, no token');
SELECT results_eq($$SELECT parent_execution_id, parent_step, depth, status::text FROM noetl.execution
                     WHERE execution_id = $$ || :c1,
                  $$VALUES ($$ || :p1 || $$::bigint, 'start'::text, 1, 'running'::text)$$,
                  'the child''s row names its parent, the parent''s row and its depth');
SELECT results_eq($$SELECT context, meta, parent_execution_id, status FROM noetl.event
                     WHERE execution_id = $$ || :c1 || $$ AND event_type = 'execution_start'$$,
                  $$VALUES ('{"path": "tests/child/leaf", "version": 1, "workload": {"x": 7}}'::jsonb,
                            '{"parent_step": "start"}'::jsonb, $$ || :p1 || $$::bigint, NULL::text)$$,
                  'the broker writes the child''s execution_start: path, version, the rendered args as workload, the parent');
SELECT is((SELECT parent_event_id FROM noetl.event WHERE execution_id = :c1 AND event_type = 'execution_start'),
          (SELECT event_id FROM noetl.event WHERE execution_id = :p1 AND event_type = 'step_started'),
          '... caused by the parent''s step_started');
SELECT is((SELECT meta ->> 'child_execution_id' FROM noetl.event WHERE execution_id = :p1 AND event_type = 'step_started'),
          :'c1', 'the parent''s step_started names the child (as text)');
SELECT is((SELECT workload FROM noetl.execution WHERE execution_id = :c1), '{"x": 7, "keep": "mine"}',
          'the rendered args are laid over the child''s workload, key by key');
SELECT is((SELECT action -> 'args' FROM noetl.queue WHERE execution_id = :c1 AND node_id = 'work'),
          '{"x": 7, "keep": "mine"}', 'the child''s task is rendered with that workload');
SELECT is(pg_temp.work(:p1), 0, 'no worker can lease the parent''s row');
SELECT is(pg_temp.work(:c1, '{"work": {"v": 42}}'), 1, 'the child''s task is done');
SELECT is((SELECT result FROM noetl.execution WHERE execution_id = :c1), '{"x": 7, "got": 42}',
          'the child completes with its end''s result');
SELECT results_eq($$SELECT status::text, result FROM noetl.queue WHERE execution_id = $$ || :p1,
                  $$VALUES ('done'::text, '{"x": 7, "got": 42}'::jsonb)$$,
                  'the parent''s row is done with the child''s result (not return_step''s)');
SELECT results_eq($$SELECT node_type, result, meta ->> 'child_execution_id' FROM noetl.event
                     WHERE execution_id = $$ || :p1 || $$ AND event_type = 'action_completed'$$,
                  $$VALUES ('playbook'::text, '{"x": 7, "got": 42}'::jsonb, '$$ || :c1 || $$'::text)$$,
                  'the broker writes action_completed into the parent, naming the child');
SELECT results_eq($$SELECT status::text, result, pending FROM noetl.execution WHERE execution_id = $$ || :p1,
                  $$VALUES ('completed'::text, '{"child": {"x": 7, "got": 42}}'::jsonb, 0)$$,
                  'the parent goes on and completes, {{ start }} being the child''s result');
SELECT is(pg_temp.terminals(:p1) || ' ' || pg_temp.terminals(:c1), 'execution_complete execution_complete',
          'one terminal event each');

-- with no result of its own: return_step's, else null
SELECT noetl.execute('tests/child/parent', '{"path": "tests/child/bare"}') AS p2 \gset
SELECT pg_temp.child(:p2, 'start') AS c2 \gset
SELECT is(pg_temp.work(:c2, '{"work": {"v": 9}}'), 1, 'a child without a result runs its task');
SELECT is((SELECT result FROM noetl.queue WHERE execution_id = :p2), '{"v": 9}',
          'its result is return_step''s (unwrapped)');
SELECT noetl.register(E'metadata: {path: tests/child/no_return}\nworkflow:\n  - step: start\n    tool: playbook\n    path: tests/child/bare\n') \g /dev/null
SELECT noetl.execute('tests/child/no_return') AS p3 \gset
SELECT is(pg_temp.work(pg_temp.child(:p3, 'start'), '{"work": {"v": 9}}'), 1, 'a child without a result, without return_step');
SELECT results_eq($$SELECT q.status::text, q.result IS NULL, x.status::text FROM noetl.queue q
                     JOIN noetl.execution x USING (execution_id) WHERE execution_id = $$ || :p3,
                  $$VALUES ('done'::text, true, 'completed'::text)$$,
                  '... gives null, and the parent completes');

-- ---------------------------------------------------------------- fails, retried, dead
SELECT noetl.execute('tests/child/parent') AS p4 \gset
SELECT pg_temp.child(:p4, 'start') AS c4a \gset
SELECT is(pg_temp.work(:c4a, '{"work": {"__fail": "boom"}}'), 1, 'the first child''s task fails');
SELECT is((SELECT status::text FROM noetl.execution WHERE execution_id = :c4a), 'failed', 'the first child fails');
SELECT pg_temp.child(:p4, 'start') AS c4b \gset
SELECT isnt(:c4b, :c4a, 'the step''s retry starts a new child');
SELECT results_eq($$SELECT count(*)::int, min(status::text), min(attempts) FROM noetl.queue WHERE execution_id = $$ || :p4,
                  $$VALUES (1, 'leased'::text, 2)$$,
                  '... on the same row, still leased, attempts 2');
SELECT results_eq($$SELECT parent_execution_id, parent_step, status::text FROM noetl.execution WHERE execution_id = $$ || :c4b,
                  $$VALUES ($$ || :p4 || $$::bigint, 'start'::text, 'running'::text)$$,
                  'the new child runs for the same row');
SELECT results_eq($$SELECT meta ->> 'child_execution_id', error FROM noetl.event
                     WHERE execution_id = $$ || :p4 || $$ AND event_type = 'action_error'$$,
                  $$VALUES ('$$ || :c4a || $$'::text, 'sub-playbook execution $$ || :c4a || $$ failed: boom'::text)$$,
                  'the broker writes action_error into the parent, naming the failed child');
SELECT results_eq($$SELECT meta ->> 'child_execution_id', (meta ->> 'attempt')::int, (meta ->> 'delay')::int FROM noetl.event
                     WHERE execution_id = $$ || :p4 || $$ AND event_type = 'step_retry'$$,
                  $$VALUES ('$$ || :c4b || $$'::text, 1, 0)$$,
                  'step_retry names the new child, after attempt 1, with no delay');
SELECT is(pg_temp.work(:c4b, '{"work": {"__fail": "boom again"}}'), 1, 'the second child''s task fails');
SELECT results_eq($$SELECT status::text, attempts, worker_id FROM noetl.queue WHERE execution_id = $$ || :p4,
                  $$VALUES ('dead'::text, 2, 'child:$$ || :c4b || $$'::text)$$,
                  'with no attempt left the row is dead');
SELECT results_eq($$SELECT status::text, error FROM noetl.execution WHERE execution_id = $$ || :p4,
                  $$VALUES ('failed'::text, 'sub-playbook execution $$ || :c4b || $$ failed: boom again'::text)$$,
                  'the parent fails, its error naming the child and the child''s error');
SELECT is(pg_temp.terminals(:p4) || ' ' || pg_temp.terminals(:c4a) || ' ' || pg_temp.terminals(:c4b),
          'execution_failed execution_failed execution_failed', 'one terminal event each');
SELECT is((SELECT count(*)::int FROM noetl.execution WHERE parent_execution_id = :p4), 2, 'two children in all');

-- ---------------------------------------------------------------- cancelled by a client
SELECT noetl.execute('tests/child/parent') AS p5 \gset
SELECT pg_temp.child(:p5, 'start') AS c5 \gset
SELECT noetl.cancel(:c5) \g /dev/null
SELECT is((SELECT status::text FROM noetl.execution WHERE execution_id = :c5), 'cancelled', 'a client cancels the child');
SELECT results_eq($$SELECT status::text, attempts FROM noetl.queue WHERE execution_id = $$ || :p5,
                  $$VALUES ('dead'::text, 1)$$,
                  'the parent''s row is dead at once, not retried (max_attempts 2)');
SELECT results_eq($$SELECT status::text, error FROM noetl.execution WHERE execution_id = $$ || :p5,
                  $$VALUES ('failed'::text, 'sub-playbook execution $$ || :c5 || $$ was cancelled'::text)$$,
                  'the parent''s step fails: the child was cancelled');
SELECT is((SELECT count(*)::int FROM noetl.execution WHERE parent_execution_id = :p5), 1, 'no second child');
SELECT is((SELECT count(*)::int FROM noetl.event WHERE execution_id = :p5 AND event_type = 'step_retry'), 0, 'no step_retry');

-- ---------------------------------------------------------------- the parent cancelled
-- a parallel loop (two children running, two iterations waiting) and a child with a child of its own
SELECT noetl.execute('tests/child/loop_parallel') AS p6 \gset
SELECT pg_temp.child(:p6, 'start[0]') AS c6a, pg_temp.child(:p6, 'start[1]') AS c6b \gset
SELECT queue_id AS c6a_task, lease_token AS c6a_token FROM noetl.lease('sqlworker', 1) \gset
SELECT is(:c6a_task, (SELECT queue_id FROM noetl.queue WHERE execution_id = :c6a), 'the first child''s task is leased');
SELECT noetl.cancel(:p6) AS cancel6 \gset
SELECT results_eq($$SELECT x.execution_id, x.status::text FROM noetl.execution x
                     WHERE x.execution_id = $$ || :p6 || $$ OR x.parent_execution_id = $$ || :p6 || $$ ORDER BY 1$$,
                  $$VALUES ($$ || :p6 || $$::bigint, 'cancelled'::text), ($$ || :c6a || $$, 'cancelled'), ($$ || :c6b || $$, 'cancelled')$$,
                  'cancelling the parent cancels its running children');
SELECT is((SELECT count(DISTINCT parent_event_id)::int FROM noetl.event
            WHERE execution_id IN (:c6a, :c6b) AND event_type = 'execution_cancelled'
              AND parent_event_id = (SELECT event_id FROM noetl.event WHERE execution_id = :p6 AND event_type = 'execution_cancelled')),
          1, '... in the evaluation of the parent''s cancel (caused by its execution_cancelled)');
SELECT is((SELECT array_agg(meta ->> 'cancelled_by') FROM noetl.event
            WHERE execution_id IN (:c6a, :c6b) AND event_type = 'execution_cancelled'),
          '{parent,parent}', '... which says the parent cancelled them');
SELECT is((SELECT array_agg(status::text ORDER BY node_id) FROM noetl.queue WHERE execution_id = :p6),
          '{cancelled,cancelled,cancelled,cancelled}', 'the parent''s rows are cancelled, leased and waiting ones alike');
SELECT is((SELECT array_agg(status::text) FROM noetl.queue WHERE execution_id IN (:c6a, :c6b)),
          '{cancelled,cancelled}', 'the children''s tasks are cancelled, the leased one too');
SELECT is((SELECT array_agg(pending) FROM noetl.execution WHERE execution_id IN (:p6, :c6a, :c6b)), '{0,0,0}',
          'nothing is pending');
SELECT is(pg_temp.terminals(:p6) || ' ' || pg_temp.terminals(:c6a) || ' ' || pg_temp.terminals(:c6b),
          'execution_cancelled execution_cancelled execution_cancelled', 'one terminal event each');
SELECT is((SELECT count(*)::int FROM noetl.event WHERE execution_id = :p6 AND event_type IN ('action_completed', 'action_error')),
          0, 'the cascade writes no report into the parent');

-- a child's late report after its parent was cancelled is ignored
SELECT max(event_id) AS p6_last FROM noetl.event WHERE execution_id = :p6 \gset
SELECT noetl.complete(:c6a_task, :'c6a_token', '{"v": 1}') AS late6 \gset
SELECT is((SELECT status FROM noetl.event WHERE event_id = :late6), 'ignored',
          'the child''s worker reports late: the report is stored as ignored');
SELECT results_eq($$SELECT (SELECT status::text FROM noetl.queue WHERE queue_id = $$ || :c6a_task || $$),
                           (SELECT status::text FROM noetl.execution WHERE execution_id = $$ || :c6a || $$),
                           (SELECT count(*)::int FROM noetl.event WHERE execution_id = $$ || :p6 || $$ AND event_id > $$ || :p6_last || $$)$$,
                  $$VALUES ('cancelled'::text, 'cancelled'::text, 0)$$,
                  '... and changes nothing, in the child or in the parent');

-- grandchildren: the cascade goes down
SELECT noetl.execute('tests/child/parent', '{"path": "tests/child/mid"}') AS p7 \gset
SELECT pg_temp.child(:p7, 'start') AS c7 \gset
SELECT pg_temp.child(:c7, 'start') AS g7 \gset
SELECT results_eq($$SELECT depth, parent_step, status::text FROM noetl.execution WHERE execution_id = $$ || :g7,
                  $$VALUES (2, 'start'::text, 'running'::text)$$, 'a grandchild runs at depth 2');
SELECT noetl.cancel(:p7) \g /dev/null
SELECT is((SELECT array_agg(status::text ORDER BY depth) FROM noetl.execution WHERE execution_id IN (:p7, :c7, :g7)),
          '{cancelled,cancelled,cancelled}', 'cancelling the grandparent cancels the child and the grandchild');
SELECT is((SELECT status::text FROM noetl.queue WHERE execution_id = :g7), 'cancelled', '... and the grandchild''s task');
SELECT is((SELECT parent_event_id FROM noetl.event WHERE execution_id = :g7 AND event_type = 'execution_cancelled'),
          (SELECT event_id FROM noetl.event WHERE execution_id = :c7 AND event_type = 'execution_cancelled'),
          'the grandchild''s execution_cancelled is caused by the child''s');
SELECT is(pg_temp.terminals(:p7) || ' ' || pg_temp.terminals(:c7) || ' ' || pg_temp.terminals(:g7),
          'execution_cancelled execution_cancelled execution_cancelled', 'one terminal event each');

-- a parent that fails cancels its other children: a loop whose first child fails (on_item_error: fail)
SELECT noetl.execute('tests/child/loop_parallel') AS p8 \gset
SELECT pg_temp.child(:p8, 'start[0]') AS c8a, pg_temp.child(:p8, 'start[1]') AS c8b \gset
SELECT is(pg_temp.work(:c8a, '{"work": {"__fail": "item boom"}}'), 1, 'a loop''s first child fails');
SELECT results_eq($$SELECT (SELECT status::text FROM noetl.execution WHERE execution_id = $$ || :p8 || $$),
                           (SELECT status::text FROM noetl.execution WHERE execution_id = $$ || :c8b || $$),
                           (SELECT status::text FROM noetl.queue WHERE execution_id = $$ || :c8b || $$)$$,
                  $$VALUES ('failed'::text, 'cancelled'::text, 'cancelled'::text)$$,
                  'the parent fails, and its other running child is cancelled, with its task');
SELECT is(pg_temp.terminals(:p8) || ' ' || pg_temp.terminals(:c8a) || ' ' || pg_temp.terminals(:c8b),
          'execution_failed execution_failed execution_cancelled', 'one terminal event each');

-- ---------------------------------------------------------------- noetl.max_playbook_depth
SET LOCAL noetl.max_playbook_depth = 3;
SELECT noetl.execute('tests/child/recursive') AS p9 \gset
CREATE TEMP TABLE chain AS
    WITH RECURSIVE t AS (SELECT execution_id, depth FROM noetl.execution WHERE execution_id = :p9
                         UNION ALL
                         SELECT x.execution_id, x.depth FROM noetl.execution x JOIN t ON x.parent_execution_id = t.execution_id)
    SELECT * FROM t;
SELECT is((SELECT array_agg(depth ORDER BY depth) FROM chain), '{0,1,2,3}',
          'a playbook that starts itself stops at noetl.max_playbook_depth (3): depths 0 to 3');
SELECT results_eq($$SELECT q.status::text, q.error FROM noetl.queue q JOIN chain USING (execution_id) WHERE chain.depth = 3$$,
                  $$VALUES ('dead'::text, 'sub-playbook "tests/child/recursive" not started: noetl.max_playbook_depth (3) reached'::text)$$,
                  'the deepest one''s row is dead with the message');
SELECT results_eq($$SELECT status::text, error LIKE '%sub-playbook "tests/child/recursive" not started: noetl.max_playbook_depth (3) reached'
                      FROM noetl.execution WHERE execution_id = $$ || :p9,
                  $$VALUES ('failed'::text, true)$$,
                  'the failure climbs to the top within the start, which fails naming the limit');
SELECT is((SELECT max(attempts) FROM noetl.queue JOIN chain USING (execution_id)), 1, 'none of it is retried');
RESET noetl.max_playbook_depth;

-- ---------------------------------------------------------------- ends within its start
SELECT noetl.execute('tests/child/parent', '{"path": "tests/child/control"}') AS p10 \gset
SELECT results_eq($$SELECT status::text, result FROM noetl.execution WHERE execution_id = $$ || :p10,
                  $$VALUES ('completed'::text, '{"child": {"v": 1}}'::jsonb)$$,
                  'a child of control steps completes within its start, and so does its parent');
SELECT results_eq($$SELECT status::text, attempts, result FROM noetl.queue WHERE execution_id = $$ || :p10,
                  $$VALUES ('done'::text, 1, '{"v": 1}'::jsonb)$$, 'the row is done with the child''s result');
SELECT is((SELECT count(*)::int FROM noetl.event WHERE execution_id = :p10 AND event_type = 'action_completed'
              AND meta ->> 'child_execution_id' = (SELECT execution_id::text FROM noetl.execution WHERE parent_execution_id = :p10)),
          1, '... reported into the parent by action_completed');
SELECT noetl.execute('tests/child/parent', '{"path": "tests/child/broken"}') AS p11 \gset
SELECT results_eq($$SELECT status::text, attempts FROM noetl.queue WHERE execution_id = $$ || :p11,
                  $$VALUES ('dead'::text, 1)$$,
                  'a child that fails within its start is not retried (it would fail the same way)');
SELECT results_eq($$SELECT status::text, error LIKE 'sub-playbook execution % failed: result of step "end": %' FROM noetl.execution WHERE execution_id = $$ || :p11,
                  $$VALUES ('failed'::text, true)$$, 'the parent fails with the child''s error');
SELECT is((SELECT count(*)::int FROM noetl.execution WHERE parent_execution_id = :p11), 1, 'one child only');

-- ---------------------------------------------------------------- unregistered, versions
SELECT noetl.execute('tests/child/parent', '{"path": "tests/child/nowhere"}') AS p12 \gset
SELECT results_eq($$SELECT status::text, attempts, error FROM noetl.queue WHERE execution_id = $$ || :p12,
                  $$VALUES ('dead'::text, 1, 'sub-playbook "tests/child/nowhere" is not registered'::text)$$,
                  'an unregistered path makes the row dead at once, not retried');
SELECT results_eq($$SELECT status::text, error FROM noetl.execution WHERE execution_id = $$ || :p12,
                  $$VALUES ('failed'::text, 'sub-playbook "tests/child/nowhere" is not registered'::text)$$,
                  'the parent fails');
SELECT is((SELECT count(*)::int FROM noetl.execution WHERE parent_execution_id = :p12), 0, 'no child execution exists');
SELECT results_eq($$SELECT error, meta ? 'child_execution_id' FROM noetl.event WHERE execution_id = $$ || :p12 || $$ AND event_type = 'action_error'$$,
                  $$VALUES ('sub-playbook "tests/child/nowhere" is not registered'::text, false)$$,
                  '... and the action_error names none');
SELECT noetl.register(E'metadata: {path: tests/child/control}\nworkload: {v: 2}\nworkflow:\n  - step: start\n    next: [end]\n  - step: end\n    result: {v: "{{ workload.v }}", version: 2}\n') \g /dev/null
SELECT noetl.execute('tests/child/parent', '{"path": "tests/child/control", "x": 5}') AS p13 \gset
SELECT is((SELECT result FROM noetl.queue WHERE execution_id = :p13), '{"v": 2, "version": 2}',
          'without a version the latest is started');
SELECT noetl.execute('tests/child/parent', '{"path": "tests/child/control", "version": 1}') AS p14 \gset
SELECT is((SELECT result FROM noetl.queue WHERE execution_id = :p14), '{"v": 1}', 'version: 1 starts version 1');
SELECT is((SELECT c.version FROM noetl.execution x JOIN noetl.catalog c USING (catalog_id) WHERE x.parent_execution_id = :p14),
          1, '... as the child''s catalog_id says');
SELECT is((SELECT context ->> 'version' FROM noetl.event WHERE parent_execution_id = :p14 AND event_type = 'execution_start'),
          '1', '... and its execution_start');
SELECT noetl.execute('tests/child/parent', '{"path": "tests/child/control", "version": 9}') AS p15 \gset
SELECT is((SELECT error FROM noetl.queue WHERE execution_id = :p15),
          'version 9 of sub-playbook "tests/child/control" is not registered', 'an unregistered version makes the row dead');
SELECT noetl.execute('tests/child/parent', '{"path": "tests/child/control", "version": "two"}') AS p16 \gset
SELECT is((SELECT error FROM noetl.queue WHERE execution_id = :p16),
          'step "start": the version of sub-playbook "tests/child/control" must be a positive integer',
          'a version that is not an integer makes the row dead');

-- ---------------------------------------------------------------- loops of children
-- sequential: one child at a time, results in input order
SELECT noetl.execute('tests/child/loop') AS p17 \gset
SELECT is((SELECT array_agg(status::text ORDER BY node_id) FROM noetl.queue WHERE execution_id = :p17),
          '{leased,waiting,waiting,waiting}', 'a sequential loop of four children starts one');
CREATE TEMP TABLE seen (n int, running int, leased int);
DO $$
DECLARE
    p bigint := (SELECT execution_id FROM noetl.execution x JOIN noetl.catalog c USING (catalog_id)
                  WHERE c.path = 'tests/child/loop' AND x.parent_execution_id IS NULL);
    c bigint;
    i int := 0;
BEGIN
    LOOP
        SELECT execution_id INTO c FROM noetl.execution WHERE parent_execution_id = p AND status = 'running';
        EXIT WHEN c IS NULL OR i > 10;
        PERFORM pg_temp.work(c, jsonb_build_object('work', jsonb_build_object('v', i)));
        i := i + 1;
        INSERT INTO seen VALUES (i, pg_temp.running_children(p),
                                 (SELECT count(*) FROM noetl.queue WHERE execution_id = p AND status = 'leased'));
    END LOOP;
END $$;
SELECT is((SELECT max(running) FROM seen), 1, 'at every step at most one child runs');
SELECT is((SELECT max(leased) FROM seen), 1, '... and at most one of the parent''s rows is leased');
SELECT is((SELECT count(*)::int FROM noetl.execution WHERE parent_execution_id = :p17), 4, 'four children in all');
SELECT results_eq($$SELECT status::text, result FROM noetl.execution WHERE execution_id = $$ || :p17,
                  $$VALUES ('completed'::text, '{"all": [{"x": 10, "got": 0}, {"x": 20, "got": 1}, {"x": 30, "got": 2}, {"x": 40, "got": 3}]}'::jsonb)$$,
                  'the loop''s result is the children''s results in input order');
SELECT is((SELECT array_agg(meta ->> 'child_execution_id' ORDER BY node_id) FROM noetl.event WHERE execution_id = :p17 AND event_type = 'loop_iteration'),
          (SELECT array_agg(execution_id::text ORDER BY parent_step) FROM noetl.execution WHERE parent_execution_id = :p17),
          'each loop_iteration names its child, whose parent_step is the iteration');

-- parallel, max_in_flight 2: the children complete in reverse, the window is never exceeded
SELECT noetl.execute('tests/child/loop_parallel') AS p18 \gset
SELECT is(pg_temp.running_children(:p18), 2, 'a parallel loop with max_in_flight 2 starts two children');
TRUNCATE seen;
DO $$
DECLARE
    p bigint := (SELECT max(execution_id) FROM noetl.execution x JOIN noetl.catalog c USING (catalog_id)
                  WHERE c.path = 'tests/child/loop_parallel' AND x.parent_execution_id IS NULL);
    c bigint;
    i int := 0;
BEGIN
    LOOP
        -- the latest child first: the first one ends last
        SELECT execution_id INTO c FROM noetl.execution WHERE parent_execution_id = p AND status = 'running'
         ORDER BY parent_step DESC LIMIT 1;
        EXIT WHEN c IS NULL OR i > 10;
        PERFORM pg_temp.work(c, jsonb_build_object('work', jsonb_build_object('v', i)));
        i := i + 1;
        INSERT INTO seen VALUES (i, pg_temp.running_children(p),
                                 (SELECT count(*) FROM noetl.queue WHERE execution_id = p AND status = 'leased'));
    END LOOP;
END $$;
SELECT is((SELECT max(running) FROM seen), 2, 'at every step at most two children run');
SELECT is((SELECT max(leased) FROM seen), 2, '... and at most two of the parent''s rows are leased');
SELECT results_eq($$SELECT status::text, result -> 'all' FROM noetl.execution WHERE execution_id = $$ || :p18,
                  $$VALUES ('completed'::text, '[{"x": 10, "got": 3}, {"x": 20, "got": 0}, {"x": 30, "got": 1}, {"x": 40, "got": 2}]'::jsonb)$$,
                  'the results are in input order, whatever order the children ended in');
SELECT is((SELECT loop_done || '/' || loop_total || ' ' || loop_failed FROM noetl.step_state WHERE execution_id = :p18 AND step = 'start'),
          '4/4 0', 'the loop''s counters');
SELECT is(pg_temp.terminals(:p18), 'execution_complete', 'one terminal event');

-- an iteration's child that fails is retried with a new child on the same row; the window keeps its place
SELECT noetl.register(E'metadata: {path: tests/child/loop_retry}\nworkflow:\n  - step: start\n    tool: playbook\n    path: tests/child/leaf\n    args: {x: "{{ n }}"}\n    retry: {max_attempts: 2}\n    loop:\n      collection: [1, 2]\n      element: n\n      mode: parallel\n    next: [end]\n  - step: end\n    result: "{{ start }}"\n') \g /dev/null
SELECT noetl.execute('tests/child/loop_retry') AS p20 \gset
SELECT pg_temp.child(:p20, 'start[0]') AS c20 \gset
SELECT is(pg_temp.work(:c20, '{"work": {"__fail": "item boom"}}'), 1, 'a loop''s first child fails');
SELECT results_eq($$SELECT node_id, status::text, attempts, worker_id = 'child:$$ || :c20 || $$' FROM noetl.queue WHERE execution_id = $$ || :p20 || $$ ORDER BY 1$$,
                  $$VALUES ('start[0]'::text, 'leased'::text, 2, false), ('start[1]', 'leased', 1, false)$$,
                  'its iteration is held by a new child, attempts 2; the other iteration is untouched');
SELECT is(pg_temp.work(pg_temp.child(:p20, 'start[0]'), '{"work": {"v": 5}}') + pg_temp.work(pg_temp.child(:p20, 'start[1]'), '{"work": {"v": 6}}'),
          2, 'both children''s tasks are done');
SELECT results_eq($$SELECT status::text, result FROM noetl.execution WHERE execution_id = $$ || :p20,
                  $$VALUES ('completed'::text, '[{"x": 1, "got": 5}, {"x": 2, "got": 6}]'::jsonb)$$,
                  'the loop completes with the retried child''s result in its place');

-- ---------------------------------------------------------------- hostile clients
CREATE ROLE regress_child_inserter;
GRANT INSERT ON noetl.event TO regress_child_inserter;
SELECT noetl.execute('tests/child/parent') AS p19 \gset
SELECT pg_temp.child(:p19, 'start') AS c19 \gset
SELECT queue_id AS q19 FROM noetl.queue WHERE execution_id = :p19 \gset
SET LOCAL ROLE regress_child_inserter;
SELECT throws_ok(format($$INSERT INTO noetl.event (event_type, queue_id, result) VALUES ('action_completed', %s, '{"forged": true}')$$, :q19),
                 '55000', NULL, 'a report of a child''s row without a token is refused');
SELECT throws_ok(format($$INSERT INTO noetl.event (event_type, queue_id, lease_token, result) VALUES ('action_completed', %s, '', '{"forged": true}')$$, :q19),
                 '55000', NULL, '... with an empty token too');
SELECT throws_ok(format($$INSERT INTO noetl.event (event_type, execution_id, node_id, lease_token, result)
                          VALUES ('action_completed', %s, 'start', 'child:%s', '{"forged": true}')$$, :p19, :c19),
                 '55000', NULL, '... by node_id, with the worker_id as token');
SELECT throws_ok(format($$INSERT INTO noetl.event (event_type, queue_id, error, meta) VALUES ('action_error', %s, 'lease expired', '{"lease_expired": true, "attempt": 1}')$$, :q19),
                 '55000', NULL, '... as a lease expiry');
SELECT throws_ok(format($$INSERT INTO noetl.event (event_type, queue_id) VALUES ('action_released', %s)$$, :q19),
                 '55000', NULL, 'a release of it is refused');
SELECT throws_ok(format($$INSERT INTO noetl.event (event_type, execution_id, result) VALUES ('execution_complete', %s, '{}')$$, :c19),
                 '42501', NULL, 'ending the child with a broker event is refused');
INSERT INTO noetl.event (event_type, context, parent_execution_id)
     VALUES ('execution_start', '{"path": "tests/child/leaf"}', :p19);
RESET ROLE;
SELECT results_eq($$SELECT status::text, attempts, worker_id FROM noetl.queue WHERE queue_id = $$ || :q19,
                  $$VALUES ('leased'::text, 1, 'child:$$ || :c19 || $$'::text)$$,
                  'the row is untouched');
SELECT results_eq($$SELECT parent_execution_id, parent_step, depth FROM noetl.execution x JOIN noetl.catalog c USING (catalog_id)
                     WHERE c.path = 'tests/child/leaf' AND x.execution_id > $$ || :c19,
                  $$VALUES (NULL::bigint, NULL::text, 0)$$,
                  'a client''s execution_start naming a parent starts no child: admit clears parent_execution_id');
SELECT is((SELECT count(*)::int FROM noetl.event WHERE event_type = 'execution_start' AND parent_execution_id = :p19), 1,
          '... the event keeps none either (the one there is the real child''s)');
SELECT is(pg_temp.running_children(:p19), 1, 'the parent has one child still');
-- the worker API: noetl.lease never hands out a child's row, noetl.heartbeat cannot extend it
SELECT is((SELECT count(*)::int FROM noetl.lease('any', 100, 60, ARRAY['playbook'])), 0,
          'noetl.lease of tool playbook hands out nothing');
SELECT is((SELECT count(*)::int FROM noetl.lease('any', 100) l WHERE l.tool = 'playbook'), 0,
          'noetl.lease of any tool hands out no child''s row');
SELECT throws_ok(format($$SELECT noetl.heartbeat(%s, 'x', 60)$$, :q19), '55000', NULL, 'a heartbeat of it is refused');
-- the lease-expiry query of src/bgworker.c (expire_leases) never selects a child's row, even long after
UPDATE noetl.queue SET updated_at = now() - interval '1 day' WHERE execution_id IN (:p17, :p18, :p19);
SELECT is((SELECT count(*)::int FROM (
              SELECT queue_id, attempts, lease_until FROM noetl.queue
               WHERE status OPERATOR(pg_catalog.=) 'leased'
                 AND lease_until OPERATOR(pg_catalog.<) pg_catalog.now()
                 AND (lease_until, queue_id) OPERATOR(pg_catalog.>) ('-infinity'::timestamptz, '-9223372036854775808'::bigint)
               ORDER BY lease_until, queue_id LIMIT 100) e
            JOIN noetl.queue q USING (queue_id) WHERE q.worker_id LIKE 'child:%'),
          0, 'the lease-expiry query selects no child''s row');
SELECT ok((SELECT count(*) FROM noetl.queue WHERE worker_id LIKE 'child:%' AND status = 'leased') > 0,
          '... while there are leased ones');

SELECT * FROM finish();
ROLLBACK;
