#!/usr/bin/env bash
# test/tap/hostile_search_path.sh: objects planted where search_path looks
# are never run by noetl.
#
# A role with CREATE on schema public (and a schema of its own) plants
# operators and functions that record who called them: "=" for noetl's
# status domains (which would beat pg_catalog's text = text for an
# unqualified comparison, whatever the search_path), and look-alikes of
# the operators and functions noetl's SQL uses, in a schema it puts ahead
# of pg_catalog.  It then drives executions through every entry point
# (the SECURITY DEFINER functions, INSERTs into noetl.event that fire the
# triggers, noetl.status), the database's default search_path is set to
# the hostile schema, the broker worker is restarted under it and left to
# expire leases and announce retries, and a superuser session with that
# search_path registers and starts playbooks.  Not one planted object may
# have run; a control shows that the traps do fire when named unqualified.
#
# Against the cluster named by the PG* variables, whose broker worker
# serves $PGDATABASE (lease checks at most every second or so).
set -u
n=0; failed=0
ok() {  # ok STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
# the test's own queries look in pg_catalog only; noetl's calls are made in
# sessions whose search_path is hostile
su() { PGOPTIONS="-c search_path=pg_catalog,public" psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
su_hostile() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
evil() { PGUSER=regress_evil PGOPTIONS="-c search_path=evil,public,pg_catalog" psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
db=${PGDATABASE:-postgres}
cleanup() {
    psql -XAtq >/dev/null 2>&1 <<SQL
ALTER DATABASE "$db" RESET search_path;
DROP SCHEMA IF EXISTS evil CASCADE;
DROP OPERATOR IF EXISTS public.= (noetl.task_status, noetl.task_status);
DROP OPERATOR IF EXISTS public.= (noetl.execution_status, noetl.execution_status);
DROP OPERATOR IF EXISTS public.= (noetl.step_status, noetl.step_status);
DROP FUNCTION IF EXISTS public.trap_task(noetl.task_status, noetl.task_status);
DROP FUNCTION IF EXISTS public.trap_exec(noetl.execution_status, noetl.execution_status);
DROP FUNCTION IF EXISTS public.trap_step(noetl.step_status, noetl.step_status);
DROP TABLE IF EXISTS public.pwned;
REVOKE ALL ON SCHEMA public FROM regress_evil;
DROP OWNED BY regress_evil;
DROP ROLE IF EXISTS regress_evil;
SQL
}
trap cleanup EXIT
cleanup
echo "1..7"

psql -XAtq -v ON_ERROR_STOP=1 >/dev/null <<SQL || { echo "Bail out! set-up failed"; exit 1; }
CREATE ROLE regress_evil LOGIN;
GRANT CREATE ON SCHEMA public TO regress_evil;
GRANT CREATE ON DATABASE "$db" TO regress_evil;
GRANT INSERT ON noetl.event TO regress_evil;
GRANT EXECUTE ON FUNCTION noetl.execute(text, jsonb, integer), noetl.cancel(bigint), noetl.status(),
      noetl.lease(text, integer, integer, text[]), noetl.heartbeat(bigint, text, integer),
      noetl.report(bigint, text, text, jsonb, text, text, double precision, jsonb),
      noetl.complete(bigint, text, jsonb, double precision),
      noetl.fail(bigint, text, text, jsonb, text, double precision),
      noetl.release(bigint, text) TO regress_evil;
CREATE TABLE public.pwned (who text, what text);
GRANT INSERT, SELECT ON public.pwned TO PUBLIC;
SQL

# the traps: each records the role it ran as, then answers as the real one would
PGUSER=regress_evil psql -XAtq -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || { echo "Bail out! planting failed"; exit 1; }
CREATE FUNCTION public.trap_task(a noetl.task_status, b noetl.task_status) RETURNS boolean LANGUAGE sql AS
$$ INSERT INTO public.pwned VALUES (current_user, 'task_status ='); SELECT a::text OPERATOR(pg_catalog.=) b::text $$;
CREATE OPERATOR public.= (LEFTARG = noetl.task_status, RIGHTARG = noetl.task_status, FUNCTION = public.trap_task);
CREATE FUNCTION public.trap_exec(a noetl.execution_status, b noetl.execution_status) RETURNS boolean LANGUAGE sql AS
$$ INSERT INTO public.pwned VALUES (current_user, 'execution_status ='); SELECT a::text OPERATOR(pg_catalog.=) b::text $$;
CREATE OPERATOR public.= (LEFTARG = noetl.execution_status, RIGHTARG = noetl.execution_status, FUNCTION = public.trap_exec);
CREATE FUNCTION public.trap_step(a noetl.step_status, b noetl.step_status) RETURNS boolean LANGUAGE sql AS
$$ INSERT INTO public.pwned VALUES (current_user, 'step_status ='); SELECT a::text OPERATOR(pg_catalog.=) b::text $$;
CREATE OPERATOR public.= (LEFTARG = noetl.step_status, RIGHTARG = noetl.step_status, FUNCTION = public.trap_step);

CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.eq_text(a text, b text) RETURNS boolean LANGUAGE sql AS
$$ INSERT INTO public.pwned VALUES (current_user, 'text ='); SELECT a OPERATOR(pg_catalog.=) b $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq_text);
CREATE FUNCTION evil.eq_int8(a bigint, b bigint) RETURNS boolean LANGUAGE sql AS
$$ INSERT INTO public.pwned VALUES (current_user, 'bigint ='); SELECT a OPERATOR(pg_catalog.=) b $$;
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq_int8);
CREATE FUNCTION evil.le_ts(a timestamptz, b timestamptz) RETURNS boolean LANGUAGE sql AS
$$ INSERT INTO public.pwned VALUES (current_user, 'timestamptz <='); SELECT a OPERATOR(pg_catalog.<=) b $$;
CREATE OPERATOR evil.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.le_ts);
CREATE FUNCTION evil.lt_ts(a timestamptz, b timestamptz) RETURNS boolean LANGUAGE sql AS
$$ INSERT INTO public.pwned VALUES (current_user, 'timestamptz <'); SELECT a OPERATOR(pg_catalog.<) b $$;
CREATE OPERATOR evil.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.lt_ts);
CREATE FUNCTION evil.add_int(a integer, b integer) RETURNS integer LANGUAGE sql AS
$$ INSERT INTO public.pwned VALUES (current_user, 'integer +'); SELECT a OPERATOR(pg_catalog.+) b $$;
CREATE OPERATOR evil.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = evil.add_int);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS
$$ INSERT INTO public.pwned VALUES (current_user, 'now()'); SELECT pg_catalog.now() $$;
CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE sql AS
$$ INSERT INTO public.pwned VALUES (current_user, 'clock_timestamp()'); SELECT pg_catalog.clock_timestamp() $$;
CREATE FUNCTION evil.sha256(bytea) RETURNS bytea LANGUAGE sql AS
$$ INSERT INTO public.pwned VALUES (current_user, 'sha256()'); SELECT pg_catalog.sha256($1) $$;
CREATE FUNCTION evil.gen_random_uuid() RETURNS uuid LANGUAGE sql AS
$$ INSERT INTO public.pwned VALUES (current_user, 'gen_random_uuid()'); SELECT pg_catalog.gen_random_uuid() $$;
CREATE FUNCTION evil.make_interval(secs double precision) RETURNS interval LANGUAGE sql AS
$$ INSERT INTO public.pwned VALUES (current_user, 'make_interval()'); SELECT pg_catalog.make_interval(secs => secs) $$;
CREATE FUNCTION evil.jsonb_build_object(text, boolean, text, integer, text, timestamptz) RETURNS jsonb LANGUAGE sql AS
$$ INSERT INTO public.pwned VALUES (current_user, 'jsonb_build_object()');
   SELECT pg_catalog.jsonb_build_object($1, $2, $3, $4, $5, $6) $$;
SQL

# the control: named unqualified, the traps fire
evil "SELECT 'queued'::noetl.task_status = 'queued'::noetl.task_status, now(), 'a'::text = 'a'" >/dev/null
control=$(su "SELECT count(*) FROM public.pwned")
ok $([ "$control" -ge 3 ]; echo $?) "the traps fire when they are found by an unqualified name ($control calls)"
su "DELETE FROM public.pwned" >/dev/null

# every entry point, as the hostile role with its schema first
su "SELECT noetl.register(E'metadata: {path: tests/hostile/flow}\nworkflow:\n  - step: start\n    tool: hostile_probe\n    code: x\n    retry: {max_attempts: 3, initial_delay: 0.2}\n    next: [second]\n  - step: second\n    tool: hostile_probe\n    code: x\n')" >/dev/null
e1=$(evil "SELECT noetl.execute('tests/hostile/flow', '{\"k\": 1}')")
read -r q1 t1 < <(PGUSER=regress_evil PGOPTIONS="-c search_path=evil,public,pg_catalog" psql -XAtq -F ' ' \
    -c "SELECT queue_id, lease_token FROM noetl.lease('hostile', 1, 30, ARRAY['hostile_probe'])")
evil "SELECT noetl.heartbeat($q1, '$t1', 30)" >/dev/null
evil "SELECT noetl.report($q1, '$t1', 'action_started')" >/dev/null
evil "SELECT noetl.fail($q1, '$t1', 'first attempt fails')" >/dev/null
evil "INSERT INTO noetl.event (event_type, context) VALUES ('execution_start', '{\"path\": \"tests/hostile/flow\"}')" >/dev/null
evil "INSERT INTO noetl.event (execution_id, event_type, error) VALUES ($e1, 'note', 'hello')" >/dev/null
evil "SELECT noetl.status()" >/dev/null
rc=$?
ok $rc "the hostile role drives executions through functions and events"
sleep 0.5
read -r q2 t2 < <(PGUSER=regress_evil PGOPTIONS="-c search_path=evil,public,pg_catalog" psql -XAtq -F ' ' \
    -c "SELECT queue_id, lease_token FROM noetl.lease('hostile', 1, 30, ARRAY['hostile_probe'])")
evil "SELECT noetl.complete($q2, '$t2', '{\"done\": true}')" >/dev/null
read -r q3 t3 < <(PGUSER=regress_evil PGOPTIONS="-c search_path=evil,public,pg_catalog" psql -XAtq -F ' ' \
    -c "SELECT queue_id, lease_token FROM noetl.lease('hostile', 1, 30, ARRAY['hostile_probe'])")
evil "SELECT noetl.release($q3, '$t3')" >/dev/null
evil "SELECT noetl.cancel($e1)" >/dev/null
ok $? "... leases, heartbeats, reports, releases and cancels"

# the database's default search_path turns hostile; the broker worker restarts under it
su "ALTER DATABASE \"$db\" SET search_path = evil, public, pg_catalog" >/dev/null
old=$(su "SELECT pid FROM pg_stat_activity WHERE backend_type = 'noetl broker'")
su "SELECT pg_terminate_backend($old)" >/dev/null
for i in $(seq 1 100); do
    new=$(su "SELECT pid FROM pg_stat_activity WHERE backend_type = 'noetl broker'")
    [ -n "$new" ] && [ "$new" != "$old" ] && break
    sleep 0.1
done
ok $([ -n "$new" ] && [ "$new" != "$old" ]; echo $?) "the broker worker restarted (pid $old, then ${new:-none})"
# a superuser session with the hostile default: registers and starts, and a lease left to expire
su "SELECT noetl.cancel(execution_id) FROM noetl.execution WHERE status::text = 'running'" >/dev/null
e2=$(su_hostile "SELECT noetl.execute('tests/hostile/flow')")
su_hostile "SELECT noetl.register(E'metadata: {path: tests/hostile/again}\nworkflow:\n  - step: start\n    tool: hostile_probe\n    code: x\n')" >/dev/null
q4=$(su_hostile "SELECT queue_id FROM noetl.lease('expiring', 1, 1, ARRAY['hostile_probe'])")
for i in $(seq 1 60); do
    [ "$(su "SELECT count(*) FROM noetl.event WHERE queue_id = ${q4:-0} AND error = 'lease expired'")" -gt 0 ] && break
    sleep 0.1
done
expired=$(su "SELECT count(*) FROM noetl.event WHERE queue_id = ${q4:-0} AND error = 'lease expired'")
ok $([ "$expired" -gt 0 ]; echo $?) "the restarted broker worker expired a lease under the hostile default ($expired)"
su "SELECT noetl.cancel($e2)" >/dev/null

calls=$(su "SELECT count(*) FROM public.pwned")
ok $([ "$calls" = 0 ]; echo $?) "not one planted operator or function ran ($calls calls)"
[ "$calls" = 0 ] || su "SELECT who || ': ' || what || ' x' || count(*) FROM public.pwned GROUP BY who, what" | sed 's/^/# /'
ok $([ "$(su "SELECT count(*) FROM noetl.execution WHERE execution_id IN ($e1, $e2) AND status::text = 'cancelled'")" = 2 ]; echo $?) \
   "the executions went where they were driven"
exit $((failed > 0))
