-- The queue protocol: lease (SKIP LOCKED, priority then age, due tasks only,
-- attempts + 1, through the ready index), heartbeat, tool filters.
BEGIN;
-- leases must see only this file's tasks: any others are out of the way until ROLLBACK
DELETE FROM noetl.queue;
SELECT plan(16);

-- a queue with history: many finished tasks, a few ready ones
INSERT INTO noetl.queue (queue_id, execution_id, catalog_id, node_id, node_name, tool, action, status)
SELECT g, 1, 1, 'done' || g, 'done' || g, 'python', '{}', 'done' FROM generate_series(1, 20000) g;
INSERT INTO noetl.queue (queue_id, execution_id, catalog_id, node_id, node_name, tool, action, status, priority, available_at)
VALUES (30001, 2, 1, 'low_old', 'low_old', 'python', '{}', 'queued', 0, now() - interval '1 hour'),
       (30002, 2, 1, 'high_new', 'high_new', 'http', '{}', 'queued', 5, now()),
       (30003, 2, 1, 'low_new', 'low_new', 'python', '{}', 'queued', 0, now()),
       (30004, 2, 1, 'later', 'later', 'python', '{}', 'retry', 9, now() + interval '1 hour'),
       (30005, 2, 1, 'pg', 'pg', 'postgres', '{}', 'queued', 1, now());
ANALYZE noetl.queue;

CREATE FUNCTION pg_temp.lease_plan(tools text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    q text;
BEGIN
    SELECT prosrc INTO q FROM pg_proc WHERE oid = 'noetl.lease(text,integer,integer,text[])'::regprocedure;
    q := replace(q, 'lease.worker_id', quote_literal('w'));
    q := replace(q, 'lease.max_tasks', '1');
    q := replace(q, 'lease.lease_seconds', '60');
    q := replace(q, 'lease.tools', tools);
    RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || q;
END
$$;

SELECT ok(NOT EXISTS (SELECT 1 FROM pg_temp.lease_plan('NULL::text[]') p WHERE p ~ 'Seq Scan on queue'),
          'lease does not scan noetl.queue sequentially');
SELECT ok(EXISTS (SELECT 1 FROM pg_temp.lease_plan('NULL::text[]') p WHERE p ~ 'Index Scan using queue_ready_idx'),
          'lease reads the ready index');
SELECT ok(EXISTS (SELECT 1 FROM pg_temp.lease_plan('ARRAY[''python'']') p WHERE p ~ 'Index Scan using queue_ready_idx'),
          'lease with a tool filter reads the ready index too');

SELECT results_eq($$SELECT node_id, status::text, worker_id, attempts FROM noetl.lease('w1', 1)$$,
                  $$VALUES ('high_new'::text, 'leased'::text, 'w1'::text, 1)$$,
                  'the highest priority first, leased to the worker, attempts + 1');
SELECT results_eq($$SELECT node_id FROM noetl.lease('w1', 1)$$, $$VALUES ('pg'::text)$$, 'then the next priority');
SELECT results_eq($$SELECT node_id FROM noetl.lease('w1', 5)$$, $$VALUES ('low_old'::text), ('low_new'::text)$$,
                  'then the oldest of equal priority; a task not yet due is not leased');
SELECT ok((SELECT lease_until BETWEEN now() + interval '55 s' AND clock_timestamp() + interval '65 s'
             FROM noetl.queue WHERE queue_id = 30001), 'the lease lasts lease_seconds');
SELECT is((SELECT count(*)::int FROM noetl.lease('w2', 10)), 0, 'nothing is left to lease');

UPDATE noetl.queue SET status = 'queued', worker_id = NULL WHERE queue_id IN (30002, 30005);
SELECT results_eq($$SELECT node_id FROM noetl.lease('w3', 10, 60, ARRAY['postgres'])$$, $$VALUES ('pg'::text)$$,
                  'a worker is leased only tasks of the tools it runs');
SELECT results_eq($$SELECT node_id, attempts FROM noetl.lease('w3', 10, 60, ARRAY['http', 'python'])$$,
                  $$VALUES ('high_new'::text, 2)$$, 'a task leased again counts another attempt');

SELECT ok(noetl.heartbeat(30002, 'w3', 300) > now() + interval '290 s', 'the holder extends its lease');
SELECT throws_ok($$SELECT noetl.heartbeat(30002, 'w1')$$, '55000', 'task 30002 is not leased by worker "w1"',
                 'another worker cannot');
SELECT throws_ok($$SELECT noetl.heartbeat(99999, 'w3')$$, '55000', NULL, 'nor can anyone for an unknown task');

SELECT ok(NOT has_function_privilege('public', 'noetl.lease(text,integer,integer,text[])', 'EXECUTE'),
          'PUBLIC cannot lease');
SELECT ok(NOT has_function_privilege('public', 'noetl.complete(bigint,text,jsonb)', 'EXECUTE'),
          'PUBLIC cannot complete');
SELECT ok(NOT has_table_privilege('public', 'noetl.queue', 'UPDATE'), 'PUBLIC cannot touch the queue directly');

SELECT * FROM finish();
ROLLBACK;
