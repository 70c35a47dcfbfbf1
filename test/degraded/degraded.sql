-- Without shared_preload_libraries: the SQL API works, with no broker
-- worker and no shared memory, and noetl.status() says what is missing.
-- Run by .ci/run on a cluster that preloads nothing.
BEGIN;
DELETE FROM noetl.queue;
SELECT plan(8);

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

SELECT * FROM finish();
ROLLBACK;
