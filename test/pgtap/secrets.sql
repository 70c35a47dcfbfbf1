-- token() and secret(): rendering a task's fields gives a marker bound to
-- the task (its execution and node_id) by an HMAC under
-- noetl.credential_key, never the secret; noetl.task_secrets gives the
-- secrets back only to the worker holding the task's current lease, and
-- only for markers rendered for that task: a forged marker, one copied
-- from another task, iteration or execution, or brought in through a
-- workload or a step result, is refused.  Outside a task's fields, and
-- without a key, token() and secret() fail.  No error holds a secret.
BEGIN;
DELETE FROM noetl.queue;    -- leases must see only this file's tasks
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
RESET client_min_messages;
SELECT plan(48);

SET LOCAL noetl.credential_key = 'regress-secret-key-1';

-- the grants, as the README gives them
CREATE ROLE regress_sec_client;
GRANT EXECUTE ON FUNCTION noetl.execute(text, jsonb, integer), noetl.status() TO regress_sec_client;
GRANT SELECT ON noetl.execution, noetl.event, noetl.catalog, noetl.step_state TO regress_sec_client;
CREATE ROLE regress_sec_worker;
GRANT EXECUTE ON FUNCTION noetl.lease(text, integer, integer, text[]),
      noetl.complete(bigint, text, jsonb, double precision), noetl.release(bigint, text),
      noetl.task_context(bigint, text), noetl.task_credential(bigint, text, jsonb),
      noetl.task_secrets(bigint, text, text[])
   TO regress_sec_worker;

-- what a statement raised (state, message, detail, hint), or 'ok'
CREATE FUNCTION pg_temp.raised(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text; m text; d text; h text;
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL,
                            h = PG_EXCEPTION_HINT;
    RETURN concat_ws(' | ', st, m, d, h);
END
$$;
CREATE TEMP TABLE errors (e text);
GRANT INSERT, SELECT ON errors TO regress_sec_worker, regress_sec_client;
-- task_secrets(task, markers) as the worker holding it: the secrets, or what it raised
CREATE FUNCTION pg_temp.secrets(q bigint, t text, m text[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    r := pg_temp.raised(format('SELECT noetl.task_secrets(%s, %L, %L)', q, t, m));
    INSERT INTO errors VALUES (r);
    IF r = 'ok' THEN
        RETURN array_to_string(noetl.task_secrets(q, t, m), ',');
    END IF;
    RETURN split_part(r, ' | ', 1) || ' ' || split_part(r, ' | ', 2);
END
$$;
-- the markers of a queue row's action, in order
CREATE FUNCTION pg_temp.markers(a jsonb) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(m[1] ORDER BY o), '{}')
      FROM regexp_matches(a::text, '(@@noetl-secret:[^@]*@@)', 'g') WITH ORDINALITY r(m, o)
$$;
-- the marker of the token() in an action's Authorization header
CREATE FUNCTION pg_temp.tok(a jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT substring(a -> 'headers' ->> 'Authorization' FROM '@@noetl-secret:[^@]*@@')
$$;
GRANT EXECUTE ON FUNCTION pg_temp.secrets(bigint, text, text[]), pg_temp.markers(jsonb), pg_temp.raised(text),
      pg_temp.tok(jsonb)
   TO regress_sec_worker, regress_sec_client;

SELECT noetl.credential_set('regress_tok', 'bearer', '{"token": "PLANTED-tok-1a"}') \g /dev/null
SELECT noetl.credential_set('regress_acc', 'bearer', '{"access_token": "PLANTED-acc-2b", "token": 7}') \g /dev/null
SELECT noetl.credential_set('regress_sec', 'generic', '{"password": "PLANTED-pw-3c", "value": null}') \g /dev/null
SELECT noetl.credential_set('regress_bare', 'generic', '{"user": "u", "token": {"no": 1}}') \g /dev/null
SELECT noetl.credential_set('regress: @@odd''name', 'generic', '{"value": "PLANTED-odd-4d"}') \g /dev/null

SELECT noetl.register(E'metadata: {path: tests/secrets/two}\nworkflow:\n  - step: start\n    next: [a, b]\n  - step: a\n    tool: http\n    url: http://127.0.0.1:9/a\n    headers: {Authorization: "Bearer {{ token(workload.cred) }}"}\n    args: {p: "{{ secret(\'regress_sec\') }}"}\n    next: [end]\n  - step: b\n    tool: postgres\n    command: "select \'{{ secret(workload.sec) }}\'"\n    next: [end]\n  - step: end\n') \g /dev/null
SELECT noetl.register(E'metadata: {path: tests/secrets/inject}\nworkflow:\n  - step: start\n    next: [c]\n  - step: c\n    tool: http\n    url: http://127.0.0.1:9/c\n    headers: {Authorization: "{{ workload.m }}"}\n') \g /dev/null
SELECT noetl.register(E'metadata: {path: tests/secrets/relay}\nworkflow:\n  - step: start\n    next: [r1]\n  - step: r1\n    tool: postgres\n    command: select 1\n    next: [r2]\n  - step: r2\n    tool: http\n    url: http://127.0.0.1:9/r\n    headers: {Authorization: "{{ r1.m }}"}\n') \g /dev/null
SELECT noetl.register(E'metadata: {path: tests/secrets/loop}\nworkflow:\n  - step: start\n    next: [l]\n  - step: l\n    tool: http\n    loop: {collection: [1, 2], element: n, mode: parallel}\n    url: "http://127.0.0.1:9/{{ n }}"\n    headers: {Authorization: "Bearer {{ token(\'regress_tok\') }}"}\n') \g /dev/null
SELECT noetl.register(E'metadata: {path: tests/secrets/one}\nworkflow:\n  - step: start\n    next: [a]\n  - step: a\n    tool: http\n    url: http://127.0.0.1:9/a\n    headers: {Authorization: "Bearer {{ token(workload.cred) }}"}\n') \g /dev/null

-- rendering: markers in the queue row, never a secret
SET LOCAL ROLE regress_sec_client;
SELECT noetl.execute('tests/secrets/two', '{"cred": "regress_tok", "sec": "regress_sec"}') AS e1 \gset
SELECT noetl.execute('tests/secrets/one', '{"cred": "regress_acc"}') AS e2 \gset
RESET ROLE;
SELECT matches((SELECT action -> 'headers' ->> 'Authorization' FROM noetl.queue WHERE execution_id = :e1 AND node_id = 'a'),
               '^Bearer @@noetl-secret:v1:token:' || encode('regress_tok', 'hex') || ':[0-9a-f]{64}@@$',
               'a task''s token() is a marker naming the credential in hex, with a 256-bit MAC');
SELECT matches((SELECT action -> 'args' ->> 'p' FROM noetl.queue WHERE execution_id = :e1 AND node_id = 'a'),
               '^@@noetl-secret:v1:secret:' || encode('regress_sec', 'hex') || ':[0-9a-f]{64}@@$',
               'and its secret() is one too');
SELECT isnt((SELECT pg_temp.tok(action) FROM noetl.queue WHERE execution_id = :e1 AND node_id = 'a'),
            (SELECT pg_temp.tok(action) FROM noetl.queue WHERE execution_id = :e2 AND node_id = 'a'),
            'the same step of another execution gets another marker');
SELECT is((SELECT count(*)::int FROM noetl.queue q WHERE q::text LIKE '%' || 'PLANTED' || '%'), 0,
          'no queue row holds a secret');
SELECT is((SELECT count(*)::int FROM noetl.event e WHERE e::text LIKE '%' || 'PLANTED' || '%'), 0,
          'nor does any event');

-- the worker holding the lease gets the secrets
SET LOCAL ROLE regress_sec_worker;
CREATE TEMP TABLE w AS SELECT * FROM noetl.lease('regress-worker', 3);
SELECT is((SELECT count(*)::int FROM w), 3, 'a worker leases the three tasks');
SELECT is((SELECT pg_temp.secrets(queue_id, lease_token, pg_temp.markers(action)) FROM w
            WHERE execution_id = :e1 AND node_id = 'a'),
          'PLANTED-pw-3c,PLANTED-tok-1a',
          'task_secrets gives the holder of the lease the secret and the token, in the order of the markers (args, headers)');
SELECT is((SELECT pg_temp.secrets(queue_id, lease_token, pg_temp.markers(action)) FROM w WHERE execution_id = :e2),
          '7', 'token() reads the first of token, access_token, bearer_token that is a string or a number');
SELECT is((SELECT pg_temp.secrets(queue_id, lease_token, pg_temp.markers(action)) FROM w
            WHERE execution_id = :e1 AND node_id = 'b'),
          'PLANTED-pw-3c', 'secret() reads password when value is null');
SELECT is((SELECT pg_temp.secrets(queue_id, lease_token, '{}') FROM w WHERE node_id = 'b'), '',
          'no markers, no secrets');

-- markers that are not this task's
SELECT is((SELECT pg_temp.secrets(b.queue_id, b.lease_token, ARRAY[pg_temp.tok(a.action)]) FROM w a, w b
            WHERE a.execution_id = :e1 AND a.node_id = 'a' AND b.node_id = 'b'),
          '42501 token() of credential "regress_tok" was not rendered for task ' ||
          (SELECT queue_id FROM w WHERE node_id = 'b'),
          'a marker of another task of the execution is refused, naming the credential');
SELECT is((SELECT split_part(pg_temp.secrets(a.queue_id, a.lease_token, pg_temp.markers(o.action)), ' ', 1)
             FROM w a, w o WHERE a.execution_id = :e1 AND a.node_id = 'a' AND o.execution_id = :e2),
          '42501', 'a marker of the same step of another execution is refused');
SELECT is((SELECT split_part(pg_temp.secrets(queue_id, lease_token,
                  ARRAY[regexp_replace(pg_temp.tok(action), ':[0-9a-f]{64}@@$', ':' || repeat('0', 64) || '@@')]), ' ', 1)
             FROM w WHERE execution_id = :e1 AND node_id = 'a'),
          '42501', 'a forged marker (the right form, another MAC) is refused');
SELECT is((SELECT split_part(pg_temp.secrets(queue_id, lease_token,
                  ARRAY[replace(pg_temp.tok(action), encode('regress_tok', 'hex'), encode('regress_acc', 'hex'))]), ' ', 1)
             FROM w WHERE execution_id = :e1 AND node_id = 'a'),
          '42501', 'a marker whose name was changed is refused');
SELECT is((SELECT split_part(pg_temp.secrets(queue_id, lease_token,
                  ARRAY[replace(pg_temp.tok(action), 'v1:token:', 'v1:secret:')]), ' ', 1)
             FROM w WHERE execution_id = :e1 AND node_id = 'a'),
          '42501', 'a token() marker made a secret() one is refused');
SELECT is((SELECT pg_temp.secrets(queue_id, lease_token, ARRAY[m]) FROM w,
                  (VALUES ('@@noetl-secret:v1:token:7265@@'), ('@@noetl-secret:v2:token:7265:' || repeat('a', 64) || '@@'),
                          ('@@noetl-secret:v1:token:7:' || repeat('a', 64) || '@@'), ('@@noetl-secret:v1:token:00:' || repeat('a', 64) || '@@'),
                          ('@@noetl-secret:v1:token:ff:' || repeat('a', 64) || '@@'), ('@@noetl-secret:v1:token:7265:' || repeat('A', 64) || '@@'),
                          ('QEBub2V0bC1zZWNyZXQ6'), (NULL)) v(m)
            WHERE execution_id = :e1 AND node_id = 'a' LIMIT 1),
          '22023 secret marker 1 of task ' || (SELECT queue_id FROM w WHERE execution_id = :e1 AND node_id = 'a') || ' is malformed',
          'a malformed marker (short, another version, odd hex, a control character, not UTF-8, upper-case MAC, garbled by a filter) is refused as malformed');
SELECT is((SELECT count(DISTINCT pg_temp.secrets(queue_id, lease_token, ARRAY[m]))::int FROM w,
                  (VALUES ('@@noetl-secret:v1:token:7265@@'), ('@@noetl-secret:v2:token:7265:' || repeat('a', 64) || '@@'),
                          ('@@noetl-secret:v1:token:7:' || repeat('a', 64) || '@@'), ('@@noetl-secret:v1:token:00:' || repeat('a', 64) || '@@'),
                          ('@@noetl-secret:v1:token:ff:' || repeat('a', 64) || '@@'), ('@@noetl-secret:v1:token:7265:' || repeat('A', 64) || '@@'),
                          ('QEBub2V0bC1zZWNyZXQ6'), (NULL)) v(m)
            WHERE execution_id = :e1 AND node_id = 'a'),
          1, '... every one of them');
SELECT is((SELECT split_part(pg_temp.secrets(queue_id, lease_token, NULL), ' ', 1) FROM w
            WHERE execution_id = :e1 AND node_id = 'a'),
          '54000', 'a NULL list of markers is refused');
SELECT is((SELECT split_part(pg_temp.secrets(queue_id, lease_token,
                  array_fill(pg_temp.tok(action), ARRAY[1001])), ' ', 1) FROM w
            WHERE execution_id = :e1 AND node_id = 'a'),
          '54000', 'a list of 1001 markers is refused before any is read');

-- not the lease holder
SELECT is((SELECT split_part(pg_temp.secrets(queue_id, 'not the token', pg_temp.markers(action)), ' ', 1) FROM w
            WHERE execution_id = :e1 AND node_id = 'a'),
          '55000', 'a wrong lease token is refused');
SELECT is((SELECT split_part(pg_temp.secrets(a.queue_id, b.lease_token, pg_temp.markers(a.action)), ' ', 1) FROM w a, w b
            WHERE a.execution_id = :e1 AND a.node_id = 'a' AND b.node_id = 'b'),
          '55000', 'the lease token of another task is refused');
SELECT lives_ok($$SELECT noetl.complete(queue_id, lease_token, '{}') FROM w WHERE execution_id = $$ || :e2,
                'a worker completes a task');
SELECT is((SELECT split_part(pg_temp.secrets(queue_id, lease_token, pg_temp.markers(action)), ' ', 1) FROM w
            WHERE execution_id = :e2),
          '55000', 'a task no longer held gives no secrets');
SELECT throws_ok($$SELECT noetl.secret_marker_check(1, 'a', 'x')$$, '42501', NULL,
                 'a worker cannot call secret_marker_check');
SELECT throws_ok($$SELECT noetl.credential_data('regress_tok')$$, '42501', NULL, 'nor credential_data');
RESET ROLE;

-- unknown credentials, and credentials without the field
SET LOCAL ROLE regress_sec_client;
SELECT noetl.execute('tests/secrets/one', '{"cred": "regress_nope"}') AS e3 \gset
SELECT noetl.execute('tests/secrets/one', '{"cred": "regress_bare"}') AS e4 \gset
SELECT noetl.execute('tests/secrets/one', E'{"cred": "regress: @@odd''name"}') AS e5 \gset
RESET ROLE;
SET LOCAL ROLE regress_sec_worker;
CREATE TEMP TABLE w3 AS SELECT * FROM noetl.lease('regress-worker', 3);
SELECT is((SELECT pg_temp.secrets(queue_id, lease_token, pg_temp.markers(action)) FROM w3 WHERE execution_id = :e3),
          '42704 credential "regress_nope" does not exist', 'a marker of an unknown credential names it');
SELECT is((SELECT pg_temp.secrets(queue_id, lease_token, pg_temp.markers(action)) FROM w3 WHERE execution_id = :e4),
          '22023 credential "regress_bare" has none of the fields token() reads (token, access_token, bearer_token)',
          'a credential without a token names the fields token() reads');
RESET ROLE;
SELECT matches((SELECT action -> 'headers' ->> 'Authorization' FROM noetl.queue WHERE execution_id = :e5),
               '^Bearer @@noetl-secret:v1:token:[0-9a-f]+:[0-9a-f]{64}@@$',
               'a name with a colon, a space, @@ and a quote is hex in the marker');
SET LOCAL ROLE regress_sec_worker;
SELECT is((SELECT split_part(pg_temp.secrets(queue_id, lease_token, pg_temp.markers(action)), ' ', 1) FROM w3 WHERE execution_id = :e5),
          '22023', '... and reaches its credential (which has no token)');
RESET ROLE;

-- brought in through a workload or a step result
SELECT action -> 'headers' ->> 'Authorization' AS m1 FROM w WHERE execution_id = :e1 AND node_id = 'a' \gset
SET LOCAL ROLE regress_sec_client;
SELECT noetl.execute('tests/secrets/inject', jsonb_build_object('m', :'m1')) AS e6 \gset
SELECT noetl.execute('tests/secrets/relay') AS e7 \gset
RESET ROLE;
SET LOCAL ROLE regress_sec_worker;
CREATE TEMP TABLE w6 AS SELECT * FROM noetl.lease('regress-worker', 2);
SELECT is((SELECT split_part(pg_temp.secrets(queue_id, lease_token, pg_temp.markers(action)), ' ', 1) FROM w6 WHERE execution_id = :e6),
          '42501', 'a marker brought in through a workload is refused');
SELECT lives_ok(format($$SELECT noetl.complete(queue_id, lease_token, jsonb_build_object('m', %L)) FROM w6 WHERE execution_id = %s$$,
                       :'m1', :e7),
                'a step''s result holds a marker of another task');
CREATE TEMP TABLE w7 AS SELECT * FROM noetl.lease('regress-worker', 1);
SELECT is((SELECT node_id FROM w7), 'r2', 'the next step renders it into its header');
SELECT is((SELECT split_part(pg_temp.secrets(queue_id, lease_token, pg_temp.markers(action)), ' ', 1) FROM w7),
          '42501', '... and it is refused');
RESET ROLE;

-- a loop's iterations: a marker each
SET LOCAL ROLE regress_sec_client;
SELECT noetl.execute('tests/secrets/loop') AS e8 \gset
RESET ROLE;
SET LOCAL ROLE regress_sec_worker;
CREATE TEMP TABLE w8 AS SELECT * FROM noetl.lease('regress-worker', 2);
SELECT is((SELECT array_agg(node_id ORDER BY node_id) FROM w8), '{l[0],l[1]}', 'both iterations are leased');
SELECT is((SELECT pg_temp.secrets(queue_id, lease_token, pg_temp.markers(action)) FROM w8 WHERE node_id = 'l[1]'),
          'PLANTED-tok-1a', 'an iteration gets its token');
SELECT is((SELECT split_part(pg_temp.secrets(b.queue_id, b.lease_token, pg_temp.markers(a.action)), ' ', 1) FROM w8 a, w8 b
            WHERE a.node_id = 'l[0]' AND b.node_id = 'l[1]'),
          '42501', 'the marker of another iteration is refused');
RESET ROLE;

-- another key: the markers rendered under the old one no longer check
SET LOCAL noetl.credential_key = 'regress-secret-key-2';
SET LOCAL ROLE regress_sec_worker;
SELECT is((SELECT split_part(pg_temp.secrets(queue_id, lease_token, pg_temp.markers(action)), ' ', 1) FROM w8 WHERE node_id = 'l[0]'),
          '42501', 'a marker rendered under another key is refused');
RESET ROLE;
SET LOCAL noetl.credential_key = '';
SET LOCAL ROLE regress_sec_worker;
SELECT is((SELECT split_part(pg_temp.secrets(queue_id, lease_token, pg_temp.markers(action)), ' ', 1) FROM w8 WHERE node_id = 'l[0]'),
          '55000', 'without a key no marker checks');
RESET ROLE;

-- without a key, token() fails the step
SET LOCAL ROLE regress_sec_client;
SELECT noetl.execute('tests/secrets/one', '{"cred": "regress_tok"}') AS e9 \gset
SELECT results_eq($$SELECT status::text, error FROM noetl.execution WHERE execution_id = $$ || :e9,
                  $$VALUES ('failed', 'step "a": template error at line 1, column 11: token() needs noetl.credential_key, which is not set')$$,
                  'without noetl.credential_key token() fails its step and the execution');
RESET ROLE;
SET LOCAL noetl.credential_key = 'regress-secret-key-1';

-- outside a task's fields
SELECT noetl.register(E'metadata: {path: tests/secrets/where}\nworkflow:\n  - step: start\n    next:\n      - {step: a, when: "{{ token(\'regress_tok\') }}"}\n  - step: a\n    tool: http\n    url: http://x\n') \g /dev/null
SELECT noetl.register(E'metadata: {path: tests/secrets/work}\nworkload: {t: "{{ secret(\'regress_sec\') }}"}\nworkflow:\n  - step: start\n    next: [end]\n  - step: end\n') \g /dev/null
SELECT noetl.register(E'metadata: {path: tests/secrets/end}\nworkflow:\n  - step: start\n    next: [end]\n  - step: end\n    result: {t: "{{ token(\'regress_tok\') }}"}\n') \g /dev/null
SET LOCAL ROLE regress_sec_client;
SELECT noetl.execute('tests/secrets/where') AS ew \gset
SELECT noetl.execute('tests/secrets/end') AS ee \gset
SELECT is((SELECT count(*)::int FROM noetl.execution WHERE execution_id IN (:ew, :ee) AND status = 'failed'
              AND error LIKE '%() is resolved by the worker, only in a task''s fields%'), 2,
          'a condition or an end result with token() fails, saying where it works');
SELECT noetl.execute('tests/secrets/work') AS ek \gset
SELECT is((SELECT workload ->> 't' FROM noetl.execution WHERE execution_id = :ek), $${{ secret('regress_sec') }}$$,
          'a workload''s secret() is kept as written (NoETL never rendered a workload): no marker, no secret');
RESET ROLE;
SELECT is(pg_temp.raised($$SELECT noetl.render('"Bearer {{ token(''regress_tok'') }}"', '{}')$$),
          '22023 | template error at line 1, column 11: token() is resolved by the worker, only in a task''s fields | The template is "Bearer {{ token(''regress_tok'') }}". | ',
          'noetl.render refuses token()');
SELECT noetl.register(E'metadata: {path: tests/secrets/args}\nworkflow:\n  - step: start\n    next: [a, b, c, d]\n  - step: a\n    tool: http\n    url: "{{ token(1) }}"\n  - step: b\n    tool: http\n    url: "{{ token(\'\') }}"\n  - step: c\n    tool: http\n    url: "{{ token(\'regress_tok\', \'aud\') }}"\n  - step: d\n    tool: http\n    url: "{{ secret(workload.nothing) }}"\n') \g /dev/null
SELECT noetl.execute('tests/secrets/args') AS ea \gset
SELECT matches((SELECT error FROM noetl.execution WHERE execution_id = :ea),
               'token\(\) takes a credential name, a string, not int', 'token() of a number fails');
SELECT matches((SELECT string_agg(error, ' ') FROM noetl.event WHERE execution_id = :ea),
               'token\(\) takes a credential name, a string', 'the error is in the log');

-- the roles
SET LOCAL ROLE regress_sec_client;
SELECT throws_ok($$SELECT noetl.task_secrets(1, 'x', '{}')$$, '42501', NULL, 'a client cannot call task_secrets');
SELECT throws_ok($$SELECT noetl.secret_marker_check(1, 'a', 'x')$$, '42501', NULL, 'nor secret_marker_check');
RESET ROLE;

-- no error carries a secret
SELECT is((SELECT count(*)::int FROM errors WHERE e LIKE '%' || 'PLANTED' || '%'), 0,
          'no error of task_secrets holds a secret (' || (SELECT count(*) FROM errors) || ' calls)');
SELECT is((SELECT count(*)::int FROM noetl.event e WHERE e::text LIKE '%' || 'PLANTED' || '%'), 0,
          'and no event does');

SELECT * FROM finish();
ROLLBACK;
