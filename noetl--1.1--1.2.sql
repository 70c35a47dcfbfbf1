/*
 * noetl--1.1--1.2.sql: from version 1.1 to 1.2.
 *
 * As with 1.1, there is no full script: CREATE EXTENSION noetl runs
 * noetl--1.0.sql and the updates after it, so a new installation and an
 * updated one are the same by construction.
 */

\echo Use "ALTER EXTENSION noetl UPDATE TO '1.2'" to load this file. \quit

/*
 * Leases begin at the queue's ready mark, kept in shared memory
 * (src/ready_mark.c), so that their cost stays bounded while vacuum
 * cannot remove the entries of leased tasks.  The broker writes queue rows
 * below SQL and lowers the mark itself; a SQL statement that writes the
 * queue (an administrator's UPDATE, a restore) makes the mark forgotten
 * by this trigger, so that no task it makes ready is passed over.
 */
CREATE FUNCTION noetl.queue_written() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'noetl_queue_written';
REVOKE ALL ON FUNCTION noetl.queue_written() FROM PUBLIC;
COMMENT ON FUNCTION noetl.queue_written() IS
'statement trigger of noetl.queue: a SQL statement wrote the queue, so leases begin at the start of queue_ready_idx again';

CREATE TRIGGER queue_written AFTER INSERT OR UPDATE ON noetl.queue
    FOR EACH STATEMENT EXECUTE FUNCTION noetl.queue_written();

/*
 * Batches for producers and workers.  Each is one statement: its events
 * are evaluated one after another by the event triggers, each atomic with
 * its execution's consequences, and the batch as a whole commits or rolls
 * back with the caller's transaction (a report the broker refuses fails
 * the statement, naming the task).  They are new names rather than
 * overloads of execute and complete: execute('path', '{...}') with an
 * untyped literal would be ambiguous between jsonb and jsonb[].
 */
CREATE FUNCTION noetl.execute_many(path text, workloads jsonb[], version integer DEFAULT NULL)
RETURNS bigint[]
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    -- the broker gives each row its execution id as it admits it, in the
    -- order of the rows, from an increasing sequence: in id order is in
    -- the order of the workloads
    WITH started AS (
        INSERT INTO noetl.event (event_type, context)
        SELECT 'execution_start',
               pg_catalog.jsonb_build_object('path', execute_many.path, 'version', execute_many.version,
                                             'workload', COALESCE(u.workload, '{}'))
          FROM pg_catalog.unnest(execute_many.workloads) WITH ORDINALITY AS u(workload, n)
         ORDER BY u.n
        RETURNING execution_id
    )
    SELECT COALESCE(pg_catalog.array_agg(execution_id ORDER BY execution_id), '{}') FROM started
$$;

COMMENT ON FUNCTION noetl.execute_many(text, jsonb[], integer) IS
'starts one execution of a registered playbook per workload, in one statement; returns their ids in the order of the workloads';

CREATE FUNCTION noetl.complete_many(queue_ids bigint[], lease_tokens text[], results jsonb[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    IF pg_catalog.cardinality(complete_many.queue_ids) IS DISTINCT FROM pg_catalog.cardinality(complete_many.lease_tokens)
       OR (complete_many.results IS NOT NULL AND
           pg_catalog.cardinality(complete_many.results) OPERATOR(pg_catalog.<>) pg_catalog.cardinality(complete_many.queue_ids)) THEN
        RAISE EXCEPTION 'queue_ids, lease_tokens and results must have as many elements'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('There are %s queue_ids, %s lease_tokens and %s results.',
                                             COALESCE(pg_catalog.cardinality(complete_many.queue_ids)::text, 'no'),
                                             COALESCE(pg_catalog.cardinality(complete_many.lease_tokens)::text, 'no'),
                                             COALESCE(pg_catalog.cardinality(complete_many.results)::text, 'no'));
    END IF;
    /*
     * Executions in one order for every caller, the newest first: two
     * batches never lock two executions in opposite orders, and a child
     * (newer than its parent) is locked before its parent, as its end
     * locks them (docs/design.md, "Concurrency").  A task's reports keep
     * the caller's order.
     */
    INSERT INTO noetl.event (event_type, queue_id, lease_token, result)
    SELECT 'action_completed', u.queue_id, u.lease_token, COALESCE(u.result, '{}')
      FROM ROWS FROM (pg_catalog.unnest(complete_many.queue_ids),
                      pg_catalog.unnest(complete_many.lease_tokens),
                      pg_catalog.unnest(complete_many.results))
           WITH ORDINALITY AS u(queue_id, lease_token, result, i)
      LEFT JOIN noetl.queue q ON q.queue_id OPERATOR(pg_catalog.=) u.queue_id
     ORDER BY q.execution_id DESC NULLS LAST, u.i;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

COMMENT ON FUNCTION noetl.complete_many(bigint[], text[], jsonb[]) IS
'reports many tasks done in one statement (an action_completed event each, results NULL meaning {}), the newest execution''s first; all or none: a refused report fails the call; returns how many';

REVOKE ALL ON FUNCTION noetl.execute_many(text, jsonb[], integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.complete_many(bigint[], text[], jsonb[]) FROM PUBLIC;

/*
 * complete, fail and release insert their event themselves, in PL/pgSQL,
 * whose plans are kept for the session: as SQL functions calling
 * noetl.report they were planned again at every call, through two
 * SECURITY DEFINER hops.
 */
CREATE OR REPLACE FUNCTION noetl.complete(queue_id bigint, lease_token text, result jsonb,
                                          duration double precision DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    id bigint;
BEGIN
    INSERT INTO noetl.event (event_type, queue_id, lease_token, result, duration)
    VALUES ('action_completed', complete.queue_id, complete.lease_token, complete.result, complete.duration)
    RETURNING event_id INTO id;
    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION noetl.fail(queue_id bigint, lease_token text, error text, result jsonb DEFAULT NULL,
                                      stack_trace text DEFAULT NULL, duration double precision DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    id bigint;
BEGIN
    INSERT INTO noetl.event (event_type, queue_id, lease_token, result, error, stack_trace, duration)
    VALUES ('action_error', fail.queue_id, fail.lease_token, fail.result, fail.error, fail.stack_trace,
            fail.duration)
    RETURNING event_id INTO id;
    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION noetl.release(queue_id bigint, lease_token text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    id bigint;
BEGIN
    INSERT INTO noetl.event (event_type, queue_id, lease_token)
    VALUES ('action_released', release.queue_id, release.lease_token)
    RETURNING event_id INTO id;
    RETURN id;
END
$$;

/*
 * noetl.execution has no foreign key to noetl.catalog any more.  Checking
 * it cost every execution started a SQL lookup that locked the playbook's
 * catalog row FOR KEY SHARE: a row lock written into the catalog row, a
 * multixact as soon as two producers start the same playbook; 10-25% of
 * starting an execution (bench/README.md).  The broker takes catalog_id
 * from the catalog itself, in the statement that starts the execution.
 * What the key also guarded, a catalog row deleted, or its id changed,
 * while executions refer to it, noetl.catalog_kept() refuses: before it
 * looks, it waits for the transactions writing executions to end (SHARE
 * on noetl.execution), so that it sees every execution that could refer
 * to the row.  TRUNCATE noetl.catalog is refused after the fact if
 * executions are left (as the key refused it unless noetl.execution was
 * truncated in the same statement).  It runs as the extension's owner, as
 * the key's checks did, and only in READ COMMITTED transactions: a
 * REPEATABLE READ snapshot, taken before the lock was awaited, would not
 * see the executions that committed meanwhile.  Starts take ROW EXCLUSIVE
 * on noetl.execution before they read the catalog: future scripts lock
 * execution before catalog too.
 */
ALTER TABLE noetl.execution DROP CONSTRAINT execution_catalog_id_fkey;

CREATE FUNCTION noetl.catalog_kept()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- the look below must see what committed while the lock was awaited:
    -- a transaction snapshot taken before it would not
    IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
        RAISE EXCEPTION 'playbook versions can be deleted or truncated only in READ COMMITTED transactions'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Run the statement in a READ COMMITTED transaction.';
    END IF;
    LOCK TABLE noetl.execution IN SHARE MODE;
    IF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' THEN
        IF EXISTS (SELECT 1 FROM noetl.execution) THEN
            RAISE EXCEPTION 'noetl.catalog cannot be truncated while executions refer to it'
                USING ERRCODE = 'foreign_key_violation',
                      HINT = 'Truncate noetl.execution in the same statement.';
        END IF;
        RETURN NULL;
    END IF;
    IF (TG_OP OPERATOR(pg_catalog.=) 'DELETE' OR NEW.catalog_id IS DISTINCT FROM OLD.catalog_id)
       AND EXISTS (SELECT 1 FROM noetl.execution x
                    WHERE x.catalog_id OPERATOR(pg_catalog.=) OLD.catalog_id) THEN
        RAISE EXCEPTION 'version % of playbook "%" is in use', OLD.version, OLD.path
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = pg_catalog.format('Executions refer to its catalog row, %s.', OLD.catalog_id),
                  HINT = 'Delete those executions first.';
    END IF;
    IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;

REVOKE ALL ON FUNCTION noetl.catalog_kept() FROM PUBLIC;

COMMENT ON FUNCTION noetl.catalog_kept() IS
'refuses to delete, renumber or truncate catalog rows that executions refer to (in place of a foreign key)';

CREATE TRIGGER catalog_kept BEFORE UPDATE OF catalog_id OR DELETE ON noetl.catalog
    FOR EACH ROW EXECUTE FUNCTION noetl.catalog_kept();
CREATE TRIGGER catalog_kept_truncate AFTER TRUNCATE ON noetl.catalog
    FOR EACH STATEMENT EXECUTE FUNCTION noetl.catalog_kept();

/*
 * Workers announce themselves: one row per running noetl worker (or any
 * worker that calls noetl.worker_announce), kept fresh by its heartbeats.
 * Registration warns of tools no worker has announced; noetl.status(),
 * noetl run --wait and noetl status say when ready tasks wait for a tool no
 * live worker runs.  The rows are transient state, not configuration, so
 * pg_dump does not keep them.
 */
CREATE TABLE noetl.worker (
    worker_id   text PRIMARY KEY,
    tools       text[] NOT NULL,
    host        text,
    pid         integer,
    jobs        integer,
    version     text,
    started_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    last_seen   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);

COMMENT ON TABLE noetl.worker IS
'workers that announced themselves: their tools, where they run, when they started and were last seen';

/*
 * Registration reports what it ignores (unknown keys, NoETL settings noetl
 * does not act on) as warnings, each starting with its location as errors
 * do.  noetl.check_playbook returns them beside the payload;
 * noetl.parse_playbook raises them as WARNINGs; noetl.register returns them
 * in its warnings column, with one more for each tool that no worker has
 * announced in noetl.worker.
 */
CREATE FUNCTION noetl.check_playbook(content text, OUT payload jsonb, OUT warnings text[])
AS 'MODULE_PATHNAME', 'noetl_check_playbook'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION noetl.check_playbook(text) IS
'validates a playbook (YAML or JSON text) and returns its normalised form and what registration would ignore, without registering it';

/* the new return type needs a new function; its grants are carried over */
ALTER FUNCTION noetl.register(text) RENAME TO register_1_1;

CREATE FUNCTION noetl.register(content text)
RETURNS TABLE (catalog_id bigint, path text, version integer, warnings text[])
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    doc   jsonb;
    warns text[];
    p     text;
BEGIN
    SELECT c.payload, c.warnings INTO doc, warns FROM noetl.check_playbook(register.content) c;
    p := doc OPERATOR(pg_catalog.->>) 'path';
    /*
     * A tool that no worker, live or not, has announced: its tasks would
     * wait.  One warning per tool, at its first step.  Sub-playbooks are
     * the broker's, not a worker's.
     */
    warns := warns OPERATOR(pg_catalog.||) ARRAY(
        SELECT pg_catalog.format('workflow[%s]: no worker has announced the tool "%s" (noetl.worker)',
                                 t.i OPERATOR(pg_catalog.-) 1, t.tool)
          FROM (SELECT s.step OPERATOR(pg_catalog.->>) 'tool' AS tool, pg_catalog.min(s.i) AS i
                  FROM pg_catalog.jsonb_array_elements(doc OPERATOR(pg_catalog.->) 'workflow')
                       WITH ORDINALITY AS s(step, i)
                 WHERE s.step OPERATOR(pg_catalog.?) 'tool'
                 GROUP BY 1) t
         WHERE t.tool OPERATOR(pg_catalog.<>) 'playbook'
           AND NOT EXISTS (SELECT FROM noetl.worker w
                            WHERE t.tool OPERATOR(pg_catalog.=) ANY (w.tools))
         ORDER BY t.i);
    /* one registration of a path at a time, so versions never collide */
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('noetl.catalog'),
                                             pg_catalog.hashtext(p));
    RETURN QUERY
    INSERT INTO noetl.catalog AS c (path, version, kind, content, payload)
    SELECT p,
           COALESCE(pg_catalog.max(prev.version), 0) OPERATOR(pg_catalog.+) 1,
           'Playbook', register.content, doc
      FROM noetl.catalog prev
     WHERE prev.path OPERATOR(pg_catalog.=) p
    RETURNING c.catalog_id, c.path, c.version, warns;
END
$$;

COMMENT ON FUNCTION noetl.register(text) IS
'registers a playbook (YAML or JSON text) as the next version of its path; returns what registration ignored, and the tools no worker has announced, as warnings';

REVOKE ALL ON FUNCTION noetl.register(text) FROM PUBLIC;

DO $$
DECLARE
    g record;
BEGIN
    FOR g IN
        SELECT a.grantee, a.is_grantable
          FROM pg_catalog.pg_proc f, pg_catalog.aclexplode(f.proacl) a
         WHERE f.oid OPERATOR(pg_catalog.=) 'noetl.register_1_1(text)'::pg_catalog.regprocedure
           AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
           AND a.grantee OPERATOR(pg_catalog.<>) f.proowner
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION noetl.register(text) TO %s%s',
                                  CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                       ELSE g.grantee::pg_catalog.regrole::pg_catalog.text END,
                                  CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    /*
     * Grants made by an extension script count as the extension's own
     * (pg_init_privs), and pg_dump leaves those out: put back the
     * privileges 1.0 gave register, so that the grants copied above are
     * dumped as the administrator's.
     */
    UPDATE pg_catalog.pg_init_privs n
       SET initprivs = o.initprivs
      FROM pg_catalog.pg_init_privs o
     WHERE n.objoid OPERATOR(pg_catalog.=) 'noetl.register(text)'::pg_catalog.regprocedure
       AND n.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
       AND n.objsubid OPERATOR(pg_catalog.=) 0
       AND o.objoid OPERATOR(pg_catalog.=) 'noetl.register_1_1(text)'::pg_catalog.regprocedure
       AND o.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
       AND o.objsubid OPERATOR(pg_catalog.=) 0;
END
$$;

DROP FUNCTION noetl.register_1_1(text);

/*
 * How recently a worker must have been seen to be live: the setting
 * noetl.worker_live_seconds (60), read in C so that calling it loads the
 * library and the setting is defined (without preloading it is a
 * placeholder until the library is loaded).
 */
CREATE FUNCTION noetl.worker_live_seconds()
RETURNS integer
AS 'MODULE_PATHNAME', 'noetl_worker_live'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION noetl.worker_live_seconds() IS
'how recently a worker must have been seen to count as live, in seconds (noetl.worker_live_seconds)';

/*
 * A worker announces itself when it starts (and again when its row is
 * gone: after reconnecting, or after it was away so long that its row was
 * deleted), refreshes its row while it runs, and leaves when it stops.
 * worker_id is a label, as it is in a lease: any role granted these
 * functions may announce, refresh or remove any worker's row.  An
 * announcement deletes the rows not seen for ten times
 * noetl.worker_live_seconds (workers killed without leaving), so that
 * the table stays as small as the set of workers.  It returns
 * noetl.worker_live_seconds: the worker refreshes every third of it.
 */
CREATE FUNCTION noetl.worker_announce(worker_id text, tools text[], host text DEFAULT NULL,
                                      pid integer DEFAULT NULL, jobs integer DEFAULT NULL,
                                      version text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    live integer := noetl.worker_live_seconds();
    seen timestamptz := pg_catalog.clock_timestamp();
BEGIN
    IF worker_announce.worker_id IS NULL OR pg_catalog.length(worker_announce.worker_id) OPERATOR(pg_catalog.=) 0
       OR pg_catalog.length(worker_announce.worker_id) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION 'a worker id must have 1 to 256 characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF worker_announce.tools IS NULL OR pg_catalog.cardinality(worker_announce.tools) OPERATOR(pg_catalog.=) 0
       OR pg_catalog.cardinality(worker_announce.tools) OPERATOR(pg_catalog.>) 64
       OR pg_catalog.array_ndims(worker_announce.tools) OPERATOR(pg_catalog.<>) 1 THEN
        RAISE EXCEPTION 'worker "%" must announce 1 to 64 tools', worker_announce.worker_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.unnest(worker_announce.tools) t
                WHERE t IS NULL OR pg_catalog.length(t) OPERATOR(pg_catalog.=) 0
                   OR pg_catalog.length(t) OPERATOR(pg_catalog.>) 63
                   OR t OPERATOR(pg_catalog.!~) '^[A-Za-z0-9_.-]+$') THEN
        RAISE EXCEPTION 'worker "%" announces a tool without a name, with one longer than 63 characters, or with characters other than letters, digits, "_", "." and "-"',
                        worker_announce.worker_id
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A tool''s name is what playbooks write after tool: and what leases filter on.';
    END IF;
    IF pg_catalog.length(worker_announce.host) OPERATOR(pg_catalog.>) 256
       OR pg_catalog.length(worker_announce.version) OPERATOR(pg_catalog.>) 64
       OR worker_announce.pid OPERATOR(pg_catalog.<=) 0 OR worker_announce.jobs OPERATOR(pg_catalog.<=) 0 THEN
        RAISE EXCEPTION 'worker "%" announces a host longer than 256 characters, a version longer than 64, or a pid or jobs not above 0',
                        worker_announce.worker_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    DELETE FROM noetl.worker w
     WHERE w.last_seen OPERATOR(pg_catalog.<) (seen
                       OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => 10 OPERATOR(pg_catalog.*) live));

    INSERT INTO noetl.worker AS w (worker_id, tools, host, pid, jobs, version, started_at, last_seen)
    VALUES (worker_announce.worker_id, worker_announce.tools, worker_announce.host,
            worker_announce.pid, worker_announce.jobs, worker_announce.version, seen, seen)
    ON CONFLICT ON CONSTRAINT worker_pkey DO UPDATE
       SET tools = excluded.tools, jobs = excluded.jobs, version = excluded.version,
           started_at = CASE WHEN w.host IS NOT DISTINCT FROM excluded.host
                              AND w.pid IS NOT DISTINCT FROM excluded.pid
                             THEN w.started_at ELSE excluded.started_at END,
           host = excluded.host, pid = excluded.pid,
           last_seen = excluded.last_seen;
    RETURN live;
END
$$;

COMMENT ON FUNCTION noetl.worker_announce(text, text[], text, integer, integer, text) IS
'a worker says it runs: its tools, host, pid, jobs and version; returns noetl.worker_live_seconds, the worker refreshing every third of it';

CREATE FUNCTION noetl.worker_refresh(worker_id text)
RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH seen AS (
        UPDATE noetl.worker w SET last_seen = pg_catalog.clock_timestamp()
         WHERE w.worker_id OPERATOR(pg_catalog.=) worker_refresh.worker_id
        RETURNING 1
    )
    SELECT EXISTS (SELECT FROM seen)
$$;

COMMENT ON FUNCTION noetl.worker_refresh(text) IS
'a worker says it is still there; false if it has no row (then it announces itself again)';

CREATE FUNCTION noetl.worker_leave(worker_id text)
RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM noetl.worker w WHERE w.worker_id OPERATOR(pg_catalog.=) worker_leave.worker_id
        RETURNING 1
    )
    SELECT EXISTS (SELECT FROM gone)
$$;

COMMENT ON FUNCTION noetl.worker_leave(text) IS
'a worker that stops removes its row; false if it had none';

CREATE FUNCTION noetl.workers()
RETURNS TABLE (worker_id text, tools text[], host text, pid integer, jobs integer, version text,
               started_at timestamptz, last_seen timestamptz, live boolean)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT w.worker_id, w.tools, w.host, w.pid, w.jobs, w.version, w.started_at, w.last_seen,
           w.last_seen OPERATOR(pg_catalog.>=) (pg_catalog.now()
               OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => noetl.worker_live_seconds()))
      FROM noetl.worker w
     ORDER BY w.worker_id
$$;

COMMENT ON FUNCTION noetl.workers() IS
'the workers that announced themselves, live if seen within noetl.worker_live_seconds';

/*
 * The tools whose ready tasks (queued or waiting to retry, and due) no
 * live worker runs: of one execution, or of all when execution_id is NULL,
 * counting only the tasks ready for at least min_wait_seconds.  The
 * branches keep each query on its index: the execution's tasks by
 * (execution_id, node_id), all ready tasks by the ready index.
 */
CREATE FUNCTION noetl.unserved_tools(execution_id bigint DEFAULT NULL,
                                     min_wait_seconds double precision DEFAULT 0)
RETURNS TABLE (tool text, tasks bigint, steps text[], waited_seconds double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    live_since timestamptz := pg_catalog.now()
        OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => noetl.worker_live_seconds());
    /* a wait beyond a century (infinity, NaN) is a century; none or a negative one, none */
    ready_before timestamptz := pg_catalog.now()
        OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs =>
            CASE WHEN unserved_tools.min_wait_seconds OPERATOR(pg_catalog.>=) 3153600000::float8
                 THEN 3153600000::float8
                 WHEN unserved_tools.min_wait_seconds OPERATOR(pg_catalog.>) 0::float8
                 THEN unserved_tools.min_wait_seconds
                 ELSE 0::float8 END);
BEGIN
    IF unserved_tools.execution_id IS NOT NULL THEN
        RETURN QUERY
        SELECT q.tool, pg_catalog.count(*),
               (pg_catalog.array_agg(DISTINCT q.node_name))[1:10],
               pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(q.available_at))
          FROM noetl.queue q
         WHERE q.execution_id OPERATOR(pg_catalog.=) unserved_tools.execution_id
           AND q.status IN ('queued', 'retry')
           AND q.available_at OPERATOR(pg_catalog.<=) ready_before
           AND NOT EXISTS (SELECT FROM noetl.worker w
                            WHERE w.last_seen OPERATOR(pg_catalog.>=) live_since
                              AND q.tool OPERATOR(pg_catalog.=) ANY (w.tools))
         GROUP BY q.tool ORDER BY q.tool;
    ELSE
        RETURN QUERY
        SELECT q.tool, pg_catalog.count(*),
               (pg_catalog.array_agg(DISTINCT q.node_name))[1:10],
               pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(q.available_at))
          FROM noetl.queue q
         WHERE q.status IN ('queued', 'retry')
           AND q.available_at OPERATOR(pg_catalog.<=) ready_before
           AND NOT EXISTS (SELECT FROM noetl.worker w
                            WHERE w.last_seen OPERATOR(pg_catalog.>=) live_since
                              AND q.tool OPERATOR(pg_catalog.=) ANY (w.tools))
         GROUP BY q.tool ORDER BY q.tool;
    END IF;
END
$$;

COMMENT ON FUNCTION noetl.unserved_tools(bigint, double precision) IS
'the tools whose ready tasks (of one execution, or all) have waited at least min_wait_seconds with no live worker running them: how many, which steps (up to 10), the longest wait';

REVOKE ALL ON FUNCTION noetl.worker_live_seconds() FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.worker_announce(text, text[], text, integer, integer, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.worker_refresh(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.worker_leave(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.workers() FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.unserved_tools(bigint, double precision) FROM PUBLIC;

COMMENT ON FUNCTION noetl.status() IS
'whether the library is preloaded, the broker worker (pid, database), the notification channels, outstanding tasks by status, the age of the oldest ready task, the tools whose ready tasks no live worker runs';

/*
 * The context a python task's code sees as NoETL's worker gave it (era B's
 * build_evaluation_context, service/context.py @58c2a16b): the workload
 * (also as "work" and "context"), the execution id, and the result of each
 * finished step by name.  Only the holder of the task's current lease may
 * read it.  noetl worker asks for it after the lease, in a statement of its
 * own, for python tasks whose code names "context" or whose code it cannot
 * see (script, code_b64), so that other tasks pay nothing for it.
 */
/* the finished steps of an execution and their results, for task_context */
CREATE FUNCTION noetl.task_context_steps(execution_id bigint)
RETURNS TABLE (step text, result jsonb)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT q.node_id, q.result
      FROM noetl.queue q
     WHERE q.execution_id OPERATOR(pg_catalog.=) task_context_steps.execution_id
       AND q.status OPERATOR(pg_catalog.=) 'done'
       AND q.node_id OPERATOR(pg_catalog.=) q.node_name   -- a loop's iterations are not steps
    UNION ALL
    SELECT st.step, st.result
      FROM noetl.step_state st
     WHERE st.execution_id OPERATOR(pg_catalog.=) task_context_steps.execution_id
       AND st.status OPERATOR(pg_catalog.=) 'completed'
$$;

REVOKE ALL ON FUNCTION noetl.task_context_steps(bigint) FROM PUBLIC;

CREATE FUNCTION noetl.task_context(queue_id bigint, lease_token text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    xid     bigint;
    w       jsonb;
    steps   jsonb;
    size    bigint;
    cap     bigint;
BEGIN
    SELECT q.execution_id, x.workload INTO xid, w
      FROM noetl.queue q JOIN noetl.execution x ON x.execution_id OPERATOR(pg_catalog.=) q.execution_id
     WHERE q.queue_id OPERATOR(pg_catalog.=) task_context.queue_id
       AND q.status OPERATOR(pg_catalog.=) 'leased'
       AND q.lease_token OPERATOR(pg_catalog.=)
           pg_catalog.sha256(pg_catalog.convert_to(task_context.lease_token, 'UTF8'));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'task % is not leased with this lease_token', task_context.queue_id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Only the worker holding the task''s current lease can read its context.';
    END IF;
    /* bounded before it is built: the results of many steps could pass jsonb's limit */
    SELECT pg_catalog.sum(pg_catalog.octet_length(s.result::text)
                          OPERATOR(pg_catalog.+) pg_catalog.octet_length(s.step))
      INTO size
      FROM noetl.task_context_steps(xid) s;
    size := COALESCE(size, 0) OPERATOR(pg_catalog.+)
            3 OPERATOR(pg_catalog.*) pg_catalog.octet_length(COALESCE(w, '{}'::jsonb)::text);
    cap := COALESCE(pg_catalog.pg_size_bytes(pg_catalog.current_setting('noetl.max_result_size', true)),
                    64 OPERATOR(pg_catalog.*) 1024 OPERATOR(pg_catalog.*) 1024);
    IF size OPERATOR(pg_catalog.>) cap THEN
        RAISE EXCEPTION 'the context of task % is larger than noetl.max_result_size (%)',
                        task_context.queue_id, pg_catalog.pg_size_pretty(cap)
            USING ERRCODE = 'program_limit_exceeded',
                  DETAIL = pg_catalog.format('Its workload and the results of its execution''s finished steps take %s bytes.', size),
                  HINT = 'Give the task what its code needs through its args instead of the context.';
    END IF;
    SELECT pg_catalog.jsonb_object_agg(s.step, s.result) INTO steps
      FROM noetl.task_context_steps(xid) s;
    RETURN COALESCE(steps, '{}'::jsonb)
           OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(
               'workload', COALESCE(w, '{}'::jsonb), 'work', COALESCE(w, '{}'::jsonb),
               'context', COALESCE(w, '{}'::jsonb), 'execution_id', xid::text);
END
$$;

REVOKE ALL ON FUNCTION noetl.task_context(bigint, text) FROM PUBLIC;

COMMENT ON FUNCTION noetl.task_context(bigint, text) IS
'what a python task''s code sees as its context: the workload, the execution id and the finished steps'' results; for the holder of the task''s lease';

/*
 * Loops and sub-playbooks (docs/design.md, "Loops" and "Sub-playbooks").
 * A loop step is one step_state row with the loop's counters and one queue
 * row per iteration, node_id step[i].  Iterations beyond the loop's window
 * wait in the new task status "waiting", which no lease, no ready index and
 * no lease expiry sees: the broker makes the next one "queued" in the
 * transaction that finishes one.  A sub-playbook step is a queue row held
 * "leased" by its child execution (worker_id child:<id>, no lease end, no
 * token); the child's row names its parent's step and its depth.
 */
ALTER DOMAIN noetl.task_status DROP CONSTRAINT task_status_check;
ALTER DOMAIN noetl.task_status ADD CONSTRAINT task_status_check
    CHECK (VALUE IN ('waiting', 'queued', 'leased', 'done', 'retry', 'dead', 'cancelled'));

ALTER TABLE noetl.queue ADD COLUMN error text;
COMMENT ON COLUMN noetl.queue.error IS
'the error of the task''s last failed attempt, kept for a loop''s errors list';

ALTER TABLE noetl.step_state
    ADD COLUMN loop_total integer,
    ADD COLUMN loop_next integer,
    ADD COLUMN loop_done integer,
    ADD COLUMN loop_failed integer,
    ADD COLUMN loop_window integer;
COMMENT ON COLUMN noetl.step_state.loop_total IS 'a loop step: its number of iterations (NULL for other steps)';
COMMENT ON COLUMN noetl.step_state.loop_next IS 'a loop step: the iterations admitted so far, so the index of the next one';
COMMENT ON COLUMN noetl.step_state.loop_done IS 'a loop step: the iterations finished, done or dead';
COMMENT ON COLUMN noetl.step_state.loop_failed IS 'a loop step: the iterations dead';
COMMENT ON COLUMN noetl.step_state.loop_window IS 'a loop step: the most iterations outstanding at once (max_in_flight)';
COMMENT ON TABLE noetl.step_state IS
'per-step state of control steps, of the end step (a join: waiting until every branch is done) and of loops (their counters and, at the end, their list of results); a task''s own state is its noetl.queue row';

ALTER TABLE noetl.execution
    ADD COLUMN parent_step text,
    ADD COLUMN depth integer NOT NULL DEFAULT 0 CHECK (depth >= 0);
COMMENT ON COLUMN noetl.execution.parent_step IS
'a sub-playbook''s execution: the parent''s queue row (node_id) that waits for it';
COMMENT ON COLUMN noetl.execution.depth IS
'0 for an execution a client started, the parent''s depth + 1 for a sub-playbook''s';


/*
 * A parent that ends cancels its running children in the same transaction,
 * skipping (SKIP LOCKED) a child another transaction is evaluating at that
 * moment, so that it never waits for a descendant.  Such a child, if its
 * evaluation leaves it running, is an orphan: noetl.cancel_orphans()
 * cancels it (an execution_cancel each, in a subtransaction of its own).
 * The broker worker calls it every noetl.lease_check_interval; without
 * the broker worker, call it yourself (pg_cron).
 */
CREATE INDEX execution_running_child_idx ON noetl.execution (parent_execution_id)
    WHERE status = 'running' AND parent_execution_id IS NOT NULL;

CREATE FUNCTION noetl.cancel_orphans()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    orphan bigint;
    n integer := 0;
BEGIN
    FOR orphan IN
        SELECT c.execution_id
          FROM noetl.execution c
          JOIN noetl.execution p ON p.execution_id OPERATOR(pg_catalog.=) c.parent_execution_id
         WHERE c.status OPERATOR(pg_catalog.=) 'running'
           AND c.parent_execution_id IS NOT NULL
           AND p.status OPERATOR(pg_catalog.<>) 'running'
         ORDER BY c.execution_id
         LIMIT 1000
    LOOP
        BEGIN
            INSERT INTO noetl.event (execution_id, event_type, meta)
            VALUES (orphan, 'execution_cancel', pg_catalog.jsonb_build_object('reason', 'orphan'));
            n := n OPERATOR(pg_catalog.+) 1;
        EXCEPTION WHEN query_canceled THEN
            RAISE;
        WHEN OTHERS THEN
            RAISE WARNING 'noetl could not cancel orphaned execution %: %', orphan, SQLERRM;
        END;
    END LOOP;
    RETURN n;
END
$$;

REVOKE ALL ON FUNCTION noetl.cancel_orphans() FROM PUBLIC;

COMMENT ON FUNCTION noetl.cancel_orphans() IS
'cancels running sub-playbook executions whose parent has ended (at most 1,000 a call); the broker worker calls it every noetl.lease_check_interval';


/*
 * Credentials
 *
 * noetl.credential holds NoETL's named credentials (its table: name,
 * type, data, meta, tags, description), with data encrypted at rest:
 * pgcrypto's pgp_sym_encrypt of the data's JSON text, under the key in the
 * superuser-only setting noetl.credential_key, which is kept outside the
 * table (postgresql.conf, or ALTER SYSTEM).  pgcrypto is not a requirement
 * of the extension: the functions below look up its schema when they are
 * called and call it schema-qualified, or fail with a hint to install it.
 * The table has no grants; roles reach it through the functions only:
 * credential_set, credential_remove and credentials (which never returns
 * data) for the role that manages credentials, task_credential for a
 * worker, which returns a credential only for a task whose current lease
 * it holds.  No message, detail or hint names anything of a credential's
 * data.
 */
CREATE TABLE noetl.credential (
    id          bigint PRIMARY KEY DEFAULT noetl.snowflake_id(),
    name        text NOT NULL UNIQUE
                CHECK (pg_catalog.length(name) OPERATOR(pg_catalog.>=) 1 AND pg_catalog.length(name) OPERATOR(pg_catalog.<=) 200),
    type        text NOT NULL
                CHECK (type OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]{0,62}$'),
    data        bytea NOT NULL,
    meta        jsonb,
    tags        text[],
    description text,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON noetl.credential FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('noetl.credential', '');

COMMENT ON TABLE noetl.credential IS
'named credentials (NoETL''s credential table); data is the pgp_sym_encrypt (pgcrypto) of the credential''s JSON under the setting noetl.credential_key; read only through noetl.task_credential';
COMMENT ON COLUMN noetl.credential.data IS
'the credential''s data (a JSON object), encrypted with pgp_sym_encrypt under noetl.credential_key (NoETL: data_encrypted)';

/* the schema of pgcrypto, or an error that says to install it */
CREATE FUNCTION noetl.credential_pgcrypto()
RETURNS name
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s name;
BEGIN
    SELECT n.nspname INTO s
      FROM pg_catalog.pg_extension e
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
     WHERE e.extname OPERATOR(pg_catalog.=) 'pgcrypto';
    IF s IS NULL THEN
        RAISE EXCEPTION 'noetl credentials need the pgcrypto extension'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Run CREATE EXTENSION pgcrypto in this database.';
    END IF;
    /*
     * The functions called by name must be pgcrypto's C functions, which
     * only a superuser can create: whoever owns the schema (pgcrypto is a
     * trusted extension) could otherwise put functions of their own there,
     * which these SECURITY DEFINER callers would run with the key.
     */
    IF EXISTS (SELECT 1
                 FROM pg_catalog.unnest(ARRAY['pgp_sym_encrypt(text,text,text)',
                                              'pgp_sym_decrypt(bytea,text)']) f(sig)
                 LEFT JOIN pg_catalog.pg_proc p
                        ON p.oid OPERATOR(pg_catalog.=)
                           pg_catalog.to_regprocedure(pg_catalog.format('%I.%s', s, f.sig))::pg_catalog.oid
                 LEFT JOIN pg_catalog.pg_language l ON l.oid OPERATOR(pg_catalog.=) p.prolang
                WHERE COALESCE(l.lanname::pg_catalog.text, '') OPERATOR(pg_catalog.<>) 'c') THEN
        RAISE EXCEPTION 'the pgcrypto functions in schema "%" are not pgcrypto''s', s
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Reinstall pgcrypto (DROP EXTENSION pgcrypto; CREATE EXTENSION pgcrypto).';
    END IF;
    RETURN s;
END
$$;
REVOKE ALL ON FUNCTION noetl.credential_pgcrypto() FROM PUBLIC;

/* the key of noetl.credential_key, or an error that says to set it */
CREATE FUNCTION noetl.credential_key()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
BEGIN
    /* loads the library, so that the setting is defined (not a placeholder) */
    PERFORM noetl.worker_live_seconds();
    k := pg_catalog.current_setting('noetl.credential_key', true);
    IF k IS NULL OR k OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION 'noetl.credential_key is not set'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Credentials are encrypted with the key in the setting noetl.credential_key.',
                  HINT = 'Set noetl.credential_key in postgresql.conf (or with ALTER SYSTEM) and reload the configuration.';
    END IF;
    RETURN k;
END
$$;
REVOKE ALL ON FUNCTION noetl.credential_key() FROM PUBLIC;

/* a credential's data, decrypted (owner only: never granted) */
CREATE FUNCTION noetl.credential_data(name text, key text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    crypt name := noetl.credential_pgcrypto();
    k text := COALESCE(key, noetl.credential_key());
    sealed bytea;
    plain text;
BEGIN
    SELECT c.data INTO sealed FROM noetl.credential c
     WHERE c.name OPERATOR(pg_catalog.=) credential_data.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'credential "%" does not exist', pg_catalog.left(name, 200)
            USING ERRCODE = 'undefined_object';
    END IF;
    BEGIN
        EXECUTE pg_catalog.format('SELECT %I.pgp_sym_decrypt($1::bytea, $2::text)', crypt)
           INTO plain USING sealed, k;
    EXCEPTION WHEN query_canceled THEN
        RAISE;
    WHEN OTHERS THEN
        RAISE EXCEPTION 'could not decrypt credential "%"', pg_catalog.left(name, 200)
            USING ERRCODE = 'invalid_password',
                  HINT = 'noetl.credential_key must be the key the credential was stored with.';
    END;
    RETURN plain::jsonb;
END
$$;
REVOKE ALL ON FUNCTION noetl.credential_data(text, text) FROM PUBLIC;

CREATE FUNCTION noetl.credential_set(name text, type text, data jsonb,
                                     description text DEFAULT NULL, tags text[] DEFAULT NULL,
                                     meta jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    crypt name := noetl.credential_pgcrypto();
    k text := noetl.credential_key();
    sealed bytea;
    cid bigint;
BEGIN
    IF name IS NULL OR pg_catalog.length(name) OPERATOR(pg_catalog.<) 1 OR pg_catalog.length(name) OPERATOR(pg_catalog.>) 200
       OR name OPERATOR(pg_catalog.~) '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'a credential name must be 1 to 200 characters without control characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF type IS NULL OR type OPERATOR(pg_catalog.!~) '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'credential "%": a type must be a lower-case word such as postgres, bearer, basic, api_key or header', name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF data IS NULL OR pg_catalog.jsonb_typeof(data) OPERATOR(pg_catalog.<>) 'object' THEN
        RAISE EXCEPTION 'credential "%": its data must be a JSON object', name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF meta IS NOT NULL AND pg_catalog.jsonb_typeof(meta) OPERATOR(pg_catalog.<>) 'object' THEN
        RAISE EXCEPTION 'credential "%": its meta must be a JSON object', name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE pg_catalog.format('SELECT %I.pgp_sym_encrypt($1::text, $2::text, %L::text)', crypt, 'cipher-algo=aes256')
       INTO sealed USING data::text, k;
    INSERT INTO noetl.credential AS c (name, type, data, meta, tags, description)
    VALUES (name, type, sealed, meta, tags, description)
    ON CONFLICT ON CONSTRAINT credential_name_key DO UPDATE
       SET type = excluded.type, data = excluded.data, meta = excluded.meta,
           tags = excluded.tags, description = excluded.description,
           updated_at = pg_catalog.now()
    RETURNING c.id INTO cid;
    RETURN cid;
END
$$;
REVOKE ALL ON FUNCTION noetl.credential_set(text, text, jsonb, text, text[], jsonb) FROM PUBLIC;
COMMENT ON FUNCTION noetl.credential_set(text, text, jsonb, text, text[], jsonb) IS
'adds the credential NAME, or replaces it (its data encrypted under noetl.credential_key); returns its id';

CREATE FUNCTION noetl.credential_remove(name text)
RETURNS boolean
LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH d AS (DELETE FROM noetl.credential c
                WHERE c.name OPERATOR(pg_catalog.=) credential_remove.name RETURNING 1)
    SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 FROM d
$$;
REVOKE ALL ON FUNCTION noetl.credential_remove(text) FROM PUBLIC;
COMMENT ON FUNCTION noetl.credential_remove(text) IS
'removes the credential NAME; false if there was none';

CREATE FUNCTION noetl.credentials()
RETURNS TABLE (name text, type text, tags text[], description text, meta jsonb,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.name, c.type, c.tags, c.description, c.meta, c.created_at, c.updated_at
      FROM noetl.credential c ORDER BY c.name
$$;
REVOKE ALL ON FUNCTION noetl.credentials() FROM PUBLIC;
COMMENT ON FUNCTION noetl.credentials() IS
'the credentials, without their data';

/*
 * noetl.credential_rekey re-encrypts every credential stored under
 * old_key with the current noetl.credential_key (superuser only: not
 * granted).  Set the new key, reload, call it with the old one.
 */
CREATE FUNCTION noetl.credential_rekey(old_key text)
RETURNS integer
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    crypt name := noetl.credential_pgcrypto();
    k text := noetl.credential_key();
    c record;
    plain jsonb;
    sealed bytea;
    n integer := 0;
BEGIN
    FOR c IN SELECT cr.id, cr.name FROM noetl.credential cr ORDER BY cr.id FOR UPDATE LOOP
        plain := noetl.credential_data(c.name, old_key);
        EXECUTE pg_catalog.format('SELECT %I.pgp_sym_encrypt($1::text, $2::text, %L::text)', crypt, 'cipher-algo=aes256')
           INTO sealed USING plain::text, k;
        UPDATE noetl.credential SET data = sealed, updated_at = pg_catalog.now()
         WHERE id OPERATOR(pg_catalog.=) c.id;
        n := n OPERATOR(pg_catalog.+) 1;
    END LOOP;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION noetl.credential_rekey(text) FROM PUBLIC;
COMMENT ON FUNCTION noetl.credential_rekey(text) IS
're-encrypts every credential stored under old_key with the current noetl.credential_key; superuser only';

/* a libpq conninfo value, single-quoted as libpq reads it */
CREATE FUNCTION noetl.conninfo_quote(v text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT '''' OPERATOR(pg_catalog.||)
           pg_catalog.replace(pg_catalog.replace(v, E'\\', E'\\\\'), '''', E'\\''')
           OPERATOR(pg_catalog.||) ''''
$$;
REVOKE ALL ON FUNCTION noetl.conninfo_quote(text) FROM PUBLIC;

/*
 * noetl.task_credential returns the credential a task's auth names, for
 * the worker holding the task's current lease: auth is a name (a JSON
 * string) or a mapping as NoETL wrote it ({type?, credential | key | name:
 * NAME, ...}), whose other members are laid over the credential's data.
 * The result has the name, the type, the data, and for postgres
 * credentials a libpq conninfo (dsn), for bearer, basic, api_key and
 * header credentials the HTTP headers.
 */
CREATE FUNCTION noetl.task_credential(queue_id bigint, lease_token text, auth jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    cname text;
    want text;
    ctype text;
    d jsonb;
    overlay jsonb := '{}';
    out jsonb;
    dsn text := '';
    v text;
    kw record;
    hname text;
    action jsonb;
    workload jsonb;
BEGIN
    SELECT q.action, x.workload INTO action, workload
      FROM noetl.queue q JOIN noetl.execution x ON x.execution_id OPERATOR(pg_catalog.=) q.execution_id
     WHERE q.queue_id OPERATOR(pg_catalog.=) task_credential.queue_id
       AND q.status OPERATOR(pg_catalog.=) 'leased'
       AND q.lease_token OPERATOR(pg_catalog.=)
           pg_catalog.sha256(pg_catalog.convert_to(task_credential.lease_token, 'UTF8'));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'task % is not leased with this lease_token', queue_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Only the worker holding the task''s current lease can read its credentials.';
    END IF;
    CASE pg_catalog.jsonb_typeof(auth)
    WHEN 'string' THEN
        cname := auth OPERATOR(pg_catalog.#>>) '{}';
    WHEN 'object' THEN
        IF auth OPERATOR(pg_catalog.?) 'source' AND COALESCE(auth OPERATOR(pg_catalog.->>) 'source', '') OPERATOR(pg_catalog.<>) 'credential' THEN
            RAISE EXCEPTION 'an auth mapping''s source must be "credential"'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'noetl reads credentials from noetl.credential only.';
        END IF;
        IF pg_catalog.jsonb_typeof(auth OPERATOR(pg_catalog.->) 'credential') OPERATOR(pg_catalog.=) 'string' THEN
            cname := auth OPERATOR(pg_catalog.->>) 'credential';
        ELSIF pg_catalog.jsonb_typeof(auth OPERATOR(pg_catalog.->) 'key') OPERATOR(pg_catalog.=) 'string' THEN
            cname := auth OPERATOR(pg_catalog.->>) 'key';
        ELSIF pg_catalog.jsonb_typeof(auth OPERATOR(pg_catalog.->) 'name') OPERATOR(pg_catalog.=) 'string' THEN
            cname := auth OPERATOR(pg_catalog.->>) 'name';
        ELSE
            RAISE EXCEPTION 'an auth mapping must name its credential (credential, key or name)'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF pg_catalog.jsonb_typeof(auth OPERATOR(pg_catalog.->) 'type') OPERATOR(pg_catalog.=) 'string' THEN
            want := auth OPERATOR(pg_catalog.->>) 'type';
        END IF;
        overlay := auth OPERATOR(pg_catalog.-)
                   ARRAY['type', 'credential', 'key', 'name', 'source', 'tool', 'provider'];
    ELSE
        RAISE EXCEPTION 'auth must be a credential name or a mapping that names one'
            USING ERRCODE = 'invalid_parameter_value';
    END CASE;
    IF cname IS NULL OR cname OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION 'auth names no credential'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    /*
     * A credential of the task's own: its name (as JSON escapes it) is in
     * the text of the task's action or of its execution's workload, as a
     * value (auth: NAME) or within one (a template's token('NAME')).
     */
    v := pg_catalog.to_jsonb(cname)::pg_catalog.text;
    v := pg_catalog.substr(v, 2, pg_catalog.length(v) OPERATOR(pg_catalog.-) 2);
    IF pg_catalog.strpos(COALESCE(action::pg_catalog.text, ''), v) OPERATOR(pg_catalog.=) 0
       AND pg_catalog.strpos(COALESCE(workload::pg_catalog.text, ''), v) OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION 'task % does not name credential "%"', queue_id, pg_catalog.left(cname, 200)
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A worker reads only the credentials its task''s action or its execution''s workload names.';
    END IF;
    SELECT c.type INTO ctype FROM noetl.credential c WHERE c.name OPERATOR(pg_catalog.=) cname;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'credential "%" does not exist', pg_catalog.left(cname, 200)
            USING ERRCODE = 'undefined_object',
                  HINT = 'Add it with noetl credential add (noetl.credential_set).';
    END IF;
    IF want IS NOT NULL AND want OPERATOR(pg_catalog.<>) ctype
       AND NOT (want OPERATOR(pg_catalog.=) ANY (ARRAY['postgres', 'postgresql']) AND ctype OPERATOR(pg_catalog.=) ANY (ARRAY['postgres', 'postgresql'])) THEN
        RAISE EXCEPTION 'credential "%" is of type "%", not "%"',
                        pg_catalog.left(cname, 200), ctype, pg_catalog.left(want, 64)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    d := noetl.credential_data(cname) OPERATOR(pg_catalog.||) overlay;
    out := pg_catalog.jsonb_build_object('name', cname, 'type', ctype, 'data', d);
    IF ctype OPERATOR(pg_catalog.=) ANY (ARRAY['postgres', 'postgresql']) THEN
        SELECT d OPERATOR(pg_catalog.->>) f INTO dsn
          FROM pg_catalog.unnest(ARRAY['dsn', 'connection_string', 'db_conn_string']) WITH ORDINALITY u(f, o)
         WHERE pg_catalog.jsonb_typeof(d OPERATOR(pg_catalog.->) f) OPERATOR(pg_catalog.=) 'string'
         ORDER BY u.o LIMIT 1;
        IF dsn IS NULL THEN
            dsn := '';
            FOR kw IN SELECT * FROM (VALUES
                    (1, 'host', ARRAY['host', 'hostname', 'server', 'db_host', 'pg_host']),
                    (2, 'port', ARRAY['port', 'db_port']),
                    (3, 'dbname', ARRAY['dbname', 'database', 'db_name', 'db']),
                    (4, 'user', ARRAY['user', 'username', 'db_user']),
                    (5, 'password', ARRAY['password', 'db_password']),
                    (6, 'sslmode', ARRAY['sslmode', 'ssl'])) m(i, keyword, fields)
                ORDER BY m.i LOOP
                v := NULL;
                SELECT d OPERATOR(pg_catalog.->>) f INTO v
                  FROM pg_catalog.unnest(kw.fields) WITH ORDINALITY u(f, o)
                 WHERE pg_catalog.jsonb_typeof(d OPERATOR(pg_catalog.->) f) OPERATOR(pg_catalog.=) ANY (ARRAY['string', 'number'])
                 ORDER BY u.o LIMIT 1;
                IF v IS NOT NULL THEN
                    dsn := dsn OPERATOR(pg_catalog.||)
                           CASE WHEN dsn OPERATOR(pg_catalog.=) '' THEN '' ELSE ' ' END
                           OPERATOR(pg_catalog.||) kw.keyword OPERATOR(pg_catalog.||) '='
                           OPERATOR(pg_catalog.||) noetl.conninfo_quote(v);
                END IF;
            END LOOP;
        END IF;
        IF dsn OPERATOR(pg_catalog.=) '' THEN
            RAISE EXCEPTION 'postgres credential "%" has no connection fields', pg_catalog.left(cname, 200)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Give it host, port, user, password and database (or dbname), or a dsn.';
        END IF;
        out := out OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('dsn', dsn);
    ELSIF ctype OPERATOR(pg_catalog.=) ANY (ARRAY['bearer', 'basic', 'api_key', 'header']) THEN
        IF ctype OPERATOR(pg_catalog.=) 'bearer' THEN
            v := COALESCE(d OPERATOR(pg_catalog.->>) 'token', d OPERATOR(pg_catalog.->>) 'access_token');
            hname := 'Authorization';
            IF v IS NOT NULL THEN
                v := 'Bearer ' OPERATOR(pg_catalog.||) v;
            END IF;
        ELSIF ctype OPERATOR(pg_catalog.=) 'basic' THEN
            hname := 'Authorization';
            IF d OPERATOR(pg_catalog.?) 'username' OR d OPERATOR(pg_catalog.?) 'password' OR d OPERATOR(pg_catalog.?) 'user' THEN
                v := 'Basic ' OPERATOR(pg_catalog.||) pg_catalog.translate(pg_catalog.encode(
                         pg_catalog.convert_to(COALESCE(d OPERATOR(pg_catalog.->>) 'username', d OPERATOR(pg_catalog.->>) 'user', '')
                                               OPERATOR(pg_catalog.||) ':'
                                               OPERATOR(pg_catalog.||) COALESCE(d OPERATOR(pg_catalog.->>) 'password', ''),
                                               'UTF8'), 'base64'), E'\n', '');
            END IF;
        ELSIF ctype OPERATOR(pg_catalog.=) 'api_key' THEN
            hname := COALESCE(d OPERATOR(pg_catalog.->>) 'header', 'X-API-Key');
            v := COALESCE(d OPERATOR(pg_catalog.->>) 'value', d OPERATOR(pg_catalog.->>) 'api_key', d OPERATOR(pg_catalog.->>) 'key');
        ELSE
            hname := d OPERATOR(pg_catalog.->>) 'name';
            v := d OPERATOR(pg_catalog.->>) 'value';
        END IF;
        IF v IS NULL OR hname IS NULL OR hname OPERATOR(pg_catalog.=) '' THEN
            RAISE EXCEPTION '% credential "%" lacks the fields of its header', ctype, pg_catalog.left(cname, 200)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'bearer needs token; basic username and password; api_key value (and header); header name and value.';
        END IF;
        out := out OPERATOR(pg_catalog.||)
               pg_catalog.jsonb_build_object('headers', pg_catalog.jsonb_build_object(hname, v));
    END IF;
    RETURN out;
END
$$;
REVOKE ALL ON FUNCTION noetl.task_credential(bigint, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION noetl.task_credential(bigint, text, jsonb) IS
'the credential a task''s auth names (with its dsn or HTTP headers), for the worker holding the task''s current lease only';


/*
 * Secret markers: token() and secret()
 *
 * Rendering a task's fields, token(NAME) and secret(NAME) give a marker
 * "@@noetl-secret:v1:KIND:HEXNAME:MAC@@" bound by an HMAC under
 * noetl.credential_key to the task's execution and node_id
 * (src/secret_marker.c); no secret is ever in a queue row or an event.
 * The worker holding the task's lease hands the markers it finds in the
 * task's fields to noetl.task_secrets, which checks each one against the
 * queue row and returns the secrets: token(NAME) the credential's token
 * (the first of its data's token, access_token and bearer_token),
 * secret(NAME) its secret (the first of value, secret, password, token,
 * api_key and key).  A marker rendered for another task
 * or execution, or written into a workload or a step result, does not
 * check.
 */
CREATE FUNCTION noetl.secret_marker_check(execution_id bigint, node_id text, marker text,
                                          OUT kind text, OUT name text, OUT valid boolean)
RETURNS record
LANGUAGE c STRICT STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'noetl_secret_marker_check';
REVOKE ALL ON FUNCTION noetl.secret_marker_check(bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION noetl.secret_marker_check(bigint, text, text) IS
'takes a token()/secret() marker apart and checks it for the task (execution_id, node_id); called by noetl.task_secrets, granted to nobody';

CREATE FUNCTION noetl.task_secrets(queue_id bigint, lease_token text, markers text[])
RETURNS text[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    exec_id bigint;
    node text;
    mkind text;
    mname text;
    mvalid boolean;
    d jsonb;
    fields text[];
    v text;
    f text;
    out text[] := '{}';
    i integer := 0;
BEGIN
    IF queue_id IS NOT NULL AND lease_token IS NOT NULL THEN
        SELECT q.execution_id, q.node_id INTO exec_id, node FROM noetl.queue q
         WHERE q.queue_id OPERATOR(pg_catalog.=) task_secrets.queue_id
           AND q.status OPERATOR(pg_catalog.=) 'leased'
           AND q.lease_token OPERATOR(pg_catalog.=)
               pg_catalog.sha256(pg_catalog.convert_to(task_secrets.lease_token, 'UTF8'));
    END IF;
    IF exec_id IS NULL THEN
        RAISE EXCEPTION 'task % is not leased with this lease_token', queue_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Only the worker holding the task''s current lease can read its secrets.';
    END IF;
    IF markers IS NULL OR pg_catalog.cardinality(markers) OPERATOR(pg_catalog.>) 1000 THEN
        RAISE EXCEPTION 'task_secrets takes a list of at most 1000 secret markers'
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    FOR i IN 1 .. COALESCE(pg_catalog.cardinality(markers), 0) LOOP
        mkind := NULL;
        IF markers[i] IS NOT NULL THEN
            SELECT c.kind, c.name, c.valid INTO mkind, mname, mvalid
              FROM noetl.secret_marker_check(exec_id, node, pg_catalog.left(markers[i], 2000)) c;
        END IF;
        IF mkind IS NULL THEN
            RAISE EXCEPTION 'secret marker % of task % is malformed', i, queue_id
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'token() and secret() render a marker that the worker replaces; a filter, a slice or a method applied to it garbles it.',
                      HINT = 'Output token(NAME) and secret(NAME) as they are: "Bearer {{ token(workload.cred) }}".';
        END IF;
        IF NOT mvalid THEN
            RAISE EXCEPTION '%() of credential "%" was not rendered for task %', mkind, mname, queue_id
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'A secret marker is valid only in the fields of the task it was rendered for: one copied from another task or execution, or brought in through a workload or a step result, is refused.';
        END IF;
        d := noetl.credential_data(mname);
        fields := CASE mkind WHEN 'token' THEN ARRAY['token', 'access_token', 'bearer_token']
                              ELSE ARRAY['value', 'secret', 'password', 'token', 'api_key', 'key'] END;
        v := NULL;
        FOREACH f IN ARRAY fields LOOP
            IF pg_catalog.jsonb_typeof(d OPERATOR(pg_catalog.->) f) OPERATOR(pg_catalog.=) ANY (ARRAY['string', 'number']) THEN
                v := d OPERATOR(pg_catalog.->>) f;
                EXIT;
            END IF;
        END LOOP;
        IF v IS NULL THEN
            RAISE EXCEPTION 'credential "%" has none of the fields %() reads (%)', mname, mkind,
                            pg_catalog.array_to_string(fields, ', ')
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'It reads the first of them that is a string or a number.';
        END IF;
        out := out OPERATOR(pg_catalog.||) v;
    END LOOP;
    RETURN out;
END
$$;
REVOKE ALL ON FUNCTION noetl.task_secrets(bigint, text, text[]) FROM PUBLIC;
COMMENT ON FUNCTION noetl.task_secrets(bigint, text, text[]) IS
'the secrets the token()/secret() markers of a task stand for, for the worker holding the task''s current lease only';
