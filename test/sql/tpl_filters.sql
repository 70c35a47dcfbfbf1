--
-- Template filters and tests of issue 12: NoETL's b64encode, the bounds of
-- the filters that write or allocate in proportion to an argument, and the
-- errors (the differential test compares results with Jinja2; this file
-- pins the messages).
--
\set ctx '{"x": 3, "l": [1, 2, 3], "d": {"k": "v", "n": 2}, "users": [{"name": "ann", "age": 31}, {"name": "Bob", "age": 25}, {"name": "cy", "age": 31}]}'

-- NoETL's b64encode: UTF-8 of a string, str() of anything else
SELECT noetl.render_text('{{ "héllo" | b64encode }} {{ d | b64encode }} {{ 5 | b64encode }} {{ none | b64encode }} [{{ missing | b64encode }}] {{ d | tojson | b64encode }}', :'ctx');
-- noetl's b64decode (NoETL has none): base64.b64decode(s).decode("utf-8")
SELECT noetl.render_text('{{ "aMOpbGxv" | b64decode }} {{ d | tojson | b64encode | b64decode }}', :'ctx');
SELECT noetl.render_text('{{ "aGVsbG8" | b64decode }}', :'ctx');
SELECT noetl.render_text('{{ "AA==" | b64decode }}', :'ctx');
SELECT noetl.render_text('{{ "/w==" | b64decode }}', :'ctx');

-- map, select, groupby: lazy results are consumed, printing one is refused
SELECT noetl.render_text('{{ users | map(attribute="name") | join(",") }} {{ users | selectattr("age", "gt", 30) | map(attribute="name") | list }} {{ l | reject("odd") | list }}', :'ctx');
SELECT noetl.render_text('{% for g in users | groupby("age") %}{{ g.grouper }}={{ g.list | map(attribute="name") | join("/") }};{% endfor %} {{ users | groupby("age") | first }}', :'ctx');
SELECT noetl.render_text('{{ l | map("string") }}', :'ctx');
SELECT noetl.render_text('{{ l | map("nosuch") | list }}', :'ctx');
SELECT noetl.render_text('{{ l | map("wordwrap") | list }}', :'ctx');
SELECT noetl.render_text('{{ l | select("nosuch") | list }}', :'ctx');
SELECT noetl.render_text('{{ l | map("string") | length }}', :'ctx');
SELECT noetl.render_text('{{ d | dictsort }} {{ d | items | list }} {{ x is divisibleby 3 }} {{ x is in l }} {{ l | select(">", 1) | list }}', :'ctx');

-- sizes are bounded: by the argument before anything is written, by
-- noetl.template_max_memory as it is written
SELECT noetl.render_text('{{ "x" | center(10**9) }}', :'ctx');
SELECT noetl.render_text('{{ "x" | center(10**30) }}', :'ctx');
SELECT noetl.render_text(E'{{ "a\\nb" | indent(10**8) }}', :'ctx');
SELECT noetl.render_text('{{ l | batch(10**9, "x") | list }}', :'ctx');
SELECT noetl.render_text('{{ l | slice(10**9) | list }}', :'ctx');
SELECT noetl.render_text('{{ l | batch(0) | list }} {{ l | batch(-1) | list }}', :'ctx');
SELECT noetl.render_text('{{ l | slice(0) | list }}', :'ctx');

-- arguments are checked as Python checks them
SELECT noetl.render_text('{{ "abc" | truncate(2) }}', :'ctx');
SELECT noetl.render_text('{{ d | dictsort(by="size") }}', :'ctx');
SELECT noetl.render_text('{{ l | items | list }}', :'ctx');
SELECT noetl.render_text('{{ 5 | reverse }}', :'ctx');
SELECT noetl.render_text('{{ x is divisibleby 0 }}', :'ctx');
SELECT noetl.render_text('{{ x is divisibleby(n=3) }}', :'ctx');
SELECT noetl.render_text('{{ "%d" is odd }}', :'ctx');
SELECT noetl.render_text('{{ "%s" | format(1) }}', :'ctx');
SELECT noetl.render_text('{{ "wordwrap" is filter }}', :'ctx');

-- unknown filters and tests are refused when the template is parsed
SELECT noetl.render_text('{{ x | nosuch }}', :'ctx');
SELECT noetl.render_text('{{ x is nosuch }}', :'ctx');
