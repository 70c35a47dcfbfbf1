-- The roles of the README, each tried for what it may and may not do:
-- noetl_client starts, follows and cancels executions; noetl_worker leases
-- and reports tasks; a role with nothing but INSERT on noetl.event speaks
-- the raw event API (starts, cancels, logs) but cannot report a task.
BEGIN;
DELETE FROM noetl.queue;    -- leases must see only this file's tasks
DELETE FROM noetl.worker;   -- unserved_tools must see only this file's workers
SELECT plan(49);

-- the grants, as the README gives them
CREATE ROLE regress_client;
GRANT EXECUTE ON FUNCTION noetl.execute(text, jsonb, integer), noetl.execute_many(text, jsonb[], integer),
      noetl.cancel(bigint), noetl.status(), noetl.workers(), noetl.unserved_tools(bigint, double precision)
   TO regress_client;
GRANT SELECT ON noetl.execution, noetl.event, noetl.catalog, noetl.step_state TO regress_client;
CREATE ROLE regress_worker;
GRANT EXECUTE ON FUNCTION noetl.lease(text, integer, integer, text[]),
      noetl.heartbeat(bigint, text, integer),
      noetl.report(bigint, text, text, jsonb, text, text, double precision, jsonb),
      noetl.complete(bigint, text, jsonb, double precision),
      noetl.complete_many(bigint[], text[], jsonb[]),
      noetl.fail(bigint, text, text, jsonb, text, double precision),
      noetl.release(bigint, text),
      noetl.worker_announce(text, text[], text, integer, integer, text),
      noetl.worker_refresh(text), noetl.worker_leave(text), noetl.workers(),
      noetl.task_context(bigint, text) TO regress_worker;
CREATE ROLE regress_inserter;
GRANT INSERT ON noetl.event TO regress_inserter;

SELECT noetl.register(E'metadata: {path: tests/roles/two}\nworkflow:\n  - step: start\n    tool: python\n    code: x\n    next: [second]\n  - step: second\n    tool: python\n    code: x\n') \g /dev/null

-- the client
SET LOCAL ROLE regress_client;
SELECT noetl.execute('tests/roles/two') AS e1 \gset
SELECT is((SELECT status::text FROM noetl.execution WHERE execution_id = :e1), 'running',
          'a client starts an execution and follows it');
SELECT ok((SELECT count(*) FROM noetl.event WHERE execution_id = :e1) > 0, 'a client reads the log');
SELECT ok(noetl.status() ? 'queue', 'a client reads noetl.status()');
SELECT throws_ok($$SELECT * FROM noetl.lease('client', 1)$$, '42501', NULL, 'a client cannot lease');
SELECT throws_ok($$SELECT noetl.complete(1, 'x', '{}')$$, '42501', NULL, 'a client cannot complete tasks');
SELECT throws_ok($$INSERT INTO noetl.event (execution_id, event_type) VALUES ($$ || :e1 || $$, 'note')$$,
                 '42501', NULL, 'a client does not insert events itself');
SELECT throws_ok($$SELECT noetl.register('metadata: {path: x}')$$, '42501', NULL, 'a client cannot register');
SELECT throws_ok($$SELECT * FROM noetl.queue$$, '42501', NULL, 'a client does not read the queue');
SELECT throws_ok($$SELECT noetl.task_context(1, 'x')$$, '42501', NULL, 'a client reads no task''s context');
SELECT is((SELECT array_agg(tool) FROM noetl.unserved_tools(:e1)), '{python}',
          'a client asks which tools of its execution no live worker runs');
SELECT throws_ok($$SELECT noetl.worker_announce('client', '{python}')$$, '42501', NULL, 'a client cannot announce a worker');
RESET ROLE;

-- the worker
SET LOCAL ROLE regress_worker;
SELECT lives_ok($$SELECT noetl.worker_announce('regress-worker', '{python}')$$, 'a worker announces itself');
SELECT throws_ok($$SELECT noetl.unserved_tools()$$, '42501', NULL, 'a worker does not ask for unserved tools');
CREATE TEMP TABLE w AS SELECT * FROM noetl.lease('regress-worker', 10);
SELECT is((SELECT count(*)::int FROM w), 1, 'a worker leases');
SELECT ok(noetl.heartbeat(queue_id, lease_token, 30) > now(), 'a worker heartbeats its lease') FROM w;
SELECT lives_ok($$SELECT noetl.report(queue_id, lease_token, 'action_started') FROM w$$, 'a worker reports progress');
SELECT lives_ok($$SELECT noetl.complete(queue_id, lease_token, '{"ok": 1}', 0.5) FROM w$$, 'a worker completes its task');
CREATE TEMP TABLE w2 AS SELECT * FROM noetl.lease('regress-worker', 10);
SELECT throws_ok($$SELECT noetl.complete(queue_id, (SELECT lease_token FROM w), '{}') FROM w2$$, '55000', NULL,
                 'a worker cannot complete a task with another lease''s token');
SELECT is((SELECT noetl.task_context(queue_id, lease_token) FROM w2) OPERATOR(pg_catalog.-) 'execution_id',
          '{"start": {"ok": 1}, "workload": {}, "work": {}, "context": {}}'::jsonb,
          'a worker reads its task''s context: the workload and the finished steps'' results');
SELECT is((SELECT noetl.task_context(queue_id, lease_token) ->> 'execution_id' FROM w2), :'e1',
          'the context names the execution');
SELECT throws_ok($$SELECT noetl.task_context(queue_id, (SELECT lease_token FROM w)) FROM w2$$, '22023', NULL,
                 'a worker cannot read a task''s context with another lease''s token');
SELECT throws_ok($$SELECT noetl.task_context(queue_id, lease_token) FROM w$$, '22023', NULL,
                 'nor the context of a task it no longer holds');
RESET ROLE;
SET LOCAL noetl.max_result_size = '1kB';
UPDATE noetl.execution SET workload = jsonb_build_object('big', repeat('x', 400)) WHERE execution_id = :e1;
SET LOCAL ROLE regress_worker;
SELECT throws_ok($$SELECT noetl.task_context(queue_id, lease_token) FROM w2$$, '54000', NULL,
                 'a context larger than noetl.max_result_size is refused, not built');
RESET ROLE;
RESET noetl.max_result_size;
UPDATE noetl.execution SET workload = '{}' WHERE execution_id = :e1;
SET LOCAL ROLE regress_worker;
SELECT lives_ok($$SELECT noetl.fail(queue_id, lease_token, 'ValueError: no', NULL, 'Traceback ...', 0.1) FROM w2$$,
                'a worker reports a failure with its stack trace');
SELECT throws_ok($$SELECT noetl.execute('tests/roles/two')$$, '42501', NULL, 'a worker cannot start executions');
SELECT throws_ok($$INSERT INTO noetl.event (execution_id, event_type) VALUES ($$ || :e1 || $$, 'note')$$,
                 '42501', NULL, 'a worker does not insert events itself');
SELECT throws_ok($$SELECT * FROM noetl.event$$, '42501', NULL, 'a worker reads no table');
RESET ROLE;
SELECT results_eq($$SELECT event_type, worker_id, duration FROM noetl.event
                     WHERE execution_id = $$ || :e1 || $$ AND event_type IN ('action_completed', 'action_error')
                     ORDER BY event_id$$,
                  $$VALUES ('action_completed'::text, 'regress-worker'::text, 0.5::float8),
                           ('action_error', 'regress-worker', 0.1)$$,
                  'the worker''s reports are recorded under its lease, with their durations');
SELECT is((SELECT status::text FROM noetl.execution WHERE execution_id = :e1), 'failed',
          'and the execution followed them');

-- a role with nothing but INSERT on noetl.event
SET LOCAL ROLE regress_inserter;
INSERT INTO noetl.event (event_type, context) VALUES ('execution_start', '{"path": "tests/roles/two"}');
RESET ROLE;
SELECT max(execution_id) AS e2 FROM noetl.execution \gset
SELECT is((SELECT status::text FROM noetl.execution WHERE execution_id = :e2), 'running',
          'an inserter starts executions with execution_start');
SET LOCAL ROLE regress_inserter;
SELECT lives_ok($$INSERT INTO noetl.event (execution_id, event_type, error) VALUES ($$ || :e2 || $$, 'note', 'hello')$$,
                'an inserter logs events');
SELECT throws_ok($$INSERT INTO noetl.event (execution_id, event_type, node_id, result)
                   VALUES ($$ || :e2 || $$, 'action_completed', 'start', '{}')$$,
                 '55000', NULL, 'an inserter cannot report a task');
SELECT lives_ok($$INSERT INTO noetl.event (execution_id, event_type) VALUES ($$ || :e2 || $$, 'execution_cancel')$$,
                'an inserter cancels executions');
RESET ROLE;
SELECT is((SELECT status::text FROM noetl.execution WHERE execution_id = :e2), 'cancelled',
          '... and the execution is cancelled');

-- batches: a client starts many executions in one call, a worker
-- completes many tasks in one call, all or none
SET LOCAL ROLE regress_client;
SELECT noetl.execute_many('tests/roles/two', ARRAY['{"n": 1}', '{"n": 2}', NULL, '{"n": 4}']::jsonb[]) AS many \gset
SELECT throws_ok($$SELECT noetl.complete_many('{1}', '{x}')$$, '42501', NULL, 'a client cannot complete tasks in a batch');
RESET ROLE;
SELECT is((SELECT array_agg(coalesce(workload ->> 'n', '-') ORDER BY pg_catalog.array_position(:'many'::bigint[], execution_id))
             FROM noetl.execution WHERE execution_id = ANY (:'many'::bigint[])),
          ARRAY['1', '2', '-', '4'], 'execute_many starts one execution per workload and returns their ids in order');
SELECT is((SELECT count(*)::int FROM noetl.queue WHERE execution_id = ANY (:'many'::bigint[]) AND status = 'queued'), 4,
          '... each with its first task queued');
SET LOCAL ROLE regress_worker;
SELECT throws_ok($$SELECT noetl.execute_many('tests/roles/two', ARRAY['{}']::jsonb[])$$, '42501', NULL,
                 'a worker cannot start executions in a batch');
CREATE TEMP TABLE wm AS SELECT * FROM noetl.lease('regress-worker', 10);
SELECT throws_ok($$SELECT noetl.complete_many('{1,2}', '{x}')$$, '22023',
                 'queue_ids, lease_tokens and results must have as many elements',
                 'complete_many refuses arrays of different lengths');
SELECT throws_ok($$SELECT noetl.complete_many(array_agg(queue_id ORDER BY queue_id),
                                              array_agg(CASE WHEN queue_id = (SELECT max(queue_id) FROM wm) THEN 'stale' ELSE lease_token END
                                                        ORDER BY queue_id)) FROM wm$$,
                 '55000', NULL, 'a batch with one stale token is refused as a whole');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM noetl.event WHERE event_type = 'action_completed'
             AND execution_id = ANY (:'many'::bigint[])), 0, '... and none of its reports was applied');
SET LOCAL ROLE regress_worker;
SELECT is((SELECT noetl.complete_many(array_agg(queue_id ORDER BY queue_id), array_agg(lease_token ORDER BY queue_id),
                                      array_agg(jsonb_build_object('q', queue_id) ORDER BY queue_id)) FROM wm), 4,
          'a worker completes the four tasks it holds in one call');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM noetl.queue q WHERE q.execution_id = ANY (:'many'::bigint[]) AND q.node_id = 'start'
             AND q.status = 'done' AND q.result = jsonb_build_object('q', q.queue_id)), 4,
          '... each with its own result, and the executions moved on');

-- what a careless or hostile worker or client may send the batches
SET LOCAL ROLE regress_worker;
SELECT is(noetl.complete_many(NULL, NULL), 0, 'complete_many of NULL arrays reports nothing');
SELECT is(noetl.complete_many('{}', '{}'), 0, 'complete_many of empty arrays reports nothing');
SELECT throws_ok($$SELECT noetl.complete_many('{1}', NULL)$$, '22023', NULL,
                 'complete_many with tokens missing is refused');
SELECT throws_ok($$SELECT noetl.complete_many(ARRAY[NULL, 0, -1]::bigint[], '{x,y,z}')$$, '22023', NULL,
                 'complete_many of NULL, 0 and negative ids is refused');
RESET ROLE;
SET LOCAL ROLE regress_client;
SELECT is(noetl.execute_many('tests/roles/two', NULL), '{}'::bigint[], 'execute_many of NULL workloads starts nothing');
SELECT throws_ok($$SELECT noetl.execute_many('tests/roles/two', ARRAY['[1, 2]']::jsonb[])$$, '22023', NULL,
                 'execute_many with a workload that is not an object is refused');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
