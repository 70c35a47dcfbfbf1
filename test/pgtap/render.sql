-- NoETL's rendering rules, as noetl.render, noetl.truthy and the broker
-- apply them (render_template in noetl/core/dsl/render.py, eras B and C;
-- docs/compatibility.md, "Rendering"): the result proxy (step.data,
-- step.result, is_defined), the plain path looked up before Jinja2,
-- rendered text coerced back to values, the workload rendered at start,
-- and a condition that raises failing the execution.  noetl.render_text
-- stays plain Jinja2.
BEGIN;
DELETE FROM noetl.queue;
\i test/lib/sqlworker.sql
SELECT plan(68);

\set ctx '{"s": {"x": 1, "items": [5, 6], "keys": "k", "inner": {"y": 2}}, "d": {"data": {"x": 9}, "x": 1}, "l": [1, 2, 3], "workload": {"user_data": {"name": "ann", "n": 2}}, "n": "123", "q": "007", "t": "(1, ''a'', None, True)"}'

-- the result proxy
SELECT is(noetl.render('"{{ s.data.x }}"', :'ctx'), '1', 'proxy: .data of a dict without "data" is the dict');
SELECT is(noetl.render('"{{ s.result.x }}"', :'ctx'), '1', 'proxy: .result of a dict without "result" is the dict');
SELECT is(noetl.render('"{{ s.data.result.data.x + 1 }}"', :'ctx'), '2', 'proxy: .data and .result chain');
SELECT is(noetl.render('"{{ d.data.x }}"', :'ctx'), '9', 'proxy: a real "data" key wins');
SELECT is(noetl.render('"{{ s[''data''].x }}"', :'ctx'), '1', 'proxy: s[''data''] falls back to the attribute, as in Jinja2');
SELECT is(noetl.render('"{{ s.is_defined }}"', :'ctx'), 'true', 'proxy: .is_defined is true');
SELECT is(noetl.render('"{{ l.result | length }}"', :'ctx'), '3', 'proxy: .result of a top-level list is the list');
SELECT is(noetl.render('"{{ s.inner.data ~ ''|'' }}"', :'ctx'), '"|"', 'proxy: only top-level entries are proxies');
SELECT is(noetl.render('"{{ workload.data ~ ''|'' }}"', :'ctx'), '"|"', 'proxy: reserved names (workload, ...) are no proxies');
SELECT is(noetl.render('"{{ s.data | tojson }}"', :'ctx'), '{"x": 1, "keys": "k", "inner": {"y": 2}, "items": [5, 6]}',
          'proxy: tojson of the proxied value is the value''s');
SELECT is(noetl.render('"v={{ s.data }}"', :'ctx'), '"v={''x'': 1, ''keys'': ''k'', ''inner'': {''y'': 2}, ''items'': [5, 6]}"',
          'proxy: it prints as the dict');
SELECT is(noetl.render('"{{ s.data.nope ~ ''|'' }}"', :'ctx'), '"|"', 'proxy: a missing key is still undefined');
SELECT is(noetl.render_text('{{ s.data ~ ''|'' }}', :'ctx'), '|', 'render_text is plain Jinja2: no proxy');
SELECT ok(noetl.truthy('s.data.x == 1', :'ctx'), 'proxy in conditions');

-- the plain path, looked up before Jinja2
SELECT is(noetl.render('"{{ s.items }}"', :'ctx'), '[5, 6]', 'plain path: {{ s.items }} is the key "items"');
SELECT is(noetl.render('"  {{ s . keys }} "', :'ctx'), '"k"', 'plain path: parts and the text are stripped');
SELECT is(noetl.render('"{{ n }}"', :'ctx'), '"123"', 'plain path: the value as it is, not coerced');
SELECT is(noetl.render('"{{ s.inner }}"', :'ctx'), '{"y": 2}', 'plain path: a dict');
SELECT is(noetl.render('"{{}}"', :'ctx'), '""', '{{}} is ""');
SELECT ok(noetl.truthy('{{ s.keys }}', '{"s": {"keys": "yes"}}'), 'plain path in a condition');
SELECT ok(noetl.truthy('s.keys', '{"s": {"keys": "yes"}}'), 'plain path in a bare condition');
SELECT throws_ok($$SELECT noetl.render_text('{{ s.items }}', '{"s": {"items": 1}}')$$, '22023', NULL,
                 'render_text has no plain path: s.items is the method');

-- rendered text coerced back to values
SELECT is(noetl.render('"{{ workload.user_data | tojson }}"', :'ctx'), '{"n": 2, "name": "ann"}', 'coercion: tojson gives the dict');
SELECT is(noetl.render('"{{ n | string }}"', :'ctx'), '123', 'coercion: digits are an int');
SELECT is(noetl.render('"{{ q | trim }}"', :'ctx'), '7', 'coercion: 007 is 7, as int() reads it');
SELECT is(noetl.render('"{{ t | trim }}"', :'ctx'), '[1, "a", null, true]', 'coercion: a Python literal (ast.literal_eval)');
SELECT is(noetl.render('"{{ j | trim }}"', jsonb_build_object('j', '{"a": [1, 2]}')), '{"a": [1, 2]}', 'coercion: JSON (json.loads)');
SELECT is(noetl.render('"[{{ s.x }}, {{ s.inner.y }}]"', :'ctx'), '[1, 2]', 'coercion: of text with several templates');
SELECT is(noetl.render('"{{ s.x }}, {{ s.inner.y }}"', :'ctx'), '[1, 2]', 'coercion: a bare tuple is a list');
SELECT is(noetl.render('"{{ s.x == 1 }}"', :'ctx'), 'true', 'coercion: a bool stays a bool');
SELECT is(noetl.render('"{{ ''TRUE'' | trim }}"', :'ctx'), 'true', 'coercion: true in any case');
SELECT is(noetl.render('"{{ '' NULL '' | string }}"', :'ctx'), 'null', 'coercion: none/null, stripped, in any case');
SELECT is(noetl.render('"{{ ''-1.5e3'' | trim }}"', :'ctx'), '-1500.0', 'coercion: float-like text is a float');
SELECT is(noetl.render('"{{ ''  '' | string }}"', :'ctx'), '""', 'coercion: blanks are ""');
SELECT is(noetl.render('"{{ nope }}"', :'ctx'), '""', 'coercion: Undefined renders as ""');
SELECT is(noetl.render('"id-{{ s.x }}"', :'ctx'), '"id-1"', 'coercion: other text stays text');
SELECT is(noetl.render('"{{ ''{1, 2}'' | trim }}"', :'ctx'), '"{1, 2}"', 'coercion: a set cannot be JSON: the text stays');
SELECT is(noetl.render('"{{ ''[1e400]'' | trim }}"', :'ctx'), '"[1e400]"', 'coercion: infinity cannot be JSON: the text stays');
SELECT is(noetl.render('"{{ ''[1, 2'' | trim }}"', :'ctx'), '"[1, 2"', 'coercion: what is no literal stays text');
SELECT is(noetl.render('"{{ x | trim }}"', jsonb_build_object('x', repeat('[', 5000) || repeat(']', 5000))),
          to_jsonb(repeat('[', 5000) || repeat(']', 5000)), 'coercion: nesting beyond noetl.max_json_depth stays text');
SELECT is(noetl.render_text('{{ workload.user_data | tojson }}', :'ctx'), '{"n": 2, "name": "ann"}',
          'render_text returns text: no coercion');

-- conditions: rendered as above, then a bool is itself, a string true/1/yes, anything else Python's bool()
SELECT ok(noetl.truthy('{{ r.n }}', '{"r": {"n": 2}}'), 'truthy: 2 is true, as bool(2)');
SELECT ok(NOT noetl.truthy('{{ r.n }}', '{"r": {"n": 0}}'), 'truthy: 0 is false');
SELECT ok(noetl.truthy('r.items', '{"r": {"items": [0]}}'), 'truthy: a non-empty list is true');
SELECT ok(NOT noetl.truthy('{{ r.items }}', '{"r": {"items": {}}}'), 'truthy: an empty mapping is false');
SELECT ok(NOT noetl.truthy('{{ r.s | trim }}', '{"r": {"s": " 2 "}}'), 'truthy: a string value is judged by its text ("2" is false), as the else of a next negates it');
SELECT ok(noetl.truthy('{{ r.s }}{{ r.s }}', '{"r": {"s": "2"}}'), 'truthy: rendered text is coerced ("22" is 22, true)');
SELECT ok(NOT noetl.truthy('{{ r.s }}', '{"r": {"s": "no"}}'), 'truthy: a string other than true/1/yes is false');

-- the broker: a step reads a result without "data", a key named items, a tojson'd dict
SELECT noetl.register($$
metadata: {path: tests/render/reads}
workload:
  run_id: "{{ execution_id }}"
  base: "b-{{ execution_id }}"
  url: "{{ workload.base }}/x"
  deeper: "{{ workload.url }}/y"
  stamp: "{{ now() }}"
  nested: {id: "n-{{ execution_id }}"}
  pg_auth: "{{ workload.pg_auth }}"
  user_data: {name: ann, n: 2}
  later: {sql: "INSERT {{ item.name }} {{ execution_id }}", when: "{{ result is defined }}"}
workflow:
  - step: start
    tool: python
    code: x
    next:
      - step: b
        when: "{{ start.data.ok }}"
      - step: c
        when: "{{ start.data.items }}"
      - step: d
        when: "{{ start.data.items | length == 5 }}"
  - step: b
    tool: python
    code: x
    args:
      x: "{{ start.data.x }}"
      items: "{{ start.items }}"
      user: "{{ workload.user_data | tojson }}"
      run: "{{ workload.run_id }}"
      url: "{{ workload.deeper }}"
  - step: c
    tool: python
    code: x
  - step: d
    tool: python
    code: x
$$) \g /dev/null
SELECT noetl.execute('tests/render/reads') AS e \gset
SELECT is(pg_temp.work(:e, '{"start": {"ok": true, "x": 7, "items": [1, 2]}}'), 3, 'three tasks ran');
SELECT set_eq($$SELECT node_id FROM noetl.queue WHERE execution_id = $$ || :e, ARRAY['start', 'b', 'c'],
              'broker: when {{ start.data.items }} (a non-empty list) fires, and a false condition does not');
SELECT is((SELECT result FROM noetl.event WHERE execution_id = :e AND event_type = 'step_completed' AND node_name = 'start'),
          '{"ok": true, "x": 7, "items": [1, 2]}', 'the result of start is stored without "data"');
SELECT is((SELECT action -> 'args' -> 'x' FROM noetl.queue WHERE execution_id = :e AND node_id = 'b'), '7',
          'broker: {{ start.data.x }} reads x of a result without "data"');
SELECT is((SELECT action -> 'args' -> 'items' FROM noetl.queue WHERE execution_id = :e AND node_id = 'b'), '[1, 2]',
          'broker: {{ start.items }} is the key "items"');
SELECT is((SELECT action -> 'args' -> 'user' FROM noetl.queue WHERE execution_id = :e AND node_id = 'b'), '{"n": 2, "name": "ann"}',
          'broker: a tojson''d dict reaches the args as a dict');
SELECT is((SELECT action -> 'args' -> 'run' FROM noetl.queue WHERE execution_id = :e AND node_id = 'b'), to_jsonb(:e::bigint),
          'broker: the workload''s run_id is the execution id');
SELECT is((SELECT action -> 'args' ->> 'url' FROM noetl.queue WHERE execution_id = :e AND node_id = 'b'), 'b-' || :e || '/x/y',
          'broker: workload keys use other keys, rendered');

-- the workload, rendered at start
SELECT is((SELECT workload -> 'run_id' FROM noetl.execution WHERE execution_id = :e), to_jsonb(:e::bigint),
          'workload: {{ execution_id }} is rendered at start (a number, as NoETL''s plain path gives it)');
SELECT is((SELECT workload ->> 'url' FROM noetl.execution WHERE execution_id = :e), 'b-' || :e || '/x',
          'workload: a value sees another key rendered');
SELECT is((SELECT workload -> 'nested' ->> 'id' FROM noetl.execution WHERE execution_id = :e), 'n-' || :e,
          'workload: nested values are rendered');
SELECT ok((SELECT workload ->> 'stamp' FROM noetl.execution WHERE execution_id = :e) ~ '^\d{4}-\d\d-\d\dT',
          'workload: now() is rendered');
SELECT is((SELECT workload ->> 'pg_auth' FROM noetl.execution WHERE execution_id = :e), '{{ workload.pg_auth }}',
          'workload: a key that names itself keeps its template');
SELECT is((SELECT workload -> 'later' FROM noetl.execution WHERE execution_id = :e),
          '{"sql": "INSERT {{ item.name }} {{ execution_id }}", "when": "{{ result is defined }}"}',
          'workload: a key whose templates name anything but workload and execution_id is kept as written');
SELECT noetl.execute('tests/render/reads', '{"pg_auth": "pg_local", "base": "given"}') AS g \gset
SELECT is((SELECT workload ->> 'pg_auth' || ' ' || (workload ->> 'url') FROM noetl.execution WHERE execution_id = :g),
          'pg_local given/x', 'workload: the values given at start are rendered too, and used');

-- a workload that cannot be rendered fails the execution at start, with the reason
SELECT noetl.register($$
metadata: {path: tests/render/bad_workload}
workload: {a: "{{ 1 / 0 }}"}
workflow:
  - step: start
    tool: python
    code: x
$$) \g /dev/null
SELECT noetl.execute('tests/render/bad_workload') AS bw \gset
SELECT results_eq($$SELECT status::text, error LIKE 'workload: key "a": template error%division by zero%' FROM noetl.execution WHERE execution_id = $$ || :bw,
                  $$VALUES ('failed'::text, true)$$, 'a workload template that raises fails the execution, with the reason');
SELECT is((SELECT count(*)::int FROM noetl.queue WHERE execution_id = :bw), 0, '... and queues nothing');
SELECT noetl.execute('tests/render/bad_workload', '{"a": "{{ workload.a }}x"}') AS cy \gset
SELECT results_eq($$SELECT status::text, error LIKE 'workload: its values still change after 8 renderings%' FROM noetl.execution WHERE execution_id = $$ || :cy,
                  $$VALUES ('failed'::text, true)$$, 'a workload whose values never settle fails the execution');

-- a condition that raises fails the execution, with the reason
SELECT noetl.register($$
metadata: {path: tests/render/bad_when}
workflow:
  - step: start
    tool: python
    code: x
    next:
      - {step: b, when: "{{ start.nope.x }}"}
  - step: b
    tool: python
    code: x
$$) \g /dev/null
SELECT noetl.execute('tests/render/bad_when') AS bc \gset
SELECT pg_temp.work(:bc, '{"start": {"ok": true}}') \g /dev/null
SELECT results_eq($$SELECT status::text, error LIKE 'condition of next[0] of step "start": %has no attribute ''nope''%' FROM noetl.execution WHERE execution_id = $$ || :bc,
                  $$VALUES ('failed'::text, true)$$, 'a condition that raises fails the execution, with the reason');
SELECT is((SELECT array_agg(event_type ORDER BY event_id) FILTER (WHERE event_type IN ('step_failed', 'execution_failed', 'warning'))
             FROM noetl.event WHERE execution_id = :bc), ARRAY['step_failed', 'execution_failed'],
          '... step_failed then execution_failed, no warning');

SELECT * FROM finish();
ROLLBACK;
