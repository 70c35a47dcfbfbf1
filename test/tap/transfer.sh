#!/usr/bin/env bash
# test/tap/transfer.sh: the transfer tool (client/tool_transfer.c) through
# noetl worker, from a local HTTP server (test/lib/http_server.py) and from
# postgres, into a second database of the cluster.
#
# Against the cluster named by the PG* variables (noetl installed, its
# broker worker running): http -> postgres with a mapping and a data_path,
# rows in input order, values converted to their columns' types;
# postgres -> postgres in batches of chunk_size, one transaction (a batch
# that fails leaves nothing); upsert by key, replace; a non-2xx source
# fails the task; a target without auth or dsn is refused and nothing is
# written into the worker's own database; hostile table and column names
# stay names; a credential by name (when noetl.task_credential exists)
# with its password kept out of the result and the events; and NoETL's
# http_to_postgres_transfer fixture (era C) against the local server.
set -u
# shellcheck source=../lib/client_tap.sh
. "$(dirname "$0")/../lib/client_tap.sh"
echo "1..21"

[ -x "$NOETL" ] || { echo "Bail out! client/noetl is not built"; exit 1; }
FIXTURES=${NOETL_FIXTURES:-$SRC/../shared/noetl-fixtures}

/usr/bin/python3 "$SRC/test/lib/http_server.py" 0 >"$tmp/http.port" 2>"$tmp/http.log" &
pids+=($!)
for i in $(seq 1 50); do [ -s "$tmp/http.port" ] && break; sleep 0.1; done
port=$(head -1 "$tmp/http.port")
base="http://127.0.0.1:$port"

# the target: a database of its own
tdb=noetl_transfer_target
q "DROP DATABASE IF EXISTS $tdb" >/dev/null 2>&1
q "CREATE DATABASE $tdb" >/dev/null
cleanup_db() { psql -XAtq -c "DROP DATABASE IF EXISTS $tdb WITH (FORCE)" >/dev/null 2>&1; client_tap_cleanup; }
trap cleanup_db EXIT
tq() { psql -XAtq -v ON_ERROR_STOP=1 -d "$tdb" -c "$1"; }
tdsn="host=$PGHOST port=$PGPORT dbname=$tdb"
sdsn="host=$PGHOST port=$PGPORT dbname=$(q "SELECT current_database()")"
tq "CREATE TABLE items (id serial PRIMARY KEY, item_id integer UNIQUE, name text NOT NULL, doc jsonb,
                        fetched_at timestamptz DEFAULT now())"
tq "CREATE TABLE \"odd \"\"name\" (v text)"

"$NOETL" register - >"$tmp/register.out" 2>&1 <<'YAML' || echo "# register failed"
metadata: {path: tests/transfer/run}
workflow:
  - step: start
    next: [copy]
  - step: copy
    tool: transfer
    source: "{{ workload.source }}"
    target: "{{ workload.target }}"
    chunk_size: "{{ workload.chunk }}"
    next: [end]
  - step: end
    result: {copy: "{{ copy }}"}
YAML
start_worker transfer --tools transfer --poll 0.5

# copy NAME SOURCE TARGET [CHUNK]: runs tests/transfer/run
copy() {
    run "$1" tests/transfer/run --workload "{\"source\": $2, \"target\": $3, \"chunk\": ${4:-1000}}"
}
res() { q "SELECT result #>> '{copy,$1}' FROM noetl.execution WHERE execution_id = ${eid:-0}"; }
last_error() {
    q "SELECT error FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error' ORDER BY event_id DESC LIMIT 1"
}

# http -> postgres
copy http "{\"tool\": \"http\", \"url\": \"$base/items?limit=3\", \"data_path\": \"items\"}" \
     "{\"tool\": \"postgres\", \"dsn\": \"$tdsn\", \"table\": \"items\", \"mapping\": {\"item_id\": \"id\", \"name\": \"name\"}}"
ok $([ "$rc" = 0 ]; echo $?) "http -> postgres completes"
ok $([ "$(tq "SELECT string_agg(item_id || ':' || name, ',' ORDER BY id) FROM items")" = "1:anvil,2:bucket,3:chisel" ]; echo $?) \
   "... the mapped fields land in their columns, in the response's order"
ok $([ "$(res direction)|$(res rows_transferred)|$(res records_fetched)|$(res chunks_processed)|$(res mode)" = "http_to_postgres|3|3|1|append" ]; echo $?) \
   "... its result as NoETL's: direction, rows_transferred, records_fetched, chunks_processed, mode"

# a non-2xx source fails the task, and nothing is written
copy http404 "{\"tool\": \"http\", \"url\": \"$base/status/404\"}" \
     "{\"tool\": \"postgres\", \"dsn\": \"$tdsn\", \"table\": \"items\", \"mapping\": {\"item_id\": \"id\", \"name\": \"name\"}}"
ok $([ "$rc" = 1 ] && [ "$(last_error)" = "transfer failed: the transfer's http source failed: HTTP 404: Not Found (GET $base/status/404)" ]; echo $?) \
   "an http source that answers 404 fails the task: $(last_error)"

# postgres -> postgres, in batches, upsert by key
copy pg "{\"tool\": \"postgres\", \"dsn\": \"$sdsn\", \"query\": \"SELECT g AS item_id, 'n' || g AS name, jsonb_build_object('g', g) AS doc FROM generate_series(1, 2500) g\"}" \
     "{\"tool\": \"postgres\", \"dsn\": \"$tdsn\", \"table\": \"public.items\", \"mode\": \"upsert\", \"key\": \"item_id\"}"
ok $([ "$rc" = 0 ] && [ "$(res rows_transferred)|$(res chunks_processed)" = "2500|3" ]; echo $?) \
   "postgres -> postgres: 2,500 rows in 3 batches of chunk_size 1000 ($(res rows_transferred)|$(res chunks_processed))"
ok $([ "$(tq "SELECT count(*) || ' ' || count(DISTINCT item_id) || ' ' || min(name) FILTER (WHERE item_id = 2) || ' ' || (max(doc ->> 'g') FILTER (WHERE item_id = 2500)) FROM items")" = "2500 2500 n2 2500" ]; echo $?) \
   "... upsert by key: the 3 rows from http updated, the rest inserted, a jsonb column kept as jsonb"
ok $([ "$(res columns)" = '["item_id", "name", "doc"]' ]; echo $?) "... without a mapping, the source's own columns"

# one transaction: the third batch fails, nothing of the first two stays
copy atomic "{\"tool\": \"postgres\", \"dsn\": \"$sdsn\", \"query\": \"SELECT 10000 + g AS item_id, CASE WHEN g < 25 THEN 'x' END AS name FROM generate_series(1, 30) g\"}" \
     "{\"tool\": \"postgres\", \"dsn\": \"$tdsn\", \"table\": \"items\"}" 10
ok $([ "$rc" = 1 ] && last_error | grep -q 'null value in column "name"' &&
     [ "$(tq "SELECT count(*) FROM items WHERE item_id > 10000")" = 0 ]; echo $?) \
   "a batch that fails fails the task and leaves none of the rows (one transaction): $(last_error)"

# replace truncates first
copy replace "{\"tool\": \"postgres\", \"dsn\": \"$sdsn\", \"query\": \"SELECT 7 AS item_id, 'seven' AS name\"}" \
     "{\"tool\": \"postgres\", \"dsn\": \"$tdsn\", \"table\": \"items\", \"mode\": \"replace\", \"mapping\": {\"item_id\": \"item_id\", \"name\": \"name\"}}"
ok $([ "$rc" = 0 ] && [ "$(tq "SELECT string_agg(item_id || ':' || name, ',') FROM items")" = "7:seven" ]; echo $?) \
   "mode replace: the table is emptied first"

# no auth: refused, nothing in the worker's own database
q "CREATE TABLE public.transfer_own (item_id int, name text)" >/dev/null
copy noauth "{\"tool\": \"postgres\", \"dsn\": \"$sdsn\", \"query\": \"SELECT 1 AS item_id, 'a' AS name\"}" \
     "{\"tool\": \"postgres\", \"table\": \"public.transfer_own\"}"
ok $([ "$rc" = 1 ] && last_error | grep -q "target needs auth" &&
     [ "$(q "SELECT count(*) FROM public.transfer_own")" = 0 ]; echo $?) \
   "a target without auth or dsn is refused, the worker's own database untouched: $(last_error)"
copy emptyauth "{\"tool\": \"postgres\", \"dsn\": \"$sdsn\", \"query\": \"SELECT 1 AS item_id, 'a' AS name\"}" \
     "{\"tool\": \"postgres\", \"auth\": \"\", \"table\": \"public.transfer_own\"}"
ok $([ "$rc" = 1 ] && last_error | grep -q "target needs auth" &&
     [ "$(q "SELECT count(*) FROM public.transfer_own")" = 0 ]; echo $?) \
   "... and so is one whose auth rendered empty: $(last_error)"
copy nosrcauth "{\"tool\": \"postgres\", \"query\": \"SELECT 1 AS item_id, 'a' AS name\"}" \
     "{\"tool\": \"postgres\", \"dsn\": \"$tdsn\", \"table\": \"items\"}"
ok $([ "$rc" = 1 ] && last_error | grep -q "source needs auth"; echo $?) \
   "a postgres source without auth or dsn is refused: $(last_error)"
q "DROP TABLE public.transfer_own" >/dev/null

# hostile names stay names; hostile data stays data
copy badtable "{\"tool\": \"postgres\", \"dsn\": \"$sdsn\", \"query\": \"SELECT 1 AS v\"}" \
     "{\"tool\": \"postgres\", \"dsn\": \"$tdsn\", \"table\": \"items; DROP TABLE items\"}"
ok $([ "$rc" = 1 ] && [ "$(tq "SELECT count(*) FROM items")" = 1 ]; echo $?) \
   "a table name with SQL in it is no table: $(last_error)"
copy badcol "{\"tool\": \"postgres\", \"dsn\": \"$sdsn\", \"query\": \"SELECT 'x' AS v\"}" \
     "{\"tool\": \"postgres\", \"dsn\": \"$tdsn\", \"table\": \"items\", \"mapping\": {\"name) VALUES ('x'); DROP TABLE items; --\": \"v\"}}"
ok $([ "$rc" = 1 ] && [ "$(tq "SELECT count(*) FROM items")" = 1 ]; echo $?) \
   "a column name with SQL in it is a name: $(last_error)"
copy oddname "{\"tool\": \"postgres\", \"dsn\": \"$sdsn\", \"query\": \"SELECT \$\$'); DROP TABLE items; --\$\$ AS v\"}" \
     "{\"tool\": \"postgres\", \"dsn\": \"$tdsn\", \"table\": \"\\\"odd \\\"\\\"name\\\"\"}"
ok $([ "$rc" = 0 ] && [ "$(tq "SELECT v FROM \"odd \"\"name\"")" = "'); DROP TABLE items; --" ] &&
     [ "$(tq "SELECT count(*) FROM items")" = 1 ]; echo $?) \
   "a quoted table name is found, and SQL in the data is data"

# a mode NoETL did not have is refused
copy badmode "{\"tool\": \"http\", \"url\": \"$base/items\"}" \
     "{\"tool\": \"postgres\", \"dsn\": \"$tdsn\", \"table\": \"items\", \"mode\": \"merge\", \"mapping\": {\"name\": \"name\"}}"
ok $([ "$rc" = 1 ] && [ "$(last_error)" = 'transfer failed: a transfer'"'"'s mode must be insert, append, replace or upsert, not "merge"' ]; echo $?) \
   "an unknown mode is refused: $(last_error)"

# a credential by name, when noetl.task_credential is there (issue 14's credentials)
if [ "$(q "SELECT to_regprocedure('noetl.task_credential(bigint, text, jsonb)') IS NOT NULL")" = t ] &&
   [ "$(q "SELECT to_regprocedure('noetl.credential_set(text, text, jsonb, text, text[], jsonb)') IS NOT NULL")" = t ]; then
    secret="pw-$RANDOM-planted"
    q "CREATE ROLE transfer_writer LOGIN PASSWORD '$secret'" >/dev/null 2>&1
    tq "GRANT INSERT, SELECT, UPDATE ON items TO transfer_writer; GRANT USAGE ON SEQUENCE items_id_seq TO transfer_writer" >/dev/null
    q "SELECT noetl.credential_set('transfer_target', 'postgres',
         jsonb_build_object('host', '$PGHOST', 'port', '$PGPORT', 'database', '$tdb', 'user', 'transfer_writer', 'password', '$secret'))" >/dev/null
    copy cred "{\"tool\": \"http\", \"url\": \"$base/items?limit=2\", \"data_path\": \"items\"}" \
         "{\"tool\": \"postgres\", \"auth\": \"transfer_target\", \"table\": \"items\", \"mode\": \"upsert\", \"key\": \"item_id\", \"mapping\": {\"item_id\": \"id\", \"name\": \"name\"}}"
    ok $([ "$rc" = 0 ] && [ "$(tq "SELECT count(*) FROM items WHERE item_id IN (1, 2)")" = 2 ]; echo $?) \
       "auth by a credential's name writes into its database"
    ok $(! { q "SELECT e::text FROM noetl.event e WHERE execution_id = ${eid:-0} UNION ALL SELECT q::text FROM noetl.queue q WHERE execution_id = ${eid:-0}
                UNION ALL SELECT x::text FROM noetl.execution x WHERE execution_id = ${eid:-0}"; cat "$tmp/cred.out" "$tmp/transfer.log"; } | grep -q "$secret"; echo $?) \
       "... and its password is in no event, queue row, execution, run output or worker log"
    copy nocred "{\"tool\": \"http\", \"url\": \"$base/items\"}" \
         "{\"tool\": \"postgres\", \"auth\": \"no_such_credential\", \"table\": \"items\", \"mapping\": {\"name\": \"name\"}}"
    ok $([ "$rc" = 1 ] && last_error | grep -q 'no_such_credential'; echo $?) \
       "an unknown credential fails the task, naming it: $(last_error)"
    q "SELECT noetl.credential_remove('transfer_target')" >/dev/null
    tq "REVOKE ALL ON items FROM transfer_writer; REVOKE ALL ON SEQUENCE items_id_seq FROM transfer_writer" >/dev/null
    q "DROP ROLE IF EXISTS transfer_writer" >/dev/null 2>&1
else
    echo "ok $((n + 1)) # skip noetl.task_credential is not installed"
    echo "ok $((n + 2)) # skip noetl.task_credential is not installed"
    echo "ok $((n + 3)) # skip noetl.task_credential is not installed"
    n=$((n + 3))
fi

# NoETL's fixture, against the stand-in for jsonplaceholder (test/lib/fixture_hosts.py), its
# pg_auth a connection string to the target
fixture="$FIXTURES/era-c/data_transfer/http_to_postgres_transfer/http_to_postgres_transfer.yaml"
if [ -f "$fixture" ]; then
    /usr/bin/python3 "$SRC/test/lib/fixture_hosts.py" 0 >"$tmp/hosts.port" 2>"$tmp/hosts.log" &
    pids+=($!)
    for i in $(seq 1 50); do [ -s "$tmp/hosts.port" ] && break; sleep 0.1; done
    hosts="http://127.0.0.1:$(head -1 "$tmp/hosts.port")"
    /usr/bin/python3 - "$fixture" "$hosts" "$tdsn" >"$tmp/fixture.yaml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
doc["workload"]["api_url"] = sys.argv[2] + "/jsonplaceholder.typicode.com/posts"
doc["workload"]["pg_auth"] = sys.argv[3]
doc["metadata"]["path"] = "tests/transfer/fixture"
print(yaml.safe_dump(doc))
PY
    "$NOETL" register "$tmp/fixture.yaml" >/dev/null 2>&1
    transfer_worker=$worker
    start_worker transfer-fixture --tools postgres --poll 0.5
    worker=$transfer_worker
    run fixture tests/transfer/fixture
    ok $([ "$rc" = 0 ] && [ "$(tq "SELECT count(*) || ' ' || min(post_id) || ' ' || max(user_id) || ' ' || (SELECT title FROM public.http_to_postgres_transfer ORDER BY id LIMIT 1) FROM public.http_to_postgres_transfer")" = "100 1 10 post 1 title" ]; echo $?) \
       "NoETL's http_to_postgres_transfer (era C) copies the 100 posts into the target: $(tq "SELECT count(*) FROM public.http_to_postgres_transfer" 2>&1)"
else
    echo "ok $((n + 1)) # skip the NoETL fixtures are not at $FIXTURES"
    n=$((n + 1))
fi

ok $(kill -0 "$worker" 2>/dev/null; echo $?) "the worker is still running"
[ "$failed" = 0 ]
