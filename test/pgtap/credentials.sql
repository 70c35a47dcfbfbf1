-- Credentials: noetl.credential's data is encrypted at rest under
-- noetl.credential_key (pgcrypto), the roles reach it only through the
-- functions the README grants them (the manager sets, lists and removes;
-- a worker reads a credential only for a task whose current lease it
-- holds), no message carries a credential's data, and the dsn a postgres
-- credential gives quotes hostile values as libpq reads them.
BEGIN;
DELETE FROM noetl.queue;    -- leases must see only this file's tasks
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
RESET client_min_messages;
SELECT plan(66);

SET LOCAL noetl.credential_key = 'regress-key-1';

-- the grants, as the README gives them
CREATE ROLE regress_cred_client;
GRANT EXECUTE ON FUNCTION noetl.execute(text, jsonb, integer), noetl.status() TO regress_cred_client;
GRANT SELECT ON noetl.execution, noetl.event, noetl.catalog, noetl.step_state TO regress_cred_client;
CREATE ROLE regress_cred_admin;
GRANT regress_cred_client TO regress_cred_admin;
GRANT EXECUTE ON FUNCTION noetl.credential_set(text, text, jsonb, text, text[], jsonb),
      noetl.credential_remove(text), noetl.credentials() TO regress_cred_admin;
CREATE ROLE regress_cred_worker;
GRANT EXECUTE ON FUNCTION noetl.lease(text, integer, integer, text[]),
      noetl.complete(bigint, text, jsonb, double precision), noetl.release(bigint, text),
      noetl.task_context(bigint, text), noetl.task_credential(bigint, text, jsonb)
   TO regress_cred_worker;

-- what a statement raised, all of it (state, message, detail, hint, context), or 'ok'
CREATE FUNCTION pg_temp.raised(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text; m text; d text; h text; c text;
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL,
                            h = PG_EXCEPTION_HINT, c = PG_EXCEPTION_CONTEXT;
    RETURN concat_ws(' | ', st, m, d, h, c);
END
$$;

-- storing: encrypted at rest
SELECT ok(noetl.credential_set('regress_pg', 'postgres',
          '{"host": "/tmp/no where", "port": 5432, "user": "o''b\\c", "password": "PLANTED-pw-7f3a",
            "database": "d b"}', 'a test database', '{regress}') > 0,
          'a superuser stores a credential');
SELECT is((SELECT count(*)::int FROM noetl.credential WHERE name = 'regress_pg'), 1, 'it is one row');
SELECT is((SELECT position(convert_to('PLANTED-pw-7f3a', 'UTF8') IN data) FROM noetl.credential
            WHERE name = 'regress_pg'), 0, 'its stored bytes do not hold the secret');
SELECT ok((SELECT position('PLANTED' IN t::text) = 0 FROM noetl.credential t WHERE name = 'regress_pg'),
          'nor does the row as text');
SELECT is((SELECT pgp_sym_decrypt(data, 'regress-key-1')::jsonb ->> 'password' FROM noetl.credential
            WHERE name = 'regress_pg'), 'PLANTED-pw-7f3a', 'pgp_sym_decrypt with the key gives the data back');
SELECT is(noetl.credential_data('regress_pg') ->> 'user', 'o''b\c', 'and so does credential_data');
SELECT throws_ok($$SELECT pgp_sym_decrypt(data, 'another key') FROM noetl.credential WHERE name = 'regress_pg'$$,
                 '39000', NULL, 'another key does not decrypt it');

SET LOCAL noetl.credential_key = 'a wrong key';
SELECT throws_ok($$SELECT noetl.credential_data('regress_pg')$$, '28P01', 'could not decrypt credential "regress_pg"',
                 'under a wrong noetl.credential_key a credential cannot be read');
SET LOCAL noetl.credential_key = '';
SELECT throws_ok($$SELECT noetl.credential_data('regress_pg')$$, '55000', 'noetl.credential_key is not set',
                 'without noetl.credential_key a credential cannot be read');
SELECT throws_ok($$SELECT noetl.credential_set('regress_x', 'bearer', '{"token": "abcd"}')$$, '55000',
                 'noetl.credential_key is not set', 'nor stored');
SET LOCAL noetl.credential_key = 'regress-key-1';

-- replacing, validating
SELECT noetl.credential_set('regress_pg', 'postgres',
       '{"host": "/tmp/no where", "port": 5432, "user": "o''b\\c", "password": "PLANTED-pw-7f3a", "database": "d b"}',
       'a test database', '{regress}', '{"owner": "tests"}') \g /dev/null
SELECT is((SELECT count(*)::int FROM noetl.credential WHERE name = 'regress_pg'), 1,
          'storing a credential again replaces it');
SELECT is((SELECT meta ->> 'owner' FROM noetl.credential WHERE name = 'regress_pg'), 'tests', '... its meta too');
SELECT throws_ok($$SELECT noetl.credential_set('', 'bearer', '{}')$$, '22023', NULL, 'an empty name is refused');
SELECT throws_ok($$SELECT noetl.credential_set('regress_x', 'Bearer Token', '{}')$$, '22023', NULL,
                 'a type that is not a lower-case word is refused');
SELECT throws_ok($$SELECT noetl.credential_set('regress_x', 'bearer', '["abcd"]')$$, '22023', NULL,
                 'data that is not an object is refused');

SELECT noetl.credential_set('regress_bearer', 'bearer', '{"token": "PLANTED-tok-91c2"}') \g /dev/null
SELECT noetl.credential_set('regress_basic', 'basic', '{"username": "u", "password": "p"}') \g /dev/null
SELECT noetl.credential_set('regress_key', 'api_key', '{"value": "PLANTED-key-5d"}') \g /dev/null
SELECT noetl.credential_set('regress_header', 'header', '{"name": "X-Token", "value": "PLANTED-hdr-1"}') \g /dev/null
SELECT noetl.credential_set('regress_empty', 'postgres', '{"note": "nothing to connect with"}') \g /dev/null

-- a task to hold leases of
SELECT noetl.register(E'metadata: {path: tests/credentials/two}\nworkflow:\n  - step: start\n    next: [a, b]\n  - step: a\n    tool: postgres\n    command: select 1\n    next: [end]\n  - step: b\n    tool: postgres\n    command: select 2\n    next: [end]\n  - step: end\n') \g /dev/null
SELECT noetl.execute('tests/credentials/two',
       '{"auths": ["regress_pg", "regress_bearer", "regress_basic", "regress_key", "regress_header",
                   "regress_empty", "regress_nope", "regress_hostile"]}') AS e1 \gset

-- the client
SET LOCAL ROLE regress_cred_client;
SELECT throws_ok($$SELECT * FROM noetl.credential$$, '42501', NULL, 'a client cannot read noetl.credential');
SELECT throws_ok($$SELECT noetl.task_credential(1, 'x', '"regress_pg"')$$, '42501', NULL,
                 'a client cannot call task_credential');
SELECT throws_ok($$SELECT noetl.credential_data('regress_pg')$$, '42501', NULL, 'nor credential_data');
SELECT throws_ok($$SELECT noetl.credential_set('regress_x', 'bearer', '{"token": "abcd"}')$$, '42501', NULL,
                 'a client cannot store credentials');
SELECT throws_ok($$SELECT * FROM noetl.credentials()$$, '42501', NULL, 'nor list them');
SELECT throws_ok($$SELECT noetl.credential_remove('regress_pg')$$, '42501', NULL, 'nor remove them');
SELECT throws_ok($$SHOW noetl.credential_key$$, '42501', NULL, 'a client cannot see noetl.credential_key');
SELECT throws_ok($$SELECT current_setting('noetl.credential_key')$$, '42501', NULL, '... nor read it with current_setting');
SELECT is((SELECT count(*)::int FROM pg_settings WHERE name = 'noetl.credential_key'), 0,
          '... and pg_settings does not show it');
SELECT throws_ok($$SET noetl.credential_key = 'mine'$$, '42501', NULL, 'a client cannot set the key');
RESET ROLE;

-- the manager
SET LOCAL ROLE regress_cred_admin;
SELECT ok(noetl.credential_set('regress_admin', 'bearer', '{"token": "PLANTED-adm-33"}', 'by the manager') > 0,
          'the manager stores a credential');
SELECT is((SELECT array_agg(name ORDER BY name) FROM noetl.credentials() WHERE name LIKE 'regress%'),
          '{regress_admin,regress_basic,regress_bearer,regress_empty,regress_header,regress_key,regress_pg}',
          'the manager lists the credentials');
SELECT is((SELECT count(*)::int FROM noetl.credentials() c WHERE row_to_json(c)::text LIKE '%PLANTED%'), 0,
          '... without their data');
SELECT ok(noetl.credential_remove('regress_admin'), 'the manager removes a credential');
SELECT ok(NOT noetl.credential_remove('regress_admin'), '... and is told when there was none');
SELECT throws_ok($$SELECT * FROM noetl.credential$$, '42501', NULL, 'the manager cannot read noetl.credential');
SELECT throws_ok($$SELECT noetl.credential_data('regress_pg')$$, '42501', NULL, 'nor decrypt a credential');
SELECT throws_ok($$SELECT noetl.task_credential(1, 'x', '"regress_pg"')$$, '42501', NULL,
                 'nor call task_credential');
RESET ROLE;

-- the worker
SET LOCAL ROLE regress_cred_worker;
CREATE TEMP TABLE w AS SELECT * FROM noetl.lease('regress-worker', 2);
SELECT is((SELECT count(*)::int FROM w), 2, 'a worker leases two tasks');
SELECT is((SELECT noetl.task_credential(queue_id, lease_token, '"regress_pg"') ->> 'dsn' FROM w WHERE node_id = 'a'),
          $$host='/tmp/no where' port='5432' dbname='d b' user='o\'b\\c' password='PLANTED-pw-7f3a'$$,
          'a worker reads a credential for a task it holds: a dsn, every value quoted as libpq reads it');
SELECT is((SELECT noetl.task_credential(queue_id, lease_token, '"regress_pg"') - 'dsn' FROM w WHERE node_id = 'a'),
          '{"name": "regress_pg", "type": "postgres", "data": {"host": "/tmp/no where", "port": 5432,
            "user": "o''b\\c", "password": "PLANTED-pw-7f3a", "database": "d b"}}'::jsonb,
          '... with its name, type and data');
SELECT is((SELECT noetl.task_credential(queue_id, lease_token,
                  '{"type": "postgres", "credential": "regress_pg", "database": "other", "sslmode": "disable"}') ->> 'dsn'
             FROM w WHERE node_id = 'a'),
          $$host='/tmp/no where' port='5432' dbname='other' user='o\'b\\c' password='PLANTED-pw-7f3a' sslmode='disable'$$,
          'a mapping''s other fields are laid over the data (NoETL''s auth: {type, credential, ...})');
SELECT is((SELECT noetl.task_credential(queue_id, lease_token,
                  '{"source": "credential", "tool": "postgres", "key": "regress_pg"}') ->> 'name'
             FROM w WHERE node_id = 'a'), 'regress_pg', 'the mapping may name it with key (era C''s source: credential)');
SELECT is((SELECT noetl.task_credential(queue_id, lease_token, '"regress_bearer"') -> 'headers' FROM w WHERE node_id = 'a'),
          '{"Authorization": "Bearer PLANTED-tok-91c2"}', 'a bearer credential gives its Authorization header');
SELECT is((SELECT noetl.task_credential(queue_id, lease_token, '"regress_basic"') -> 'headers' FROM w WHERE node_id = 'a'),
          '{"Authorization": "Basic dTpw"}', 'a basic credential gives Basic base64(user:password)');
SELECT is((SELECT noetl.task_credential(queue_id, lease_token, '"regress_key"') -> 'headers' FROM w WHERE node_id = 'a'),
          '{"X-API-Key": "PLANTED-key-5d"}', 'an api_key credential gives X-API-Key');
SELECT is((SELECT noetl.task_credential(queue_id, lease_token, '"regress_header"') -> 'headers' FROM w WHERE node_id = 'a'),
          '{"X-Token": "PLANTED-hdr-1"}', 'a header credential gives its header');
SELECT throws_ok($$SELECT noetl.task_credential(queue_id, lease_token, '"regress_nope"') FROM w WHERE node_id = 'a'$$,
                 '42704', 'credential "regress_nope" does not exist', 'an unknown credential is 42704, naming it');
SELECT throws_ok($$SELECT noetl.task_credential(queue_id, lease_token, '"regress_basic_other"') FROM w WHERE node_id = 'a'$$,
                 '42501', 'task ' || (SELECT queue_id FROM w WHERE node_id = 'a') || ' does not name credential "regress_basic_other"',
                 'a worker cannot read a credential its task''s action and workload do not name');
SELECT throws_ok($$SELECT noetl.task_credential((SELECT queue_id FROM w WHERE node_id = 'a'),
                                                (SELECT lease_token FROM w WHERE node_id = 'b'), '"regress_pg"')$$,
                 '55000', NULL, 'a worker cannot read a credential for a task with another task''s token');
SELECT throws_ok($$SELECT noetl.task_credential(queue_id, 'not the token', '"regress_pg"') FROM w WHERE node_id = 'a'$$,
                 '55000', NULL, 'nor with a made-up token');
SELECT throws_ok($$SELECT noetl.task_credential(queue_id, NULL, '"regress_pg"') FROM w WHERE node_id = 'a'$$,
                 '55000', NULL, 'nor with none');
SELECT lives_ok($$SELECT noetl.release(queue_id, lease_token) FROM w WHERE node_id = 'b'$$, 'a worker gives a task back');
CREATE TEMP TABLE w2 AS SELECT * FROM noetl.lease('regress-worker', 1);
SELECT is((SELECT node_id FROM w2), 'b', '... and leases it again');
SELECT throws_ok($$SELECT noetl.task_credential(queue_id, lease_token, '"regress_pg"') FROM w WHERE node_id = 'b'$$,
                 '55000', NULL, 'the token of an earlier lease of the task is refused');
SELECT lives_ok($$SELECT noetl.complete(queue_id, lease_token, '{}') FROM w WHERE node_id = 'a'$$, 'a worker completes a task');
SELECT throws_ok($$SELECT noetl.task_credential(queue_id, lease_token, '"regress_pg"') FROM w WHERE node_id = 'a'$$,
                 '55000', NULL, 'the token of a task that is done is refused');
SELECT throws_ok($$SELECT * FROM noetl.credential$$, '42501', NULL, 'a worker cannot read noetl.credential');
SELECT throws_ok($$SELECT noetl.credential_data('regress_pg')$$, '42501', NULL, 'nor decrypt a credential itself');
SELECT throws_ok($$SELECT noetl.credential_set('regress_x', 'bearer', '{"token": "abcd"}')$$, '42501', NULL,
                 'nor store one');
RESET ROLE;

-- malformed auth, and what the errors say (as the worker holding task b)
SELECT results_eq(
    $$SELECT split_part(pg_temp.raised(format('SELECT noetl.task_credential(%s, %L, %L)', queue_id, lease_token, a)), ' | ', 1)
        FROM w2, unnest(ARRAY['3', 'null', '""', '[]', '{"type": "postgres"}', '{"credential": 5}',
                              '{"source": "env", "credential": "regress_pg"}',
                              '{"type": "bearer", "credential": "regress_pg"}', '"regress_empty"']) WITH ORDINALITY u(a, i)
       ORDER BY i$$,
    $$VALUES ('22023'), ('22023'), ('22023'), ('22023'), ('22023'), ('22023'), ('22023'), ('22023'), ('22023')$$,
    'a malformed auth (a number, null, an empty name, a list, a mapping naming none, a source other than credential), a type that is not the credential''s, and a postgres credential without connection fields are 22023');
SELECT is((SELECT count(*)::int
             FROM w2, unnest(ARRAY['"regress_nope"', '{"type": "bearer", "credential": "regress_pg"}',
                                   '{"type": "bearer", "credential": "regress_nope"}', '"regress_empty"']) a,
                  LATERAL pg_temp.raised(format('SELECT noetl.task_credential(%s, %L, %L)', queue_id, lease_token, a)) r
            WHERE r LIKE '%PLANTED%' OR r LIKE '%/tmp/no where%' OR r LIKE '%nothing to connect%' OR r = 'ok'),
          0, 'no error names anything of a credential''s data');
SET LOCAL noetl.credential_key = 'a wrong key';
SELECT ok((SELECT pg_temp.raised(format('SELECT noetl.task_credential(%s, %L, %L)', queue_id, lease_token, '"regress_pg"'))
             FROM w2) LIKE '28P01 | could not decrypt credential "regress_pg"%',
          'under a wrong key the worker is told the credential cannot be decrypted');
SET LOCAL noetl.credential_key = 'regress-key-1';

-- hostile values in the dsn: each one a single libpq value
SELECT noetl.credential_set('regress_hostile', 'postgres',
       jsonb_build_object('host', 'h'' dbname=''postgres', 'user', E'u\\'' x', 'password', E'p w''\\\\',
                          'dbname', E'd\\', 'port', '1 sslmode=disable')) \g /dev/null
SELECT is((SELECT noetl.task_credential(queue_id, lease_token, '"regress_hostile"') ->> 'dsn' FROM w2),
          $$host='h\' dbname=\'postgres' port='1 sslmode=disable' dbname='d\\' user='u\\\' x' password='p w\'\\\\'$$,
          'quotes, backslashes and spaces stay inside their values');

-- key rotation
SET LOCAL noetl.credential_key = 'regress-key-2';
SELECT is(noetl.credential_rekey('regress-key-1') >= 7, true, 'credential_rekey re-encrypts under the new key');
SELECT is(noetl.credential_data('regress_pg') ->> 'password', 'PLANTED-pw-7f3a', '... which then reads them');
SELECT throws_ok($$SELECT noetl.credential_data('regress_pg', 'regress-key-1')$$, '28P01', NULL,
                 '... and the old key no longer does');
SELECT is(has_function_privilege('regress_cred_admin', 'noetl.credential_rekey(text)', 'EXECUTE'), false,
          'only a superuser rekeys');

-- a pgcrypto function replaced by whoever owns its schema is not called
DO $$
DECLARE s name := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                    WHERE e.extname = 'pgcrypto');
BEGIN
    EXECUTE format('ALTER EXTENSION pgcrypto DROP FUNCTION %I.pgp_sym_decrypt(bytea, text)', s);
    EXECUTE format('DROP FUNCTION %I.pgp_sym_decrypt(bytea, text)', s);
    EXECUTE format('CREATE FUNCTION %I.pgp_sym_decrypt(bytea, text) RETURNS text LANGUAGE sql AS %L', s,
                   $f$SELECT '{"stolen": true}'$f$);
END
$$;
SELECT throws_ok($$SELECT noetl.credential_data('regress_pg')$$, '42501', NULL,
                 'a pgcrypto function that is not pgcrypto''s C function is refused, not run');

-- without pgcrypto
DROP EXTENSION pgcrypto;
SELECT throws_ok($$SELECT noetl.credential_set('regress_x', 'bearer', '{"token": "abcd"}')$$, '0A000',
                 'noetl credentials need the pgcrypto extension', 'without pgcrypto, storing fails and says why');
SELECT is(split_part(pg_temp.raised($$SELECT noetl.credential_data('regress_pg')$$), ' | ', 4),
          'Run CREATE EXTENSION pgcrypto in this database.', '... with a hint to install it');

SELECT * FROM finish();
ROLLBACK;
