-- The broker worker as the server shows it: noetl.status(), pg_stat_activity,
-- the settings.  (What it does is tested by test/tap/notify.sh and
-- test/tap/lease_expiry.sh, outside a transaction.)
BEGIN;
SELECT plan(14);

SELECT is((noetl.status() ->> 'preloaded')::boolean, true, 'status: the library is preloaded');
SELECT is((noetl.status() -> 'broker' ->> 'pid')::int,
          (SELECT pid FROM pg_stat_activity WHERE backend_type = 'noetl broker'),
          'status: the broker worker''s pid is the one pg_stat_activity shows');
SELECT is(noetl.status() -> 'broker' ->> 'database', current_database()::text,
          'status: the broker worker serves this database');
SELECT ok((noetl.status() -> 'broker' ->> 'started_at')::timestamptz <= now(), 'status: when it started');
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(noetl.status() -> 'queue') k),
          ARRAY['leased', 'queued', 'ready', 'retry'], 'status: outstanding tasks by status, and how many are ready');
SELECT ok(noetl.status() ? 'oldest_ready_seconds' AND noetl.status() ? 'running_executions',
          'status: the age of the oldest ready task and the running executions');
SELECT ok(NOT noetl.status() ? 'note', 'status: no warning when all is well');
SELECT ok(NOT has_function_privilege('public', 'noetl.status()', 'EXECUTE'),
          'status is not for PUBLIC unless granted');

SELECT is((SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'noetl broker'), 1,
          'one broker worker, with its own backend_type');
SELECT is((SELECT datname::text FROM pg_stat_activity WHERE backend_type = 'noetl broker'),
          current_setting('noetl.database'), 'connected to noetl.database');

SELECT set_eq($$SELECT name || ' ' || context || ' ' || coalesce(unit, '') FROM pg_settings WHERE name LIKE 'noetl.%'$$,
              ARRAY['noetl.database postmaster ', 'noetl.notify_channel sighup ', 'noetl.cancel_channel sighup ',
                    'noetl.tick sighup ms', 'noetl.lease_check_interval sighup ms', 'noetl.notify_interval sighup ms',
                    'noetl.shard_id sighup ', 'noetl.template_max_steps superuser ',
                    'noetl.template_max_memory superuser kB', 'noetl.template_max_range superuser ',
                    'noetl.max_workload_size superuser kB', 'noetl.max_result_size superuser kB',
                    'noetl.max_json_depth superuser ', 'noetl.playbook_cache_size superuser ',
                    'noetl.worker_live_seconds sighup s', 'noetl.max_loop_items superuser ',
                    'noetl.max_playbook_depth superuser '],
              'the settings, their contexts and units');
SELECT is(current_setting('noetl.notify_channel') || ' ' || current_setting('noetl.cancel_channel'),
          'noetl_queue noetl_cancel', 'the channels');
SELECT throws_ok($$SET noetl.tick = '2s'$$, '55P02', NULL, 'noetl.tick is set in the configuration, not per session');
SELECT throws_ok($$SET noetl.no_such_setting = 1$$, '42602', NULL, 'the noetl. prefix is reserved');

SELECT * FROM finish();
ROLLBACK;
