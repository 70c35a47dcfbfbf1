#!/usr/bin/env bash
# test/tap/sinks.sh: sinks (era C's sink:, era B's save:) run by noetl worker
# against real targets: a second database of the cluster, the local HTTP
# server (test/lib/http_server.py), the python runner.
#
# Against the cluster named by the PG* variables (noetl installed, its
# broker worker running): a postgres sink's INSERT of a table (values as
# bind parameters, schema.table), an upsert run twice with the same key, a
# statement with NoETL's :name parameters (a hostile value stored as it
# is, a quoted ":name" and a "::" cast left alone); an http sink's body as
# the server received it; a python sink's main(data); an event sink's
# outcome in the report's meta.sink; what the sink sees (result, this,
# data, execution_id, workload, an iteration's element and _loop); the
# failure rules (era C's sink fails the step and the execution, era B's
# save completes with meta.save_error, either overridden with on_error), a
# sink kind the worker does not run, a postgres sink with no auth, a failed
# tool whose sink does not run, a failed sink retried with its tool; per-item
# sinks in a loop: step and in an era-B iterator's task.
set -u
# shellcheck source=../lib/client_tap.sh
. "$(dirname "$0")/../lib/client_tap.sh"
echo "1..42"

[ -x "$NOETL" ] || { echo "Bail out! client/noetl is not built"; exit 1; }

/usr/bin/python3 "$SRC/test/lib/http_server.py" 0 >"$tmp/http.port" 2>"$tmp/http.log" &
pids+=($!)
for i in $(seq 1 50); do [ -s "$tmp/http.port" ] && break; sleep 0.1; done
base="http://127.0.0.1:$(head -1 "$tmp/http.port")"

# the sinks' database, a second one of the cluster
db=noetl_sinks_$$
q "CREATE DATABASE $db" || { echo "Bail out! could not create the sinks' database"; exit 1; }
sink_db_cleanup() {
    client_tap_cleanup
    psql -XAtq -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
    [ -n "${role:-}" ] && psql -XAtq -c "DROP OWNED BY $role" -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1
    return 0
}
trap sink_db_cleanup EXIT
qs() { psql -XAtq -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }
qs "CREATE TABLE items (id text PRIMARY KEY, v int, note text, eid text, w text);
    CREATE SCHEMA s2; CREATE TABLE s2.items (id text PRIMARY KEY, v int, note text, eid text, w text);
    CREATE TABLE hostile (id text, note text)"
dsn="dbname=$db host=${PGHOST:-/tmp} port=${PGPORT:-5432} user=${PGUSER:-postgres}"

register() { "$NOETL" register - >>"$tmp/register.out" 2>&1 || echo "# register failed: $(tail -1 "$tmp/register.out")"; }
# the report of a step's task (its last), as JSON
meta() { q "SELECT meta ${2:-} FROM noetl.event WHERE execution_id = ${eid:-0} AND node_id = '$1' AND event_type IN ('action_completed', 'action_error') ORDER BY event_id DESC LIMIT 1"; }
last_error() { q "SELECT error FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error' ORDER BY event_id DESC LIMIT 1"; }
wl() { printf '{"dsn": "%s", "base": "%s", %s}' "$dsn" "$base" "$1"; }

# a python step whose result is NoETL's envelope; its sink writes a table row
register <<'YAML'
metadata: {path: tests/sinks/table}
workflow:
  - step: start
    next: [make]
  - step: make
    tool: python
    args: {id: "{{ workload.id }}", v: "{{ workload.v }}"}
    code: |
      def main(id, v):
          return {"status": "success", "data": {"id": id, "v": v}}
    sink:
      tool: postgres
      auth: "{{ workload.dsn }}"
      table: "{{ workload.table }}"
      mode: "{{ workload.mode }}"
      key: id
      args:
        id: "{{ result.id }}"
        v: "{{ data.v }}"
        note: "{{ this.status }}"
        eid: "{{ execution_id }}"
        w: "{{ workload.tag }}"
    next: [end]
  - step: end
YAML
start_worker sinks --poll 0.5 --jobs 2

run insert tests/sinks/table --workload "$(wl '"id": "a", "v": 1, "table": "items", "mode": "insert", "tag": "first"')"
ok $([ "$rc" = 0 ] && [ "$(qs "SELECT v || '|' || note || '|' || eid || '|' || w FROM items WHERE id = 'a'")" = "1|success|$eid|first" ]; echo $?) \
   "a table sink inserts the row: result, data, this, execution_id and workload rendered"
ok $([ "$(meta make "#>> '{sink,kind}'")|$(meta make "#>> '{sink,status}'")|$(meta make "#>> '{sink,data,row_count}'")" = "postgres|success|1" ]; echo $?) \
   "... its outcome in the report's meta.sink: $(meta make)"
ok $([ "$(q "SELECT result ->> 'id' FROM noetl.queue WHERE execution_id = ${eid:-0} AND node_id = 'make'")" = a ]; echo $?) \
   "... and the step's result is the tool's"
run insert_again tests/sinks/table --workload "$(wl '"id": "a", "v": 2, "table": "items", "mode": "insert", "tag": "again"')"
ok $([ "$rc" = 1 ] && last_error | grep -q 'postgres sink failed: duplicate key value' &&
     [ "$(qs "SELECT v FROM items WHERE id = 'a'")" = 1 ]; echo $?) \
   "an INSERT of the same key again fails the step (era C): $(last_error)"
run upsert1 tests/sinks/table --workload "$(wl '"id": "u", "v": 1, "table": "items", "mode": "upsert", "tag": "one"')"
run upsert2 tests/sinks/table --workload "$(wl '"id": "u", "v": 2, "table": "items", "mode": "upsert", "tag": "two"')"
ok $([ "$rc" = 0 ] && [ "$(qs "SELECT count(*) || '|' || max(v) || '|' || max(w) FROM items WHERE id = 'u'")" = "1|2|two" ]; echo $?) \
   "mode upsert with key: the second run with the same key updates the row"
run upsert3 tests/sinks/table --workload "$(wl '"id": "u", "v": 3, "table": "items", "mode": "upsert", "tag": "three"')"
ok $([ "$rc" = 0 ] && [ "$(qs "SELECT count(*) || '|' || max(v) || '|' || max(w) FROM items WHERE id = 'u'")" = "1|3|three" ]; echo $?) \
   "... and a third again"
run schema tests/sinks/table --workload "$(wl '"id": "s", "v": 4, "table": "s2.items", "mode": "insert", "tag": "schema"')"
ok $([ "$rc" = 0 ] && [ "$(qs "SELECT v FROM s2.items WHERE id = 's'")" = 4 ] &&
     [ "$(qs "SELECT count(*) FROM items WHERE id = 's'")" = 0 ]; echo $?) \
   "a schema.table sink writes into that schema's table"
run quoted tests/sinks/table --workload "$(wl '"id": "q", "v": 5, "table": "items; DROP TABLE items", "mode": "insert", "tag": "x"')"
ok $([ "$rc" = 1 ] && last_error | grep -qF 'relation "items; DROP TABLE items" does not exist' &&
     [ "$(qs "SELECT count(*) FROM items")" -gt 0 ]; echo $?) \
   "a table name is a quoted identifier, never SQL: $(last_error)"
run missing_c tests/sinks/table --workload "$(wl '"id": "m", "v": 6, "table": "no_such_table", "mode": "insert", "tag": "x"')"
ok $([ "$rc" = 1 ] && [ "$(q "SELECT status FROM noetl.execution WHERE execution_id = ${eid:-0}")" = failed ] &&
     last_error | grep -qF 'postgres sink failed: relation "no_such_table" does not exist'; echo $?) \
   "era C: a sink into a missing table fails the step and the execution: $(last_error)"
ok $([ "$(meta make "#>> '{sink,status}'")" = error ] &&
     [ "$(q "SELECT result #>> '{data,id}' FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error'")" = m ]; echo $?) \
   "... meta.sink says so, and the failed report keeps the tool's result"

# a statement with :name parameters
register <<'YAML'
metadata: {path: tests/sinks/statement}
workflow:
  - step: start
    next: [make]
  - step: make
    tool: python
    args: {note: "{{ workload.note }}"}
    code: |
      def main(note):
          return {"note": note}
    sink:
      tool: postgres
      auth: "{{ workload.dsn }}"
      statement: "INSERT INTO hostile (id, note) VALUES (:id, :note || ' :id stays' || (:n)::int::text) -- :note"
      data: {id: "{{ workload.id }}", note: "{{ result.note }}", n: 7}
    next: [end]
  - step: end
YAML
hostile="x'); DROP TABLE hostile; --"
run statement tests/sinks/statement --workload "$(wl "\"id\": \"h1\", \"note\": \"$hostile\"")"
ok $([ "$rc" = 0 ] && [ "$(qs "SELECT note FROM hostile WHERE id = 'h1'")" = "$hostile :id stays7" ]; echo $?) \
   "a statement's :name parameters are bind parameters: a hostile value is stored as it is, a quoted :id and a :: cast left alone"
ok $([ "$(qs "SELECT count(*) FROM hostile WHERE id = 'h1'")" = 1 ] && [ "$(meta make "#>> '{sink,data,command}'")" = "INSERT 0 1" ]; echo $?) \
   "... the table is still there, with the one row"

# http, python and event sinks
register <<'YAML'
metadata: {path: tests/sinks/kinds}
workflow:
  - step: start
    next: [http_step, python_step, event_step, save_event, not_envelope, multi]
  - step: http_step
    tool: python
    code: |
      def main():
          return {"n": 3, "name": "anvil"}
    sink:
      tool: http
      endpoint: "{{ workload.base }}/echo"
      headers: {X-Example: "sink {{ result.name }}"}
      payload: {n: "{{ result.n }}", who: "{{ this.name }}", eid: "{{ execution_id }}"}
    next: [end]
  - step: python_step
    tool: python
    code: |
      def main():
          return {"status": "success", "data": {"n": 21}}
    sink:
      tool: python
      data: {n: "{{ result.n }}", tag: "{{ workload.tag }}"}
      code: |
        def main(data):
            print("python sink saw", data)
            return {"double": data["n"] * 2, "tag": data["tag"]}
    next: [end]
  - step: event_step
    tool: python
    code: |
      def main():
          return {"message": "hello"}
    sink:
      tool: event_log
      args: {status: success, message: "{{ result.message }} {{ workload.tag }}"}
    next: [end]
  - step: save_event
    type: python
    code: |
      def main():
          return {"message": "era b"}
    save:
      storage: event
      data: {said: "{{ data.message }}"}
    next: [end]
  - step: not_envelope
    tool: python
    code: |
      def main():
          return {"status": "ok", "data": 5, "extra": 1}
    sink:
      tool: event
      args: {extra: "{{ result.extra }}", inner: "{{ data.data }}", whole: "{{ this.status }}"}
    next: [end]
  - step: multi
    tool: python
    code: |
      def main():
          return {}
    sink:
      tool: postgres
      auth: "{{ workload.dsn }}"
      statement: "INSERT INTO hostile VALUES ('m1', '{{ workload.tag }}'); INSERT INTO hostile VALUES ('m2', '{{ workload.tag }}')"
    next: [end]
  - step: end
YAML
run kinds tests/sinks/kinds --workload "$(wl '"tag": "t1"')"
ok $([ "$rc" = 0 ]; echo $?) "a playbook with http, python and event sinks completes"
ok $([ "$(meta http_step "#> '{sink,data,data,received}' = '{\"n\": 3, \"who\": \"anvil\", \"eid\": \"$eid\"}'")" = t ] &&
     [ "$(meta http_step "#>> '{sink,data,data,x_example}'")" = "sink anvil" ] &&
     [ "$(meta http_step "#>> '{sink,data,status_code}'")" = 200 ]; echo $?) \
   "an http sink POSTs its payload as JSON, with its headers, to the server: $(meta http_step "#> '{sink,data,data}'")"
ok $([ "$(meta python_step "#> '{sink,data}'")" = '{"tag": "t1", "double": 42}' ]; echo $?) \
   "a python sink's main(data) sees the data: $(meta python_step "#> '{sink,data}'")"
ok $(grep -q "python sink saw" "$tmp/sinks.log"; echo $?) "... and what it prints is in the worker's log"
ok $([ "$(meta event_step "#> '{sink}'")" = '{"data": {"status": "success", "message": "hello t1"}, "kind": "event_log", "status": "success"}' ]; echo $?) \
   "an event_log sink writes nothing; its rendered args are the outcome: $(meta event_step)"
ok $([ "$(meta save_event "#> '{sink}'")" = '{"data": {"said": "era b"}, "kind": "event", "status": "success"}' ]; echo $?) \
   "an era-B save with storage event likewise: $(meta save_event)"
ok $([ "$(meta not_envelope "#> '{sink,data}'")" = '{"extra": 1, "inner": 5, "whole": "ok"}' ]; echo $?) \
   "a result with keys beside status and data is no envelope: result is all of it, as the step's result is"
ok $([ "$(qs "SELECT string_agg(id, ',' ORDER BY id) FROM hostile WHERE note = 't1'")" = m1,m2 ]; echo $?) \
   "a statement without parameters may be several statements, as a postgres step's command"

# failure rules
register <<'YAML'
metadata: {path: tests/sinks/failures}
workflow:
  - step: start
    next: [save_b]
  - step: save_b
    type: python
    code: |
      def main():
          return {"id": "b1"}
    save:
      storage: {type: postgres, table: no_such_table}
      auth: "{{ workload.dsn }}"
      args: {id: "{{ result.id }}"}
    next: [sink_continue]
  - step: sink_continue
    tool: python
    code: |
      def main():
          return {"id": "c1"}
    sink:
      tool: duckdb
      on_error: continue
      commands: "SELECT 1"
    next: [save_fail]
  - step: save_fail
    type: python
    code: |
      def main():
          return {"id": "f1"}
    save:
      storage: postgres
      on_error: fail
      table: items
      args: {id: "{{ result.id }}"}
    next: [end]
  - step: end
YAML
run failures tests/sinks/failures --workload "$(wl '"tag": "f"')"
ok $([ "$(q "SELECT status FROM noetl.queue WHERE execution_id = ${eid:-0} AND node_id = 'save_b'")" = done ] &&
     meta save_b "->> 'save_error'" | grep -qF 'relation "no_such_table" does not exist'; echo $?) \
   "era B: a save into a missing table completes the step, meta.save_error says why: $(meta save_b "->> 'save_error'")"
ok $([ "$(q "SELECT status FROM noetl.queue WHERE execution_id = ${eid:-0} AND node_id = 'sink_continue'")" = done ] &&
     meta sink_continue "->> 'save_error'" | grep -qF 'sink tool "duckdb" is not supported'; echo $?) \
   "a sink with on_error: continue completes the step; a kind the worker does not run is its error: $(meta sink_continue "->> 'save_error'")"
ok $([ "$rc" = 1 ] && last_error | grep -qF 'postgres sink failed: the postgres sink has no auth or dsn'; echo $?) \
   "a save with on_error: fail fails the step; a postgres sink without auth is never written to the worker's own database: $(last_error)"

# a sink that cannot be rendered follows its rule; a credential that cannot be resolved fails
register <<'YAML'
metadata: {path: tests/sinks/unrendered}
workflow:
  - step: start
    next: [bad_template]
  - step: bad_template
    type: python
    code: |
      def main():
          return {"id": "t1", "zero": 0}
    save:
      storage: event
      data: {x: "{{ 1 // result.zero }}"}
    next: [bad_credential]
  - step: bad_credential
    tool: python
    code: |
      def main():
          return {"id": "t2"}
    sink: {tool: postgres, auth: no_such_credential, table: items, args: {id: "{{ result.id }}"}}
    next: [end]
  - step: end
YAML
run unrendered tests/sinks/unrendered --workload "$(wl '"tag": "u"')"
ok $([ "$(q "SELECT status FROM noetl.queue WHERE execution_id = ${eid:-0} AND node_id = 'bad_template'")" = done ] &&
     [ "$(meta bad_template "#>> '{sink,kind}'")" = event ] &&
     meta bad_template "->> 'save_error'" | grep -q '^could not render the sink: .*division or modulo by zero'; echo $?) \
   "a save whose template raises completes the step (era B), saying why: $(meta bad_template "->> 'save_error'")"
ok $([ "$rc" = 1 ] && last_error | grep -q "^postgres sink failed: could not resolve the sink's credential: " &&
     [ "$(qs "SELECT count(*) FROM items WHERE id = 't2'")" = 0 ]; echo $?) \
   "a sink whose credential cannot be resolved fails the step, and writes nothing anywhere: $(last_error)"

# a failed tool runs no sink; a failed sink is retried with its tool
register <<'YAML'
metadata: {path: tests/sinks/retries}
workflow:
  - step: start
    next: [broken]
  - step: broken
    tool: python
    code: |
      def main():
          raise ValueError("the tool failed")
    sink: {tool: postgres, auth: "{{ workload.dsn }}", table: items, args: {id: never}}
    next: [end]
  - step: end
YAML
run tool_fails tests/sinks/retries --workload "$(wl '"tag": "r"')"
ok $([ "$rc" = 1 ] && [ "$(last_error)" = "ValueError: the tool failed" ] && [ -z "$(meta broken)" ] &&
     [ "$(qs "SELECT count(*) FROM items WHERE id = 'never'")" = 0 ]; echo $?) \
   "a failed tool runs no sink: its error stands, no meta.sink, no row"
register <<'YAML'
metadata: {path: tests/sinks/retry}
workflow:
  - step: start
    next: [retried]
  - step: retried
    tool: python
    retry: {max_attempts: 2, initial_delay: 0.1}
    code: |
      def main():
          return {"id": "r1"}
    sink: {tool: postgres, auth: "{{ workload.dsn }}", table: no_such_table, args: {id: "{{ result.id }}"}}
    next: [end]
  - step: end
YAML
run retry tests/sinks/retry --workload "$(wl '"tag": "r"')"
ok $([ "$rc" = 1 ] && [ "$(q "SELECT count(*) FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error'")" = 2 ] &&
     [ "$(q "SELECT count(*) FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_started'")" = 2 ]; echo $?) \
   "a failed sink follows the step's retry policy: the task (its tool, then its sink) runs twice"

# per-item sinks: a loop: step, an era-B iterator's task
register <<'YAML'
metadata: {path: tests/sinks/loop}
workflow:
  - step: start
    next: [each]
  - step: each
    tool: python
    loop: {collection: "{{ workload.items }}", element: it}
    code: |
      def main(it):
          return {"v": it["v"] * 10}
    sink:
      tool: postgres
      auth: "{{ workload.dsn }}"
      table: items
      args: {id: "{{ it.id }}", v: "{{ result.v }}", note: "loop {{ _loop.index }} of {{ _loop.count }} at {{ each.result_index }}", eid: "{{ execution_id }}"}
    next: [end]
  - step: end
YAML
register <<'YAML'
metadata: {path: tests/sinks/iterator}
workflow:
  - step: start
    next: [each]
  - step: each
    type: iterator
    collection: "{{ workload.items }}"
    element: item
    task:
      type: python
      code: |
        def main(item):
            return {"v": item["v"] + 100}
      save:
        storage: postgres
        auth: "{{ workload.dsn }}"
        table: s2.items
        mode: upsert
        key: id
        args: {id: "{{ item.id }}", v: "{{ result.v }}", eid: "{{ execution_id }}"}
    next: [end]
  - step: end
YAML
run loop tests/sinks/loop --workload "$(wl '"items": [{"id": "l1", "v": 1}, {"id": "l2", "v": 2}, {"id": "l3", "v": 3}]')"
ok $([ "$rc" = 0 ] && [ "$(qs "SELECT string_agg(id || '=' || v || ' ' || note, ',' ORDER BY id) FROM items WHERE eid = '$eid'")" = \
       "l1=10 loop 0 of 3 at 0,l2=20 loop 1 of 3 at 1,l3=30 loop 2 of 3 at 2" ]; echo $?) \
   "a loop: step's sink runs after each item: 3 items, 3 rows, each seeing its element, _loop and <step>.result_index"
ok $([ "$(q "SELECT count(*) FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_completed' AND meta #>> '{sink,status}' = 'success'")" = 3 ]; echo $?) \
   "... each iteration's report has its meta.sink"
run iterator tests/sinks/iterator --workload "$(wl '"items": [{"id": "i1", "v": 1}, {"id": "i2", "v": 2}, {"id": "i3", "v": 3}]')"
ok $([ "$rc" = 0 ] && [ "$(qs "SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM s2.items WHERE eid = '$eid'")" = "i1=101,i2=102,i3=103" ]; echo $?) \
   "an era-B iterator's task save runs per item: 3 rows"
run loop_bad tests/sinks/loop --workload "$(wl '"items": [{"id": "z2", "v": 2}, {"id": "l1", "v": 1}, {"id": "z3", "v": 3}]')"
ok $([ "$rc" = 1 ] && [ "$(qs "SELECT string_agg(id, ',') FROM items WHERE id LIKE 'z%'")" = z2 ] &&
     last_error | grep -q 'duplicate key'; echo $?) \
   "a failed item sink fails its item and the loop (era C, sequential: no item after it runs): $(last_error)"

# named credentials (noetl.credential, through noetl.task_credential): a
# postgres sink's dsn and an http sink's headers, their secrets in no
# report, event or log
secret=planted-sink-secret-$$
q "CREATE EXTENSION IF NOT EXISTS pgcrypto" >/dev/null
q "SELECT noetl.credential_set('sinkcred', 'postgres',
       jsonb_build_object('host', '${PGHOST:-/tmp}', 'port', '${PGPORT:-5432}', 'user', '${PGUSER:-postgres}',
                          'dbname', '$db', 'password', '$secret'))" >/dev/null
q "SELECT noetl.credential_set('sinkweb', 'bearer', jsonb_build_object('token', '$secret'))" >/dev/null
register <<'YAML'
metadata: {path: tests/sinks/credential}
workflow:
  - step: start
    next: [pg, web]
  - step: pg
    tool: python
    code: |
      def main():
          return {"id": "cred1"}
    sink: {tool: postgres, auth: sinkcred, table: items, args: {id: "{{ result.id }}", note: "by credential"}}
    next: [end]
  - step: web
    tool: python
    code: |
      def main():
          return {"n": 1}
    sink: {tool: http, auth: sinkweb, endpoint: "{{ workload.base }}/method", payload: {n: "{{ result.n }}"}}
    next: [end]
  - step: end
YAML
run credential tests/sinks/credential --workload "$(wl '"tag": "c"')"
ok $([ "$rc" = 0 ] && [ "$(qs "SELECT note FROM items WHERE id = 'cred1'")" = "by credential" ]; echo $?) \
   "a postgres sink's named credential gives the dsn it writes on"
ok $([ "$(meta web "#>> '{sink,data,data,authorization}'")" = "Bearer [redacted]" ]; echo $?) \
   "an http sink sends the credential's headers; the echo of the secret is redacted from the report: $(meta web "#>> '{sink,data,data,authorization}'")"
ok $([ "$(q "SELECT count(*) FROM noetl.event WHERE execution_id = ${eid:-0} AND (coalesce(result::text, '') || coalesce(meta::text, '') || coalesce(error, '')) LIKE '%$secret%'")" = 0 ] &&
     [ "$(q "SELECT count(*) FROM noetl.queue WHERE execution_id = ${eid:-0} AND (coalesce(result::text, '') || coalesce(action::text, '')) LIKE '%$secret%'")" = 0 ] &&
     ! grep -q "$secret" "$tmp/sinks.log"; echo $?) \
   "the planted secret is in no event, queue row or worker log line"
q "SELECT noetl.credential_remove('sinkcred'), noetl.credential_remove('sinkweb')" >/dev/null
run credential_gone tests/sinks/credential --workload "$(wl '"tag": "d"')"
gone=$(q "SELECT string_agg(error, '; ') FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error' AND error LIKE '%does not exist%'")
ok $([ "$rc" = 1 ] && echo "$gone" | grep -q 'credential "sink[a-z]*" does not exist'; echo $?) \
   "a sink whose credential is gone fails its step, naming it: $gone"

# the worker's own database is untouched
ok $([ "$(q "SELECT count(*) FROM pg_class WHERE relname IN ('items', 'hostile', 'no_such_table') AND relnamespace = 'public'::regnamespace")" = 0 ]; echo $?) \
   "nothing was written into the broker's database"
ok $(kill -0 "$worker" 2>/dev/null; echo $?) "the worker is still running"
kill -TERM "$worker"; wait "$worker"
ok $(! grep -q 'could not report' "$tmp/sinks.log"; echo $?) "every report was taken"

# a worker with nothing but the README's noetl_worker grants runs sinks all the same (with
# --isolate: the sink runs in the task's own runners, killed once the task is reported)
role=regress_sinks_worker_$$
q "CREATE ROLE $role LOGIN;
   GRANT EXECUTE ON FUNCTION noetl.lease(text, integer, integer, text[]),
         noetl.heartbeat(bigint, text, integer),
         noetl.report(bigint, text, text, jsonb, text, text, double precision, jsonb),
         noetl.release(bigint, text),
         noetl.worker_announce(text, text[], text, integer, integer, text),
         noetl.worker_refresh(text), noetl.worker_leave(text), noetl.workers(),
         noetl.task_context(bigint, text) TO $role" >/dev/null
admin=${PGUSER:-postgres}
export PGUSER=$role
start_worker sinks-role --poll 0.5 --isolate
export PGUSER=$admin
run as_role tests/sinks/table --workload "$(wl '"id": "role", "v": 9, "table": "items", "mode": "upsert", "tag": "role"')"
run as_role_kinds tests/sinks/kinds --workload "$(wl '"tag": "role"')"
ok $([ "$rc" = 0 ] && [ "$(qs "SELECT w FROM items WHERE id = 'role'")" = role ] &&
     [ "$(meta python_step "#>> '{sink,data,tag}'")" = role ] && grep -q "sink postgres" "$tmp/sinks-role.log"; echo $?) \
   "a worker with only noetl_worker's grants (and --isolate) runs postgres, http, python and event sinks"
kill -TERM "$worker"; wait "$worker"
ok $([ "$(q "SELECT count(*) FROM noetl.event WHERE meta ? 'sink' AND NOT (meta -> 'sink' ?& ARRAY['kind', 'status'])")" = 0 ]; echo $?) \
   "every meta.sink has kind and status"
ok $([ "$(q "SELECT count(*) FROM noetl.event WHERE event_type = 'action_completed' AND meta ? 'save_error' AND meta #>> '{sink,status}' <> 'error'")" = 0 ]; echo $?) \
   "a save_error always comes with a failed meta.sink"
ok $(grep -q 'sink postgres, step make' "$tmp/sinks.log"; echo $?) "the worker's log names the sink of a task it reports"

[ "$failed" = 0 ] || tail -n 30 "$tmp"/*.log
exit $((failed > 0))
