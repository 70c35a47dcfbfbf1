-- The queue protocol: lease (SKIP LOCKED, priority then age, due tasks only,
-- attempts + 1, through the ready index), lease tokens, heartbeat, tool
-- filters, strict arguments.
BEGIN;
-- leases must see only this file's tasks: any others are out of the way until ROLLBACK
DELETE FROM noetl.queue;
SELECT plan(30);

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

-- what one lease reads, from this transaction's own statistics
CREATE FUNCTION pg_temp.scans(rel regclass) RETURNS bigint LANGUAGE sql AS
$$ SELECT pg_stat_get_xact_numscans(rel) $$;
SELECT pg_temp.scans('noetl.queue') AS q0, pg_temp.scans('noetl.queue_ready_idx') AS r0 \gset
SELECT count(*) FROM noetl.lease('probe', 1, 60, ARRAY['no-such-tool']) \g /dev/null
SELECT pg_temp.scans('noetl.queue') AS q1, pg_temp.scans('noetl.queue_ready_idx') AS r1 \gset
SELECT is((:q1 - :q0)::bigint, 0::bigint, 'lease does not scan noetl.queue (sequentially or otherwise) for ready tasks');
SELECT is((:r1 - :r0)::bigint, 1::bigint, 'lease reads the ready index, once');
SELECT is((SELECT count(*)::int FROM noetl.queue WHERE status = 'leased'), 0, 'a lease of a tool with no task leases nothing');

CREATE TEMP TABLE leased AS SELECT * FROM noetl.lease('w1', 1);
SELECT results_eq($$SELECT l.node_id, q.status::text, q.worker_id, l.attempts
                      FROM leased l JOIN noetl.queue q USING (queue_id)$$,
                  $$VALUES ('high_new'::text, 'leased'::text, 'w1'::text, 1)$$,
                  'the highest priority first, leased to the worker, attempts + 1');
SELECT ok((SELECT lease_token ~ '^[0-9a-f-]{36}$' FROM leased), 'the lease comes with a token');
SELECT is((SELECT q.lease_token FROM noetl.queue q JOIN leased l USING (queue_id)),
          (SELECT sha256(convert_to(lease_token, 'UTF8')) FROM leased),
          'the queue keeps only the SHA-256 of the token');
SELECT results_eq($$SELECT node_id FROM noetl.lease('w1', 1)$$, $$VALUES ('pg'::text)$$, 'then the next priority');
SELECT results_eq($$SELECT node_id FROM noetl.lease('w1', 5)$$, $$VALUES ('low_old'::text), ('low_new'::text)$$,
                  'then the oldest of equal priority; a task not yet due is not leased');
SELECT ok((SELECT lease_until BETWEEN now() + interval '55 s' AND clock_timestamp() + interval '65 s'
             FROM noetl.queue WHERE queue_id = 30001), 'the lease lasts lease_seconds');
SELECT is((SELECT count(*)::int FROM noetl.lease('w2', 10)), 0, 'nothing is left to lease');

UPDATE noetl.queue SET status = 'queued', worker_id = NULL WHERE queue_id IN (30002, 30005);
SELECT results_eq($$SELECT node_id FROM noetl.lease('w3', 10, 60, ARRAY['postgres'])$$, $$VALUES ('pg'::text)$$,
                  'a worker is leased only tasks of the tools it runs');
CREATE TEMP TABLE again AS SELECT * FROM noetl.lease('w3', 10, 60, ARRAY['http', 'python']);
SELECT results_eq($$SELECT node_id, attempts FROM again$$,
                  $$VALUES ('high_new'::text, 2)$$, 'a task leased again counts another attempt');
SELECT isnt((SELECT lease_token FROM again), (SELECT lease_token FROM leased),
            '... and comes with a new token');

SELECT ok(noetl.heartbeat(30002, (SELECT lease_token FROM again), 300) > now() + interval '290 s',
          'the holder extends its lease');
SELECT throws_ok($$SELECT noetl.heartbeat(30002, (SELECT lease_token FROM leased))$$, '55000',
                 'task 30002 is not leased with this token',
                 'the token of an earlier lease does not, and the error names nobody');
SELECT throws_ok($$SELECT noetl.heartbeat(30002, NULL)$$, '55000', NULL, 'nor does no token');
SELECT throws_ok($$SELECT noetl.heartbeat(99999, 'x')$$, '55000', NULL, 'nor can anyone for an unknown task');
SELECT throws_ok($$SELECT noetl.heartbeat(30002, (SELECT lease_token FROM again), 0)$$, '22023', NULL,
                 'a heartbeat extends by at least a second');

-- strict arguments
SELECT throws_ok($$SELECT * FROM noetl.lease(NULL, 100, 1)$$, '22023', 'a worker_id is required to lease tasks',
                 'a lease needs a worker id');
SELECT throws_ok($$SELECT * FROM noetl.lease('', 1)$$, '22023', 'a worker_id is required to lease tasks',
                 'an empty worker id is no id');
SELECT throws_ok($$SELECT * FROM noetl.lease('w', 0)$$, '22023', 'max_tasks must be between 1 and 1000, not 0',
                 'max_tasks is at least 1');
SELECT throws_ok($$SELECT * FROM noetl.lease('w', 1001)$$, '22023', NULL, 'max_tasks is at most 1000');
SELECT throws_ok($$SELECT * FROM noetl.lease('w', 1, 0)$$, '22023', NULL, 'lease_seconds is at least 1');
SELECT throws_ok($$SELECT noetl.report(30002, 'x', 'execution_complete')$$, '22023', NULL,
                 'noetl.report takes only reports of tasks');

-- a lease costs the same at 100 ready tasks as at 100,000: index entries
-- read (visible or not) and shared buffers touched by one lease, after a
-- lease that takes nothing has brought the caches up to date
CREATE FUNCTION pg_temp.lease_cost(OUT entries bigint, OUT buffers int) LANGUAGE plpgsql AS $$
DECLARE
    before bigint;
    plan jsonb;
BEGIN
    PERFORM count(*) FROM noetl.lease('cost', 1, 60, ARRAY['no-such-tool']);
    before := pg_stat_get_xact_tuples_returned('noetl.queue_ready_idx'::regclass);
    EXECUTE $q$EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT * FROM noetl.lease('cost', 1, 60, ARRAY['backlog'])$q$ INTO plan;
    entries := pg_stat_get_xact_tuples_returned('noetl.queue_ready_idx'::regclass) - before;
    buffers := (plan -> 0 -> 'Plan' ->> 'Shared Hit Blocks')::int + (plan -> 0 -> 'Plan' ->> 'Shared Read Blocks')::int;
END $$;
INSERT INTO noetl.queue (queue_id, execution_id, catalog_id, node_id, node_name, tool, action)
SELECT 100000 + g, 3, 1, 'b' || g, 'b' || g, 'backlog', '{}' FROM generate_series(1, 100) g;
SELECT * FROM pg_temp.lease_cost() \gset small_
INSERT INTO noetl.queue (queue_id, execution_id, catalog_id, node_id, node_name, tool, action)
SELECT 100000 + g, 3, 1, 'b' || g, 'b' || g, 'backlog', '{}' FROM generate_series(101, 100000) g;
ANALYZE noetl.queue;
SELECT * FROM pg_temp.lease_cost() \gset large_
SELECT ok(:large_entries <= :small_entries + 1,
          format('one lease reads %s index entries at 100 ready tasks, %s at 100,000', :small_entries, :large_entries));
-- (a few more at 100,000: the task's new version goes into deeper indexes
-- and a fuller heap; reading the backlog would be thousands)
SELECT ok(:large_buffers <= :small_buffers + 10,
          format('one lease touches %s buffers at 100 ready tasks, %s at 100,000', :small_buffers, :large_buffers));
SELECT is((SELECT count(*)::int FROM noetl.queue WHERE tool = 'backlog' AND status = 'leased'), 2,
          'each of the two leased one task');

SELECT ok(NOT has_function_privilege('public', 'noetl.lease(text,integer,integer,text[])', 'EXECUTE'),
          'PUBLIC cannot lease');
SELECT ok(NOT has_function_privilege('public', 'noetl.complete(bigint,text,jsonb,double precision)', 'EXECUTE'),
          'PUBLIC cannot complete');
SELECT ok(NOT has_table_privilege('public', 'noetl.queue', 'UPDATE'), 'PUBLIC cannot touch the queue directly');

SELECT * FROM finish();
ROLLBACK;
