/* noetl--1.1.sql: the NoETL workflow broker, version 1.1 */

\echo Use "CREATE EXTENSION noetl" to load this file. \quit

/*
 * Ids.  noetl.snowflake_id() draws time-ordered ids from shared memory when
 * the library is preloaded; without preloading it takes the low bits from
 * this sequence instead.
 */
CREATE SEQUENCE noetl.snowflake_seq CYCLE MAXVALUE 262143;

CREATE FUNCTION noetl.snowflake_id()
RETURNS bigint
AS 'MODULE_PATHNAME', 'noetl_snowflake_id'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION noetl.snowflake_id() IS
'returns a new time-ordered id: milliseconds since 2024-01-01 << 23 | shard << 18 | sequence';

/*
 * The catalog: every registered version of every playbook.  Versions are
 * immutable, so a parsed playbook can be cached by catalog_id.
 */
CREATE TABLE noetl.catalog (
    catalog_id  bigint PRIMARY KEY DEFAULT noetl.snowflake_id(),
    path        text NOT NULL,
    version     integer NOT NULL CHECK (version > 0),
    kind        text NOT NULL DEFAULT 'Playbook',
    content     text NOT NULL,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT catalog_path_version_key UNIQUE (path, version)
);

COMMENT ON TABLE noetl.catalog IS 'registered playbooks: the text as sent (content) and its normalised form (payload)';

/*
 * The states of executions, steps and tasks.  They are domains rather
 * than CHECK constraints on the tables: PostgreSQL re-reads a table's
 * CHECK constraints for every statement that writes the table, while a
 * domain's are compiled once per session, and the broker writes these
 * tables on every event.
 */
CREATE DOMAIN noetl.execution_status AS text
    CHECK (VALUE IN ('running', 'completed', 'failed', 'cancelled'));
CREATE DOMAIN noetl.step_status AS text
    CHECK (VALUE IN ('waiting', 'dispatched', 'completed', 'failed', 'cancelled'));
CREATE DOMAIN noetl.task_status AS text
    CHECK (VALUE IN ('queued', 'leased', 'done', 'retry', 'dead', 'cancelled'));

/*
 * One row per execution: the broker's compact state.  "pending" counts the
 * execution's outstanding work (tasks queued, leased or awaiting retry,
 * loop items and child executions not yet finished); the execution
 * completes when it reaches zero with nothing failed.
 */
CREATE TABLE noetl.execution (
    execution_id        bigint PRIMARY KEY,
    catalog_id          bigint NOT NULL REFERENCES noetl.catalog (catalog_id),
    parent_execution_id bigint,
    parent_step         text,
    status              noetl.execution_status NOT NULL DEFAULT 'running',
    workload            jsonb NOT NULL DEFAULT '{}',
    result              jsonb,
    error               text,
    pending             integer NOT NULL DEFAULT 0 CHECK (pending >= 0),
    started_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    ended_at            timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE INDEX execution_parent_idx ON noetl.execution (parent_execution_id)
    WHERE parent_execution_id IS NOT NULL;
CREATE INDEX execution_running_idx ON noetl.execution (started_at)
    WHERE status = 'running';

COMMENT ON TABLE noetl.execution IS 'one row per execution: status, workload, result and the count of outstanding work';

/*
 * Per-step state of an execution, keyed by (execution_id, step): what the
 * broker reads when it evaluates an event, instead of scanning the log.
 */
CREATE TABLE noetl.step_state (
    execution_id    bigint NOT NULL,
    step            text NOT NULL,
    status          noetl.step_status NOT NULL,
    args            jsonb,
    result          jsonb,
    loop_total      integer,
    loop_done       integer,
    loop_next       integer,
    started_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    ended_at        timestamptz,
    PRIMARY KEY (execution_id, step)
);

COMMENT ON TABLE noetl.step_state IS
'per-step state of control steps, of the end step (a join: waiting until every branch is done) and of loops; a task''s own state is its noetl.queue row';

/*
 * The event log.  Append-only; the key leads with execution_id so that an
 * execution's events are stored and read together (and so the table can be
 * distributed by execution_id).
 */
CREATE TABLE noetl.event (
    execution_id        bigint NOT NULL,
    event_id            bigint NOT NULL,
    parent_event_id     bigint,
    parent_execution_id bigint,
    catalog_id          bigint,
    event_type          text NOT NULL,
    node_id             text,
    node_name           text,
    node_type           text,
    status              text,
    context             jsonb,
    result              jsonb,
    meta                jsonb,
    error               text,
    stack_trace         text,
    worker_id           text,
    queue_id            bigint,
    duration            double precision,
    created_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    lease_token         text,
    PRIMARY KEY (execution_id, event_id)
);

COMMENT ON TABLE noetl.event IS 'the append-only event log; inserting an event is the API';
COMMENT ON COLUMN noetl.event.lease_token IS
'write-only: a report of a task carries the token its lease returned; the broker checks it and stores NULL';

/*
 * The task queue.  One row per (execution, node_id): node_id is the step
 * name, or step[i] for loop item i.  A retried task keeps its row.
 *
 * Access paths: workers lease the highest priority, oldest ready task
 * (queue_ready_idx, partial on the two ready states); the broker worker
 * expires leases (queue_lease_idx); workers complete by queue_id (primary
 * key); the broker cancels an execution's tasks (queue_node_key).
 */
CREATE TABLE noetl.queue (
    queue_id        bigint PRIMARY KEY,
    execution_id    bigint NOT NULL,
    catalog_id      bigint NOT NULL,
    node_id         text NOT NULL,
    node_name       text NOT NULL,
    tool            text NOT NULL,
    action          jsonb NOT NULL,
    context         jsonb,
    result          jsonb,
    status          noetl.task_status NOT NULL DEFAULT 'queued',
    priority        integer NOT NULL DEFAULT 0,
    attempts        integer NOT NULL DEFAULT 0,
    max_attempts    integer NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),
    available_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    lease_until     timestamptz,
    worker_id       text,
    last_heartbeat  timestamptz,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    lease_token     bytea,
    CONSTRAINT queue_node_key UNIQUE (execution_id, node_id)
);

COMMENT ON COLUMN noetl.queue.lease_token IS
'SHA-256 of the token handed out with the latest lease: reports of the task must carry the token itself';

CREATE INDEX queue_ready_idx ON noetl.queue (priority DESC, queue_id) INCLUDE (available_at, tool)
    WHERE status IN ('queued', 'retry');
CREATE INDEX queue_lease_idx ON noetl.queue (lease_until)
    WHERE status = 'leased';

/*
 * Every task's row is updated a few times and then stays: the ready and
 * lease indexes collect dead entries that leases step over until vacuum.
 * Vacuum the queue after 1% of it changed, not the default 20%.
 */
ALTER TABLE noetl.queue SET (autovacuum_vacuum_scale_factor = 0.01,
                             autovacuum_analyze_scale_factor = 0.02);

COMMENT ON TABLE noetl.queue IS
'tasks for workers: queued -> leased -> done | retry | dead | cancelled; a done task keeps its step''s result';

/* the tables hold user data: pg_dump must dump their rows */
SELECT pg_catalog.pg_extension_config_dump('noetl.catalog', '');
SELECT pg_catalog.pg_extension_config_dump('noetl.execution', '');
SELECT pg_catalog.pg_extension_config_dump('noetl.step_state', '');
SELECT pg_catalog.pg_extension_config_dump('noetl.event', '');
SELECT pg_catalog.pg_extension_config_dump('noetl.queue', '');
SELECT pg_catalog.pg_extension_config_dump('noetl.snowflake_seq', '');

/*
 * Reading playbooks.
 */
CREATE FUNCTION noetl.yaml_to_jsonb(text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'noetl_yaml_to_jsonb_sql'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION noetl.yaml_to_jsonb(text) IS
'parses YAML as PyYAML''s safe_load does and returns the result as jsonb';

CREATE FUNCTION noetl.parse_playbook(content text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'noetl_parse_playbook'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION noetl.parse_playbook(text) IS
'validates a playbook (YAML or JSON text) and returns its normalised form without registering it';

CREATE FUNCTION noetl.register(content text)
RETURNS TABLE (catalog_id bigint, path text, version integer)
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    doc  jsonb := noetl.parse_playbook(content);
    p    text := doc OPERATOR(pg_catalog.->>) 'path';
BEGIN
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
    RETURNING c.catalog_id, c.path, c.version;
END
$$;

COMMENT ON FUNCTION noetl.register(text) IS
'registers a playbook (YAML or JSON text) as the next version of its path';

CREATE FUNCTION noetl.playbook(path text, version integer DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    result jsonb;
BEGIN
    SELECT c.payload INTO result
      FROM noetl.catalog c
     WHERE c.path OPERATOR(pg_catalog.=) playbook.path
       AND (playbook.version IS NULL OR c.version OPERATOR(pg_catalog.=) playbook.version)
     ORDER BY c.version DESC
     LIMIT 1;
    IF NOT FOUND THEN
        IF playbook.version IS NULL THEN
            RAISE EXCEPTION 'playbook "%" is not registered', playbook.path
                USING ERRCODE = 'undefined_object';
        END IF;
        RAISE EXCEPTION 'version % of playbook "%" is not registered', playbook.version, playbook.path
            USING ERRCODE = 'undefined_object';
    END IF;
    RETURN result;
END
$$;

COMMENT ON FUNCTION noetl.playbook(text, integer) IS
'returns the normalised payload of a registered playbook, the latest version when version is NULL';

/*
 * Templates: a Jinja2-compatible engine over jsonb (see README, "Templates").
 * STABLE because now() reads the statement time.
 */
CREATE FUNCTION noetl.render_text(template text, context jsonb)
RETURNS text
AS 'MODULE_PATHNAME', 'noetl_render_text'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION noetl.render_text(text, jsonb) IS
'renders a Jinja2 template against a JSON object, as Environment().from_string(template).render(context)';

CREATE FUNCTION noetl.render(template jsonb, context jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'noetl_render'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION noetl.render(jsonb, jsonb) IS
'renders every string in a JSON value; a string that is one {{ expr }} keeps the value''s JSON type';

CREATE FUNCTION noetl.eval(expression text, context jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'noetl_eval'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION noetl.eval(text, jsonb) IS
'evaluates a template expression (without delimiters) and returns its value';

CREATE FUNCTION noetl.truthy(condition text, context jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'noetl_truthy'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION noetl.truthy(text, jsonb) IS
'evaluates a condition with NoETL''s rule: bare expressions are wrapped in {{ }}; the text true, 1 or yes is true';

/*
 * The broker: triggers on noetl.event.  BEFORE INSERT validates the event
 * (a report of a task must carry its lease's token), locks its execution,
 * and sets what the broker decides rather than the client: event_id,
 * created_at, status, catalog_id and the task's node and worker.  AFTER
 * INSERT evaluates the execution (for the event types that change state,
 * unless the event was marked ignored).  Rows written as they are pass
 * both triggers by: the broker's own events, and rows the table's owner
 * restores with COPY (pg_dump's output, pg_restore).  The WHEN clause is
 * kept trivial: a trigger's WHEN expression is re-read for every
 * statement.
 *
 * Both run as the owner of noetl.event with the search_path pinned to
 * pg_catalog, so a client that may only insert events can drive
 * executions.  They are not SECURITY DEFINER: the C code switches user
 * and search_path itself, as PostgreSQL's RI triggers do, which costs far
 * less per event than the GUC save and restore of a SET clause.  Executing
 * them directly is refused (they only run as triggers).
 */
CREATE FUNCTION noetl.event_before()
RETURNS trigger
AS 'MODULE_PATHNAME', 'noetl_event_before'
LANGUAGE C;

CREATE FUNCTION noetl.event_after()
RETURNS trigger
AS 'MODULE_PATHNAME', 'noetl_event_after'
LANGUAGE C;

CREATE FUNCTION noetl.event_is_verbatim()
RETURNS boolean
AS 'MODULE_PATHNAME', 'noetl_event_is_verbatim'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION noetl.event_is_verbatim() IS
'true while rows of noetl.event are written as they are: the broker''s own events, and a restore (COPY) by the table''s owner; clients cannot make it true';

CREATE TRIGGER event_before BEFORE INSERT ON noetl.event
    FOR EACH ROW WHEN (NOT noetl.event_is_verbatim())
    EXECUTE FUNCTION noetl.event_before();

CREATE TRIGGER event_after AFTER INSERT ON noetl.event
    FOR EACH ROW WHEN (NOT noetl.event_is_verbatim())
    EXECUTE FUNCTION noetl.event_after();

/*
 * Starting executions.
 */
CREATE FUNCTION noetl.execute(path text, workload jsonb DEFAULT '{}', version integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    INSERT INTO noetl.event (execution_id, event_type, context)
    VALUES (noetl.snowflake_id(), 'execution_start',
            pg_catalog.jsonb_build_object('path', execute.path, 'version', execute.version,
                                          'workload', COALESCE(execute.workload, '{}')))
    RETURNING execution_id INTO id;
    RETURN id;
END
$$;

COMMENT ON FUNCTION noetl.execute(text, jsonb, integer) IS
'starts an execution of a registered playbook (the latest version when version is NULL) and returns its id';

/*
 * The queue protocol for workers.  noetl.lease hands out ready tasks, the
 * highest priority and oldest first, skipping rows other workers are
 * leasing at the same moment.  Every lease comes with a token, random and
 * new for each lease of a task, which only the caller of noetl.lease ever
 * sees (the queue keeps its SHA-256): heartbeats and reports of the task
 * must carry it, so a report is accepted only from the worker that holds
 * the lease.  complete, fail and release report through events, so a
 * worker that prefers plain INSERTs into noetl.event gets the same.
 */
CREATE TYPE noetl.task AS (
    queue_id        bigint,
    execution_id    bigint,
    catalog_id      bigint,
    node_id         text,
    node_name       text,
    tool            text,
    action          jsonb,
    priority        integer,
    attempts        integer,
    max_attempts    integer,
    lease_until     timestamptz,
    lease_token     text
);

COMMENT ON TYPE noetl.task IS
'a leased task as noetl.lease returns it: what to run (action), and the lease_token its reports must carry';

CREATE FUNCTION noetl.lease(worker_id text, max_tasks integer DEFAULT 1,
                            lease_seconds integer DEFAULT 60, tools text[] DEFAULT NULL)
RETURNS SETOF noetl.task
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    ids    bigint[];
    tokens text[];
BEGIN
    IF lease.worker_id IS NULL OR lease.worker_id OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION 'a worker_id is required to lease tasks'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give each worker a name of its own: it is recorded with its leases and reports.';
    END IF;
    IF lease.max_tasks IS NULL OR lease.max_tasks OPERATOR(pg_catalog.<) 1
       OR lease.max_tasks OPERATOR(pg_catalog.>) 1000 THEN
        RAISE EXCEPTION 'max_tasks must be between 1 and 1000, not %', lease.max_tasks
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF lease.lease_seconds IS NULL OR lease.lease_seconds OPERATOR(pg_catalog.<) 1
       OR lease.lease_seconds OPERATOR(pg_catalog.>) 86400 THEN
        RAISE EXCEPTION 'lease_seconds must be between 1 and 86400, not %', lease.lease_seconds
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A worker running longer tasks extends its lease with noetl.heartbeat.';
    END IF;

    SELECT pg_catalog.array_agg(r.queue_id), pg_catalog.array_agg(pg_catalog.gen_random_uuid()::text)
      INTO ids, tokens
      FROM (SELECT q.queue_id
              FROM noetl.queue q
             WHERE q.status OPERATOR(pg_catalog.=) ANY ('{queued,retry}'::text[])
               AND q.available_at OPERATOR(pg_catalog.<=) pg_catalog.now()
               AND (lease.tools IS NULL OR q.tool OPERATOR(pg_catalog.=) ANY (lease.tools))
             ORDER BY q.priority DESC, q.queue_id
             LIMIT lease.max_tasks
               FOR UPDATE SKIP LOCKED) r;
    IF ids IS NULL THEN
        RETURN;
    END IF;

    RETURN QUERY
    UPDATE noetl.queue q
       SET status = 'leased',
           worker_id = lease.worker_id,
           attempts = q.attempts OPERATOR(pg_catalog.+) 1,
           lease_until = pg_catalog.clock_timestamp()
                         OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => lease.lease_seconds),
           lease_token = pg_catalog.sha256(pg_catalog.convert_to(t.token, 'UTF8')),
           last_heartbeat = pg_catalog.clock_timestamp(),
           updated_at = pg_catalog.clock_timestamp()
      FROM ROWS FROM (pg_catalog.unnest(ids), pg_catalog.unnest(tokens)) AS t(queue_id, token)
     WHERE q.queue_id OPERATOR(pg_catalog.=) t.queue_id
    RETURNING q.queue_id, q.execution_id, q.catalog_id, q.node_id, q.node_name, q.tool, q.action,
              q.priority, q.attempts, q.max_attempts, q.lease_until, t.token;
END
$$;

COMMENT ON FUNCTION noetl.lease(text, integer, integer, text[]) IS
'leases up to max_tasks ready tasks (optionally only of the given tools) to a worker for lease_seconds; each comes with the lease_token its reports must carry';

CREATE FUNCTION noetl.heartbeat(queue_id bigint, lease_token text, extend_seconds integer DEFAULT 60)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    until timestamptz;
BEGIN
    IF heartbeat.extend_seconds IS NULL OR heartbeat.extend_seconds OPERATOR(pg_catalog.<) 1
       OR heartbeat.extend_seconds OPERATOR(pg_catalog.>) 86400 THEN
        RAISE EXCEPTION 'extend_seconds must be between 1 and 86400, not %', heartbeat.extend_seconds
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE noetl.queue q
       SET lease_until = pg_catalog.clock_timestamp()
                         OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => heartbeat.extend_seconds),
           last_heartbeat = pg_catalog.clock_timestamp(),
           updated_at = pg_catalog.clock_timestamp()
     WHERE q.queue_id OPERATOR(pg_catalog.=) heartbeat.queue_id
       AND q.status OPERATOR(pg_catalog.=) 'leased'
       AND q.lease_token OPERATOR(pg_catalog.=)
           pg_catalog.sha256(pg_catalog.convert_to(heartbeat.lease_token, 'UTF8'))
    RETURNING q.lease_until INTO until;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'task % is not leased with this token', heartbeat.queue_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'The lease expired, was taken over or ended; stop working on the task.';
    END IF;
    RETURN until;
END
$$;

COMMENT ON FUNCTION noetl.heartbeat(bigint, text, integer) IS
'extends the lease of a task the caller holds (its lease_token); returns the new lease end';

CREATE FUNCTION noetl.report(queue_id bigint, lease_token text, event_type text,
                             result jsonb DEFAULT NULL, error text DEFAULT NULL,
                             stack_trace text DEFAULT NULL, duration double precision DEFAULT NULL,
                             meta jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    id bigint;
BEGIN
    IF report.event_type IS NULL OR NOT (report.event_type OPERATOR(pg_catalog.=) ANY
           ('{action_started,action_completed,action_error,action_failed,action_released,step_result}'::text[])) THEN
        RAISE EXCEPTION 'event type "%" is not a report of a task', report.event_type
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Reports are action_started, action_completed, action_error, action_released and step_result.';
    END IF;
    INSERT INTO noetl.event (event_type, queue_id, lease_token, result, error, stack_trace,
                             duration, meta)
    VALUES (report.event_type, report.queue_id, report.lease_token, report.result, report.error,
            report.stack_trace, report.duration, report.meta)
    RETURNING event_id INTO id;
    RETURN id;
END
$$;

COMMENT ON FUNCTION noetl.report(bigint, text, text, jsonb, text, text, double precision, jsonb) IS
'reports on a task the caller holds (its lease_token): inserts an action_* event; returns the event id';

CREATE FUNCTION noetl.complete(queue_id bigint, lease_token text, result jsonb,
                               duration double precision DEFAULT NULL)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT noetl.report(complete.queue_id, complete.lease_token, 'action_completed',
                        complete.result, NULL, NULL, complete.duration)
$$;

COMMENT ON FUNCTION noetl.complete(bigint, text, jsonb, double precision) IS
'reports a task done with its result (inserts an action_completed event); returns the event id';

CREATE FUNCTION noetl.fail(queue_id bigint, lease_token text, error text, result jsonb DEFAULT NULL,
                           stack_trace text DEFAULT NULL, duration double precision DEFAULT NULL)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT noetl.report(fail.queue_id, fail.lease_token, 'action_error', fail.result,
                        fail.error, fail.stack_trace, fail.duration)
$$;

COMMENT ON FUNCTION noetl.fail(bigint, text, text, jsonb, text, double precision) IS
'reports a task failed (inserts an action_error event): the step''s retry policy decides what follows';

CREATE FUNCTION noetl.release(queue_id bigint, lease_token text)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT noetl.report(release.queue_id, release.lease_token, 'action_released')
$$;

COMMENT ON FUNCTION noetl.release(bigint, text) IS
'gives a task the caller holds back to the queue, as if it had not been leased (inserts an action_released event); for a worker that stops before finishing';

CREATE FUNCTION noetl.cancel(execution_id bigint)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO noetl.event (execution_id, event_type)
    VALUES (cancel.execution_id, 'execution_cancel')
    RETURNING event_id
$$;

COMMENT ON FUNCTION noetl.cancel(bigint) IS
'cancels an execution (inserts an execution_cancel event)';

/*
 * The broker worker and the queue at a glance.
 */
CREATE FUNCTION noetl.status()
RETURNS jsonb
AS 'MODULE_PATHNAME', 'noetl_status'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION noetl.status() IS
'whether the library is preloaded, the broker worker (pid, database), the notification channels, outstanding tasks by status, the age of the oldest ready task';

/*
 * Privileges: reading YAML and drawing ids is harmless; changing or reading
 * the catalog is for roles an administrator grants it to.  The tables are
 * reached through SECURITY DEFINER functions only, unless granted.
 */
GRANT USAGE ON SCHEMA noetl TO PUBLIC;
REVOKE ALL ON FUNCTION noetl.register(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.playbook(text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.execute(text, jsonb, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.lease(text, integer, integer, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.heartbeat(bigint, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.report(bigint, text, text, jsonb, text, text, double precision, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.complete(bigint, text, jsonb, double precision) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.fail(bigint, text, text, jsonb, text, double precision) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.cancel(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.release(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.status() FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.event_before() FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.event_after() FROM PUBLIC;
