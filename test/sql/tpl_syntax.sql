--
-- Templates, the syntax of issue 12: method calls, set, tuple unpacking in
-- for, slices, tuples and % formatting.  Jinja2's agreement is tested by
-- test/tap/template_differential.py (test/templates/syntax.yaml); this file
-- pins what noetl alone decides: the errors naming what it refuses, and
-- the limits every new construct respects.
--
\set ctx '{"s": "a,b,c", "l": [3, 1, 2], "d": {"k": "v", "n": 2}, "w": {"items": [1], "name": "job-7"}}'

-- what works: one of each
SELECT noetl.render_text('{{ s.split(",") }} {{ d.get("x", 0) }} {% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {{ l[::-1] }} {{ (1,) }} {{ "%s-%03d" % ("run", 7) }}', :'ctx');
SELECT noetl.render_text('{% set n = 0 %}{% for i in l %}{% set n = i %}{% endfor %}{{ n }} {% set a, b = l[:2] %}{{ a + b }} {% set t | upper %}{{ w.name }}{% endset %}{{ t }}', :'ctx');
-- noetl.render keeps the type of a single expression: a tuple is a JSON array
SELECT noetl.render('"{{ (1, \"a\") }}"'::jsonb, :'ctx'), noetl.eval('s.split(",")[1:]', :'ctx');

-- refused, naming the method or the construct
SELECT noetl.render_text('{{ l.append(4) }}', :'ctx');
SELECT noetl.render_text('{{ d.update({}) }}', :'ctx');
SELECT noetl.render_text('{{ s.casefold() }}', :'ctx');
SELECT noetl.render_text('{{ d.items }}', :'ctx');
SELECT noetl.render_text('{{ "%a" % s }}', :'ctx');
SELECT noetl.render_text('{% set ns = namespace(n=0) %}', :'ctx');
SELECT noetl.render_text('{% for (a, (b, c)) in [] %}{% endfor %}', :'ctx');
SELECT noetl.render_text('{{ d.keys() - ["k"] }}', :'ctx');
-- Python's errors, as Jinja2 raises them
SELECT noetl.render_text('{% for a, b in [[1, 2, 3]] %}{% endfor %}', :'ctx');
SELECT noetl.render_text('{% set a, b = 5 %}', :'ctx');
SELECT noetl.render_text('{{ l[::0] }}', :'ctx');
SELECT noetl.render_text('{{ "%s %s" % (1,) }}', :'ctx');
SELECT noetl.render_text('{{ "%d" % s }}', :'ctx');
-- an endset closes only a block set
SELECT noetl.render_text('{% set x = 1 %}{% endset %}', :'ctx');

-- limits: widths and repetitions are bounded by the memory budget, and a
-- width too large to be a real one is refused before any work
SET noetl.template_max_memory = '1MB';
SELECT noetl.render_text('{{ s.ljust(100000000) }}', :'ctx');
SELECT noetl.render_text('{{ "%9999999d" % 1 }}', :'ctx');
SELECT noetl.render_text('{{ "%900000d" % 1 }}', :'ctx');
SELECT noetl.render_text('{{ "%.900000f" % 1 }}', :'ctx');
SELECT noetl.render_text('{{ "%900000.2f" % 1 }}', :'ctx');
SELECT noetl.render_text('{{ (s * 100000).split(",") | length }}', :'ctx');
-- what a set binds in a loop is dropped with its iteration: a long loop
-- that sets a large value each time stays within the memory budget
SELECT noetl.render_text('{% for i in range(500) %}{% set x = "ab" * 5000 %}{% set p | length %}{{ x }}{% endset %}{% endfor %}done', :'ctx');
RESET noetl.template_max_memory;
-- and the steps: a quadratic rfind is charged per candidate
SET noetl.template_max_steps = 100000;
SELECT noetl.render_text('{{ ("a" * 200000).rfind("a" * 5000 ~ "b") }}', :'ctx');
SELECT noetl.render_text('{{ ("a" * 20000).rsplit("a" * 500 ~ "b") | length }}', :'ctx');
RESET noetl.template_max_steps;
-- a statement timeout cancels a long method call loop
SET noetl.template_max_steps = 2147483647;
SET statement_timeout = '300ms';
SELECT noetl.render_text('{% for i in range(100000) %}{% for j in range(100000) %}{{ "x,y".split(",")[0] }}{% endfor %}{% endfor %}', '{}') IS NULL;
RESET statement_timeout;
RESET noetl.template_max_steps;
-- nesting is bounded by the stack
SELECT noetl.render_text('{{ ' || repeat('(', 20000) || '1,' || repeat(')', 20000) || ' }}', '{}');
