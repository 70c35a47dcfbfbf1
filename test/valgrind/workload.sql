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
-- more (as they do in production).  Loops go the same way: a parallel loop
-- with where, order_by and chunk over large elements, an item retried then
-- dead under continue, the list read at the end; a loop failed by an item
-- (fail) and one cancelled mid-loop, with reports after both.  The checks
-- only say that each path was taken; run.sh does not count them.
--
-- It deletes every task of the cluster first, so that leases see only its
-- own: run it last, and only against a throwaway cluster (run.sh's).
\set ON_ERROR_STOP 1
DELETE FROM noetl.queue;
SELECT plan(20);

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
SELECT queue_id AS qa, lease_token AS ta FROM noetl.lease('vg', 1) \gset
INSERT INTO noetl.event (execution_id, event_type, node_id, worker_id, lease_token, meta)
VALUES (:e1, 'action_started', 'a', 'vg', :'ta', jsonb_build_object('note', :'big'));
INSERT INTO noetl.event (execution_id, event_type, node_id, worker_id, lease_token, result)
VALUES (:e1, 'step_result', 'a', 'vg', :'ta', jsonb_build_object('partial', :'big'));
SELECT pass('action_started and step_result with large values are logged');

-- a failure with a large error and result: retried
SELECT noetl.fail(:qa, :'ta', :'big', jsonb_build_object('detail', :'big')) \g /dev/null
SELECT is((SELECT status FROM noetl.queue WHERE queue_id = :qa), 'retry', 'a large failure is retried');

-- given back, then completed with a large result that the next task renders
UPDATE noetl.queue SET available_at = now() WHERE queue_id = :qa;
SELECT lease_token AS ta FROM noetl.lease('vg', 1) \gset
SELECT noetl.release(:qa, :'ta') \g /dev/null
SELECT is((SELECT status FROM noetl.queue WHERE queue_id = :qa), 'queued', 'a released task is queued again');
SELECT lease_token AS ta FROM noetl.lease('vg', 1) \gset
SELECT noetl.complete(:qa, :'ta', jsonb_build_object('blob', :'big')) \g /dev/null
SELECT is((SELECT (action -> 'args' ->> 'n')::int FROM noetl.queue WHERE execution_id = :e1 AND node_id = 'b'),
          300000, 'a large result is rendered into the next task');

-- late and duplicate reports of a finished task: stored, marked ignored
SELECT noetl.complete(:qa, :'ta', jsonb_build_object('again', :'big')) \g /dev/null
INSERT INTO noetl.event (execution_id, event_type, node_id, worker_id, lease_token, result)
VALUES (:e1, 'action_completed', 'a', 'vg', :'ta', jsonb_build_object('again', :'big'));
INSERT INTO noetl.event (execution_id, event_type, node_id, worker_id, lease_token, error, result)
VALUES (:e1, 'action_error', 'a', 'vg', :'ta', :'big', jsonb_build_object('late', :'big'));
INSERT INTO noetl.event (execution_id, event_type, node_id, worker_id, lease_token)
VALUES (:e1, 'action_released', 'a', 'vg', :'ta');
SELECT is((SELECT count(*)::int FROM noetl.event
            WHERE execution_id = :e1 AND node_name = 'a' AND status = 'ignored'), 4,
          'duplicate and late reports are marked ignored');

-- the last task: the end result renders the large value once more
SELECT queue_id AS qb, lease_token AS tb FROM noetl.lease('vg', 1) \gset
SELECT noetl.complete(:qb, :'tb', jsonb_build_object('blob', :'big')) \g /dev/null
SELECT is((SELECT status::text FROM noetl.execution WHERE execution_id = :e1), 'completed',
          'the execution completes');
SELECT is((SELECT length(result ->> 'blob') FROM noetl.execution WHERE execution_id = :e1), 300000,
          'with its large end result');
SELECT noetl.complete(:qb, :'tb', jsonb_build_object('late', :'big')) \g /dev/null
SELECT is((SELECT status FROM noetl.event WHERE execution_id = :e1 ORDER BY event_id DESC LIMIT 1), 'ignored',
          'a report after the execution ended is ignored');

-- a cancelled execution, and reports about it afterwards
SELECT noetl.execute('valgrind/big', jsonb_build_object('blob', :'big')) AS e2 \gset
SELECT queue_id AS qc, lease_token AS tc FROM noetl.lease('vg', 1) \gset
SELECT noetl.cancel(:e2) \g /dev/null
SELECT is((SELECT status::text FROM noetl.execution WHERE execution_id = :e2), 'cancelled', 'cancel ends an execution');
SELECT noetl.complete(:qc, :'tc', jsonb_build_object('blob', :'big')) \g /dev/null
SELECT noetl.cancel(:e2) \g /dev/null
SELECT is((SELECT count(*)::int FROM noetl.event WHERE execution_id = :e2 AND status = 'ignored'), 2,
          'reports and a second cancel after it are ignored');

-- loops, with large elements: each statement below leases one task and
-- reports it (item each[1] fails at every attempt; the others complete
-- with their element and a large value)
SELECT repeat('y', 20000) AS pad \gset
SELECT E'metadata:\n  path: valgrind/loop\nworkflow:\n'
    || E'  - step: start\n    next: [each]\n'
    || E'  - step: each\n    tool: python\n    code: x\n    args:\n      k: "{{ it | map(attribute=\'k\') | list }}"\n'
    || E'      n: "{{ _loop.index }}"\n'
    || E'    loop:\n      collection: "{{ workload.items }}"\n      element: it\n      mode: parallel\n'
    || E'      max_in_flight: 3\n      where: "{{ it.k % 5 != 0 }}"\n      order_by: "{{ -it.k }}"\n'
    || E'      chunk: 2\n      enumerate: true\n      on_item_error: RULE\n'
    || E'    retry:\n      max_attempts: 2\n      initial_delay: 0\n    next: [end]\n'
    || E'  - step: end\n    result:\n      n: "{{ each | length }}"\n      first: "{{ each[0].got }}"\n' AS looptext \gset
SELECT noetl.register(replace(:'looptext', 'RULE', 'continue')) \g /dev/null
SELECT noetl.register(replace(replace(:'looptext', 'RULE', 'fail'), 'valgrind/loop', 'valgrind/loopfail')) \g /dev/null
CREATE FUNCTION pg_temp.vg_step(pad text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	t record;
BEGIN
	SELECT * INTO t FROM noetl.lease('vg', 1);
	IF t.queue_id IS NULL THEN
		RETURN 'none';
	ELSIF t.node_id = 'each[1]' THEN
		PERFORM noetl.fail(t.queue_id, t.lease_token, 'bad item ' || pad, jsonb_build_object('detail', pad));
		RETURN 'failed';
	END IF;
	PERFORM noetl.complete(t.queue_id, t.lease_token,
						   jsonb_build_object('got', t.action -> 'args' -> 'k', 'pad', pad));
	RETURN 'done';
END $$;
SELECT noetl.execute('valgrind/loop', jsonb_build_object('items',
           (SELECT jsonb_agg(jsonb_build_object('k', g, 'pad', :'pad')) FROM generate_series(0, 23) g))) AS e3 \gset
SELECT is((SELECT count(*)::int FROM noetl.queue WHERE execution_id = :e3 AND node_name = 'each'
              AND status = 'waiting'), 7, 'a loop of 10 chunks starts with 3 admitted, 7 waiting');
SELECT format('SELECT 1 FROM pg_temp.vg_step(%L) s WHERE s IS NULL', :'pad') FROM generate_series(1, 14) \gexec
SELECT is((SELECT status::text FROM noetl.execution WHERE execution_id = :e3), 'completed',
          'the loop completes, its item 1 dead after two attempts (continue)');
SELECT is((SELECT (result ->> 'n')::int FROM noetl.execution WHERE execution_id = :e3), 10,
          'its list has the 10 chunks');
SELECT is((SELECT result -> 'first' FROM noetl.execution WHERE execution_id = :e3), '[23, 22]'::jsonb,
          'in order: where, order_by and chunk');
SELECT is((SELECT jsonb_array_length(meta -> 'errors') FROM noetl.event
            WHERE execution_id = :e3 AND event_type = 'step_completed' AND node_id = 'each'), 1,
          'one error listed');

-- the same loop under fail: item 1's death fails it, the waiting items are cancelled
SELECT noetl.execute('valgrind/loopfail', jsonb_build_object('items',
           (SELECT jsonb_agg(jsonb_build_object('k', g, 'pad', :'pad')) FROM generate_series(0, 23) g))) AS e4 \gset
SELECT queue_id AS qe, lease_token AS te FROM noetl.lease('vg', 1) \gset
SELECT noetl.complete(:qe, :'te', jsonb_build_object('got', 0)) \g /dev/null
SELECT format('SELECT 1 FROM pg_temp.vg_step(%L) s WHERE s IS NULL', :'pad') FROM generate_series(1, 6) \gexec
SELECT is((SELECT status::text FROM noetl.execution WHERE execution_id = :e4), 'failed',
          'a dead item fails the loop under fail');
SELECT noetl.complete(:qe, :'te', jsonb_build_object('late', :'pad')) \g /dev/null

-- cancelled mid-loop, with reports on its items afterwards
SELECT noetl.execute('valgrind/loop', jsonb_build_object('items',
           (SELECT jsonb_agg(jsonb_build_object('k', g, 'pad', :'pad')) FROM generate_series(0, 23) g))) AS e5 \gset
SELECT format('SELECT 1 FROM pg_temp.vg_step(%L) s WHERE s IS NULL', :'pad') FROM generate_series(1, 2) \gexec
SELECT queue_id AS qd, lease_token AS td FROM noetl.lease('vg', 1) \gset
SELECT noetl.cancel(:e5) \g /dev/null
SELECT noetl.complete(:qd, :'td', jsonb_build_object('late', :'pad')) \g /dev/null
SELECT is((SELECT count(*)::int FROM noetl.queue WHERE execution_id = :e5
              AND status::text IN ('waiting', 'queued', 'leased', 'retry')), 0,
          'a cancel mid-loop leaves no item waiting, queued or leased');
SELECT is((SELECT status::text FROM noetl.step_state WHERE execution_id = :e5 AND step = 'each'), 'cancelled',
          'and cancels the loop step');

-- templates with large values outside the broker
SELECT is(length(noetl.render_text('{{ a }}{{ a | upper }}', jsonb_build_object('a', :'big'))), 600000,
          'render_text of large values');

SELECT * FROM finish();
DELETE FROM noetl.event WHERE execution_id IN (:e1, :e2, :e3, :e4, :e5);
DELETE FROM noetl.queue WHERE execution_id IN (:e1, :e2, :e3, :e4, :e5);
DELETE FROM noetl.step_state WHERE execution_id IN (:e1, :e2, :e3, :e4, :e5);
DELETE FROM noetl.execution WHERE execution_id IN (:e1, :e2, :e3, :e4, :e5);
