-- Templates: SQLSTATEs, caching, now(), worker-side functions, token() and secret(), NULLs.
BEGIN;
SELECT plan(16);

SELECT throws_ok($$SELECT noetl.render_text('{{ x | nosuchfilter }}', '{}')$$, '22023', NULL,
                 'an unknown filter is a template error (22023)');
SELECT throws_ok($$SELECT noetl.render_text('{{ 1 / 0 }}', '{}')$$, '22023', NULL,
                 'division by zero is a template error (22023)');
SELECT throws_ok($$SELECT noetl.render_text('{{ a.b.c }}', '{}')$$, '22023',
                 NULL, 'an attribute of an undefined value is an error');
SELECT throws_ok($$SELECT noetl.render_text('{% for %}', '{}')$$, '22023', NULL,
                 'a syntax error is a template error (22023)');
SELECT throws_ok($$SELECT noetl.render_text('{{ x }}', '"scalar"')$$, '22023',
                 'template context must be a JSON object', 'the context must be an object');
SELECT throws_ok($$SELECT noetl.render_text(repeat('{{ (', 5000) || '1' || repeat(') }}', 5000), '{}')$$,
                 NULL, NULL, 'deep nesting is refused, not a crash');

-- one template text, many contexts: the cached parse does not leak values
SELECT is(noetl.render_text('{{ v * 2 }}', jsonb_build_object('v', g)), (g * 2)::text,
          'cached template, context ' || g)
  FROM generate_series(1, 3) g;

SELECT ok(noetl.render_text('{{ now() }}', '{}') ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$',
          'now() is the statement time in ISO 8601, UTC');
SELECT is(noetl.render_text('{{ now() }}', '{}'), noetl.render_text('{{ now() }}', '{}'),
          'now() is stable within a statement');

SELECT is(noetl.render('{"a": "{{ vault(\"k\") }}"}', '{}'), '{"a": "{{ vault(\"k\") }}"}'::jsonb,
          'calls of functions noetl does not have are left for the worker');
SELECT throws_ok($$SELECT noetl.render_text('{{ vault("k") }}', '{}')$$, '22023', NULL,
                 'render_text of such a call fails as Jinja2 does (undefined)');
SELECT throws_ok($$SELECT noetl.render('{"a": "{{ secret(\"k\") }}"}', '{}')$$, '22023',
                 'template error at line 1, column 4: secret() is resolved by the worker, only in a task''s fields',
                 'token() and secret() outside a task''s fields fail (test/pgtap/secrets.sql)');
SELECT is(noetl.truthy(NULL, '{}'), NULL, 'truthy of NULL is NULL');
SELECT is(noetl.render('{"big": "{{ l | length }}"}', jsonb_build_object('l', (SELECT jsonb_agg(g) FROM generate_series(1, 100000) g))),
          '{"big": 100000}'::jsonb, 'large contexts are read in place');

SELECT * FROM finish();
ROLLBACK;
