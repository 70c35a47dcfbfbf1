#!/usr/bin/env bash
# bench/batch_floor.sh: what the batched paths cost against the writes they
# must make, in one run.
#
# A job is an execution of a one-task playbook (its start step is the task,
# as bench/peers' job).  By the event contract (DESIGN.md) starting one
# writes its execution row, its task and two events (execution_start,
# step_started); completing it updates the task twice (leased, done), the
# execution once, and writes three events (action_completed,
# step_completed, execution_complete).  This compares, per job and inside
# one backend (no client round trips):
#
#   start   noetl.execute_many of BATCH workloads, against the floor: the
#           same rows inserted by hand with one INSERT ... SELECT per table
#           into copies of the tables (same columns, indexes, constraints);
#   drain   noetl.lease of BATCH tasks and noetl.complete_many of them,
#           against the floor: the lease as one UPDATE ... FOR UPDATE SKIP
#           LOCKED over the ready index, then the done UPDATE, the events'
#           INSERT and the executions' UPDATE, one statement each.
#
# The floor is what any implementation of the contract writes, with no
# logic at all; noetl ÷ floor is what the broker's evaluation costs on top.
# (bench/peers compares the whole with graphile-worker and pg-boss, whose
# job is one row.)  Rounds alternate and repeat ROUNDS times; the best of
# each side is compared.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BATCH=${BATCH:-100}
BATCHES=${BATCHES:-20}
ROUNDS=${ROUNDS:-3}
bench_setup
trap bench_teardown EXIT

psql -Xq -v ON_ERROR_STOP=1 -v batch="$BATCH" -v batches="$BATCHES" -v rounds="$ROUNDS" <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS f_execution, f_queue, f_event, timing;
CREATE TABLE f_execution (LIKE noetl.execution INCLUDING ALL);
CREATE TABLE f_queue (LIKE noetl.queue INCLUDING ALL);
CREATE TABLE f_event (LIKE noetl.event INCLUDING ALL);
CREATE TABLE timing (side text, phase text, ms float8);
SELECT version FROM noetl.register(E'metadata:\n  path: bench/floor/job\nworkflow:\n  - step: start\n    tool: python\n    args: {job: "{{ workload.job }}"}\n    code: "def main(job): return None"\n') \g /dev/null

CREATE PROCEDURE pg_temp.noetl_side(batch int, batches int) LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz;
    ids bigint[];
    toks text[];
BEGIN
    TRUNCATE noetl.event, noetl.queue, noetl.step_state, noetl.execution;
    COMMIT;
    t := clock_timestamp();
    FOR b IN 1 .. batches LOOP
        PERFORM noetl.execute_many('bench/floor/job',
            (SELECT array_agg(jsonb_build_object('job', md5(g::text))) FROM generate_series(1, batch) g));
        COMMIT;
    END LOOP;
    INSERT INTO timing VALUES ('noetl', 'start', extract(epoch FROM clock_timestamp() - t) * 1000);
    COMMIT;
    t := clock_timestamp();
    FOR b IN 1 .. batches LOOP
        SELECT array_agg(queue_id), array_agg(lease_token) INTO ids, toks FROM noetl.lease('bench', batch, 60);
        PERFORM noetl.complete_many(ids, toks);
        COMMIT;
    END LOOP;
    INSERT INTO timing VALUES ('noetl', 'drain', extract(epoch FROM clock_timestamp() - t) * 1000);
    IF (SELECT count(*) FROM noetl.execution WHERE status = 'completed') <> batch * batches THEN
        RAISE 'noetl did not complete every job';
    END IF;
    COMMIT;
END $$;

CREATE PROCEDURE pg_temp.floor_side(batch int, batches int) LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz;
    base bigint;
    ids bigint[];
    eids bigint[];
BEGIN
    TRUNCATE f_event, f_queue, f_execution;
    COMMIT;
    t := clock_timestamp();
    FOR b IN 1 .. batches LOOP
        base := noetl.snowflake_id();
        INSERT INTO f_execution (execution_id, catalog_id, status, workload, pending)
        SELECT base + g, 1, 'running', jsonb_build_object('job', md5(g::text)), 1 FROM generate_series(1, batch) g;
        INSERT INTO f_queue (queue_id, execution_id, catalog_id, node_id, node_name, tool, action)
        SELECT base + batch + g, base + g, 1, 'start', 'start', 'python',
               jsonb_build_object('tool', 'python', 'args', jsonb_build_object('job', md5(g::text)),
                                  'code', 'def main(job): return None')
          FROM generate_series(1, batch) g;
        INSERT INTO f_event (execution_id, event_id, catalog_id, event_type, node_name, status, context, queue_id)
        SELECT base + g, base + 2 * batch + 2 * g + k, 1, CASE k WHEN 0 THEN 'execution_start' ELSE 'step_started' END,
               CASE k WHEN 1 THEN 'start' END, CASE k WHEN 1 THEN 'started' END,
               CASE k WHEN 0 THEN jsonb_build_object('path', 'bench/floor/job', 'workload', jsonb_build_object('job', md5(g::text))) END,
               CASE k WHEN 1 THEN base + batch + g END
          FROM generate_series(1, batch) g, generate_series(0, 1) k;
        COMMIT;
    END LOOP;
    INSERT INTO timing VALUES ('floor', 'start', extract(epoch FROM clock_timestamp() - t) * 1000);
    COMMIT;
    t := clock_timestamp();
    FOR b IN 1 .. batches LOOP
        WITH ready AS (
            SELECT queue_id FROM f_queue WHERE status IN ('queued', 'retry')
             ORDER BY priority DESC, queue_id LIMIT batch FOR UPDATE SKIP LOCKED)
        UPDATE f_queue q SET status = 'leased', worker_id = 'bench', attempts = attempts + 1,
               lease_until = clock_timestamp() + interval '60 s', lease_token = sha256(q.queue_id::text::bytea)
          FROM ready WHERE q.queue_id = ready.queue_id;
        SELECT array_agg(queue_id), array_agg(execution_id) INTO ids, eids FROM f_queue WHERE status = 'leased';
        UPDATE f_queue SET status = 'done', result = '{}', lease_until = NULL, updated_at = clock_timestamp()
         WHERE queue_id = ANY (ids);
        base := noetl.snowflake_id();
        INSERT INTO f_event (execution_id, event_id, catalog_id, event_type, node_name, status, result, queue_id)
        SELECT e.eid, base + 3 * e.n + k, 1, (ARRAY['action_completed', 'step_completed', 'execution_complete'])[k + 1],
               CASE WHEN k < 2 THEN 'start' END, (ARRAY[NULL, 'completed', 'completed'])[k + 1], '{}',
               CASE WHEN k < 2 THEN e.qid END
          FROM unnest(eids, ids) WITH ORDINALITY AS e(eid, qid, n), generate_series(0, 2) k;
        UPDATE f_execution SET status = 'completed', pending = 0, ended_at = clock_timestamp(),
               updated_at = clock_timestamp()
         WHERE execution_id = ANY (eids);
        COMMIT;
    END LOOP;
    INSERT INTO timing VALUES ('floor', 'drain', extract(epoch FROM clock_timestamp() - t) * 1000);
    IF (SELECT count(*) FROM f_execution WHERE status = 'completed') <> batch * batches THEN
        RAISE 'the floor did not complete every job';
    END IF;
    COMMIT;
END $$;

-- a warm-up of each, then the rounds, alternating which goes first
CALL pg_temp.noetl_side(:batch, 2);
CALL pg_temp.floor_side(:batch, 2);
TRUNCATE timing;
-- (one CALL per cell: \gexec sends each cell as a query of its own, and a
-- procedure may commit only when its CALL is alone in its query)
SELECT format('CALL pg_temp.%s_side(%s, %s)', CASE WHEN r % 2 = 1 THEN 'noetl' ELSE 'floor' END, :batch, :batches),
       format('CALL pg_temp.%s_side(%s, %s)', CASE WHEN r % 2 = 1 THEN 'floor' ELSE 'noetl' END, :batch, :batches)
  FROM generate_series(1, :rounds) r \gexec

\echo bench/batch_floor.sh: µs per job, best of :rounds rounds of :batches batches of :batch jobs
SELECT phase,
       round((min(ms) FILTER (WHERE side = 'floor') * 1000 / (:batch * :batches))::numeric, 1) AS floor_us,
       round((min(ms) FILTER (WHERE side = 'noetl') * 1000 / (:batch * :batches))::numeric, 1) AS noetl_us,
       round((min(ms) FILTER (WHERE side = 'noetl') / min(ms) FILTER (WHERE side = 'floor'))::numeric, 2)
           AS "noetl ÷ floor"
  FROM timing GROUP BY phase ORDER BY phase DESC;
SQL
