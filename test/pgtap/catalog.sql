-- The playbook catalog: registration, versions, retrieval, refusals.
BEGIN;
SELECT plan(46);

CREATE TEMP TABLE doc (name text PRIMARY KEY, body text);
INSERT INTO doc VALUES
('v1', $$apiVersion: noetl.io/v1
kind: Playbook
metadata:
  name: catalog_test
  path: tests/catalog/one   # the catalog path
workload: {n: 1}
workflow:
  - step: start
    next: [{step: work}]
  - step: work
    type: python
    code: "def main(): return 1"
    next: [end]
  - step: end
$$),
('v2', $$metadata: {name: catalog_test, path: tests/catalog/one}
workload: {n: 2}
workflow:
  - step: start
    tool: python
    code: "def main(): return 2"
$$),
('by_name', $$metadata: {name: only_a_name}
workflow: [{step: start}]
$$),
('json', '{"metadata": {"path": "tests/catalog/json"}, "workflow": [{"step": "start", "tool": "http", "url": "http://localhost/"}]}');

SELECT results_eq($$SELECT path, version FROM noetl.register((SELECT body FROM doc WHERE name = 'v1'))$$,
                  $$VALUES ('tests/catalog/one'::text, 1)$$, 'the first registration of a path is version 1');
SELECT results_eq($$SELECT path, version FROM noetl.register((SELECT body FROM doc WHERE name = 'v2'))$$,
                  $$VALUES ('tests/catalog/one'::text, 2)$$, 'registering the path again adds version 2');
SELECT results_eq($$SELECT path, version FROM noetl.register((SELECT body FROM doc WHERE name = 'v1'))$$,
                  $$VALUES ('tests/catalog/one'::text, 3)$$, 'the same text registered again is a new version');
SELECT results_eq($$SELECT path, version FROM noetl.register((SELECT body FROM doc WHERE name = 'by_name'))$$,
                  $$VALUES ('only_a_name'::text, 1)$$, 'without metadata.path the path is metadata.name');
SELECT results_eq($$SELECT path, version FROM noetl.register((SELECT body FROM doc WHERE name = 'json'))$$,
                  $$VALUES ('tests/catalog/json'::text, 1)$$, 'JSON text registers too');

SELECT is((SELECT content FROM noetl.catalog WHERE path = 'tests/catalog/one' AND version = 1),
          (SELECT body FROM doc WHERE name = 'v1'), 'content is the text as sent, comments and all');
SELECT is((SELECT payload FROM noetl.catalog WHERE path = 'tests/catalog/one' AND version = 1),
          noetl.parse_playbook((SELECT body FROM doc WHERE name = 'v1')), 'payload is the normalised playbook');
SELECT is((SELECT kind FROM noetl.catalog WHERE path = 'tests/catalog/one' AND version = 2), 'Playbook', 'kind is recorded');
SELECT ok((SELECT bool_and(catalog_id > 0) FROM noetl.catalog), 'catalog ids are snowflake ids');

SELECT is(noetl.playbook('tests/catalog/one') -> 'workload', '{"n": 1}', 'playbook() returns the latest version');
SELECT is(noetl.playbook('tests/catalog/one', 2) -> 'workload', '{"n": 2}', 'playbook(path, version) returns that version');
SELECT is(noetl.playbook('tests/catalog/one') ->> 'path', 'tests/catalog/one', 'the payload carries its path');
SELECT is(noetl.playbook('tests/catalog/one', 1) -> 'workflow' -> 1 ->> 'tool', 'python', '"type" becomes "tool"');
SELECT ok(NOT (noetl.playbook('tests/catalog/one', 1) -> 'workflow' -> 1 ? 'type'), '"type" itself is gone');
SELECT is(noetl.playbook('tests/catalog/one', 1) -> 'workflow' -> 1 -> 'next', '[{"step": "end"}]', 'next becomes a list of {step}');
SELECT throws_ok($$SELECT noetl.playbook('tests/catalog/none')$$, '42704',
                 'playbook "tests/catalog/none" is not registered', 'an unknown path is an error');
SELECT throws_ok($$SELECT noetl.playbook('tests/catalog/one', 9)$$, '42704',
                 'version 9 of playbook "tests/catalog/one" is not registered', 'an unknown version is an error');

-- refusals leave nothing behind
CREATE TEMP TABLE before AS SELECT count(*) AS n FROM noetl.catalog;
SELECT throws_ok($$SELECT noetl.register(E'a: [1, 2\n')$$, '22P02', NULL, 'invalid YAML is refused with 22P02');
SELECT throws_ok($$SELECT noetl.register('[{"step": "start"}]')$$, '22023',
                 'document is not a playbook: expected a mapping with a "workflow" list, found array',
                 'a JSON array is not a playbook');
SELECT throws_ok($$SELECT noetl.register(E'metadata: {name: x}\nworkflow: [{step: a}]')$$, '22023',
                 'workflow: the workflow has no "start" step', 'a playbook without start is refused');
SELECT throws_ok($$SELECT noetl.register(E'metadata: {name: x}\nworkflow: [{step: start, next: [nowhere]}]')$$, '22023',
                 'workflow[0].next[0]: step "nowhere" does not exist', 'a dangling next target is refused');
SELECT throws_ok($$SELECT noetl.register(E'metadata: {name: x}\nworkflow: [{step: start}, {step: start}]')$$, '22023',
                 'workflow[1]: step "start" is defined twice (first at workflow[0])', 'duplicate steps are refused');
SELECT throws_ok($$SELECT noetl.register(E'metadata: {name: x}\nworkflow: [{step: start, type: workbook, name: w}]')$$, '22023',
                 'workflow[0]: workbook task "w" does not exist', 'a dangling workbook reference is refused');
SELECT throws_ok($$SELECT noetl.register(E'metadata: {name: x}\nworkflow: []')$$, '22023',
                 'workflow: the workflow has no steps', 'an empty workflow is refused');
SELECT is((SELECT count(*) FROM noetl.catalog), (SELECT n FROM before), 'refused registrations store nothing');

-- big documents: a 10 MB playbook registers; a 10 MB broken one is refused cleanly
SELECT lives_ok($$SELECT noetl.register(
    E'metadata: {path: tests/catalog/big}\nworkflow:\n' ||
    string_agg(format(E'  - step: %s\n    tool: python\n    code: "def main(): return %s"\n    args: {x: "{{ workload.x }}", i: %s}\n    next: [{step: %s, when: "{{ result.ok }}"}]',
                      CASE WHEN g = 0 THEN 'start' ELSE 's' || g END, g, g, 's' || (g + 1)), E'\n') ||
    E'\n  - step: s60000\n')
  FROM generate_series(0, 59999) g$$, 'a 10 MB playbook with 60,000 steps registers');
SELECT is((SELECT jsonb_array_length(payload -> 'workflow') FROM noetl.catalog WHERE path = 'tests/catalog/big'),
          60001, 'all of its steps are in the payload');
SELECT throws_ok($$SELECT noetl.register(repeat(E'key: [value, value, value, value, value]\n', 250000) || E'broken: [\n')$$,
                 '22P02', NULL, 'a 10 MB document with an error at its end is refused');

-- what registration ignores comes back as warnings, with a warning for
-- each tool no worker has announced (live or not), at its first step
DELETE FROM noetl.worker;
CREATE TEMP TABLE tools_doc AS SELECT $$name: tests/catalog/tools
nonsense: 1
workflow:
  - {step: start, tool: python, code: x, nexts: [a], next: [a]}
  - {step: a, tool: duckdb, command: x, next: [b]}
  - {step: b, tool: python, code: x, next: [c]}
  - {step: c, tool: playbook, path: tests/catalog/child}
$$::text AS body;
SELECT is(pg_get_function_result('noetl.register(text)'::regprocedure),
          'TABLE(catalog_id bigint, path text, version integer, warnings text[])',
          'register returns the warnings beside the catalog id, path and version');
SELECT results_eq($$SELECT warnings FROM noetl.register((SELECT body FROM tools_doc))$$,
                  $$VALUES (ARRAY['unknown top-level key "nonsense" (ignored)',
                                  'workflow[0]: unknown key "nexts" (ignored)',
                                  'workflow[0]: no worker has announced the tool "python" (noetl.worker)',
                                  'workflow[1]: no worker has announced the tool "duckdb" (noetl.worker)'])$$,
                  'with no worker announced, each tool is warned of once, at its first step (sub-playbooks are not a worker''s)');
INSERT INTO noetl.worker (worker_id, tools, last_seen) VALUES ('gone', '{python,http}', now() - interval '1 year');
SELECT results_eq($$SELECT warnings FROM noetl.register((SELECT body FROM tools_doc))$$,
                  $$VALUES (ARRAY['unknown top-level key "nonsense" (ignored)',
                                  'workflow[0]: unknown key "nexts" (ignored)',
                                  'workflow[1]: no worker has announced the tool "duckdb" (noetl.worker)'])$$,
                  'a tool that a worker announced, even long ago, is not warned of');
INSERT INTO noetl.worker (worker_id, tools) VALUES ('w2', '{duckdb}');
SELECT results_eq($$SELECT warnings FROM noetl.register((SELECT body FROM tools_doc))$$,
                  $$VALUES (ARRAY['unknown top-level key "nonsense" (ignored)',
                                  'workflow[0]: unknown key "nexts" (ignored)'])$$,
                  '... by any worker');
SELECT results_eq($$SELECT warnings FROM noetl.register(E'name: tests/catalog/clean\nworkflow: [{step: start, tool: http, url: "http://h/"}]')$$,
                  $$VALUES ('{}'::text[])$$, 'a playbook with nothing to warn of has no warnings');
SELECT is((SELECT payload FROM noetl.catalog WHERE path = 'tests/catalog/tools' AND version = 1),
          (SELECT payload FROM noetl.check_playbook((SELECT body FROM tools_doc))),
          'a playbook with warnings is stored normalised, as check_playbook returns it');
SELECT results_eq($$SELECT path, version FROM noetl.register(E'name: v1_form\npath: tests/catalog/v1_form\nworkflow: [{step: start}]')$$,
                  $$VALUES ('tests/catalog/v1_form'::text, 1)$$, 'the older v1 form (name and path at the top) registers under its path');
SELECT results_eq($$SELECT c.payload -> 'workflow' -> 0 -> 'next', c.warnings FROM noetl.check_playbook((SELECT body FROM tools_doc)) c$$,
                  $$VALUES ('[{"step": "a"}]'::jsonb,
                            ARRAY['unknown top-level key "nonsense" (ignored)', 'workflow[0]: unknown key "nexts" (ignored)'])$$,
                  'check_playbook returns the payload and the warnings (the tool warnings are register''s)');

-- script: reaches the worker's task as written, its templates rendered
SELECT noetl.register($$name: tests/script_in_task
workload: {f: hello.py}
workflow:
  - {step: start, tool: python, script: {uri: "scripts/{{ workload.f }}", source: {type: file}, encoding: utf-8}}
$$) IS NOT NULL AS registered \gset
SELECT noetl.execute('tests/script_in_task', '{}') AS script_eid \gset
SELECT is((SELECT action -> 'script' FROM noetl.queue WHERE execution_id = :script_eid),
          '{"uri": "scripts/hello.py", "source": {"type": "file"}, "encoding": "utf-8"}'::jsonb,
          'a step''s script is in its task (noetl.queue.action -> ''script'') as NoETL shaped it');

-- who may register
CREATE ROLE regress_noetl_reader;
SET LOCAL ROLE regress_noetl_reader;
SELECT throws_ok($$SELECT noetl.register((SELECT 'x'))$$, '42501', NULL, 'a role without the grant cannot register');
RESET ROLE;
GRANT EXECUTE ON FUNCTION noetl.register(text) TO regress_noetl_reader;
GRANT SELECT ON doc TO regress_noetl_reader;
SET LOCAL ROLE regress_noetl_reader;
SELECT results_eq($$SELECT version FROM noetl.register((SELECT body FROM doc WHERE name = 'by_name'))$$,
                  $$VALUES (2)$$, 'a granted role registers through the SECURITY DEFINER function');
RESET ROLE;

-- catalog rows executions refer to are kept (noetl.catalog_kept, in place of a foreign key)
SELECT noetl.execute('tests/catalog/big', '{}') IS NOT NULL AS started \gset
SELECT throws_ok($$DELETE FROM noetl.catalog WHERE path = 'tests/catalog/big'$$, '23503',
                 'version 1 of playbook "tests/catalog/big" is in use',
                 'a playbook version that an execution runs cannot be deleted');
SELECT throws_ok($$UPDATE noetl.catalog SET catalog_id = catalog_id + 1 WHERE path = 'tests/catalog/big'$$, '23503',
                 NULL, '... nor renumbered');
SELECT lives_ok($$UPDATE noetl.catalog SET created_at = created_at WHERE path = 'tests/catalog/big'$$,
                'other columns of it may be updated');
SELECT throws_ok($$TRUNCATE noetl.catalog$$, '23503',
                 'noetl.catalog cannot be truncated while executions refer to it',
                 'the catalog cannot be truncated while executions refer to it');
SELECT lives_ok($$DELETE FROM noetl.catalog c WHERE c.path LIKE 'tests/catalog/%' AND c.path <> 'tests/catalog/big'
                   AND NOT EXISTS (SELECT 1 FROM noetl.execution x WHERE x.catalog_id = c.catalog_id)$$,
                'versions no execution refers to can be deleted');
SELECT is((SELECT count(*) FROM noetl.catalog WHERE path LIKE 'tests/catalog/%'), 1::bigint,
          '... and are gone, the one in use kept');
-- (the error rolls the truncation back)
SELECT throws_ok($t$DO $do$ BEGIN
                       TRUNCATE noetl.event, noetl.queue, noetl.step_state, noetl.execution, noetl.catalog;
                       RAISE 'catalog rows left: %', (SELECT count(*) FROM noetl.catalog);
                   END $do$$t$, 'P0001', 'catalog rows left: 0',
                 'the catalog can be truncated with the executions in one statement');

SELECT * FROM finish();
ROLLBACK;
