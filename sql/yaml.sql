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
