-- test/valgrind/workload.sql: every kind of event through the broker, with
-- values of a few hundred kB, for test/valgrind/run.sh.
--
-- Debian's PostgreSQL is not built for valgrind: memory freed inside a
-- memory context that lives on is not poisoned, so memcheck sees a use
-- after free only when the block itself went back to malloc.  Large values
-- make the broker's contexts grow past their first block, so that what a
-- trigger builds in the wrong context (SPI's, for one) sits in blocks that
-- are freed, and a later read of it is reported.  Each statement is its
-- own transaction, as a worker's are: the queue rows it updates leave dead
-- versions behind, and the index scans that find the task again allocate
-- more (as they do in production).  The checks only say that each path was
-- taken; run.sh does not count them.
--
-- It deletes every task of the cluster first, so that leases see only its
-- own: run it last, and only against a throwaway cluster (run.sh's).
\set ON_ERROR_STOP 1
DELETE FROM noetl.queue;
SELECT plan(12);

SELECT repeat('x', 300000) AS big \gset
SELECT noetl.register(E'metadata:\n  path: valgrind/big\nworkflow:\n'
    || E'  - step: start\n    next: [a]\n'
    || E'  - step: a\n    tool: python\n    args:\n      blob: "{{ workload.blob }}"\n    code: x\n'
    || E'    retry:\n      max_attempts: 3\n      initial_delay: 0\n    next: [b]\n'
    || E'  - step: b\n    tool: python\n    args:\n      blob: "{{ a.blob }}"\n      n: "{{ a.blob | length }}"\n'
    || E'    code: x\n    next: [end]\n'
    || E'  - step: end\n    result:\n      blob: "{{ b.blob }}"\n') \g /dev/null

-- a large workload, rendered into a task's args
SELECT noetl.execute('valgrind/big', jsonb_build_object('blob', :'big')) AS e1 \gset
SELECT is((SELECT length(action -> 'args' ->> 'blob') FROM noetl.queue WHERE execution_id = :e1 AND node_id = 'a'),
          300000, 'a large workload is rendered into the first task');

-- the worker's own log events about its task, large
SELECT queue_id AS qa FROM noetl.lease('vg', 1) \gset
INSERT INTO noetl.event (execution_id, event_type, node_id, worker_id, meta)
VALUES (:e1, 'action_started', 'a', 'vg', jsonb_build_object('note', :'big'));
INSERT INTO noetl.event (execution_id, event_type, node_id, worker_id, result)
VALUES (:e1, 'step_result', 'a', 'vg', jsonb_build_object('partial', :'big'));
SELECT pass('action_started and step_result with large values are logged');

-- a failure with a large error and result: retried
SELECT noetl.fail(:qa, 'vg', :'big', jsonb_build_object('detail', :'big')) \g /dev/null
SELECT is((SELECT status FROM noetl.queue WHERE queue_id = :qa), 'retry', 'a large failure is retried');

-- given back, then completed with a large result that the next task renders
UPDATE noetl.queue SET available_at = now() WHERE queue_id = :qa;
SELECT count(*) FROM noetl.lease('vg', 1) \g /dev/null
SELECT noetl.release(:qa, 'vg') \g /dev/null
SELECT is((SELECT status FROM noetl.queue WHERE queue_id = :qa), 'queued', 'a released task is queued again');
SELECT count(*) FROM noetl.lease('vg', 1) \g /dev/null
SELECT noetl.complete(:qa, 'vg', jsonb_build_object('blob', :'big')) \g /dev/null
SELECT is((SELECT (action -> 'args' ->> 'n')::int FROM noetl.queue WHERE execution_id = :e1 AND node_id = 'b'),
          300000, 'a large result is rendered into the next task');

-- late and duplicate reports of a finished task: stored, marked ignored
SELECT noetl.complete(:qa, 'vg', jsonb_build_object('again', :'big')) \g /dev/null
INSERT INTO noetl.event (execution_id, event_type, node_id, worker_id, result)
VALUES (:e1, 'action_completed', 'a', 'vg', jsonb_build_object('again', :'big'));
INSERT INTO noetl.event (execution_id, event_type, node_id, worker_id, error, result)
VALUES (:e1, 'action_error', 'a', 'vg', :'big', jsonb_build_object('late', :'big'));
INSERT INTO noetl.event (execution_id, event_type, node_id, worker_id)
VALUES (:e1, 'action_released', 'a', 'vg');
SELECT is((SELECT count(*)::int FROM noetl.event
            WHERE execution_id = :e1 AND node_name = 'a' AND status = 'ignored'), 4,
          'duplicate and late reports are marked ignored');

-- the last task: the end result renders the large value once more
SELECT queue_id AS qb FROM noetl.lease('vg', 1) \gset
SELECT noetl.complete(:qb, 'vg', jsonb_build_object('blob', :'big')) \g /dev/null
SELECT is((SELECT status::text FROM noetl.execution WHERE execution_id = :e1), 'completed',
          'the execution completes');
SELECT is((SELECT length(result ->> 'blob') FROM noetl.execution WHERE execution_id = :e1), 300000,
          'with its large end result');
SELECT noetl.complete(:qb, 'vg', jsonb_build_object('late', :'big')) \g /dev/null
SELECT is((SELECT status FROM noetl.event WHERE execution_id = :e1 ORDER BY event_id DESC LIMIT 1), 'ignored',
          'a report after the execution ended is ignored');

-- a cancelled execution, and reports about it afterwards
SELECT noetl.execute('valgrind/big', jsonb_build_object('blob', :'big')) AS e2 \gset
SELECT queue_id AS qc FROM noetl.lease('vg', 1) \gset
SELECT noetl.cancel(:e2) \g /dev/null
SELECT is((SELECT status::text FROM noetl.execution WHERE execution_id = :e2), 'cancelled', 'cancel ends an execution');
SELECT noetl.complete(:qc, 'vg', jsonb_build_object('blob', :'big')) \g /dev/null
SELECT noetl.cancel(:e2) \g /dev/null
SELECT is((SELECT count(*)::int FROM noetl.event WHERE execution_id = :e2 AND status = 'ignored'), 2,
          'reports and a second cancel after it are ignored');

-- templates with large values outside the broker
SELECT is(length(noetl.render_text('{{ a }}{{ a | upper }}', jsonb_build_object('a', :'big'))), 600000,
          'render_text of large values');

SELECT * FROM finish();
DELETE FROM noetl.event WHERE execution_id IN (:e1, :e2);
DELETE FROM noetl.queue WHERE execution_id IN (:e1, :e2);
DELETE FROM noetl.step_state WHERE execution_id IN (:e1, :e2);
DELETE FROM noetl.execution WHERE execution_id IN (:e1, :e2);
