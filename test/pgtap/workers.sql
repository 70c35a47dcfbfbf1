-- Workers announce themselves: noetl.worker_announce, worker_refresh and
-- worker_leave keep noetl.worker; noetl.workers() lists it, live or not;
-- noetl.unserved_tools() and noetl.status() name the tools whose ready tasks
-- no live worker runs; the grants of the README's roles.  (noetl worker
-- doing this is tested by test/tap/workers.sh.)
BEGIN;
DELETE FROM noetl.queue;    -- only this file's tasks
DELETE FROM noetl.worker;   -- only this file's workers
SELECT plan(46);

-- announce
SELECT is(noetl.worker_announce('w1', '{python,http}', 'host-a', 101, 4, '1.2'),
          noetl.worker_live_seconds(), 'announce returns noetl.worker_live_seconds');
SELECT is(noetl.worker_live_seconds(), (SELECT setting::int FROM pg_settings WHERE name = 'noetl.worker_live_seconds'),
          'which is the setting, in seconds');
SELECT results_eq($$SELECT worker_id, tools, host, pid, jobs, version, live FROM noetl.workers()$$,
                  $$VALUES ('w1'::text, '{python,http}'::text[], 'host-a'::text, 101, 4, '1.2'::text, true)$$,
                  'the worker is listed, live, with its tools, host, pid, jobs and version');
SELECT ok((SELECT started_at = last_seen FROM noetl.worker WHERE worker_id = 'w1'), 'started and last seen now');

-- refresh
UPDATE noetl.worker SET started_at = now() - interval '1 hour', last_seen = now() - interval '30 seconds';
SELECT is(noetl.worker_refresh('w1'), true, 'refresh of a worker with a row: true');
SELECT ok((SELECT last_seen > now() - interval '1 second' FROM noetl.worker WHERE worker_id = 'w1'),
          '... and its last_seen is fresh');
SELECT is(noetl.worker_refresh('nobody'), false, 'refresh of a worker without a row: false (it announces again)');
SELECT is((SELECT count(*)::int FROM noetl.worker WHERE worker_id = 'nobody'), 0, '... and it makes no row');

-- announcing again: the same process keeps its start, another starts anew
SELECT noetl.worker_announce('w1', '{python}', 'host-a', 101, 2, '1.2') \g /dev/null
SELECT results_eq($$SELECT tools, jobs, started_at < now() - interval '59 minutes' FROM noetl.worker WHERE worker_id = 'w1'$$,
                  $$VALUES ('{python}'::text[], 2, true)$$,
                  'announcing again (after reconnecting) updates the tools, and keeps started_at');
SELECT noetl.worker_announce('w1', '{python}', 'host-a', 202, 2, '1.2') \g /dev/null
SELECT ok((SELECT started_at > now() - interval '1 second' FROM noetl.worker WHERE worker_id = 'w1'),
          'a new process under the same id starts anew');

-- leave
SELECT noetl.worker_announce('w2', '{postgres}') \g /dev/null
SELECT is(noetl.worker_leave('w2'), true, 'leave removes the row: true');
SELECT is(noetl.worker_leave('w2'), false, '... and false the second time');
SELECT is((SELECT array_agg(worker_id) FROM noetl.workers()), '{w1}', 'only w1 is left');

-- live and stale
SELECT noetl.worker_announce('w3', '{http}') \g /dev/null
UPDATE noetl.worker SET last_seen = now() - make_interval(secs => noetl.worker_live_seconds() + 1) WHERE worker_id = 'w3';
SELECT results_eq($$SELECT worker_id, live FROM noetl.workers()$$,
                  $$VALUES ('w1'::text, true), ('w3', false)$$,
                  'a worker not seen within noetl.worker_live_seconds is listed, not live');
SELECT noetl.worker_announce('w4', '{http}') \g /dev/null
UPDATE noetl.worker SET last_seen = now() - make_interval(secs => 10 * noetl.worker_live_seconds() + 1) WHERE worker_id = 'w4';
SELECT noetl.worker_announce('w5', '{http}') \g /dev/null
SELECT is((SELECT array_agg(worker_id ORDER BY worker_id) FROM noetl.worker), '{w1,w3,w5}',
          'an announcement deletes the rows not seen for ten times noetl.worker_live_seconds');
SELECT noetl.worker_leave('w5') \g /dev/null

-- hostile announcements
SELECT throws_ok($$SELECT noetl.worker_announce(NULL, '{python}')$$, '22023', NULL, 'no worker id');
SELECT throws_ok($$SELECT noetl.worker_announce('', '{python}')$$, '22023', NULL, 'an empty worker id');
SELECT throws_ok($$SELECT noetl.worker_announce(repeat('x', 257), '{python}')$$, '22023', NULL, 'a worker id of 257 characters');
SELECT throws_ok($$SELECT noetl.worker_announce('x', NULL)$$, '22023', NULL, 'no tools');
SELECT throws_ok($$SELECT noetl.worker_announce('x', '{}')$$, '22023', NULL, 'an empty list of tools');
SELECT throws_ok($$SELECT noetl.worker_announce('x', '{python,NULL}')$$, '22023', NULL, 'a NULL tool');
SELECT throws_ok($$SELECT noetl.worker_announce('x', '{{a,b},{c,d}}')$$, '22023', NULL, 'tools in two dimensions');
SELECT throws_ok($$SELECT noetl.worker_announce('x', array_fill('t'::text, '{65}'))$$, '22023', NULL, '65 tools');
SELECT throws_ok($$SELECT noetl.worker_announce('x', ARRAY[repeat('t', 64)])$$, '22023', NULL, 'a tool name of 64 characters');
SELECT throws_ok($$SELECT noetl.worker_announce('x', ARRAY['python,http'])$$, '22023', NULL,
                 'a tool name with a comma (leases filter on comma-separated names)');
SELECT throws_ok($$SELECT noetl.worker_announce('x', ARRAY[E'py\nthon'])$$, '22023', NULL, 'a tool name with a line break');
SELECT lives_ok($$SELECT noetl.worker_announce('x', ARRAY['snowflake_transfer', 'my-tool.v2'])$$,
                'tool names of letters, digits, "_", "." and "-"');
DELETE FROM noetl.worker WHERE worker_id = 'x';
SELECT throws_ok($$SELECT noetl.worker_announce('x', '{python}', repeat('h', 257))$$, '22023', NULL, 'a host of 257 characters');
SELECT throws_ok($$SELECT noetl.worker_announce('x', '{python}', NULL, 0)$$, '22023', NULL, 'pid 0');
SELECT throws_ok($$SELECT noetl.worker_announce('x', '{python}', NULL, NULL, -1)$$, '22023', NULL, 'jobs -1');
SELECT is((SELECT count(*)::int FROM noetl.worker WHERE worker_id = 'x'), 0, 'none of them made a row');

-- tools whose ready tasks no live worker runs: w1 runs python (live), w3 http (stale)
INSERT INTO noetl.queue (queue_id, execution_id, catalog_id, node_id, node_name, tool, action, status, available_at)
VALUES (1, 10, 1, 'a', 'a', 'python', '{}', 'queued', now() - interval '1 minute'),
       (2, 10, 1, 'b', 'b', 'http', '{}', 'queued', now() - interval '1 minute'),
       (3, 10, 1, 'c', 'c', 'http', '{}', 'retry', now() - interval '5 seconds'),
       (4, 10, 1, 'd', 'd', 'http', '{}', 'retry', now() + interval '1 hour'),
       (5, 11, 1, 'e', 'e', 'duckdb', '{}', 'queued', now() - interval '2 minutes'),
       (6, 11, 1, 'f', 'f', 'postgres', '{}', 'leased', now() - interval '2 minutes'),
       (7, 11, 1, 'g', 'g', 'postgres', '{}', 'done', now() - interval '2 minutes');
SELECT results_eq($$SELECT tool, tasks, steps, waited_seconds >= 60 FROM noetl.unserved_tools()$$,
                  $$VALUES ('duckdb'::text, 1::bigint, '{e}'::text[], true), ('http', 2, '{b,c}', true)$$,
                  'unserved_tools: the ready tasks of tools no live worker runs (a stale one does not count; leased, done and not yet due tasks do not either)');
SELECT results_eq($$SELECT tool, tasks FROM noetl.unserved_tools(10, 30)$$,
                  $$VALUES ('http'::text, 1::bigint)$$,
                  '... of one execution, ready for at least 30 s');
SELECT is((SELECT count(*)::int FROM noetl.unserved_tools(10, 3600)), 0, '... none ready for an hour');
SELECT is((SELECT count(*)::int FROM noetl.unserved_tools(NULL, 'Infinity')), 0, '... none waiting forever');
SELECT is((SELECT count(*)::int FROM noetl.unserved_tools(NULL, 'NaN')), 0, '... a NaN wait is a century');
SELECT cmp_ok((SELECT count(*)::int FROM noetl.unserved_tools(NULL, -5)), '>', 0, '... a negative wait is none');
SELECT is(noetl.status() -> 'unserved_tools' -> 0 ->> 'tool', 'duckdb', 'status() lists the unserved tools');
SELECT is((SELECT array_agg(u ->> 'tool') FROM jsonb_array_elements(noetl.status() -> 'unserved_tools') u),
          '{duckdb,http}', '... each of them, with the oldest wait');
SELECT noetl.worker_refresh('w3') \g /dev/null
SELECT is((SELECT array_agg(tool) FROM noetl.unserved_tools()), '{duckdb}', 'a stale worker refreshed is live again');

-- the grants, as the README gives them
CREATE ROLE regress_workers_client;
GRANT EXECUTE ON FUNCTION noetl.workers(), noetl.unserved_tools(bigint, double precision) TO regress_workers_client;
CREATE ROLE regress_workers_worker;
GRANT EXECUTE ON FUNCTION noetl.worker_announce(text, text[], text, integer, integer, text),
      noetl.worker_refresh(text), noetl.worker_leave(text), noetl.workers() TO regress_workers_worker;
SET LOCAL ROLE regress_workers_worker;
SELECT lives_ok($$SELECT noetl.worker_announce('rw', '{http}')$$, 'the worker role announces');
SELECT ok(noetl.worker_refresh('rw') AND noetl.worker_leave('rw'), '... refreshes and leaves');
SELECT throws_ok($$SELECT * FROM noetl.worker$$, '42501', NULL, '... and does not read the table');
RESET ROLE;
SET LOCAL ROLE regress_workers_client;
SELECT is((SELECT count(*)::int FROM noetl.workers()), 2, 'the client role lists the workers');
SELECT throws_ok($$SELECT noetl.worker_announce('rc', '{http}')$$, '42501', NULL, '... and cannot announce one');
RESET ROLE;
SELECT ok(NOT has_function_privilege('public', 'noetl.worker_announce(text, text[], text, integer, integer, text)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'noetl.worker_refresh(text)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'noetl.worker_leave(text)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'noetl.workers()', 'EXECUTE')
          AND NOT has_function_privilege('public', 'noetl.unserved_tools(bigint, double precision)', 'EXECUTE'),
          'none of them is for PUBLIC');

SELECT * FROM finish();
ROLLBACK;
