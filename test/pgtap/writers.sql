-- The broker's row writers keep their executor state for the rest of the
-- transaction (src/rows.c): what changes in the transaction must still
-- hold for the rows it writes next, and triggers of one's own on the
-- broker's tables must be safe to call.
BEGIN;
SELECT plan(10);
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

-- triggers of one's own on the broker's tables (a review found both crashing):
-- one that catches an error in a subtransaction while the broker writes
-- the row, and one with a SET clause, called by two evaluations in a row
CREATE FUNCTION pg_temp.catches() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN BEGIN PERFORM 1 / 0; EXCEPTION WHEN division_by_zero THEN NULL; END; RETURN NEW; END$$;
CREATE TRIGGER writers_catches BEFORE INSERT ON noetl.execution FOR EACH ROW EXECUTE FUNCTION pg_temp.catches();
CREATE TRIGGER writers_catches_after AFTER INSERT ON noetl.queue FOR EACH ROW EXECUTE FUNCTION pg_temp.catches();
SELECT lives_ok($$SELECT noetl.execute('tests/writers/one')$$,
                'a trigger that catches an error in a subtransaction while the broker writes');
SELECT lives_ok($$SELECT noetl.execute_many('tests/writers/one', array_fill('{}'::jsonb, ARRAY[20]))$$,
                '... twenty times in one statement');
DROP TRIGGER writers_catches ON noetl.execution;
DROP TRIGGER writers_catches_after ON noetl.queue;
CREATE FUNCTION pg_temp.with_set() RETURNS trigger LANGUAGE plpgsql SET work_mem = '8MB' AS
$$BEGIN RETURN NEW; END$$;
CREATE TRIGGER writers_with_set BEFORE INSERT ON noetl.step_state FOR EACH ROW EXECUTE FUNCTION pg_temp.with_set();
SELECT lives_ok($$SELECT noetl.execute('tests/writers/one')$$, 'a trigger with a SET clause, first call');
SELECT lives_ok($$SELECT noetl.execute_many('tests/writers/one', array_fill('{}'::jsonb, ARRAY[20]))$$,
                '... and twenty more evaluations in the same transaction');
DROP TRIGGER writers_with_set ON noetl.step_state;

SELECT * FROM finish();
ROLLBACK;
