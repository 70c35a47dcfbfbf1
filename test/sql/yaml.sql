--
-- noetl.yaml_to_jsonb: YAML read as PyYAML's safe_load reads it
--
-- YAML 1.1 scalars: booleans, nulls, ints in several bases, floats that need a dot
SELECT noetl.yaml_to_jsonb($$
bools: [yes, No, ON, off, true, y, n]
nulls: [~, null, '', "null"]
ints: [0, -17, 0x1F, 017, 0o17, 0b101, 1_000, 1:30, 99999999999999999999]
floats: [1.5, .5, 5., 1e3, 1.0e+3, 1_0.5, 190:20:30.15]
quoted: ["123", '1.5', "yes"]
$$);

-- floats keep a fractional digit so that jsonb tells them from integers
SELECT noetl.yaml_to_jsonb('[1.0, 1.0e+16, 1.5e-07, 0.1]');

-- timestamps become ISO 8601 text
SELECT noetl.yaml_to_jsonb($$[2001-12-14, 2001-12-14t21:59:43.10-05:00, 2001-12-14 21:59:43 Z, 2001-1-1]$$);

-- block scalars with every chomping mode
SELECT noetl.yaml_to_jsonb(E'clip: |\n  a\n  b\n\nkeep: |+\n  a\n\nstrip: >-\n  folded\n  text\n\nend: 1\n');

-- anchors, aliases and merge keys (explicit keys win; earlier merges win)
SELECT noetl.yaml_to_jsonb($$
a: &a {x: 1, y: 1}
b: &b {x: 2, z: 2}
c:
  <<: [*a, *b]
  y: own
$$);

-- keys are compared as Python compares them; JSON spells them as json.dumps
SELECT noetl.yaml_to_jsonb(E'1: int\n1.0: float wins\ntrue: bool wins\n~: null key\n1.5: f\n');

-- ordered maps and pairs become lists of [key, value]
SELECT noetl.yaml_to_jsonb('!!omap [a: 1, b: 2]');

-- documents that are not mappings, and empty ones
SELECT noetl.yaml_to_jsonb('just text'), noetl.yaml_to_jsonb(''), noetl.yaml_to_jsonb('[]');

-- errors: SQLSTATE 22P02 with the line and column
\set VERBOSITY default
SELECT noetl.yaml_to_jsonb(E'a: 1\n b: 2\n');
SELECT noetl.yaml_to_jsonb(E'a: [1, 2\n');
SELECT noetl.yaml_to_jsonb(E'a: 1\n---\nb: 2\n');
SELECT noetl.yaml_to_jsonb(E'a: *missing\n');
SELECT noetl.yaml_to_jsonb(E'a: &x 1\nb: &x 2\n');
SELECT noetl.yaml_to_jsonb(E'a: 1\t# tab before a comment\n');
SELECT noetl.yaml_to_jsonb('a: !!int twelve');
SELECT noetl.yaml_to_jsonb('a: !custom x');
SELECT noetl.yaml_to_jsonb('a: .inf');
SELECT noetl.yaml_to_jsonb('a: &r [*r]');
SELECT noetl.yaml_to_jsonb(E'2001-01-01: date keys are not JSON\n');
-- aliases cannot blow a document up
SELECT noetl.yaml_to_jsonb($$
a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
$$);

--
-- Bounds (SQLSTATE 54000)
--
-- nesting deeper than noetl.max_json_depth, in the text or through aliases
SELECT noetl.yaml_to_jsonb(repeat('[', 128) || repeat(']', 128)) IS NOT NULL AS depth_128;
SELECT noetl.yaml_to_jsonb(repeat('[', 129) || repeat(']', 129));
SELECT noetl.yaml_to_jsonb(repeat('[', 100000));
SELECT noetl.yaml_to_jsonb(E'a: &a ' || repeat('[', 100) || repeat(']', 100) || E'\nb: ' || repeat('[', 28) || '*a' || repeat(']', 28));
SET noetl.max_json_depth = 8;
SELECT noetl.yaml_to_jsonb(E'a:\n b:\n  c:\n   d:\n    e:\n     f:\n      g:\n       h: [1]\n');
SELECT noetl.yaml_to_jsonb('!!omap [a: [[[[[[[1]]]]]]]]');
RESET noetl.max_json_depth;

-- merge keys repeat a mapping's pairs: they count towards the expansion
CREATE TEMP TABLE merges AS
SELECT E'big: &big {' || (SELECT string_agg(format('k%s: 1', i), ', ') FROM generate_series(1, 20000) i) ||
       E'}\nlist:\n' || repeat(E'  - {<<: *big}\n', 200) AS doc;
SELECT noetl.yaml_to_jsonb(doc) FROM merges;

-- ints beyond the 4300 digits Python 3.11 converts or prints
SELECT length(noetl.yaml_to_jsonb('a: ' || repeat('7', 4300))::text);
SELECT noetl.yaml_to_jsonb('a: ' || repeat('7', 4301));
SELECT length(noetl.yaml_to_jsonb('a: 0x' || repeat('f', 200000))::text);
SELECT noetl.yaml_to_jsonb('a: 0x' || repeat('0', 100000) || 'ff');

-- a block scalar libyaml needs spelt out costs one more pass: at most 64
SELECT noetl.yaml_to_jsonb(E'a: |\n  \tx\nb: |\n   \ty\n');
SELECT noetl.yaml_to_jsonb((SELECT string_agg(format(E'k%s: |\n  \tx', i), E'\n') FROM generate_series(1, 65) i));

--
-- No step is quadratic: 100,000 anchors and keys, 500,000 merge keys,
-- within a timeout that quadratic code cannot meet
--
CREATE TEMP TABLE wide AS
SELECT (SELECT string_agg(format('k%s: &a%s %s', i, i, i), E'\n') FROM generate_series(1, 100000) i) ||
       E'\nall: [' || (SELECT string_agg(format('*a%s', i), ', ') FROM generate_series(1, 100000) i) || ']' AS anchors,
       E'base: &b {x: 1}\nm:\n' || repeat(E'  <<: *b\n', 500000) AS merged,
       (SELECT string_agg(format('k%s: v', i), E'\n') FROM generate_series(1, 100000) i) AS keys;
SET statement_timeout = '20s';
SELECT jsonb_array_length(noetl.yaml_to_jsonb(anchors) -> 'all') FROM wide;
SELECT noetl.yaml_to_jsonb(merged) -> 'm' FROM wide;
SELECT noetl.yaml_to_jsonb(keys) -> 'k100000' FROM wide;
RESET statement_timeout;

-- reading stops promptly on a statement timeout, even inside one token
SET statement_timeout = '200ms';
SELECT noetl.yaml_to_jsonb(repeat(keys || E'\n', 20)) IS NULL FROM wide;
SET statement_timeout = '100ms';
SELECT noetl.yaml_to_jsonb('a: "' || repeat('x', 100000000) || '"') IS NULL;
RESET statement_timeout;

-- an error quotes at most 200 bytes of the scalar, cut at a character
SELECT noetl.yaml_to_jsonb('!!int "' || repeat('é', 150) || '"');
