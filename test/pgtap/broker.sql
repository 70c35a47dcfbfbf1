-- The broker, on this project's own playbooks (examples/ and
-- test/playbooks/), with a worker written in SQL and canned results:
-- branches and the join, both DSL spellings, start and end steps that are
-- tasks, retry timelines, a loop, a sub-playbook; refusals of bad
-- events; the lease holder's reports; cancellation; template failures
-- recorded as failures; columns the library does not know; the seed
-- failure.  test/pgtap/fixtures.sql runs NoETL's own playbooks.
\set ON_ERROR_STOP 1
\set branches `cat examples/workbook_branches.yaml`
\set branches_type `cat test/playbooks/branches_type.yaml`
\set start_task `cat test/playbooks/start_task.yaml`
\set end_task `cat test/playbooks/end_task.yaml`
\set retry_backoff `cat test/playbooks/retry_backoff.yaml`
\set retry_status `cat test/playbooks/retry_status.yaml`
\set retry_stop `cat test/playbooks/retry_stop.yaml`
\set retry_forms `cat test/playbooks/retry_forms.yaml`
\set loop `cat test/playbooks/loop.yaml`
\set subplaybook `cat test/playbooks/subplaybook.yaml`
\unset ON_ERROR_STOP
BEGIN;
-- leases must see only this file's tasks: any others are out of the way until ROLLBACK
DELETE FROM noetl.queue;
\i test/lib/sqlworker.sql
SELECT plan(83);

SELECT noetl.register(:'branches'), noetl.register(:'branches_type'), noetl.register(:'start_task'),
       noetl.register(:'end_task'), noetl.register(:'retry_backoff'), noetl.register(:'retry_status'),
       noetl.register(:'retry_stop'), noetl.register(:'retry_forms'), noetl.register(:'loop'),
       noetl.register(:'subplaybook') \g /dev/null

-- workbook_branches, the express lane: two tasks in parallel, then the join
SELECT noetl.execute('examples/workbook_branches') AS hot \gset
SELECT is((SELECT action -> 'args' FROM noetl.queue WHERE execution_id = :hot AND node_id = 'classify'),
          '{"total": 250, "express_from": 100}', 'the workbook task is queued with its args rendered (numbers stay numbers)');
SELECT is((SELECT action ->> 'tool' FROM noetl.queue WHERE execution_id = :hot AND node_id = 'classify'),
          'python', 'tool: workbook resolves to the workbook entry''s tool');
SELECT is(pg_temp.work(:hot, '{"classify": {"express": true, "lane": "express"},
                               "reserve_stock": {"reserved": "A-1001"}, "book_courier": {"courier": "bike"}}'), 3,
          'three tasks ran on the express lane');
SELECT set_eq($$SELECT node_id FROM noetl.queue WHERE execution_id = $$ || :hot,
              ARRAY['classify', 'reserve_stock', 'book_courier'], 'express lane: classify, reserve_stock, book_courier');
SELECT results_eq($$SELECT status::text, pending, result FROM noetl.execution WHERE execution_id = $$ || :hot,
                  $$VALUES ('completed'::text, 0, '{"lane": "express", "queued": null, "courier": "bike", "reserved": "A-1001"}'::jsonb)$$,
                  'express lane: the execution completes with the end step''s rendered result');
SELECT is((SELECT count(*)::int FROM noetl.event WHERE execution_id = :hot AND event_type = 'execution_complete'),
          1, 'express lane: exactly one execution_complete');
SELECT is((SELECT count(*)::int FROM noetl.event WHERE execution_id = :hot AND event_type = 'step_completed' AND node_name = 'end'),
          1, 'express lane: end ran once, after both branches');
SELECT ok((SELECT max(event_id) FILTER (WHERE node_name IN ('reserve_stock', 'book_courier') AND event_type = 'step_completed')
                < min(event_id) FILTER (WHERE node_name = 'end')
             FROM noetl.event WHERE execution_id = :hot), 'express lane: end is a join');

-- the standard lane
SELECT noetl.execute('examples/workbook_branches', '{"order": {"id": "B-7", "total": 20}}') AS cold \gset
SELECT is((SELECT action -> 'args' ->> 'total' FROM noetl.queue WHERE execution_id = :cold),
          '20', 'the workload given to execute overrides the playbook''s, key by key');
SELECT is((SELECT action -> 'args' ->> 'express_from' FROM noetl.queue WHERE execution_id = :cold),
          '100', '... and keeps the playbook''s other keys');
SELECT is(pg_temp.work(:cold, '{"classify": {"express": false, "lane": "standard"}, "queue_order": {"queued": "B-7"}}'), 2,
          'two tasks ran on the standard lane');
SELECT set_eq($$SELECT node_id FROM noetl.queue WHERE execution_id = $$ || :cold,
              ARRAY['classify', 'queue_order'], 'standard lane: classify, queue_order');
SELECT results_eq($$SELECT status::text, result ->> 'queued' FROM noetl.execution WHERE execution_id = $$ || :cold,
                  $$VALUES ('completed'::text, 'B-7'::text)$$, 'standard lane: the execution completes');

-- the same control flow in NoETL's older spelling (type:, with:, {when, then})
SELECT noetl.execute('tests/playbooks/branches_type') AS typ \gset
SELECT is((SELECT action -> 'args' FROM noetl.queue WHERE execution_id = :typ AND node_id = 'check'),
          '{"reading": 30}', 'with: is read as args');
SELECT is(pg_temp.work(:typ, '{"check": {"high": true}}'), 3, 'the older spelling: three tasks on the high branch');
SELECT results_eq($$SELECT status::text FROM noetl.execution WHERE execution_id = $$ || :typ,
                  $$VALUES ('completed'::text)$$, 'the older spelling completes');

-- a raw INSERT of execution_start does what execute does
INSERT INTO noetl.event (event_type, context)
VALUES ('execution_start', '{"path": "examples/workbook_branches", "workload": {"express_from": 99}}');
SELECT is((SELECT e.workload ->> 'express_from' FROM noetl.execution e ORDER BY execution_id DESC LIMIT 1),
          '99', 'a raw INSERT of execution_start starts an execution');

-- start itself is a task
SELECT noetl.execute('tests/playbooks/start_task') AS swa \gset
SELECT is((SELECT node_id FROM noetl.queue WHERE execution_id = :swa), 'start', 'an actionable start step is queued');
SELECT is((SELECT action -> 'args' -> 'input_data' FROM noetl.queue WHERE execution_id = :swa AND node_id = 'start'),
          '{"text": "hello"}', 'start''s args see the workload');
SELECT is(pg_temp.work(:swa, '{"start": {"upper": "HELLO"}, "shout": {"said": "HELLO"}}'), 2,
          'start and shout ran');
SELECT is((SELECT action -> 'args' ->> 'text' FROM noetl.queue WHERE execution_id = :swa AND node_id = 'shout'),
          'HELLO', 'shout received start''s result, its envelope unwrapped');
SELECT results_eq($$SELECT status::text FROM noetl.execution WHERE execution_id = $$ || :swa,
                  $$VALUES ('completed'::text)$$, 'start_task completes');

-- end is a task that runs after the join, with args from next
SELECT noetl.execute('tests/playbooks/end_task') AS ewa \gset
SELECT is(pg_temp.work(:ewa, '{"load": {"rows": 100, "table": "t1"}, "end": {"dropped": "t1"}}'), 2,
          'load and end ran');
SELECT is((SELECT action -> 'args' FROM noetl.queue WHERE execution_id = :ewa AND node_id = 'end'),
          '{"drop": true, "table": "t1"}', 'the end task got the args of the next entry');
SELECT results_eq($$SELECT status::text, result FROM noetl.execution WHERE execution_id = $$ || :ewa,
                  $$VALUES ('completed'::text, '{"dropped": "t1"}'::jsonb)$$,
                  'end_task completes with the end task''s result');

-- retried on any error: five attempts, 0.2 s growing 1.5 times, at most 2 s
SELECT noetl.execute('tests/playbooks/retry_backoff') AS py \gset
SELECT is(pg_temp.work(:py, '{"start": {"__fail": "ValueError: 12"}}'), 1, 'attempt 1 fails');
SELECT results_eq($$SELECT status::text, attempts FROM noetl.queue WHERE execution_id = $$ || :py,
                  $$VALUES ('retry'::text, 1)$$, 'the task waits to retry');
SELECT ok((SELECT available_at - updated_at > interval '100 ms' AND available_at - updated_at <= interval '200 ms'
             FROM noetl.queue WHERE execution_id = :py), 'the first retry is due after initial_delay (0.2 s)');
SELECT is(pg_temp.work(:py, '{}'), 0, 'a delayed task is not leased before it is due');
SELECT pg_temp.due(:py) \g /dev/null
SELECT is(pg_temp.work(:py, '{"start": {"__fail": "again"}}'), 1, 'attempt 2 fails');
SELECT pg_temp.due(:py) \g /dev/null
SELECT is(pg_temp.work(:py, '{"start": {"__fail": "again"}}'), 1, 'attempt 3 fails');
SELECT pg_temp.due(:py) \g /dev/null
SELECT is(pg_temp.work(:py, '{"start": {"__fail": "again"}}'), 1, 'attempt 4 fails');
SELECT pg_temp.due(:py) \g /dev/null
SELECT is(pg_temp.work(:py, '{"start": {"value": 81}}'), 1, 'attempt 5 succeeds');
SELECT results_eq($$SELECT (meta ->> 'attempt')::int, (meta ->> 'delay')::float8 FROM noetl.event
                     WHERE execution_id = $$ || :py || $$ AND event_type = 'step_retry' ORDER BY event_id$$,
                  $$VALUES (1, 0.2::float8), (2, 0.3::float8), (3, 0.45::float8), (4, 0.675::float8)$$,
                  'retries after 0.2, 0.3, 0.45 and 0.675 s');
SELECT results_eq($$SELECT status::text FROM noetl.execution WHERE execution_id = $$ || :py,
                  $$VALUES ('completed'::text)$$, 'the execution completes on the fifth attempt');

SELECT noetl.execute('tests/playbooks/retry_backoff') AS py2 \gset
SELECT pg_temp.work(:py2, '{"start": {"__fail": "boom"}}'), pg_temp.due(:py2),
       pg_temp.work(:py2, '{"start": {"__fail": "boom"}}'), pg_temp.due(:py2),
       pg_temp.work(:py2, '{"start": {"__fail": "boom"}}'), pg_temp.due(:py2),
       pg_temp.work(:py2, '{"start": {"__fail": "boom"}}'), pg_temp.due(:py2),
       pg_temp.work(:py2, '{"start": {"__fail": "boom 5"}}') \g /dev/null
SELECT results_eq($$SELECT q.status::text, e.status::text, e.error FROM noetl.queue q JOIN noetl.execution e USING (execution_id)
                     WHERE execution_id = $$ || :py2,
                  $$VALUES ('dead'::text, 'failed'::text, 'boom 5'::text)$$,
                  'five failures: the task is dead and the execution failed with the last error');
SELECT results_eq($$SELECT event_type FROM noetl.event WHERE execution_id = $$ || :py2 ||
                  $$ AND event_type IN ('step_failed', 'execution_failed') ORDER BY event_id$$,
                  ARRAY['step_failed', 'execution_failed'], 'step_failed then execution_failed');

-- retried only for 5xx, 0.5 s then 1 s, dead at the third
SELECT noetl.execute('tests/playbooks/retry_status') AS h1 \gset
SELECT pg_temp.work(:h1, '{"start": {"__fail": "HTTP 503", "result": {"status_code": 503}}}'), pg_temp.due(:h1),
       pg_temp.work(:h1, '{"start": {"__fail": "HTTP 502", "result": {"status_code": 502}}}'), pg_temp.due(:h1),
       pg_temp.work(:h1, '{"start": {"__fail": "HTTP 500", "result": {"status_code": 500}}}') \g /dev/null
SELECT results_eq($$SELECT (meta ->> 'delay')::float8 FROM noetl.event WHERE execution_id = $$ || :h1 ||
                  $$ AND event_type = 'step_retry' ORDER BY event_id$$,
                  $$VALUES (0.5::float8), (1.0::float8)$$, 'retry_when on the status: retries after 0.5 and 1.0 s');
SELECT results_eq($$SELECT status::text FROM noetl.execution WHERE execution_id = $$ || :h1,
                  $$VALUES ('failed'::text)$$, 'three 5xx fail the execution');
SELECT noetl.execute('tests/playbooks/retry_status') AS h2 \gset
SELECT pg_temp.work(:h2, '{"start": {"__fail": "HTTP 404", "result": {"status_code": 404}}}') \g /dev/null
SELECT results_eq($$SELECT q.status::text, q.attempts, e.status::text FROM noetl.queue q JOIN noetl.execution e USING (execution_id)
                     WHERE execution_id = $$ || :h2,
                  $$VALUES ('dead'::text, 1, 'failed'::text)$$, 'a 404 is not retried');

-- stop_when ends the retries
SELECT noetl.execute('tests/playbooks/retry_stop') AS hs \gset
SELECT pg_temp.work(:hs, '{"start": {"__fail": "HTTP 500", "result": {"status_code": 500}}}'), pg_temp.due(:hs),
       pg_temp.work(:hs, '{"start": {"__fail": "bad body", "result": {"status_code": 200}}}') \g /dev/null
SELECT results_eq($$SELECT count(*)::int FROM noetl.event WHERE execution_id = $$ || :hs || $$ AND event_type = 'step_retry'$$,
                  $$VALUES (1)$$, 'a 500 is retried once');
SELECT results_eq($$SELECT status::text FROM noetl.execution WHERE execution_id = $$ || :hs,
                  $$VALUES ('failed'::text)$$, 'stop_when ends the retries');

-- retry: true is 3 attempts, retry: 5 is 5, jitter keeps the delay within bounds
SELECT noetl.execute('tests/playbooks/retry_forms') AS sc \gset
SELECT is((SELECT max_attempts FROM noetl.queue WHERE execution_id = :sc AND node_id = 'flag'), 3, 'retry: true means 3 attempts');
SELECT is((SELECT max_attempts FROM noetl.queue WHERE execution_id = :sc AND node_id = 'count'), 5, 'retry: 5 means 5 attempts');
SELECT pg_temp.work(:sc, '{"with_jitter": {"__fail": "no"}}') \g /dev/null
SELECT ok((SELECT (meta ->> 'delay')::float8 BETWEEN 0.25 AND 0.5 FROM noetl.event
            WHERE execution_id = :sc AND event_type = 'step_retry'), 'with jitter the first delay is between 0.25 and 0.5 s');

-- a loop runs: one task per item, its result the list (test/pgtap/loops.sql has the rest)
SELECT noetl.execute('tests/playbooks/loop') AS lp \gset
SELECT is(pg_temp.work(:lp, '{"start[1]": {"n": 2}}'), 3, 'a loop of 3 items is 3 tasks');
SELECT is((SELECT result FROM noetl.step_state WHERE execution_id = :lp AND step = 'start'),
          '[{"step": "start[0]"}, {"n": 2}, {"step": "start[2]"}]'::jsonb,
          'the loop step''s result is the items'' results in order');
SELECT is((SELECT status::text FROM noetl.execution WHERE execution_id = :lp), 'completed',
          'the execution with the loop completes');
-- a sub-playbook runs as a child execution (test/pgtap/children.sql has the rest)
SELECT noetl.execute('tests/playbooks/subplaybook') AS sp \gset
SELECT is((SELECT count(*)::int FROM noetl.execution WHERE parent_execution_id = :sp AND parent_step = 'start'),
          1, 'a sub-playbook step starts one child execution, naming the parent''s step');

-- bad events are refused, and change nothing
SELECT throws_ok($$SELECT noetl.execute('no/such/playbook')$$, '42704',
                 'playbook "no/such/playbook" is not registered', 'an unknown playbook');
SELECT throws_ok($$SELECT noetl.execute('tests/retry/python_exception', '{}', 99)$$, '42704',
                 'version 99 of playbook "tests/retry/python_exception" is not registered', 'an unknown version');
SELECT throws_ok($$INSERT INTO noetl.event (event_type, context) VALUES ('execution_start', '[1]')$$, '22023',
                 'the context of an execution_start event must be a JSON object', 'a malformed context');
SELECT throws_ok($$INSERT INTO noetl.event (execution_id, event_type) VALUES (42, 'note')$$, '23503',
                 'execution 42 does not exist', 'an event of an unknown execution');
SELECT throws_ok($$SELECT noetl.complete(42, 'w', '{}')$$, '23503', 'task 42 does not exist', 'completion of an unknown task');
SELECT throws_ok($$SELECT noetl.cancel(42)$$, '23503', 'execution 42 does not exist', 'cancel of an unknown execution');
SELECT throws_ok($$INSERT INTO noetl.event (execution_id, event_type) VALUES ($$ || :hot || $$, 'execution_complete')$$,
                 '42501', 'events of type "execution_complete" are written by the broker', 'broker events cannot be forged');
SELECT throws_ok($$INSERT INTO noetl.event (execution_id, event_id, event_type) VALUES ($$ || :hot || $$, 1, NULL)$$,
                 '23502', 'an event needs an event_type', 'an event without a type');

-- only the lease holder completes a leased task; duplicates and late reports are ignored
SELECT noetl.execute('examples/workbook_branches') AS lh \gset
SELECT queue_id AS lhq, lease_token AS lht FROM noetl.lease('holder', 10) WHERE execution_id = :lh \gset
SELECT throws_ok($$SELECT noetl.complete($$ || :lhq || $$, 'not-the-token', '{}')$$, '55000',
                 'task ' || :lhq || ' is not leased with this token',
                 'a report with another token cannot complete the task, and the error names nobody');
SELECT throws_ok($$SELECT noetl.complete($$ || :lhq || $$, NULL, '{}')$$, '55000',
                 'a report of task ' || :lhq || ' needs the lease_token of its lease',
                 'a report without a token is refused');
SELECT lives_ok($$SELECT noetl.complete($$ || :lhq || $$, '$$ || :'lht' || $$', '{"status": "success", "data": {"express": true}}')$$,
                'the holder completes it');
SELECT lives_ok($$SELECT noetl.complete($$ || :lhq || $$, '$$ || :'lht' || $$', '{}')$$, 'a duplicate completion is accepted ...');
SELECT results_eq($$SELECT status::text FROM noetl.event WHERE queue_id = $$ || :lhq || $$ AND event_type = 'action_completed' ORDER BY event_id$$,
                  $$VALUES (NULL::text), ('ignored')$$, '... and recorded as ignored');
SELECT is((SELECT count(*)::int FROM noetl.event WHERE queue_id = :lhq AND event_type = 'step_completed'), 1,
          'the duplicate changed nothing');
SELECT is((SELECT worker_id FROM noetl.event WHERE queue_id = :lhq AND event_type = 'action_completed' ORDER BY event_id LIMIT 1),
          'holder', 'a report is recorded with the lease holder''s worker_id');

-- cancel: queued tasks are cancelled, later reports ignored
SELECT noetl.cancel(:lh) \g /dev/null
SELECT results_eq($$SELECT DISTINCT status::text FROM noetl.queue WHERE execution_id = $$ || :lh || $$ AND node_id <> 'classify'$$,
                  $$VALUES ('cancelled'::text)$$, 'cancel cancels the queued tasks');
SELECT results_eq($$SELECT status::text, pending FROM noetl.execution WHERE execution_id = $$ || :lh,
                  $$VALUES ('cancelled'::text, 0)$$, 'the execution is cancelled');
SELECT is((SELECT count(*)::int FROM noetl.event WHERE execution_id = :lh AND event_type IN ('execution_cancelled', 'execution_complete', 'execution_failed')),
          1, 'exactly one terminal event');

-- a condition that raises fails the execution, with the reason; so do args that cannot render
SELECT noetl.register(E'metadata: {path: tests/broker/bad_templates}\nworkflow:\n  - step: start\n    tool: python\n    code: x\n    next:\n      - {step: a, when: "{{ result.x.y.z }}"}\n      - {step: b, when: "{{ result.ok }}"}\n  - step: a\n    tool: python\n    code: x\n  - step: b\n    tool: python\n    code: x\n') \g /dev/null
SELECT noetl.register(E'metadata: {path: tests/broker/bad_args}\nworkflow:\n  - step: start\n    tool: python\n    code: x\n    next:\n      - {step: b, when: "{{ result.ok }}"}\n  - step: b\n    tool: python\n    args: {v: "{{ 1 / result.zero }}"}\n    code: x\n') \g /dev/null
SELECT noetl.execute('tests/broker/bad_templates') AS bt \gset
SELECT pg_temp.work(:bt, '{"start": {"ok": true, "zero": 0}}') \g /dev/null
SELECT noetl.execute('tests/broker/bad_args') AS ba \gset
SELECT pg_temp.work(:ba, '{"start": {"ok": true, "zero": 0}}') \g /dev/null
SELECT results_eq($$SELECT status::text, error LIKE 'condition of next[0] of step "start": %''dict object'' has no attribute ''x''%' FROM noetl.execution WHERE execution_id = $$ || :bt,
                  $$VALUES ('failed'::text, true)$$, 'a condition that raises fails the execution, with the reason');
SELECT results_eq($$SELECT status::text, error LIKE 'step "b": template error%division by zero%' FROM noetl.execution WHERE execution_id = $$ || :ba,
                  $$VALUES ('failed'::text, true)$$, 'a task whose args cannot be rendered fails the execution, with the reason');
SELECT is((SELECT count(*)::int FROM noetl.queue WHERE execution_id IN (:bt, :ba) AND node_id IN ('a', 'b')), 0,
          'no branch was queued');

-- two branches reported by one INSERT, by node: the join still runs once
SELECT noetl.execute('examples/workbook_branches') AS mr \gset
SELECT noetl.complete(queue_id, lease_token, '{"status": "success", "data": {"express": true}}')
  FROM noetl.lease('w', 100) WHERE execution_id = :mr AND node_id = 'classify' \g /dev/null
CREATE TEMP TABLE mr_leases AS SELECT * FROM noetl.lease('w', 100) WHERE execution_id = :mr;
INSERT INTO noetl.event (execution_id, event_type, node_id, lease_token, result)
SELECT :mr, 'action_completed', node_id, lease_token, jsonb_build_object(node_id, 1) FROM mr_leases;
SELECT results_eq($$SELECT status::text, pending FROM noetl.execution WHERE execution_id = $$ || :mr,
                  $$VALUES ('completed'::text, 0)$$, 'two completions in one INSERT: the execution completes');
SELECT is((SELECT count(*)::int FROM noetl.event WHERE execution_id = :mr AND event_type = 'execution_complete'),
          1, 'two completions in one INSERT: exactly one execution_complete');

-- a role that may only insert events drives executions: it starts them,
-- the triggers do the rest as the table owner; it cannot report tasks
CREATE ROLE regress_noetl_client;
GRANT INSERT ON noetl.event TO regress_noetl_client;
GRANT EXECUTE ON FUNCTION noetl.execute(text, jsonb, integer) TO regress_noetl_client;
SET LOCAL ROLE regress_noetl_client;
SELECT noetl.execute('examples/workbook_branches') AS pc \gset
SELECT throws_ok($$INSERT INTO noetl.event (execution_id, event_type, node_id, result)
                  VALUES ($$ || :pc || $$, 'action_completed', 'classify', '{"express": true}')$$,
                 '55000', NULL, 'a role with INSERT on noetl.event cannot report a task without its lease');
SELECT throws_ok($$SELECT count(*) FROM noetl.queue$$, '42501', NULL, '... and cannot read the queue itself');
RESET ROLE;
SELECT set_eq($$SELECT node_id FROM noetl.queue WHERE execution_id = $$ || :pc || $$ AND status = 'queued'$$,
              ARRAY['classify'], 'its start queued the first task, and nothing else happened');

-- the broker forms queue rows itself: a column it does not know is left
-- NULL or given its default, as an INSERT would; one that could be neither
-- stops the broker with a clear error
SAVEPOINT extra_column;
ALTER TABLE noetl.queue ADD COLUMN extra_null integer, ADD COLUMN extra_default text DEFAULT 'made ' || 'here';
SELECT noetl.execute('examples/workbook_branches') AS xc \gset
SELECT results_eq($$SELECT extra_null, extra_default FROM noetl.queue WHERE execution_id = $$ || :xc,
                  $$VALUES (NULL::integer, 'made here'::text)$$,
                  'columns the library does not know get NULL, or their default');
ALTER TABLE noetl.queue ADD COLUMN extra_required integer NOT NULL DEFAULT 0;
ALTER TABLE noetl.queue ALTER COLUMN extra_required DROP DEFAULT;
SELECT throws_ok($$SELECT noetl.execute('examples/workbook_branches')$$, '0A000',
                 'column "extra_required" of table "queue" is unknown to the noetl library and has neither a default nor NULLs',
                 'a column that can be neither NULL nor defaulted stops the broker, with a clear error');
ROLLBACK TO SAVEPOINT extra_column;

-- a worker that stops gives its task back: queued again, the attempt uncounted
SELECT noetl.execute('examples/workbook_branches') AS rl \gset
SELECT queue_id AS rlq, lease_token AS rlt FROM noetl.lease('quitter', 100) WHERE execution_id = :rl \gset
SELECT throws_ok($$SELECT noetl.release($$ || :rlq || $$, 'someone-else')$$, '55000', NULL,
                 'only the worker holding a task releases it');
SELECT lives_ok($$SELECT noetl.release($$ || :rlq || $$, '$$ || :'rlt' || $$')$$, 'the holder releases it');
SELECT results_eq($$SELECT status::text, attempts, worker_id FROM noetl.queue WHERE queue_id = $$ || :rlq,
                  $$VALUES ('queued'::text, 0, NULL::text)$$, 'the task is queued again, as if never leased');
SELECT lives_ok($$SELECT noetl.release($$ || :rlq || $$, '$$ || :'rlt' || $$')$$, 'releasing what is not held ...');
SELECT results_eq($$SELECT coalesce(status, '') FROM noetl.event WHERE queue_id = $$ || :rlq || $$ AND event_type = 'action_released' ORDER BY event_id$$,
                  $$VALUES (''::text), ('ignored')$$, '... is recorded as ignored');

-- the seed failure: an event and its consequences are one transaction
SAVEPOINT before_start;
SELECT noetl.execute('examples/workbook_branches') AS rolled \gset
ROLLBACK TO SAVEPOINT before_start;
SELECT is((SELECT count(*)::int FROM noetl.event WHERE execution_id = :rolled)
          + (SELECT count(*)::int FROM noetl.execution WHERE execution_id = :rolled)
          + (SELECT count(*)::int FROM noetl.queue WHERE execution_id = :rolled), 0,
          'a rolled back start leaves no event, no execution and no queue row');

SELECT * FROM finish();
ROLLBACK;
