#!/usr/bin/env bash
# test/tap/credentials.sh: named credentials end to end, and no secret left behind.
#
# Against the cluster named by the PG* variables (noetl installed, its
# broker worker running, noetl.credential_key set: test/lib/cluster.sh).
# A second database, noetl_cred_target, owned by a role that must give a
# password (a pg_hba.conf line of its own, when PGDATA is writable here),
# is reached only through a credential that noetl credential add stored
# from standard input: a postgres task with auth: NAME, and one with NoETL's
# mapping auth: {type, credential}, write their rows there and not in the
# broker's database; a task whose credential does not exist fails, naming
# it, and nothing of it runs anywhere; an http task gets a bearer
# credential's header, and one that fails with the token echoed in the
# response has it redacted.  noetl credential add, list and rm round trip.
# Everything runs with log_statement = all and log_min_duration_statement
# = 0 (PGOPTIONS), and at the end the planted secrets are looked for in the
# event log (every column), the queue, the executions, noetl status, the
# worker's log and the server's log: none may hold them.
set -u
# shellcheck source=../lib/client_tap.sh
. "$(dirname "$0")/../lib/client_tap.sh"
echo "1..26"

[ -x "$NOETL" ] || { echo "Bail out! client/noetl is not built"; exit 1; }

target=noetl_cred_target
user=noetl_cred_user
# the secrets: the markers (Zq7PLANTED...) are what the greps look for, so
# that any escaping of the quote, space and backslash around them is found too
marker_pw=Zq7PLANTEDpw
marker_tok=Zq7PLANTEDtok
password="${marker_pw}' x\\y"
token="${marker_tok}-5e1"
hba="${PGDATA:-}/pg_hba.conf"
created_pgcrypto=
cleanup_cred() {
    psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $target" -c "DROP ROLE IF EXISTS $user" >/dev/null 2>&1
    [ -n "$created_pgcrypto" ] && psql -XAtq -c "DROP EXTENSION IF EXISTS pgcrypto" >/dev/null 2>&1
    if [ -f "$tmp/pg_hba.conf.orig" ]; then
        cat "$tmp/pg_hba.conf.orig" >"$hba"
        psql -XAtq -c "SELECT pg_reload_conf()" >/dev/null 2>&1
    fi
    q "DELETE FROM noetl.credential WHERE name LIKE 'tests_cred_%'" >/dev/null 2>&1
    client_tap_cleanup
}
trap cleanup_cred EXIT

# the target database and its role (not logged: PGOPTIONS is not set yet)
psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $target" -c "DROP ROLE IF EXISTS $user" >/dev/null 2>&1
if [ -z "$(q "SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto'")" ]; then
    q "CREATE EXTENSION pgcrypto" >/dev/null || { echo "Bail out! pgcrypto cannot be installed"; exit 1; }
    created_pgcrypto=1
fi
psql -XAtq -v ON_ERROR_STOP=1 -v pw="$password" -d postgres >/dev/null <<SQL || { echo "Bail out! setup failed"; exit 1; }
SET password_encryption = 'scram-sha-256';
CREATE ROLE $user LOGIN PASSWORD :'pw';
CREATE DATABASE $target OWNER $user;
SQL
psql -XAtq -v ON_ERROR_STOP=1 -d "$target" -c "CREATE TABLE public.cred_rows (n int, db text, who text)" \
     -c "ALTER TABLE public.cred_rows OWNER TO $user" >/dev/null || { echo "Bail out! setup failed"; exit 1; }
if [ -n "${PGDATA:-}" ] && [ -w "$hba" ]; then
    cp "$hba" "$tmp/pg_hba.conf.orig"
    { echo "local $target $user scram-sha-256"; cat "$tmp/pg_hba.conf.orig"; } >"$tmp/pg_hba.conf.new"
    cat "$tmp/pg_hba.conf.new" >"$hba"
    q "SELECT pg_reload_conf()" >/dev/null
    sleep 0.5
    PGPASSWORD= psql -XAtq -w -d "$target" -U "$user" -c "SELECT 1" >/dev/null 2>&1
    ok $([ $? != 0 ]; echo $?) "the target's role must give its password (a line of $hba)"
else
    ok 0 "# SKIP pg_hba.conf is not writable here: the target differs by its database and role only"
fi

# from here on every statement is logged, with its parameters: the
# program's (--dsn options) and the target database's (its settings)
log_settings="-c log_statement=all -c log_min_duration_statement=0 -c log_parameter_max_length=-1"
q "ALTER DATABASE $target SET log_statement = 'all'" >/dev/null
q "ALTER DATABASE $target SET log_min_duration_statement = 0" >/dev/null
printf '#!/bin/sh\nexec "%s" --dsn "options='"'"'%s'"'"'" "$@"\n' "$NOETL" "$log_settings" >"$tmp/noetl"
chmod +x "$tmp/noetl"
NOETL="$tmp/noetl"
log_start=$(wc -c <"${PGDATA:-/dev/null}/server.log" 2>/dev/null || echo 0)

# noetl credential add, from standard input and from a file
printf '{"host": "%s", "port": %s, "user": "%s", "password": "%s", "dbname": "%s"}' \
    "$PGHOST" "$PGPORT" "$user" "$(printf %s "$password" | sed 's/\\/\\\\/g')" "$target" \
    | "$NOETL" credential add tests_cred_pg --type postgres --description "the target" --tag tests \
    >"$tmp/add.out" 2>&1
ok $? "noetl credential add stores a postgres credential read from standard input: $(head -1 "$tmp/add.out")"
printf '{"token": "%s"}' "$token" >"$tmp/token.json"
"$NOETL" credential add tests_cred_api --type bearer --data-file "$tmp/token.json" >>"$tmp/add.out" 2>&1
ok $? "noetl credential add stores a bearer credential read from a file"
rm -f "$tmp/token.json"
echo '{"token": "gone"}' | "$NOETL" credential add tests_cred_gone --type bearer >/dev/null 2>&1
"$NOETL" credential list >"$tmp/list.out" 2>&1
ok $(grep -q "^tests_cred_pg .*postgres" "$tmp/list.out" && grep -q "^tests_cred_api .*bearer" "$tmp/list.out" &&
     grep -q "^tests_cred_gone " "$tmp/list.out"; echo $?) "noetl credential list lists them"
"$NOETL" credential rm tests_cred_gone >/dev/null 2>&1
ok $? "noetl credential rm removes one"
"$NOETL" credential list >>"$tmp/list.out" 2>&1
ok $([ "$(grep -c "^tests_cred_gone " "$tmp/list.out")" = 1 ]; echo $?) "... which list no longer shows"
"$NOETL" credential rm tests_cred_gone >"$tmp/rm.out" 2>&1
ok $([ $? = 1 ] && grep -q 'credential "tests_cred_gone" does not exist' "$tmp/rm.out"; echo $?) \
   "removing it again fails, naming it"
echo '{"password": broken Zq7PLANTEDbad}' | "$NOETL" credential add tests_cred_bad --type postgres >"$tmp/bad.out" 2>&1
ok $([ $? = 1 ] && grep -q "is not a JSON object" "$tmp/bad.out" && ! grep -q Zq7PLANTED "$tmp/bad.out"; echo $?) \
   "data that is not JSON is refused without being echoed"

/usr/bin/python3 "$SRC/test/lib/http_server.py" 0 >"$tmp/http.port" 2>"$tmp/http.log" &
pids+=($!)
for i in $(seq 1 50); do [ -s "$tmp/http.port" ] && break; sleep 0.1; done
base="http://127.0.0.1:$(head -1 "$tmp/http.port")"

"$NOETL" register - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/credentials/target}
workflow:
  - step: start
    next: [by_name]
  - step: by_name
    tool: postgres
    auth: "{{ workload.auth }}"
    command: INSERT INTO public.cred_rows SELECT 1, current_database(), current_user RETURNING db, who
    next: [by_mapping]
  - step: by_mapping
    tool: postgres
    auth:
      type: postgres
      credential: "{{ workload.auth }}"
    command: INSERT INTO public.cred_rows SELECT 2, current_database(), current_user RETURNING db, who
    next: [end]
  - step: end
    result: {db: "{{ by_name.rows[0].db }}", who: "{{ by_mapping.rows[0].who }}"}
YAML
"$NOETL" register - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/credentials/unknown}
workflow:
  - step: start
    next: [probe]
  - step: probe
    tool: postgres
    auth: tests_cred_nope
    command: CREATE TABLE public.cred_fallback_probe ()
    next: [end]
  - step: end
YAML
"$NOETL" register - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/credentials/empty}
workflow:
  - step: start
    next: [probe]
  - step: probe
    tool: postgres
    auth: "{{ workload.auth }}"
    command: CREATE TABLE public.cred_empty_probe ()
    next: [end]
  - step: end
YAML
"$NOETL" register - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/credentials/http}
workflow:
  - step: start
    next: [call]
  - step: call
    tool: http
    url: "{{ workload.base }}/{{ workload.route }}"
    auth: "{{ workload.auth }}"
    next: [end]
  - step: end
    result: {auth: "{{ call.data.authorization }}"}
YAML

start_worker cred --tools postgres,http --poll 0.2

run target tests/credentials/target --workload '{"auth": "tests_cred_pg"}'
ok $([ "$rc" = 0 ]; echo $?) "a postgres task reaches the target through auth: NAME and auth: {type, credential} (exit $rc)"
ok $([ "$(result)" = "{\"db\": \"$target\", \"who\": \"$user\"}" ]; echo $?) \
   "... connected to $target as $user: $(result)"
ok $([ "$(psql -XAtq -d "$target" -c "SELECT string_agg(n || ':' || db, ',' ORDER BY n) FROM public.cred_rows")" \
       = "1:$target,2:$target" ]; echo $?) "its rows are in the target database"
ok $([ "$(q "SELECT to_regclass('public.cred_rows') IS NULL")" = t ]; echo $?) "... and not in the broker's"

run unknown tests/credentials/unknown
ok $([ "$rc" = 1 ]; echo $?) "a task whose credential does not exist fails its execution (exit $rc)"
ok $([ "$(q "SELECT count(*) FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error'
             AND error LIKE '%credential \"tests_cred_nope\" does not exist%'")" -ge 1 ]; echo $?) \
   "... with an error naming the credential"
ok $([ "$(q "SELECT to_regclass('public.cred_fallback_probe') IS NULL")" = t ] &&
     [ "$(psql -XAtq -d "$target" -c "SELECT to_regclass('public.cred_fallback_probe') IS NULL")" = t ]; echo $?) \
   "... and its command ran nowhere: not on the worker's own database"

run http_ok tests/credentials/http --workload "{\"base\": \"$base\", \"route\": \"method\", \"auth\": \"tests_cred_api\"}"
ok $([ "$rc" = 0 ] && [ "$(result)" = '{"auth": "[redacted]"}' ]; echo $?) \
   "an http task sends the bearer credential's header (the echo of it redacted): $(result)"
run http_fail tests/credentials/http --workload "{\"base\": \"$base\", \"route\": \"deny\", \"auth\": \"tests_cred_api\"}"
ok $([ "$rc" = 1 ]; echo $?) "an http task that fails holding the token fails (exit $rc)"
ok $([ "$(q "SELECT count(*) FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error'
             AND result::text LIKE '%[redacted]%'")" -ge 1 ]; echo $?) \
   "... its failure report holds the echoed token redacted"

run http_pg tests/credentials/http --workload "{\"base\": \"$base\", \"route\": \"method\", \"auth\": \"tests_cred_pg\"}"
ok $([ "$rc" = 1 ] && [ "$(q "SELECT count(*) FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error'
             AND error LIKE '%a credential of type \"postgres\" gives no HTTP header%'")" -ge 1 ]; echo $?) \
   "an http task naming a postgres credential fails, saying why"
run empty tests/credentials/empty --workload '{"auth": ""}'
ok $([ "$rc" = 1 ] && [ "$(q "SELECT count(*) FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error'
             AND error LIKE '%auth names no credential%'")" -ge 1 ] &&
     [ "$(q "SELECT to_regclass('public.cred_empty_probe') IS NULL")" = t ]; echo $?) \
   "a postgres task whose auth renders empty fails, and runs nowhere"

kill -TERM "$worker" 2>/dev/null; wait "$worker" 2>/dev/null
"$NOETL" status >"$tmp/status.out" 2>&1
for e in $(q "SELECT execution_id FROM noetl.execution e JOIN noetl.catalog c USING (catalog_id)
               WHERE c.path LIKE 'tests/credentials/%'"); do
    "$NOETL" status "$e" >>"$tmp/status.out" 2>&1
done

# the greps: the patterns are built in SQL, so that no statement text holds them
found() {  # found SQL-WHERE-over-t: how many rows of SQL hold a marker
    q "SELECT count(*) FROM ($1) t WHERE t::text LIKE '%' || 'Zq7' || 'PLANTED' || '%'"
}
ok $([ "$(found "SELECT * FROM noetl.event")" = 0 ]; echo $?) "no event (any column) holds a planted secret"
ok $([ "$(found "SELECT * FROM noetl.queue")" = 0 ]; echo $?) "no queue row holds one"
ok $([ "$(found "SELECT * FROM noetl.execution")" = 0 ] && [ "$(found "SELECT * FROM noetl.step_state")" = 0 ]; echo $?) \
   "no execution or step_state row holds one"
ok $(! grep -q Zq7PLANTED "$tmp/status.out" "$tmp/list.out" "$tmp/add.out" "$tmp"/*.out; echo $?) \
   "nor does the output of noetl status, noetl credential or noetl run"
ok $(! grep -q Zq7PLANTED "$tmp/cred.log"; echo $?) "nor the worker's log ($(wc -l <"$tmp/cred.log") lines)"
if [ -n "${PGDATA:-}" ] && [ -r "$PGDATA/server.log" ]; then
    tail -c +"$((log_start + 1))" "$PGDATA/server.log" >"$tmp/server.log"
    ok $([ "$(grep -c "statement: \|execute " "$tmp/server.log")" -gt 10 ] && ! grep -q Zq7PLANTED "$tmp/server.log"; echo $?) \
       "nor the server's log, which logged every statement ($(grep -c "statement: \|execute " "$tmp/server.log") of them)"
else
    ok 0 "# SKIP the server's log is not readable here"
fi
[ "$failed" = 0 ] || { echo "# worker log:"; sed 's/^/# /' "$tmp/cred.log" | tail -30; }
exit $((failed > 0))
