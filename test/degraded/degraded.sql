-- Without shared_preload_libraries: the SQL API works, with no broker
-- worker and no shared memory, and noetl.status() says what is missing.
-- Run by .ci/run on a cluster that preloads nothing.
BEGIN;
DELETE FROM noetl.queue;
SELECT plan(20);

SELECT is((noetl.status() ->> 'preloaded')::boolean, false, 'noetl.status() says the library is not preloaded');
SELECT ok(noetl.status() ->> 'note' LIKE 'noetl is not in shared_preload_libraries%', '... and what that means');
SELECT is(noetl.status() -> 'broker', 'null'::jsonb, 'there is no broker worker');
SELECT ok(noetl.snowflake_id() < noetl.snowflake_id(), 'ids still increase (their low bits from noetl.snowflake_seq)');

SELECT noetl.register(E'metadata: {path: tests/degraded/one}\nworkflow:\n  - step: start\n    tool: python\n    code: x\n    next: [second]\n  - step: second\n    tool: python\n    code: x\n') \g /dev/null
SELECT noetl.execute('tests/degraded/one') AS e \gset
CREATE TEMP TABLE l AS SELECT * FROM noetl.lease('degraded', 1);
SELECT is((SELECT node_id FROM l), 'start', 'a worker leases the first task');
SELECT lives_ok($$SELECT noetl.complete(queue_id, lease_token, '{}') FROM l$$, 'and reports it');
SELECT noetl.complete(queue_id, lease_token, '{}') FROM noetl.lease('degraded', 1) \g /dev/null
SELECT is((SELECT status::text FROM noetl.execution WHERE execution_id = :e), 'completed',
          'the execution completes without the broker worker');
SELECT is((SELECT count(*)::int FROM noetl.event WHERE execution_id = :e AND event_type = 'execution_complete'), 1,
          'with one execution_complete');

-- a parallel loop (window 2) with a failing item under continue: every
-- item is admitted by the report that ends another, in that report's
-- transaction, with no broker worker to wake or sweep
SELECT noetl.register(E'metadata: {path: tests/degraded/loop}\nworkflow:\n  - step: start\n    next: [each]\n  - step: each\n    tool: python\n    code: x\n    loop: {collection: [1, 2, 3, 4, 5], element: n, mode: parallel, max_in_flight: 2, on_item_error: continue}\n    next: [after]\n  - step: after\n    tool: python\n    code: x\n    args: {got: "{{ each }}"}\n') \g /dev/null
SELECT noetl.execute('tests/degraded/loop') AS l \gset
SELECT is((SELECT array_agg(node_id ORDER BY node_id) FROM noetl.queue WHERE execution_id = :l AND status = 'queued'),
          ARRAY['each[0]', 'each[1]'], 'a loop starts with its window of two items queued');
SELECT is((SELECT count(*)::int FROM noetl.queue WHERE execution_id = :l AND status = 'waiting'), 3,
          '... and the other three waiting');
CREATE TEMP TABLE seen (n int);
-- each item leased alone, completed with {"n": n}, but item 2 fails
DO $$
DECLARE
	t record;
	k int := 0;
BEGIN
	LOOP
		SELECT * INTO t FROM noetl.lease('degraded', 1);
		EXIT WHEN t.queue_id IS NULL OR k > 20;
		k := k + 1;
		INSERT INTO pg_temp.seen SELECT count(*) FROM noetl.queue
		 WHERE execution_id = t.execution_id AND node_name = 'each' AND node_id <> node_name
		   AND status IN ('queued', 'leased', 'retry');
		IF t.node_id = 'each[2]' THEN
			PERFORM noetl.fail(t.queue_id, t.lease_token, 'item 2 is bad');
		ELSIF t.node_id = 'after' THEN
			PERFORM noetl.complete(t.queue_id, t.lease_token, t.action -> 'args');
		ELSE
			PERFORM noetl.complete(t.queue_id, t.lease_token,
								   jsonb_build_object('n', t.action -> 'loop' -> 'item'));
		END IF;
	END LOOP;
END $$;
SELECT is((SELECT max(n) FROM seen WHERE n > 0), 2, 'never more than two items in flight');
SELECT is((SELECT status::text FROM noetl.execution WHERE execution_id = :l), 'completed',
          'the loop and the execution complete without the broker worker');
SELECT is((SELECT result FROM noetl.step_state WHERE execution_id = :l AND step = 'each'),
          '[{"n": 1}, {"n": 2}, null, {"n": 4}, {"n": 5}]'::jsonb,
          'the list in input order, the failed item null');
SELECT is((SELECT result -> 'got' FROM noetl.queue WHERE execution_id = :l AND node_id = 'after'),
          '[{"n": 1}, {"n": 2}, null, {"n": 4}, {"n": 5}]'::jsonb, 'the next step got the list');
SELECT is((SELECT array_agg(event_type || ' ' || node_id ORDER BY event_id) FROM noetl.event
            WHERE execution_id = :l AND event_type IN ('loop_iteration', 'iteration_failed')),
          ARRAY['loop_iteration each[0]', 'loop_iteration each[1]', 'loop_iteration each[2]',
                'loop_iteration each[3]', 'iteration_failed each[2]', 'loop_iteration each[4]'],
          'each item admitted once, in order, and item 2''s failure written');

-- a loop of sub-playbooks: each child starts in the report that admits its
-- iteration and its end completes the parent's row, all in the reporting
-- transaction; a cancelled parent cancels its children in its own
SELECT noetl.register(E'metadata: {path: tests/degraded/child}\nworkload: {x: 0}\nworkflow:\n  - step: start\n    next: [work]\n  - step: work\n    tool: python\n    code: x\n    args: {x: "{{ workload.x }}"}\n') \g /dev/null
SELECT noetl.register(E'metadata: {path: tests/degraded/parent}\nworkflow:\n  - step: start\n    next: [each]\n  - step: each\n    tool: playbook\n    path: tests/degraded/child\n    return_step: work\n    args: {x: "{{ n }}"}\n    loop: {collection: [1, 2, 3], element: n, mode: parallel, max_in_flight: 2}\n') \g /dev/null
SELECT noetl.execute('tests/degraded/parent') AS p \gset
SELECT is((SELECT count(*)::int FROM noetl.execution WHERE parent_execution_id = :p AND status = 'running'), 2,
          'a loop of children starts its window of two children');
SELECT noetl.complete(queue_id, lease_token, action -> 'args') FROM noetl.lease('degraded', 10) \g /dev/null
SELECT noetl.complete(queue_id, lease_token, action -> 'args') FROM noetl.lease('degraded', 10) \g /dev/null
SELECT is((SELECT status::text FROM noetl.execution WHERE execution_id = :p), 'completed',
          'the parent completes when its last child does, without the broker worker');
SELECT is((SELECT result FROM noetl.step_state WHERE execution_id = :p AND step = 'each'),
          '[{"x": 1}, {"x": 2}, {"x": 3}]'::jsonb, 'with the children''s return_step results, in order');
SELECT noetl.execute('tests/degraded/parent') AS p2 \gset
SELECT noetl.cancel(:p2) \g /dev/null
SELECT is((SELECT array_agg(DISTINCT status::text) FROM noetl.execution WHERE parent_execution_id = :p2),
          ARRAY['cancelled'], 'a cancelled parent cancels its running children at once');
SELECT is((SELECT count(*)::int FROM noetl.queue q JOIN noetl.execution x USING (execution_id)
            WHERE (x.execution_id = :p2 OR x.parent_execution_id = :p2)
              AND q.status::text IN ('waiting', 'queued', 'leased', 'retry')), 0,
          '... and no task of theirs or its own is left to run');

SELECT * FROM finish();
ROLLBACK;
