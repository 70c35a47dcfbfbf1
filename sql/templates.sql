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

-- noetl.render keeps the JSON type of a string that is one {{ expr }}
SELECT noetl.render('{"n": "{{ x }}", "f": "{{ y }}", "list": "{{ l | sort }}", "text": "x={{ x }}", "missing": "{{ nope }}", "kept": 5, "nested": ["{{ d }}", {"b": "{{ x > 2 }}"}]}', :'ctx');
-- functions only workers provide are left for the worker
SELECT noetl.render('{"auth": "{{ token(workload.auth) }}", "n": "{{ x }}"}', :'ctx');
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
