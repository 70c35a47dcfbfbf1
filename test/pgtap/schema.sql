-- Schema of the noetl extension: tables, keys, access-path indexes, functions
-- and their security settings.
BEGIN;
SELECT plan(43);

SELECT tables_are('noetl', ARRAY['catalog', 'execution', 'step_state', 'event', 'queue', 'worker', 'credential'],
                  'noetl has exactly the broker''s tables and its credentials');

SELECT col_is_pk('noetl', 'catalog', 'catalog_id', 'catalog is keyed by catalog_id');
SELECT col_is_unique('noetl', 'catalog', ARRAY['path', 'version'], 'one row per playbook version');
SELECT col_is_pk('noetl', 'execution', 'execution_id', 'execution is keyed by execution_id');
SELECT hasnt_fk('noetl', 'execution', 'execution has no foreign key to the catalog (since 1.2: noetl.catalog_kept guards it)');
SELECT trigger_is('noetl', 'catalog', 'catalog_kept', 'noetl', 'catalog_kept',
                  'catalog rows executions refer to are kept by noetl.catalog_kept()');
SELECT col_is_pk('noetl', 'step_state', ARRAY['execution_id', 'step'], 'step state is keyed by (execution_id, step)');
SELECT col_is_pk('noetl', 'event', ARRAY['execution_id', 'event_id'], 'events are keyed by (execution_id, event_id)');
SELECT col_is_pk('noetl', 'queue', 'queue_id', 'queue rows are keyed by queue_id');
SELECT col_is_unique('noetl', 'queue', ARRAY['execution_id', 'node_id'], 'one queue row per (execution, node)');

SELECT has_index('noetl', 'queue', 'queue_ready_idx', ARRAY['priority', 'queue_id', 'available_at', 'tool'],
                 'ready tasks are found by priority then age (availability and tool carried along)');
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index
            WHERE indexrelid = 'noetl.queue_ready_idx'::regclass),
          '((status)::text = ANY (ARRAY[''queued''::text, ''retry''::text]))',
          'the ready index holds only queued and retry tasks');
SELECT has_index('noetl', 'queue', 'queue_lease_idx', ARRAY['lease_until'], 'leases are expired through an index');
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index
            WHERE indexrelid = 'noetl.queue_lease_idx'::regclass),
          '((status)::text = ''leased''::text)', 'the lease index holds only leased tasks');

SELECT col_type_is('noetl', 'event', 'context', 'jsonb', 'event context is jsonb');
SELECT col_type_is('noetl', 'event', 'result', 'jsonb', 'event result is jsonb');
SELECT col_type_is('noetl', 'queue', 'action', 'jsonb', 'queue action is jsonb');
SELECT col_type_is('noetl', 'catalog', 'payload', 'jsonb', 'catalog payload is jsonb');
SELECT col_type_is('noetl', 'catalog', 'content', 'text', 'catalog content is text');
SELECT col_not_null('noetl', 'event', 'event_type', 'every event has a type');

SELECT throws_ok($$INSERT INTO noetl.queue (queue_id, execution_id, catalog_id, node_id, node_name, tool, action, status)
                   VALUES (1, 1, 1, 'a', 'a', 'python', '{}', 'running')$$,
                 '23514', NULL, 'queue status is one of the documented states');
SELECT throws_ok($$INSERT INTO noetl.execution (execution_id, catalog_id, status) VALUES (1, 1, 'done')$$,
                 '23514', NULL, 'execution status is one of the documented states');

SELECT has_function('noetl', 'snowflake_id', ARRAY[]::text[]);
SELECT has_function('noetl', 'yaml_to_jsonb', ARRAY['text']);
SELECT has_function('noetl', 'parse_playbook', ARRAY['text']);
SELECT has_function('noetl', 'register', ARRAY['text']);
SELECT has_function('noetl', 'playbook', ARRAY['text', 'integer']);
SELECT is_definer('noetl', 'register', ARRAY['text'], 'register runs as the extension owner');
SELECT is_definer('noetl', 'playbook', ARRAY['text', 'integer'], 'playbook runs as the extension owner');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'noetl' AND p.prosecdef
              AND NOT ('search_path=pg_catalog, pg_temp' = ANY (coalesce(p.proconfig, '{}')))),
          0, 'every SECURITY DEFINER function pins search_path');
SELECT volatility_is('noetl', 'yaml_to_jsonb', ARRAY['text'], 'immutable');
SELECT volatility_is('noetl', 'snowflake_id', ARRAY[]::text[], 'volatile');

SELECT ok(NOT has_function_privilege('public', 'noetl.register(text)', 'EXECUTE'),
          'PUBLIC cannot register playbooks');
SELECT ok(has_function_privilege('public', 'noetl.yaml_to_jsonb(text)', 'EXECUTE'),
          'PUBLIC can parse YAML');

SELECT set_eq($$SELECT c.relname::text FROM pg_extension e,
                       unnest(e.extconfig) AS cfg(oid) JOIN pg_class c ON c.oid = cfg.oid
                 WHERE e.extname = 'noetl'$$,
              ARRAY['catalog', 'execution', 'step_state', 'event', 'queue', 'snowflake_seq', 'credential'],
              'pg_dump dumps the rows of every noetl table');

SELECT is((SELECT extrelocatable FROM pg_extension WHERE extname = 'noetl'), false, 'noetl is not relocatable');
SELECT is((SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
            WHERE e.extname = 'noetl'), 'noetl', 'noetl lives in schema noetl');
-- the settings exist once the library is loaded (preloaded, or at its first use)
LOAD 'noetl';
SELECT ok(current_setting('noetl.shard_id') IS NOT NULL, 'noetl.shard_id is defined');

SELECT ok((SELECT reloptions FROM pg_class WHERE oid = 'noetl.queue'::regclass)
          @> ARRAY['autovacuum_vacuum_scale_factor=0.01'], 'the queue is vacuumed early');
SELECT col_type_is('noetl', 'queue', 'status', 'noetl.task_status', 'a task''s status is a task_status');
SELECT throws_ok($$SELECT 'finished'::noetl.task_status$$, '23514', NULL,
                 'a task status outside the state machine is refused');
SELECT col_type_is('noetl', 'execution', 'status', 'noetl.execution_status', 'an execution''s status is an execution_status');
SELECT throws_ok($$SELECT 'paused'::noetl.execution_status$$, '23514', NULL,
                 'an execution status outside the state machine is refused');

SELECT * FROM finish();
ROLLBACK;
