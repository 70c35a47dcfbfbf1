#!/usr/bin/env bash
# test/tap/secrets.sh: token() and secret() end to end, and no secret left behind.
#
# Against the cluster named by the PG* variables (noetl installed, its
# broker worker running, noetl.credential_key set: test/lib/cluster.sh).
# Rendering a task's fields, token(NAME) and secret(NAME) leave a marker
# bound to the task; the worker that leases the task replaces it with the
# secret.  An http step with "Authorization: Bearer {{ token(workload.cred)
# }}" and a secret() in its query sends the real token and secret (the
# local server replies with their SHA-256 only); a loop's iterations do the
# same; python code gets one (what it prints and returns of it redacted);
# a postgres step whose dsn has "password={{ secret(...) }}" reaches a
# second database whose role must give that password; one whose command
# holds a secret() runs it.  A marker copied from another execution into a
# workload, or put together by a step and passed on in its result, is
# refused and the request is never sent.  Everything runs with
# log_statement = all, and at the end the planted secrets are looked for in
# the event log (every column), the queue, the executions, noetl status,
# the worker's log and the server's log: none may hold them, except that a
# secret a playbook writes into SQL text is in the server's log of that
# statement (the server logs what it runs), and nowhere else.
set -u
# shellcheck source=../lib/client_tap.sh
. "$(dirname "$0")/../lib/client_tap.sh"
echo "1..20"

[ -x "$NOETL" ] || { echo "Bail out! client/noetl is not built"; exit 1; }

target=noetl_sec_target
user=noetl_sec_user
# the planted secrets: Zq8PLANTED... must appear nowhere; Zq9WORD... only in
# the server's log of the statement that holds it
token=Zq8PLANTEDtok-77e
password=Zq8PLANTEDpw-3c1
word=Zq9WORDsql-42
hba="${PGDATA:-}/pg_hba.conf"
created_pgcrypto=
cleanup_sec() {
    psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $target" -c "DROP ROLE IF EXISTS $user" >/dev/null 2>&1
    [ -n "$created_pgcrypto" ] && psql -XAtq -c "DROP EXTENSION IF EXISTS pgcrypto" >/dev/null 2>&1
    if [ -f "$tmp/pg_hba.conf.orig" ]; then
        cat "$tmp/pg_hba.conf.orig" >"$hba"
        psql -XAtq -c "SELECT pg_reload_conf()" >/dev/null 2>&1
    fi
    q "DELETE FROM noetl.credential WHERE name LIKE 'tests_sec_%'" >/dev/null 2>&1
    client_tap_cleanup
}
trap cleanup_sec EXIT
sha() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
digests() {  # how many requests the local server's /digest has had
    /usr/bin/python3 -c 'import json, sys, urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1] + "/calls"))["digest"])' "$base"
}

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
if [ -n "${PGDATA:-}" ] && [ -w "$hba" ]; then
    cp "$hba" "$tmp/pg_hba.conf.orig"
    { echo "local $target $user scram-sha-256"; echo "host $target $user 127.0.0.1/32 scram-sha-256";
      cat "$tmp/pg_hba.conf.orig"; } >"$tmp/pg_hba.conf.new"
    cat "$tmp/pg_hba.conf.new" >"$hba"
    q "SELECT pg_reload_conf()" >/dev/null
    sleep 0.5
    PGPASSWORD= psql -XAtq -w -d "$target" -U "$user" -c "SELECT 1" >/dev/null 2>&1
    ok $([ $? != 0 ]; echo $?) "the target's role must give its password (a line of $hba)"
else
    ok 0 "# SKIP pg_hba.conf is not writable here: the password is not checked"
fi

# from here on every statement is logged, with its parameters
log_settings="-c log_statement=all -c log_min_duration_statement=0 -c log_parameter_max_length=-1"
q "ALTER DATABASE $target SET log_statement = 'all'" >/dev/null
printf '#!/bin/sh\nexec "%s" --dsn "options='"'"'%s'"'"'" "$@"\n' "$NOETL" "$log_settings" >"$tmp/noetl"
chmod +x "$tmp/noetl"
NOETL="$tmp/noetl"
log_start=$(wc -c <"${PGDATA:-/dev/null}/server.log" 2>/dev/null || echo 0)

printf '{"token": "%s"}' "$token" | "$NOETL" credential add tests_sec_api --type bearer >"$tmp/add.out" 2>&1 &&
printf '{"password": "%s"}' "$password" | "$NOETL" credential add tests_sec_pw --type generic >>"$tmp/add.out" 2>&1 &&
printf '{"value": "%s"}' "$word" | "$NOETL" credential add tests_sec_word --type generic >>"$tmp/add.out" 2>&1
ok $? "noetl credential add stores a bearer token and two secrets"

/usr/bin/python3 "$SRC/test/lib/http_server.py" 0 >"$tmp/http.port" 2>"$tmp/http.log" &
pids+=($!)
for i in $(seq 1 50); do [ -s "$tmp/http.port" ] && break; sleep 0.1; done
base="http://127.0.0.1:$(head -1 "$tmp/http.port")"

"$NOETL" register - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/secrets/use}
workflow:
  - step: start
    next: [call]
  - step: call
    tool: http
    url: "{{ workload.base }}/digest"
    headers: {Authorization: "Bearer {{ token(workload.cred) }}"}
    args: {k: "{{ secret(workload.pw) }}"}
    next: [both]
  - step: both
    tool: http
    url: "{{ workload.base }}/digest"
    auth: tests_sec_api
    headers: {X-Token: "{{ secret(workload.pw) }}"}
    next: [each]
  - step: each
    tool: http
    loop: {collection: [1, 2, 3], element: n}
    url: "{{ workload.base }}/digest"
    headers: {Authorization: "Bearer {{ token(workload.cred) }}"}
    args: {n: "{{ n }}"}
    next: [db]
  - step: db
    tool: postgres
    dsn: "host={{ workload.host }} port={{ workload.port }} dbname={{ workload.db }} user={{ workload.user }} password={{ secret(workload.pw) }}"
    command: SELECT current_user AS who, current_database() AS db
    next: [word]
  - step: word
    tool: postgres
    dsn: "host={{ workload.host }} port={{ workload.port }} dbname={{ workload.db }} user={{ workload.user }} password={{ secret('tests_sec_pw') }}"
    command: "SELECT md5('{{ secret('tests_sec_word') }}') AS h"
    next: [py]
  - step: py
    tool: python
    code: |
      import hashlib
      def main():
          s = "{{ token(workload.cred) }}"
          print("the token is", s)
          return {"h": hashlib.sha256(("Bearer " + s).encode()).hexdigest(), "echo": s}
    next: [end]
  - step: end
    result:
      auth: "{{ call.data.authorization_sha256 }}"
      both: "{{ both.data.authorization_sha256 }} {{ both.data.x_token_sha256 }}"
      query: "{{ call.data.query_sha256 }}"
      each: "{{ each | map(attribute='data') | map(attribute='authorization_sha256') | unique | list }}"
      who: "{{ db.rows[0].who }}@{{ db.rows[0].db }}"
      h: "{{ word.rows[0].h }}"
      py: "{{ py.h }}"
      echo: "{{ py.echo }}"
YAML
"$NOETL" register - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/secrets/inject}
workflow:
  - step: start
    next: [call]
  - step: call
    tool: http
    url: "{{ workload.base }}/digest"
    headers: {Authorization: "{{ workload.injected }}"}
    next: [end]
  - step: end
YAML
"$NOETL" register - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/secrets/relay}
workflow:
  - step: start
    next: [make]
  - step: make
    tool: postgres
    command: "SELECT '{{ workload.head }}' || '{{ workload.tail }}' AS m"
    next: [call]
  - step: call
    tool: http
    url: "{{ workload.base }}/digest"
    headers: {Authorization: "{{ make.rows[0].m }}"}
    next: [end]
  - step: end
YAML

start_worker sec --tools postgres,http,python --poll 0.2

workload=$(printf '{"base": "%s", "cred": "tests_sec_api", "pw": "tests_sec_pw", "host": "%s", "port": "%s", "db": "%s", "user": "%s"}' \
           "$base" "${PGHOST:-localhost}" "${PGPORT:-5432}" "$target" "$user")
run use tests/secrets/use --workload "$workload"
ok $([ "$rc" = 0 ]; echo $?) "a playbook using token() and secret() in http and postgres steps completes (exit $rc)"
first=$eid
r=$(result)
ok $([ "$(q "SELECT '$r'::jsonb ->> 'auth'")" = "$(sha "Bearer $token")" ]; echo $?) \
   "the http server received Authorization: Bearer and the real token"
ok $([ "$(q "SELECT '$r'::jsonb ->> 'query'")" = "$(sha "k=$password")" ]; echo $?) \
   "... and the real secret in its query"
ok $([ "$(q "SELECT '$r'::jsonb ->> 'both'")" = "$(sha "Bearer $token") $(sha "$password")" ]; echo $?) \
   "a step with auth: and a secret() in its headers sends both"
ok $([ "$(q "SELECT '$r'::jsonb -> 'each'")" = "[\"$(sha "Bearer $token")\"]" ] &&
     [ "$(q "SELECT count(*) FROM noetl.queue WHERE execution_id = ${first:-0} AND node_id LIKE 'each[%]'")" = 3 ]; echo $?) \
   "so did each of a loop's three iterations"
ok $([ "$(q "SELECT '$r'::jsonb ->> 'who'")" = "$user@$target" ]; echo $?) \
   "a postgres dsn with password={{ secret(...) }} reaches the second database as its role"
ok $([ "$(q "SELECT '$r'::jsonb ->> 'h'")" = "$(printf %s "$word" | md5sum | cut -d' ' -f1)" ]; echo $?) \
   "a command with a secret() in it runs with the secret"
ok $([ "$(q "SELECT '$r'::jsonb ->> 'py'")" = "$(sha "Bearer $token")" ] &&
     [ "$(q "SELECT '$r'::jsonb ->> 'echo'")" = "[redacted]" ] &&
     grep -q "the token is \[redacted\]" "$tmp/sec.log"; echo $?) \
   "python code with a token() runs with the token; what it returns and prints of it is redacted"
ok $([ "$(q "SELECT count(*) FROM noetl.queue WHERE execution_id = ${first:-0}
              AND action::text LIKE '%@@noetl-secret:v1:token:%@@%'
              AND action::text LIKE '%@@noetl-secret:v1:secret:%@@%'")" -ge 1 ]; echo $?) \
   "the queue row holds the markers"

# a marker of the first execution, brought into another through its workload
marker=$(q "SELECT action -> 'headers' ->> 'Authorization' FROM noetl.queue
             WHERE execution_id = ${first:-0} AND node_id = 'call'")
requests=$(digests)
run inject tests/secrets/inject --workload "$(printf '{"base": "%s", "injected": "%s"}' "$base" "$marker")"
ok $([ "$rc" = 1 ] && [ "$(q "SELECT count(*) FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error'
             AND error LIKE '%token() of credential \"tests_sec_api\" was not rendered for task%'")" -ge 1 ]; echo $?) \
   "a marker copied from another execution into a workload is refused, failing the task (exit $rc)"
bare=${marker#Bearer }
head=$(printf %s "$bare" | cut -c1-5)
tail=$(printf %s "$bare" | cut -c6-)
run relay tests/secrets/relay --workload "$(printf '{"base": "%s", "head": "%s", "tail": "%s"}' "$base" "$head" "$tail")"
ok $([ "$rc" = 1 ] && [ "$(q "SELECT count(*) FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error'
             AND node_name = 'call' AND error LIKE '%was not rendered for task%'")" -ge 1 ]; echo $?) \
   "a marker put together by a step and passed on in its result is refused (exit $rc)"
ok $([ "$requests" = 5 ] && [ "$(digests)" = "$requests" ]; echo $?) \
   "... and neither request was sent ($requests requests before, $(digests) after)"

kill -TERM "$worker" 2>/dev/null; wait "$worker" 2>/dev/null
"$NOETL" status >"$tmp/status.out" 2>&1
for e in $(q "SELECT execution_id FROM noetl.execution e JOIN noetl.catalog c USING (catalog_id)
               WHERE c.path LIKE 'tests/secrets/%'"); do
    "$NOETL" status "$e" >>"$tmp/status.out" 2>&1
done

# the greps: the patterns are built in SQL, so that no statement text holds them
found() {  # found SQL PREFIX: how many rows of SQL hold PREFIX || 'PLANTED' (or WORD)
    q "SELECT count(*) FROM ($1) t WHERE t::text LIKE '%' || '$2' || '%'"
}
planted="Zq8' || 'PLANTED"
ok $([ "$(found "SELECT * FROM noetl.event" "$planted")" = 0 ] &&
     [ "$(found "SELECT * FROM noetl.event" "Zq9' || 'WORD")" = 0 ]; echo $?) \
   "no event (any column) holds a planted secret"
ok $([ "$(found "SELECT * FROM noetl.queue" "$planted")" = 0 ] &&
     [ "$(found "SELECT * FROM noetl.queue" "Zq9' || 'WORD")" = 0 ]; echo $?) "no queue row holds one"
ok $([ "$(found "SELECT * FROM noetl.execution" "$planted")" = 0 ] && [ "$(found "SELECT * FROM noetl.step_state" "$planted")" = 0 ] &&
     [ "$(found "SELECT * FROM noetl.execution" "Zq9' || 'WORD")" = 0 ] && [ "$(found "SELECT * FROM noetl.step_state" "Zq9' || 'WORD")" = 0 ]; echo $?) \
   "no execution or step_state row holds one"
ok $(! grep -q "Zq8PLANTED\|Zq9WORD" "$tmp/status.out" "$tmp"/*.out; echo $?) \
   "nor does the output of noetl status, noetl credential or noetl run"
ok $(! grep -q "Zq8PLANTED\|Zq9WORD" "$tmp/sec.log"; echo $?) "nor the worker's log ($(wc -l <"$tmp/sec.log") lines)"
if [ -n "${PGDATA:-}" ] && [ -r "$PGDATA/server.log" ]; then
    tail -c +"$((log_start + 1))" "$PGDATA/server.log" >"$tmp/server.log"
    ok $([ "$(grep -c "statement: \|execute " "$tmp/server.log")" -gt 10 ] && ! grep -q Zq8PLANTED "$tmp/server.log" &&
         [ "$(grep Zq9WORD "$tmp/server.log" | grep -vc "statement: SELECT md5(")" = 0 ]; echo $?) \
       "nor the server's log, which logged every statement, but for the one a playbook wrote a secret() into"
else
    ok 0 "# SKIP the server's log is not readable here"
fi
[ "$failed" = 0 ] || { echo "# worker log:"; sed 's/^/# /' "$tmp/sec.log" | tail -30; }
exit $((failed > 0))
