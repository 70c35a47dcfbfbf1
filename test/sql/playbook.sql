--
-- noetl.parse_playbook: validation and normalisation of playbooks
--
-- both DSL eras normalise to one shape: tool, args, next as a list
SELECT jsonb_pretty(noetl.parse_playbook($$
metadata: {name: shapes, path: tests/shapes}
workflow:
  - step: start
    next: first
  - step: first
    type: python
    with: {a: 1}
    data: {b: 2}
    code: "def main(a, b): return a + b"
    next:
      - when: "{{ result > 2 }}"
        then: [big, {step: other, args: {x: 1}}]
      - step: end
  - step: big
    tool: http
    url: http://localhost/
    next: [end]
  - step: other
    tool: router
    next: [{step: end}]
  - step: end
$$) -> 'workflow');

-- era-b iterator with task: and save: becomes loop: and sink:
SELECT jsonb_pretty(noetl.parse_playbook($$
metadata: {name: loops}
workflow:
  - step: start
    type: iterator
    collection: "{{ workload.items }}"
    element: item
    task:
      type: python
      code: "def main(item): return item"
      save: {storage: postgres, table: t}
    next: end
  - step: end
$$) -> 'workflow' -> 0);

-- workbook steps are resolved, the step's own fields winning
SELECT jsonb_pretty(noetl.parse_playbook($$
metadata: {path: tests/wb}
workbook:
  - name: calc
    tool: python
    code: "def main(x, y): return x"
    args: {x: 1, y: 2}
workflow:
  - step: start
    type: workbook
    name: calc
    args: {y: 3}
$$) -> 'workflow' -> 0);

-- JSON text is read by the JSON parser (1e5 is a number there, a string in YAML 1.1)
SELECT noetl.parse_playbook('{"metadata": {"path": "j"}, "workload": {"n": 1e5}, "workflow": [{"step": "start"}]}') -> 'workload';
SELECT noetl.parse_playbook(E'metadata: {path: y}\nworkload: {n: 1e5}\nworkflow: [{step: start}]') -> 'workload';

-- refusals name the location
SELECT noetl.parse_playbook('[1, 2]');
SELECT noetl.parse_playbook('{"a": 1}');
SELECT noetl.parse_playbook(E'kind: Credential\nmetadata: {name: x}\nworkflow: [{step: start}]');
SELECT noetl.parse_playbook(E'workflow: [{step: start}]');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow: []');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow: {step: start}');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: begin\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n  - step: a\n  - step: a\n');
-- the first repeated name in document order is reported, with its first step
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow: [{step: start}, {step: z}, {step: b}, {step: z}, {step: b}, {step: z}]\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkbook: [{name: v, tool: python}, {name: w, tool: http}, {name: w, tool: http}, {name: v, tool: http}]\nworkflow: [{step: start}]\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n  - step: ""\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n  - desc: no name\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    next: [{step: a}, {step: hot_pat}]\n  - step: a\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    next: [{stpe: a}]\n  - step: a\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    next: [{step: a, wehn: x}]\n  - step: a\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    next: [42]\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    next: [{step: start, when: [1]}]\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    type: workbook\n    name: nope\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: python\n    type: http\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    type: iterator\n    collection: [1]\n    element: i\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: python\n    loop: {collection: [1]}\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: python\n    loop: {in: [1], iterator: i, where: x}\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: python\n    retry: {max_attempt: 3}\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: playbook\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: python\n    args: "{{ workload }}"\n    with: {a: 1}\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow: [{step: start}]\nworkload: [1]\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkbook: [{name: w, tool: python}, {name: w, tool: http}]\nworkflow: [{step: start}]\n');
SELECT noetl.parse_playbook(E'metadata: {name: x\nworkflow: [{step: start}]\n');

--
-- Settings the broker and the workers act on are checked against their
-- ranges (SQLSTATE 22023), in steps and in workbook entries alike
--
CREATE TEMP TABLE step_settings(setting text);
INSERT INTO step_settings VALUES
  ('retry: 99999999999'), ('retry: 0'), ('retry: 2.5'), ('retry: "3"'),
  ('retry: {max_attempts: 10001}'), ('retry: {max_attempts: 3.7}'), ('retry: {max_attempts: 3.0}'),
  ('retry: {initial_delay: 1.0e+13}'), ('retry: {delay: -1}'), ('retry: {max_delay: "60"}'),
  ('retry: {backoff_multiplier: 1001}'), ('retry: {jitter: "yes"}'), ('retry: {jitter: 1}'),
  ('retry: {retry_when: [1]}'), ('retry: {stop_when: 3}'),
  ('priority: 99999999999'), ('priority: -1000001'), ('priority: 1.5'), ('priority: high'),
  ('timeout: 0'), ('timeout: -3'), ('timeout: 31536001'), ('timeout: "30s"');
DO $$
DECLARE
  s record;
BEGIN
  FOR s IN SELECT setting FROM step_settings LOOP
    BEGIN
      PERFORM noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: python\n    ' || s.setting || E'\n');
      RAISE NOTICE '%: accepted', s.setting;
    EXCEPTION WHEN invalid_parameter_value THEN
      RAISE NOTICE '%: %', s.setting, SQLERRM;
    END;
  END LOOP;
END
$$;
-- what is in range is kept as written
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: python\n    priority: -1000000\n    timeout: 0.5\n    retry: {max_attempts: 10000, initial_delay: 0, delay: 1.5, max_delay: 31536000, backoff_multiplier: 0.5, jitter: true, retry_when: "{{ error }}", stop_when: false}\n') -> 'workflow' -> 0;
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: python\n    retry: 10000\n    priority: 1000000\n    timeout: 31536000\n') -> 'workflow' -> 0;
SELECT noetl.parse_playbook('{"metadata": {"name": "x"}, "workflow": [{"step": "start", "tool": "python", "retry": 1e3, "priority": 1E+2}]}') -> 'workflow' -> 0;
-- workbook entries are checked where they are written
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkbook:\n  - {name: t, tool: python, retry: {max_attempts: 0}}\nworkflow:\n  - {step: start, tool: workbook, name: t}\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkbook:\n  - {name: t, tool: python, priority: 2000000}\nworkflow:\n  - {step: start, tool: workbook, name: t}\n');

-- JSON text nested deeper than noetl.max_json_depth is refused (SQLSTATE 54000)
SELECT noetl.parse_playbook('{"metadata": {"name": "x"}, "workflow": [{"step": "start"}], "workload": {"a": ' || repeat('[', 126) || repeat(']', 126) || '}}') -> 'workload' IS NOT NULL AS depth_128;
SELECT noetl.parse_playbook('{"metadata": {"name": "x"}, "workflow": [{"step": "start"}], "workload": {"a": ' || repeat('[', 127) || repeat(']', 127) || '}}');
SELECT noetl.parse_playbook('{"metadata": {"name": "x"}, "workload": ' || repeat('[', 100000));

--
-- No step is quadratic: 100,000 workload keys, inputs or steps go through
-- reading, validation and normalisation within a timeout that quadratic
-- code cannot meet
--
CREATE TEMP TABLE big_playbooks AS
SELECT E'metadata: {name: wide}\nworkload:\n' ||
           (SELECT string_agg(format('  k%s: "{{ workload.k%s }}"', i, i), E'\n') FROM generate_series(1, 100000) i) ||
           E'\nworkflow:\n  - step: start\n' AS yaml,
       jsonb_build_object('metadata', jsonb_build_object('name', 'wide'),
                          'workload', (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 100000) i),
                          'workflow', jsonb_build_array(jsonb_build_object('step', 'start')))::text AS json,
       E'metadata: {name: merge}\nworkflow:\n  - step: start\n    tool: python\n    with:\n' ||
           (SELECT string_agg(format('      a%s: 1', i), E'\n') FROM generate_series(1, 100000) i) ||
           E'\n    args:\n' ||
           (SELECT string_agg(format('      a%s: 2', i), E'\n') FROM generate_series(50001, 150000) i) || E'\n' AS merge,
       E'metadata: {name: wb}\nworkbook:\n' ||
           (SELECT string_agg(format('  - {name: t%s, tool: python, code: x}', i), E'\n') FROM generate_series(1, 50000) i) ||
           E'\nworkflow:\n  - {step: start, next: [s1]}\n' ||
           (SELECT string_agg(format('  - {step: s%s, tool: workbook, name: t%s}', i, 50001 - i), E'\n') FROM generate_series(1, 50000) i) ||
           E'\n' AS workbook;
SET statement_timeout = '20s';
SELECT noetl.parse_playbook(yaml) -> 'workload' -> 'k100000' FROM big_playbooks;
SELECT noetl.parse_playbook(json) -> 'workload' -> 'k100000' FROM big_playbooks;
SELECT p -> 'args' -> 'a1' AS first, p -> 'args' -> 'a100000' AS both, p -> 'args' -> 'a150000' AS last,
       (SELECT count(*) FROM jsonb_object_keys(p -> 'args')) AS n
  FROM (SELECT noetl.parse_playbook(merge) -> 'workflow' -> 0 AS p FROM big_playbooks) t;
SELECT noetl.parse_playbook(workbook) -> 'workflow' -> 50000 FROM big_playbooks;
RESET statement_timeout;

-- reading and validating a huge playbook stop promptly on a statement timeout
SET statement_timeout = '300ms';
SELECT noetl.parse_playbook('{"metadata": {"name": "x"}, "workflow": [{"step": "start"}], "workload": {"a": [' ||
                            repeat('"{{ x }}", ', 2000000) || '"{{ x }}"]}}') IS NULL;
SELECT noetl.parse_playbook(regexp_replace(json, '"workload": \{', '"workload": {' || repeat('"x": 1, ', 5000000))) IS NULL FROM big_playbooks;
RESET statement_timeout;

--
-- Every form NoETL accepted registers; what registration ignores is a
-- warning (noetl.check_playbook returns them, parse_playbook raises them)
--
-- the older v1 form: name and path at the top, no metadata; NoETL's order
-- is metadata.path, path, metadata.name, name, an empty one skipped
SELECT payload ->> 'path' AS path, payload ->> 'name' AS name, payload ? 'metadata' AS has_metadata, warnings
  FROM noetl.check_playbook(E'apiVersion: noetl.io/v1\nkind: Playbook\nname: v1\npath: tests/v1\nworkflow: [{step: start}]\n');
SELECT p ->> 'path' AS path, p ->> 'name' AS name FROM (VALUES
  (noetl.parse_playbook(E'name: only_name\nworkflow: [{step: start}]')),
  (noetl.parse_playbook(E'metadata: {name: m}\npath: top/path\nworkflow: [{step: start}]')),
  (noetl.parse_playbook(E'metadata: {path: m/path}\npath: top/path\nname: top\nworkflow: [{step: start}]')),
  (noetl.parse_playbook(E'metadata: {path: "", name: m}\nworkflow: [{step: start}]')),
  (noetl.parse_playbook(E'metadata: null\nname: n\nworkflow: [{step: start}]'))) v(p);
SELECT noetl.parse_playbook(E'metadata: [1]\nname: n\nworkflow: [{step: start}]');
SELECT noetl.parse_playbook(E'name: 5\nworkflow: [{step: start}]');
SELECT noetl.parse_playbook(E'metadata: {path: ""}\nworkflow: [{step: start}]');
-- era B read "steps" where there was no "workflow"
SELECT payload -> 'workflow' AS workflow, warnings FROM noetl.check_playbook(E'name: s\nsteps: [{step: start}]');
SELECT payload -> 'workflow' AS workflow, warnings FROM noetl.check_playbook(E'name: s\nworkflow: [{step: start}]\nsteps: [{step: other}]');
-- unknown keys: at the top, in a step, a workbook entry, an iterator's task, a next entry
SELECT unnest(warnings) FROM noetl.check_playbook($$
name: typos
descripton: top
workbook:
  - {name: w, tool: python, code: x, retyr: 3}
workflow:
  - step: start
    nexts: [a]
    next:
      - {step: a, wehn: "{{ true }}"}
  - step: a
    type: iterator
    collection: [1]
    element: i
    task: {type: python, code: x, argz: {}}
    next: [{stpe: b, step: b}]
  - {step: b, tool: workbook, name: w}
$$);
-- a warning is also a WARNING from parse_playbook; the payload is as before
SELECT noetl.parse_playbook(E'name: x\nworkflow:\n  - {step: start, tool: python, code: x, nexts: [a]}\n  - {step: a}\n') -> 'workflow' -> 0;
-- no warnings: an empty array
SELECT warnings FROM noetl.check_playbook(E'name: x\nworkflow: [{step: start}]');
-- at most 1,000 warnings, then their count
SELECT array_length(warnings, 1), warnings[1000], warnings[1001]
  FROM noetl.check_playbook(E'name: x\nworkflow:\n  - step: start\n' ||
                            (SELECT string_agg(format(E'    bad%s: 1\n', i), '') FROM generate_series(1, 1500) i));

-- next: "then" as a name, a mapping with args, a list; era B's "name" for "step"
SELECT jsonb_pretty(payload -> 'workflow' -> 0 -> 'next'), warnings FROM noetl.check_playbook($$
name: then
workflow:
  - step: start
    next:
      - when: "{{ workload.a }}"
        then: a
      - when: "{{ workload.b }}"
        then: {step: b, args: {x: 1}}
      - when: "{{ workload.c }}"
        then: [a, {step: b, with: {y: 2}}]
      - {name: c, when: "{{ workload.d }}"}
      - then: []
      - then: null
  - {step: a}
  - {step: b}
  - {step: c}
$$);
-- what NoETL's planner ignored beside "then" and inside its targets is a warning
SELECT jsonb_pretty(payload -> 'workflow' -> 0 -> 'next'), warnings FROM noetl.check_playbook($$
name: then
workflow:
  - step: start
    next:
      - when: "{{ workload.a }}"
        step: b
        args: {x: 1}
        wehn: x
        then: [{step: a, when: "{{ workload.z }}"}]
  - {step: a}
  - {step: b}
$$);
-- "else" runs when no condition before it in the list held (NoETL's
-- documented meaning; its broker dropped such entries)
SELECT jsonb_pretty(payload -> 'workflow' -> 0 -> 'next'), warnings FROM noetl.check_playbook($$
name: else
workflow:
  - step: start
    next:
      - when: "{{ workload.state == 'ready' }}"
        then: [a]
      - {step: b, when: "workload.flag"}
      - step: c
      - else: [end, {step: c, args: {why: else}}]
  - {step: a}
  - {step: b}
  - {step: c}
  - {step: end}
$$);
-- the else condition agrees with noetl.truthy on the conditions it negates
SELECT w ->> 'a' AS a, w ->> 'flag' AS flag,
       noetl.truthy('{{ workload.a == 1 }}', jsonb_build_object('workload', w)) AS then_fires,
       noetl.truthy('workload.flag', jsonb_build_object('workload', w)) AS when_fires,
       noetl.truthy((SELECT payload -> 'workflow' -> 0 -> 'next' -> 2 ->> 'when'
                       FROM noetl.check_playbook(E'name: e\nworkflow:\n  - step: start\n    next:\n      - {when: "{{ workload.a == 1 }}", then: [x]}\n      - {step: x, when: workload.flag}\n      - else: [x]\n  - {step: x}\n')),
                    jsonb_build_object('workload', w)) AS else_fires
  FROM (VALUES ('{"a": 1, "flag": false}'::jsonb), ('{"a": 2, "flag": " Yes "}'), ('{"a": 2, "flag": "no"}'),
               ('{"a": 2, "flag": 2}'), ('{"a": 2, "flag": 1}'), ('{"a": 2}')) v(w);
-- a condition that is a plain path is looked up key by key (a key named items is the key),
-- and so is its negation
SELECT w AS workload,
       noetl.truthy('{{ workload.items }}', jsonb_build_object('workload', w)) AS when_fires,
       noetl.truthy((SELECT payload -> 'workflow' -> 0 -> 'next' -> 1 ->> 'when'
                       FROM noetl.check_playbook(E'name: e\nworkflow:\n  - step: start\n    next:\n      - {when: "{{ workload.items }}", then: [x]}\n      - else: [x]\n  - {step: x}\n')),
                    jsonb_build_object('workload', w)) AS else_fires
  FROM (VALUES ('{"items": false}'::jsonb), ('{"items": true}'), ('{"items": []}'), ('{"items": [0]}')) v(w);
-- "when", "then" and "else" in one entry; else after a constant; else with nothing before it
SELECT e -> 'step' AS step, e -> 'when' AS "when" FROM jsonb_array_elements((SELECT payload -> 'workflow' -> 0 -> 'next' FROM noetl.check_playbook($$
name: else
workflow:
  - step: start
    next:
      - {when: "{{- workload.x -}}", then: a, else: b}
      - {when: false, then: a}
      - else: b
      - {when: true, then: a}
      - else: c
  - {step: a}
  - {step: b}
  - {step: c}
$$))) e;
SELECT payload -> 'workflow' -> 0 -> 'next' AS next, warnings FROM noetl.check_playbook(E'name: e\nworkflow:\n  - {step: start, next: [{else: [a]}]}\n  - {step: a}\n');
-- refused: an else after a condition that is not one expression, after
-- more than 64 conditions, a target that does not exist, an entry without a step
SELECT noetl.parse_playbook(E'name: e\nworkflow:\n  - step: start\n    next:\n      - {when: "{{ a }} and {{ b }}", then: [x]}\n      - else: [x]\n  - {step: x}\n');
SELECT noetl.parse_playbook(E'name: e\nworkflow:\n  - step: start\n    next:\n' ||
                            (SELECT string_agg(format(E'      - {when: "{{ workload.k%s }}", then: [x]}\n', i), '') FROM generate_series(1, 65) i) ||
                            E'      - else: [x]\n  - {step: x}\n');
SELECT noetl.parse_playbook(E'name: e\nworkflow:\n  - step: start\n    next:\n      - {when: x, then: [x]}\n      - else: [nope]\n  - {step: x}\n');
SELECT noetl.parse_playbook(E'name: e\nworkflow:\n  - step: start\n    next: [{when: x, wehn: y}]\n  - {step: x}\n');

-- loops keep NoETL's iterator settings, in both eras' spellings
SELECT jsonb_pretty(payload -> 'workflow' -> 0 -> 'loop') AS loop, payload -> 'workflow' -> 0 ? 'concurrency' AS left_on_step, warnings
  FROM noetl.check_playbook($$
name: it
workflow:
  - step: start
    type: iterator
    data: "{{ workload.items }}"
    element: item
    mode: Async
    concurrency: 4
    enumerate: true
    where: "{{ item.ok }}"
    order_by: "{{ item.n }}"
    limit: "10"
    chunk: 2
    task: {type: python, code: x}
$$);
SELECT jsonb_pretty(payload -> 'workflow' -> 0 -> 'loop') AS loop, warnings
  FROM noetl.check_playbook($$
name: it
workflow:
  - step: start
    tool: python
    code: x
    loop:
      collection: [1, 2]
      element: i
      mode: " SEQUENTIAL "
      concurrency: "{{ workload.n }}"
      limit: x
      chunk: 0
      max_in_flight: 3
      batch: 5
$$);
SELECT payload -> 'workflow' -> 0 -> 'loop' -> 'mode' AS mode, warnings
  FROM noetl.check_playbook(E'name: x\nworkflow:\n  - {step: start, tool: python, loop: {collection: [1], element: i, mode: fast}}\n');
SELECT noetl.parse_playbook(E'name: x\nworkflow:\n  - {step: start, tool: python, loop: {collection: [1], element: i, concurrency: 0}}\n');
SELECT noetl.parse_playbook(E'name: x\nworkflow:\n  - {step: start, tool: python, loop: {collection: [1], element: i, concurrency: many}}\n');
SELECT noetl.parse_playbook(E'name: x\nworkflow:\n  - {step: start, tool: python, loop: {collection: [1], element: i, enumerate: 1}}\n');
SELECT noetl.parse_playbook(E'name: x\nworkflow:\n  - {step: start, tool: python, loop: {collection: [1], element: i, max_in_flight: "3"}}\n');

-- script: kept as written for the worker; a source it cannot load, or a
-- tool that does not read scripts, is a warning; what NoETL always refused is refused
SELECT payload -> 'workflow' -> 0 -> 'script' AS script, warnings
  FROM noetl.check_playbook(E'name: x\nworkflow:\n  - {step: start, tool: python, script: {uri: "{{ workload.f }}", source: {type: file}, encoding: latin-1}}\n');
SELECT unnest(warnings) FROM noetl.check_playbook($$
name: x
workflow:
  - {step: start, tool: python, script: {uri: "s3://b/k.py", source: {type: s3, region: eu}}, next: [a]}
  - {step: a, tool: postgres, script: {uri: q.sql, source: {type: file}}, next: [b]}
  - {step: b, tool: python, script: {source: {type: http, endpoint: "http://h/x.py"}}}
$$);
SELECT noetl.parse_playbook(E'name: x\nworkflow:\n  - {step: start, tool: python, script: "main.py"}\n');
SELECT noetl.parse_playbook(E'name: x\nworkflow:\n  - {step: start, tool: python, script: {uri: a.py}}\n');
SELECT noetl.parse_playbook(E'name: x\nworkflow:\n  - {step: start, tool: python, script: {uri: a.py, source: {type: ftp}}}\n');
SELECT noetl.parse_playbook(E'name: x\nworkflow:\n  - {step: start, tool: python, script: {source: {type: file}}}\n');
-- a warning quotes at most about 1,000 bytes of the document
SELECT length(w), right(w, 5) FROM noetl.check_playbook('{"name": "x", "workflow": [{"step": "start", "' || repeat('é', 5000) || '": 1}]}') c, unnest(c.warnings) w;

-- on_item_error: continue or fail, nothing else; the era's default otherwise
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: python\n    loop: {in: [1], iterator: i, on_item_error: skip}\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: python\n    loop: {in: [1], iterator: i, on_item_error: 3}\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: python\n    loop: {in: [1], iterator: i, on_item_error: continue}\n') -> 'workflow' -> 0 -> 'loop' ->> 'on_item_error';
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    type: iterator\n    collection: [1]\n    element: i\n    on_item_error: fail\n    task: {type: python, code: x}\n') -> 'workflow' -> 0 -> 'loop' ->> 'on_item_error';
-- a step named like a loop's iteration could collide with one
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    next: "s[0]"\n  - step: "s[0]"\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    next: "s[x]"\n  - step: "s[x]"\n') -> 'workflow' -> 1 ->> 'step';

-- a sink keeps its era's failure rule as on_error: era C's sink fails the step,
-- era B's save continues (meta.save_error); either can be overridden
SELECT w ->> 'step' AS step, w -> 'sink' AS sink
  FROM jsonb_array_elements(noetl.parse_playbook($$
metadata: {name: sinks}
workflow:
  - step: start
    next: [c, b, b_fail, c_continue]
  - step: c
    tool: python
    code: "def main(): return 1"
    sink: {tool: postgres, table: t}
  - step: b
    type: python
    code: "def main(): return 1"
    save: {storage: {type: postgres, table: t}}
  - step: b_fail
    type: python
    code: "def main(): return 1"
    save: {storage: event, on_error: fail}
  - step: c_continue
    tool: python
    code: "def main(): return 1"
    sink: {tool: event_log, on_error: continue}
$$) -> 'workflow') w
 WHERE w ? 'sink';
-- an on_error that is neither is refused, naming the field
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: python\n    code: x\n    sink: {tool: event, on_error: ignore}\n');
SELECT noetl.parse_playbook(E'metadata: {name: x}\nworkflow:\n  - step: start\n    tool: python\n    code: x\n    save: {storage: event, on_error: [fail]}\n');
