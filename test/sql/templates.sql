--
-- Templates: noetl.render_text, noetl.render, noetl.eval, noetl.truthy
--
\set ctx '{"x": 3, "y": 2.5, "s": "hello", "l": [3, 1, 2], "d": {"k": "v", "n": 2}, "n": null, "users": [{"name": "ann", "age": 31}, {"name": "Bob", "age": 25}]}'

-- output is Python's str(): True, None, repr() inside containers, shortest floats
SELECT noetl.render_text('{{ true }} {{ none }} {{ l }} {{ d }} {{ [1.0, "it''s", none] }} {{ 0.1 + 0.2 }} {{ 1e16 }}', :'ctx');

-- arithmetic as in Python (/ is float division, // and % floor), ints of any size
SELECT noetl.render_text('{{ 7 / 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 100 }} {{ 7.5 % 2 }} {{ x * y }}', :'ctx');

-- Jinja2's precedence: ** is left-associative, unary minus binds tighter
SELECT noetl.render_text('{{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ -x | abs }} {{ 2 * 3 ~ 4 }}', :'ctx');

-- undefined values print as nothing and are false; their attributes are errors
SELECT noetl.render_text('[{{ missing }}] [{{ d.missing }}] {{ missing is defined }} {{ "yes" if missing else "no" }}', :'ctx');
SELECT noetl.render_text('{{ missing.attr }}', :'ctx');

-- statements, loops and whitespace control
SELECT noetl.render_text(E'{% for u in users | sort(attribute="age") %}{{ loop.index }}. {{ u.name | title }}{% if not loop.last %}, {% endif %}{% endfor %}\n', :'ctx');
SELECT noetl.render_text(E'a  {%- if x > 2 -%}  big  {%- else -%}  small  {%- endif -%}  b', :'ctx');
SELECT noetl.render_text('{% for v in l if v > 1 %}{{ v }}{% else %}none{% endfor %} {% for v in [] %}x{% else %}empty{% endfor %}', :'ctx');

-- filters
SELECT noetl.render_text('{{ missing | default("dflt") }} {{ "" | default("e", true) }} {{ l | length }} {{ s | upper }} {{ "a-b c" | title }} {{ s | replace("l", "L", 1) }}', :'ctx');
SELECT noetl.render_text('{{ l | sort }} {{ l | sort(reverse=true) }} {{ [1, 1, 2] | unique | list }} {{ l | min }} {{ l | max }} {{ l | sum }} {{ l | join("-") }}', :'ctx');
SELECT noetl.render_text('{{ "42.7" | int }} {{ "x" | int(7) }} {{ "0x1A" | int(0, 16) }} {{ "2.5" | float }} {{ 2.5 | round }} {{ 2.675 | round(2) }} {{ 2.1 | round(0, "ceil") }} {{ -3 | abs }}', :'ctx');
SELECT noetl.render_text('{{ d | tojson }} {{ "<a&b>" | tojson }} {{ l | first }} {{ s | last }} {{ "  t  " | trim }} {{ 5 | string }} {{ "ab" | list }}', :'ctx');

-- tests
SELECT noetl.render_text('{{ x is number }} {{ s is string }} {{ d is mapping }} {{ s is sequence }} {{ n is none }} {{ true is true }} {{ 1 is true }} {{ x is not defined }}', :'ctx');

-- range() and dict()
SELECT noetl.render_text('{{ range(3) }} {{ range(1, 10, 4) | list }} {{ dict(a=1, b=[2]) }}', :'ctx');
-- a range whose span does not fit in 64 bits: four items, as in Python
SELECT noetl.render_text('{{ range(-9223372036854775808, 9223372036854775807, 2**62) | list }} {{ range(9223372036854775807, -9223372036854775808, -4611686018427387904) | length }}', '{}');

-- noetl.render keeps the JSON type of a string that is one {{ expr }}
SELECT noetl.render('{"n": "{{ x }}", "f": "{{ y }}", "list": "{{ l | sort }}", "text": "x={{ x }}", "missing": "{{ nope }}", "kept": 5, "nested": ["{{ d }}", {"b": "{{ x > 2 }}"}]}', :'ctx');
-- functions noetl does not have are left for the worker
SELECT noetl.render('{"auth": "{{ vault(workload.auth) }}", "n": "{{ x }}"}', :'ctx');
-- token() and secret() work only in a task's fields (test/pgtap/secrets.sql)
SELECT noetl.render('{"auth": "Bearer {{ token(''api'') }}", "n": "{{ x }}"}', :'ctx');
SELECT noetl.render('"{{ s | upper }}"', :'ctx'), noetl.render('"plain"', :'ctx'), noetl.render('7', :'ctx');

-- noetl.eval returns the value of a bare expression
SELECT noetl.eval('users | map_not_needed if false else users[1]', :'ctx');
SELECT noetl.eval('l | sort | first', :'ctx'), noetl.eval('x / 2', :'ctx'), noetl.eval('missing', :'ctx');

-- noetl.truthy: bare expressions are wrapped; true, 1 and yes are true
SELECT noetl.truthy('x > 2', :'ctx'), noetl.truthy('{{ x > 5 }}', :'ctx'), noetl.truthy('{{ 1 }}', :'ctx'),
       noetl.truthy('{{ 2 }}', :'ctx'), noetl.truthy('{{ "YES" }}', :'ctx'), noetl.truthy(' {{ "true" }} ', :'ctx'),
       noetl.truthy('{{ missing }}', :'ctx'), noetl.truthy('true', '{}');

-- errors name the template and the position (SQLSTATE 22023)
\set VERBOSITY default
SELECT noetl.render_text('{{ x | nosuchfilter }}', :'ctx');
SELECT noetl.render_text('{% macro m() %}{% endmacro %}', :'ctx');
SELECT noetl.render_text('{{ 1 / 0 }}', :'ctx');
SELECT noetl.render_text('{{ "a" + 1 }}', :'ctx');
SELECT noetl.render_text('{{ l[1:2] }}', :'ctx');
SELECT noetl.render_text('{% if x %}unclosed', :'ctx');
SELECT noetl.render_text('{{ d.items }}', :'ctx');
SELECT noetl.render_text('{{ x }}', '[1, 2]');
SELECT noetl.eval('x +', :'ctx');
-- a long template is cut in the detail at a character boundary
SELECT noetl.render_text('a' || repeat('é', 150) || '{{ 1 / 0 }}', '{}');

--
-- Budgets: every rendering is bounded, and says which setting stopped it
-- (SQLSTATE 54000)
--
-- steps: one per node, statement and loop iteration
SET noetl.template_max_steps = 1000;
SELECT noetl.render_text('{% for i in range(100) %}{{ i }}{% endfor %}', '{}') IS NOT NULL AS fits;
SELECT noetl.render_text('{% for i in range(1000) %}{{ i }}{% endfor %}', '{}');
-- ... and one per element an operation touches, or per 64 bytes: an O(n)
-- operation is not one step
SELECT noetl.eval('range(5000) | list | length', '{}');
SELECT noetl.eval('("ab" * 100000) | replace("a", "c") | length', '{}');
SELECT noetl.eval('"x" * 100000 == "x" * 100000', '{}');
-- every entry point has its budget
SELECT noetl.truthy('range(5000) | list | length > 0', '{}');
SELECT noetl.render('{"n": "{{ range(5000) | sort | length }}"}', '{}');
RESET noetl.template_max_steps;
-- a failed rendering leaves nothing behind for the next one
SELECT noetl.eval('range(5000) | list | length', '{}');

-- memory: refused before it is allocated
SELECT noetl.eval('("x" * 100000000) | length', '{}');
SET noetl.template_max_memory = '1MB';
SELECT noetl.eval('range(100000) | list | length', '{}');
SELECT noetl.eval('((range(1000) | list) * 1000) | length', '{}');
RESET noetl.template_max_memory;
-- a loop holds only what one iteration needs
SET noetl.template_max_steps = 100000000;
SELECT length(noetl.render_text('{% for i in range(50) %}{{ (range(100000) | list)[i] }}{% endfor %}', '{}'));
RESET noetl.template_max_steps;

-- range() refuses more than noetl.template_max_range items (Jinja2's sandbox: 100000)
SELECT noetl.eval('range(100000) | length', '{}');
SELECT noetl.eval('range(100001) | length', '{}');
SELECT noetl.eval('range(0, 10000000, 100) | length', '{}'), noetl.eval('range(10, -10, -1) | length', '{}');
SET noetl.template_max_range = 10;
SELECT noetl.render_text('{% for i in range(11) %}{% endfor %}', '{}');
RESET noetl.template_max_range;
-- membership in a range is computed, not searched
SELECT noetl.eval('[99999 in range(100000), 3 in range(0, 10, 3), 4 in range(0, 10, 3), -5 in range(0, -10, -1), 3.0 in range(5)]', '{}');

-- ints of more than 4300 digits are not printed, as Python 3.11 refuses
SELECT noetl.render_text('{{ (10 ** 4000 * 10 ** 4000) > 0 }}', '{}');
SELECT noetl.render_text('{{ 10 ** 4000 * 10 ** 4000 }}', '{}');
SELECT noetl.render_text('{{ ("1" * 5000) | int }}', '{}');
-- and int literals of more than 4300 digits are refused, as Jinja2's int()
-- refuses them; a hexadecimal literal may be longer, but not printed
SELECT noetl.render_text('{{ ' || repeat('1', 4300) || ' > 1 }}', '{}');
SELECT noetl.render_text('{{ ' || repeat('1', 4301) || ' > 1 }}', '{}');
SELECT noetl.render_text('{{ 0x' || repeat('f', 5000) || ' > 1 }}', '{}');

-- whitespace: a condition is stripped as str.strip() strips (U+00A0,
-- U+2003), and so is the text around a single {{ expr }}, which keeps its type
SELECT noetl.truthy(E'{{ "\u00a0yes\u2003" }}', '{}') AS nbsp_yes,
       noetl.truthy(E'\u3000true\u3000', '{}') AS ideographic_true;
SELECT noetl.render(to_jsonb(E'\u00a0{{ x }}\u2003'::text), '{"x": 3}') AS typed,
       noetl.render(to_jsonb(E'\u00a0{{ x }}.'::text), '{"x": 3}') AS text;

--
-- No operation is quadratic: 100,000 keys go through every path well within
-- a statement timeout that quadratic code cannot meet
--
CREATE TEMP TABLE big AS
SELECT jsonb_build_object('w', (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 100000) i),
                          'x', 1) AS ctx,
       (SELECT jsonb_object_agg('k' || i, '{{ x + ' || i || ' }}') FROM generate_series(1, 100000) i) AS tpl;
SET statement_timeout = '20s';
SET noetl.template_max_steps = 10000000;
-- dicts are hashed: built key by key, and read in a loop
SELECT noetl.eval('dict(w) | length', ctx) FROM big;
SELECT noetl.render_text('{% for d in [w] %}{% for k in d %}{% if d[k] < 1 %}x{% endif %}{% endfor %}{% endfor %}', ctx) = '' AS lookups FROM big;
SELECT noetl.eval('w | unique | list | length', ctx) FROM big;
SELECT noetl.eval('(w | tojson | length) > 1000000', ctx) FROM big;
SELECT noetl.eval('w | sort | last', ctx) FROM big;
-- a template object of 100,000 strings
WITH r AS MATERIALIZED (SELECT noetl.render(tpl, ctx) AS j FROM big)
SELECT (SELECT count(*) FROM jsonb_object_keys(j)) AS keys, j -> 'k99999' AS last FROM r;
-- substring search and replace are linear whatever the text
SELECT noetl.eval('("a" * 100000 ~ "b") in ("a" * 10000000)', '{}') FROM big;
SELECT noetl.eval('("a" * 10000000) | replace("a" * 100000 ~ "b", "") | length', '{}') FROM big;
RESET noetl.template_max_steps;
RESET statement_timeout;

-- a rendering that would run for minutes is stopped by statement_timeout
SET noetl.template_max_steps = 2147483647;
SET noetl.template_max_memory = '1GB';
SET statement_timeout = '500ms';
SELECT noetl.render_text('{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}', '{}');
SELECT noetl.render_text('{% for i in range(100000) %}{{ ("a" * 1000000) | replace("a", "b") | length }}{% endfor %}', '{}');
RESET statement_timeout;
RESET noetl.template_max_memory;
RESET noetl.template_max_steps;
