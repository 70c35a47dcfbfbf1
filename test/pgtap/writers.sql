-- The broker's row writers keep their executor state for the rest of the
-- transaction (src/rows.c): what changes in the transaction must still
-- hold for the rows it writes next.
BEGIN;
SELECT plan(6);
SELECT noetl.register(E'metadata: {path: tests/writers/one}\nworkflow:\n  - step: start\n    next: [work]\n  - step: work\n    tool: writers_probe\n    code: x\n') \g /dev/null

SELECT lives_ok($$SELECT noetl.execute('tests/writers/one')$$, 'a first write builds the writers');
CREATE INDEX writers_probe_idx ON noetl.queue (updated_at) WHERE tool = 'writers_probe';
SELECT noetl.execute('tests/writers/one') AS e2 \gset
SELECT is((SELECT count(*)::int FROM noetl.queue WHERE tool = 'writers_probe' AND updated_at IS NOT NULL
             AND execution_id = :e2), 1, 'a task written after CREATE INDEX in the same transaction is written');
SET LOCAL enable_seqscan = off;
SELECT is((SELECT count(*)::int FROM noetl.queue WHERE tool = 'writers_probe' AND updated_at > '-infinity'), 2,
          '... and is in the new index (both tasks found through it)');
RESET enable_seqscan;

SAVEPOINT s;
SELECT noetl.execute('tests/writers/one') \g /dev/null
ROLLBACK TO SAVEPOINT s;
SELECT lives_ok($$SELECT noetl.execute('tests/writers/one')$$, 'writes go on after a savepoint rolled back');

ALTER TABLE noetl.queue ADD CONSTRAINT writers_probe_check CHECK (tool <> 'writers_probe') NOT VALID;
SELECT throws_ok($$SELECT noetl.execute('tests/writers/one')$$, '23514', NULL,
                 'a CHECK constraint added in the same transaction applies to the broker''s next write');
ALTER TABLE noetl.queue DROP CONSTRAINT writers_probe_check;

TRUNCATE noetl.queue, noetl.event, noetl.execution, noetl.step_state;
SELECT lives_ok($$SELECT noetl.execute('tests/writers/one')$$, 'TRUNCATE after broker writes, then more writes');

SELECT * FROM finish();
ROLLBACK;
