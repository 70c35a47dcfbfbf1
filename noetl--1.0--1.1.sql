/*
 * noetl--1.0--1.1.sql: from version 1.0 to 1.1.
 *
 * There is no full script for 1.1: CREATE EXTENSION noetl runs
 * noetl--1.0.sql and then this one, so a new installation and an updated
 * one are the same by construction.
 */

\echo Use "ALTER EXTENSION noetl UPDATE TO '1.1'" to load this file. \quit

/*
 * 1.1 authenticates reports with lease tokens: noetl.lease returns a
 * random token with each lease (the queue keeps its SHA-256), and every
 * report, heartbeat and release of the task must carry it.  The worker
 * functions therefore take a lease_token where they took a worker_id, and
 * noetl.lease returns a type of its own (noetl.task) instead of the queue's
 * rows.  Tasks leased before the update carry no token: their reports are
 * refused, and they run again once their lease expires (as a retry, so
 * they count an attempt).  Drain workers before updating to avoid that.
 */

/*
 * Columns no version of the broker ever wrote go: what loops and
 * sub-playbooks need will come with them, in their own shape.
 */
ALTER TABLE noetl.queue DROP COLUMN context;
ALTER TABLE noetl.step_state DROP COLUMN loop_total, DROP COLUMN loop_done, DROP COLUMN loop_next;
ALTER TABLE noetl.execution DROP COLUMN parent_step;
COMMENT ON TABLE noetl.step_state IS
'per-step state of control steps and of the end step (a join: waiting until every branch is done); a task''s own state is its noetl.queue row';

ALTER TABLE noetl.queue ADD COLUMN lease_token bytea;
COMMENT ON COLUMN noetl.queue.lease_token IS
'SHA-256 of the token handed out with the latest lease: reports of the task must carry the token itself';

ALTER TABLE noetl.event ADD COLUMN lease_token text;
COMMENT ON COLUMN noetl.event.lease_token IS
'write-only: a report of a task carries the token its lease returned; the broker checks it and stores NULL';

DROP FUNCTION noetl.lease(text, integer, integer, text[]);
DROP FUNCTION noetl.heartbeat(bigint, text, integer);
DROP FUNCTION noetl.complete(bigint, text, jsonb);
DROP FUNCTION noetl.fail(bigint, text, text, jsonb);
DROP FUNCTION noetl.release(bigint, text);
DROP FUNCTION noetl.cancel(bigint);

/*
 * The queue protocol for workers.  noetl.lease hands out ready tasks, the
 * highest priority and oldest first, skipping rows other workers are
 * leasing at the same moment.  Every lease comes with a token, random and
 * new for each lease of a task, which only the caller of noetl.lease ever
 * sees (the queue keeps its SHA-256): heartbeats and reports of the task
 * must carry it, so a report is accepted only from the worker that holds
 * the lease.  complete, fail and release report through events, so a
 * worker that prefers plain INSERTs into noetl.event gets the same.
 *
 * lease and heartbeat are written in C (state.c, which owns every change
 * of a task's state): a lease reads the ready index in its order, so its
 * cost depends on the tasks it takes, not on the backlog or on planner
 * statistics.  Like the triggers, they act as the owner of the tables with
 * the search_path pinned, without SECURITY DEFINER.
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
AS 'MODULE_PATHNAME', 'noetl_lease'
LANGUAGE C VOLATILE ROWS 10;

COMMENT ON FUNCTION noetl.lease(text, integer, integer, text[]) IS
'leases up to max_tasks ready tasks (optionally only of the given tools) to a worker for lease_seconds; each comes with the lease_token its reports must carry';

CREATE FUNCTION noetl.heartbeat(queue_id bigint, lease_token text, extend_seconds integer DEFAULT 60)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'noetl_heartbeat'
LANGUAGE C VOLATILE;

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
 * The triggers let rows restored by the table's owner by (pg_dump's output
 * and pg_restore COPY them in), besides the broker's own events.
 */
DROP TRIGGER event_before ON noetl.event;
DROP TRIGGER event_after ON noetl.event;
DROP FUNCTION noetl.broker_is_writing();

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

REVOKE ALL ON FUNCTION noetl.lease(text, integer, integer, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.heartbeat(bigint, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.report(bigint, text, text, jsonb, text, text, double precision, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.complete(bigint, text, jsonb, double precision) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.fail(bigint, text, text, jsonb, text, double precision) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.cancel(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION noetl.release(bigint, text) FROM PUBLIC;
