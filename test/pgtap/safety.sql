-- Safety: hostile input gets a clear error and changes nothing; nothing a
-- role that may only insert events can send crashes the server or lets it
-- pose as a worker.  Each section is a defect found on an earlier version
-- (the numbers are those of the safety issue's list).
BEGIN;
-- leases must see only this file's tasks: any others are out of the way until ROLLBACK
DELETE FROM noetl.queue;
SELECT plan(41);

CREATE ROLE regress_hostile;
GRANT INSERT ON noetl.event TO regress_hostile;

SELECT noetl.register(E'metadata: {path: tests/safety/one}\nworkflow:\n  - step: start\n    tool: python\n    code: x\n    next: [second]\n  - step: second\n    tool: python\n    code: x\n') \g /dev/null

-- 1. queue_id 0 (and every other integer) is a task id like any other
SET LOCAL ROLE regress_hostile;
SELECT throws_ok($$INSERT INTO noetl.event (event_type, queue_id) VALUES ('action_started', 0)$$,
                 '23503', 'task 0 does not exist', 'queue_id 0 is an unknown task, not a crash');
SELECT throws_ok($$INSERT INTO noetl.event (event_type, queue_id) VALUES ('action_completed', -1)$$,
                 '23503', 'task -1 does not exist', 'a negative queue_id is an unknown task');
SELECT throws_ok($$INSERT INTO noetl.event (event_type, queue_id) VALUES ('action_error', 9223372036854775807)$$,
                 '23503', 'task 9223372036854775807 does not exist', 'the largest queue_id is an unknown task');
SELECT throws_ok($$INSERT INTO noetl.event (event_type, queue_id) VALUES ('action_released', NULL)$$,
                 '22023', 'an action event needs queue_id, or execution_id and node_id',
                 'no queue_id and no node is refused');
SELECT throws_ok($$INSERT INTO noetl.event (event_type, execution_id, node_id) VALUES ('action_completed', 0, 'start')$$,
                 '23503', 'execution 0 does not exist', 'execution 0 is an unknown execution');
RESET ROLE;
SELECT throws_ok($$SELECT noetl.complete(0, 'w', '{}')$$, '23503', 'task 0 does not exist',
                 'noetl.complete(0, ...) is an unknown task');

-- 2. a repeated report with a large result is stored intact (its values
-- were once built in memory SPI_finish had freed)
SELECT noetl.execute('tests/safety/one') AS big \gset
SELECT queue_id AS bigq, lease_token AS bigt FROM noetl.lease('w', 10) WHERE execution_id = :big \gset
SELECT noetl.complete(:bigq, :'bigt', '{"n": 1}') \g /dev/null
CREATE TEMP TABLE big_result AS
SELECT jsonb_build_object('blob', string_agg(md5(g::text), '' ORDER BY g)) AS r FROM generate_series(1, 20000) g;
SELECT noetl.complete(:bigq, :'bigt', (SELECT r FROM big_result)) \g /dev/null
SELECT results_eq($$SELECT status, node_id, node_name, md5(result::text) FROM noetl.event
                     WHERE queue_id = $$ || :bigq || $$ AND event_type = 'action_completed' ORDER BY event_id DESC LIMIT 1$$,
                  $$SELECT 'ignored'::text, 'start'::text, 'start'::text, md5(r::text) FROM big_result$$,
                  'a repeated report with a 640 kB result is stored intact, as ignored');
SELECT noetl.cancel(:big) \g /dev/null
SELECT noetl.fail(:bigq, :'bigt', 'late', (SELECT r FROM big_result)) \g /dev/null
SELECT results_eq($$SELECT status, md5(result::text) FROM noetl.event
                     WHERE queue_id = $$ || :bigq || $$ AND event_type = 'action_error'$$,
                  $$SELECT 'ignored'::text, md5(r::text) FROM big_result$$,
                  'a late report after the execution ended, likewise');

-- 3. more playbooks than the cache holds, in one backend and in one statement
DO $$
BEGIN
    FOR i IN 1 .. 300 LOOP
        PERFORM noetl.register(format(E'metadata: {path: tests/safety/many%s}\nworkflow:\n  - step: start\n    tool: python\n    code: x\n', i));
    END LOOP;
END
$$;
SELECT lives_ok($$SELECT count(noetl.execute('tests/safety/many' || g)) FROM generate_series(1, 300) g$$,
                '300 distinct playbooks run in one backend (the cache holds 256)');
SELECT is((SELECT count(*)::int FROM noetl.queue q JOIN noetl.catalog c USING (catalog_id)
            WHERE c.path LIKE 'tests/safety/many%'), 300, '... each queued its task');
SET LOCAL noetl.playbook_cache_size = 2;
SELECT lives_ok($$INSERT INTO noetl.event (event_type, context)
                  SELECT 'execution_start', jsonb_build_object('path', 'tests/safety/many' || (g % 5 + 1))
                    FROM generate_series(1, 20) g$$,
                'with room for two, twenty starts of five playbooks in one statement run');
SELECT is((SELECT count(*)::int FROM noetl.queue q JOIN noetl.catalog c USING (catalog_id)
            WHERE c.path LIKE 'tests/safety/many%'), 320, '... and queued a task each');
RESET noetl.playbook_cache_size;
DELETE FROM noetl.queue;    -- out of the way of the leases below

-- 4. an error in a template is caught in a subtransaction: the reads of step
-- results it made are undone cleanly and the evaluation goes on, to fail
-- the execution with the error (a condition that raises is no longer false)
SELECT noetl.register(E'metadata: {path: tests/safety/conditions}\nworkflow:\n  - step: start\n    tool: python\n    code: x\n    next: [middle]\n  - step: middle\n    tool: python\n    code: x\n    next:\n      - {step: good, when: "{{ start.ok }}"}\n      - {step: bad, when: "{{ start.x.y }}"}\n      - {step: bad, when: "{{ 1 // start.zero }}"}\n  - step: bad\n    tool: python\n    code: x\n  - step: good\n    tool: python\n    code: x\n') \g /dev/null
SELECT noetl.execute('tests/safety/conditions') AS cond \gset
\i test/lib/sqlworker.sql
SELECT pg_temp.work(:cond, '{"start": {"ok": true, "zero": 0}}') \g /dev/null
SELECT results_eq($$SELECT status::text, error LIKE 'condition of next[1] of step "middle": %' FROM noetl.execution WHERE execution_id = $$ || :cond,
                  $$VALUES ('failed'::text, true)$$, 'a condition that raises fails the execution, after the reads it made were undone');
SELECT is((SELECT count(*)::int FROM noetl.event WHERE execution_id = :cond AND event_type IN ('step_failed', 'execution_failed')), 2,
          '... with a step_failed and an execution_failed');
SELECT set_eq($$SELECT node_id || ':' || status FROM noetl.queue WHERE execution_id = $$ || :cond,
              ARRAY['start:done', 'middle:done', 'good:cancelled'], '... and the branch queued before it was cancelled');

-- 6. the broker, not the client, sets event_id, created_at and status
SET LOCAL ROLE regress_hostile;
INSERT INTO noetl.event (event_type, event_id, created_at, status, context, worker_id)
VALUES ('execution_start', 1, '2000-01-01', 'ignored', '{"path": "tests/safety/one"}', 'forger');
RESET ROLE;
SELECT results_eq($$SELECT event_id <> 1, created_at > now() - interval '1 hour', status IS NULL
                      FROM noetl.event WHERE event_type = 'execution_start' AND worker_id = 'forger'$$,
                  $$VALUES (true, true, true)$$, 'a client''s event_id, created_at and status are replaced');
SELECT is((SELECT count(*)::int FROM noetl.execution x JOIN noetl.event e USING (execution_id)
            WHERE e.worker_id = 'forger'), 1, 'a start marked ignored by its client still starts (no orphan event)');
SET LOCAL ROLE regress_hostile;
SELECT throws_ok($$INSERT INTO noetl.event (execution_id, event_type, context)
                   VALUES (9223372036854775807, 'execution_start', '{"path": "tests/safety/one"}')$$,
                 '22023', 'execution id 9223372036854775807 lies in the future of noetl''s ids',
                 'a client cannot take the id of an execution noetl will start later');
SELECT throws_ok($$INSERT INTO noetl.event (execution_id, event_type) SELECT execution_id, 'step_completed'
                     FROM (SELECT noetl.snowflake_id() AS execution_id) s$$,
                 '42501', NULL, 'broker event types are refused');
RESET ROLE;
SELECT noetl.execute('tests/safety/one') AS tok \gset
CREATE TEMP TABLE tok_lease AS SELECT * FROM noetl.lease('honest', 10) WHERE execution_id = :tok;
SELECT queue_id AS tokq FROM tok_lease \gset
SET LOCAL ROLE regress_hostile;
SELECT throws_ok($$INSERT INTO noetl.event (event_type, queue_id, worker_id, result)
                   VALUES ('action_completed', $$ || :tokq || $$, 'honest', '{"forged": true}')$$,
                 '55000', NULL, 'a report naming the lease holder but without its token is refused');
SELECT throws_ok($$INSERT INTO noetl.event (event_type, queue_id, lease_token, result)
                   VALUES ('action_completed', $$ || :tokq || $$, 'guess', '{"forged": true}')$$,
                 '55000', NULL, 'a report with a guessed token is refused');
RESET ROLE;
SELECT is((SELECT status::text FROM noetl.queue WHERE execution_id = :tok AND node_id = 'start'), 'leased',
          'the task is still the honest worker''s');
INSERT INTO noetl.event (event_type, queue_id, lease_token, worker_id, result)
SELECT 'action_completed', queue_id, lease_token, 'someone else', '{"real": true}' FROM tok_lease;
SELECT results_eq($$SELECT worker_id, lease_token FROM noetl.event
                     WHERE execution_id = $$ || :tok || $$ AND event_type = 'action_completed'$$,
                  $$VALUES ('honest'::text, NULL::text)$$,
                  'a report is recorded with the lease holder''s worker_id, and its token is not stored');
SELECT results_eq($$SELECT result FROM noetl.queue WHERE execution_id = $$ || :tok || $$ AND node_id = 'start'$$,
                  $$VALUES ('{"real": true}'::jsonb)$$, 'the holder''s report is the result');

-- 7. limits on what events carry
SET LOCAL noetl.max_workload_size = '1kB';
SELECT throws_ok($$SELECT noetl.execute('tests/safety/one', jsonb_build_object('x', repeat('y', 2000)))$$,
                 '54000', NULL, 'a workload beyond noetl.max_workload_size is refused');
RESET noetl.max_workload_size;
SELECT noetl.execute('tests/safety/one') AS lim \gset
CREATE TEMP TABLE lim_lease AS SELECT * FROM noetl.lease('w', 10) WHERE execution_id = :lim;
SET LOCAL noetl.max_result_size = '1kB';
SELECT throws_ok($$SELECT noetl.complete(queue_id, lease_token, jsonb_build_object('x', repeat('y', 2000))) FROM lim_lease$$,
                 '54000', NULL, 'a result beyond noetl.max_result_size is refused');
RESET noetl.max_result_size;
SET LOCAL noetl.max_json_depth = 8;
SELECT throws_ok($$SELECT noetl.complete(queue_id, lease_token, '[[[[[[[[[[1]]]]]]]]]]') FROM lim_lease$$,
                 '54000', 'the result of the event is nested deeper than noetl.max_json_depth (8)',
                 'a result nested beyond noetl.max_json_depth is refused');
SELECT lives_ok($$SELECT noetl.complete(queue_id, lease_token, '[[[[[[[[1]]]]]]]]') FROM lim_lease$$,
                'a result at the depth limit is accepted');
RESET noetl.max_json_depth;

-- 8. strict arguments of the worker protocol
SELECT throws_ok($$SELECT * FROM noetl.lease(NULL, 100, 1)$$, '22023', NULL, 'no lease without a worker id');
SELECT is((SELECT count(*)::int FROM noetl.queue WHERE status = 'leased' AND worker_id IS NULL), 0,
          'no task is leased to nobody');

-- 9. a retry policy that would leave timestamptz's range is kept in it
SELECT noetl.register(E'metadata: {path: tests/safety/delay}\nworkflow:\n  - step: start\n    tool: python\n    code: x\n    retry: {max_attempts: 3, initial_delay: 60}\n') \g /dev/null
UPDATE noetl.catalog
   SET payload = jsonb_set(payload, '{workflow,0,retry}', '{"max_attempts": 99999999999, "initial_delay": 1.0e+13, "max_delay": 1.0e+300}')
 WHERE path = 'tests/safety/delay';
SELECT noetl.execute('tests/safety/delay') AS dl \gset
SELECT noetl.fail(queue_id, lease_token, 'boom') FROM noetl.lease('w', 10) WHERE execution_id = :dl \g /dev/null
SELECT results_eq($$SELECT status::text, available_at <= now() + interval '366 days', max_attempts > 1
                      FROM noetl.queue WHERE execution_id = $$ || :dl,
                  $$VALUES ('retry'::text, true, true)$$,
                  'a huge delay waits at most a year, and a huge attempt count is not one attempt');
SELECT lives_ok($$SELECT * FROM noetl.queue$$, 'the queue can be read (no timestamp out of range)');
SELECT noetl.register(E'metadata: {path: tests/safety/noretry}\nworkflow:\n  - step: start\n    tool: python\n    code: x\n    retry: {max_attempts: 3, retry_when: false}\n') \g /dev/null
SELECT noetl.execute('tests/safety/noretry') AS nr \gset
SELECT noetl.fail(queue_id, lease_token, 'boom') FROM noetl.lease('w', 10) WHERE execution_id = :nr \g /dev/null
SELECT results_eq($$SELECT status::text FROM noetl.queue WHERE execution_id = $$ || :nr,
                  $$VALUES ('dead'::text)$$, 'retry_when: false means never retry');

-- what INSERT-only roles cannot do at all
SET LOCAL ROLE regress_hostile;
SELECT throws_ok($$SELECT * FROM noetl.lease('hostile', 1)$$, '42501', NULL, 'it cannot lease');
SELECT throws_ok($$SELECT noetl.register('metadata: {path: x}')$$, '42501', NULL, 'it cannot register');
SELECT throws_ok($$SELECT * FROM noetl.event$$, '42501', NULL, 'it cannot read the log');
SELECT throws_ok($$UPDATE noetl.queue SET status = 'done'$$, '42501', NULL, 'it cannot write the queue');
SELECT throws_ok($$SELECT noetl.heartbeat(1, 'x')$$, '42501', NULL, 'it cannot heartbeat');
RESET ROLE;

-- restores: rows a COPY by the table's owner brings in are stored as they are
CREATE TEMP TABLE copied (LIKE noetl.event);
INSERT INTO copied (execution_id, event_id, event_type, status, created_at)
VALUES (:tok, 42, 'execution_complete', 'completed', '2001-02-03');
SELECT current_setting('data_directory') || '/noetl-safety-copy.tsv' AS copyfile \gset
COPY copied TO :'copyfile';
COPY noetl.event FROM :'copyfile';
SELECT results_eq($$SELECT event_id, status, created_at FROM noetl.event WHERE execution_id = $$ || :tok || $$ AND event_id = 42$$,
                  $$VALUES (42::bigint, 'completed'::text, '2001-02-03'::timestamptz)$$,
                  'a COPY by the owner stores broker events verbatim and evaluates nothing');
SELECT results_eq($$SELECT status::text FROM noetl.execution WHERE execution_id = $$ || :tok,
                  $$VALUES ('running'::text)$$, '... the execution is untouched');
GRANT pg_read_server_files TO regress_hostile;
SET LOCAL ROLE regress_hostile;
SELECT throws_ok($$COPY noetl.event FROM '$$ || :'copyfile' || $$'$$, '42501', NULL,
                 'anyone else''s COPY is a stream of events, checked as such');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
