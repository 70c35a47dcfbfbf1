-- test/lib/sqlworker.sql: a worker written in SQL, for tests.
--
-- pg_temp.work(execution_id, canned) leases every ready task of the
-- execution and reports it with canned[node_id]: a result (reported as the
-- reference worker reports it, in NoETL's envelope {status, data}), or
-- {"__fail": "error", "result": {...}} to report a failure.  Tasks of other
-- executions that it happens to lease are released (given back uncounted).  It repeats until no
-- task of the execution is ready and returns how many tasks it reported.
CREATE FUNCTION pg_temp.work(eid bigint, canned jsonb DEFAULT '{}')
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    t record;
    n integer := 0;
    got boolean;
    c jsonb;
BEGIN
    LOOP
        got := false;
        FOR t IN SELECT * FROM noetl.lease('sqlworker', 100) LOOP
            IF t.execution_id <> eid THEN
                PERFORM noetl.release(t.queue_id, t.lease_token);
                CONTINUE;
            END IF;
            got := true;
            n := n + 1;
            c := canned -> t.node_id;
            IF c ? '__fail' THEN
                PERFORM noetl.fail(t.queue_id, t.lease_token, c ->> '__fail', c -> 'result');
            ELSE
                PERFORM noetl.complete(t.queue_id, t.lease_token,
                    jsonb_build_object('status', 'success',
                                       'data', COALESCE(c, jsonb_build_object('step', t.node_id))));
            END IF;
        END LOOP;
        EXIT WHEN NOT got;
    END LOOP;
    RETURN n;
END
$$;

-- pg_temp.timeline(execution_id): the execution's events, in order
CREATE FUNCTION pg_temp.timeline(eid bigint)
RETURNS TABLE (event_type text, node_name text, status text)
LANGUAGE sql AS $$
    SELECT event_type, node_name, status FROM noetl.event
     WHERE execution_id = eid ORDER BY event_id
$$;

-- pg_temp.due(execution_id): makes the execution's delayed retries due now
CREATE FUNCTION pg_temp.due(eid bigint)
RETURNS void
LANGUAGE sql AS $$
    UPDATE noetl.queue SET available_at = now() WHERE execution_id = eid AND status = 'retry'
$$;
