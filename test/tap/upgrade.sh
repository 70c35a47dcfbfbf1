#!/usr/bin/env bash
# test/tap/upgrade.sh: a database at version 1.0, with executions running,
# updated to the current version, finishes them.
#
# In a database of its own on the cluster named by the PG* variables (the
# library installed is the current one): CREATE EXTENSION noetl VERSION
# '1.0', registers a playbook and starts executions (one of them with a
# task leased under 1.0), runs ALTER EXTENSION noetl UPDATE, and checks
# that the extension is at the version noetl.control names, that its
# objects are those of a new installation (pg_dump --schema-only of both,
# compared), that the task leased under 1.0 cannot be reported (it has no
# token) while the queued ones are leased and completed, so that those
# executions complete.  Every schema change comes with its upgrade script
# and this test covers it.
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
tmp=$(mktemp -d)
dbs=(noetl_upgrade noetl_fresh)
cleanup() {
    local d
    for d in "${dbs[@]}"; do psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1; done
    psql -XAtq -d postgres -c "DROP ROLE IF EXISTS regress_upgrade_admin" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
cleanup
mkdir -p "$tmp"

n=0; failed=0
ok() {  # ok STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
q() { psql -XAtq -v ON_ERROR_STOP=1 -d noetl_upgrade -c "$1"; }
current=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" "$SRC/noetl.control")
echo "1..11"

psql -XAtq -d postgres -c "CREATE DATABASE noetl_upgrade" -c "CREATE DATABASE noetl_fresh" >/dev/null || exit 1
q "CREATE EXTENSION noetl VERSION '1.0'" >/dev/null
ok $? "version 1.0 installs"
psql -XAtq -v ON_ERROR_STOP=1 -d noetl_upgrade >"$tmp/setup.out" 2>&1 <<'SQL'
SELECT noetl.register(E'metadata: {path: tests/upgrade/two}\nworkflow:\n  - step: start\n    tool: python\n    code: x\n    next: [second]\n  - step: second\n    tool: python\n    code: x\n');
CREATE TABLE ids (name text, execution_id bigint);
INSERT INTO ids VALUES ('leased', noetl.execute('tests/upgrade/two'));
SELECT count(*) FROM noetl.lease('old-worker', 1);      -- 1.0's lease: no token
INSERT INTO ids SELECT 'queued' || g, noetl.execute('tests/upgrade/two') FROM generate_series(1, 3) g;
CREATE ROLE regress_upgrade_admin;
GRANT EXECUTE ON FUNCTION noetl.register(text) TO regress_upgrade_admin;
SQL
ok $([ $? = 0 ] && [ "$(q "SELECT count(*) FROM noetl.execution WHERE status = 'running'")" = 4 ]; echo $?) \
   "under 1.0, four executions run, one with its task leased"

q "ALTER EXTENSION noetl UPDATE" >/dev/null 2>"$tmp/update.err"
ok $? "ALTER EXTENSION noetl UPDATE runs"
sed 's/^/# /' "$tmp/update.err"
version=$(q "SELECT extversion FROM pg_extension WHERE extname = 'noetl'")
ok $([ "$version" = "$current" ]; echo $?) "the extension is at $current, the version noetl.control names ($version)"

# 1.2 replaces register (a new return type): the administrator's grants
# carry over, and stay the administrator's, so that pg_dump keeps them
ok $([ "$(q "SELECT has_function_privilege('regress_upgrade_admin', 'noetl.register(text)', 'EXECUTE')")" = t ]; echo $?) \
   "a grant on noetl.register made before the update carries over"
"$PGBIN/pg_dump" -d noetl_upgrade --schema-only >"$tmp/upgrade.dump" 2>"$tmp/dump.err"
ok $(grep -q 'GRANT .* ON FUNCTION noetl.register(content text) TO regress_upgrade_admin' "$tmp/upgrade.dump"; echo $?) \
   "... and pg_dump keeps it (it is not counted as the extension's own privilege)"
q "REVOKE EXECUTE ON FUNCTION noetl.register(text) FROM regress_upgrade_admin" >/dev/null

# the updated database's objects are a new installation's: columns (in
# order, with types, defaults and NOT NULL), functions (their whole
# definitions), indexes, constraints, triggers, types and comments
psql -XAtq -d noetl_fresh -c "CREATE EXTENSION noetl" >/dev/null
for d in noetl_upgrade noetl_fresh; do
    psql -XAtq -d "$d" >"$tmp/$d.schema" <<'SQL'
SELECT 'column ' || c.relname || ' ' || row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum) || ' ' ||
       a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull || ' ' ||
       coalesce(pg_get_expr(ad.adbin, ad.adrelid), '') || ' ' || coalesce(col_description(c.oid, a.attnum), '')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
 WHERE n.nspname = 'noetl' AND c.relkind IN ('r', 'c')
UNION ALL
SELECT 'function ' || p.oid::regprocedure || ' ' || md5(pg_get_functiondef(p.oid)) || ' ' ||
       coalesce(obj_description(p.oid, 'pg_proc'), '') || ' ' || coalesce(array_to_string(p.proacl, ','), '')
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'noetl' AND p.prokind = 'f'
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'noetl'
UNION ALL
SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'noetl'::regnamespace
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'noetl'::regnamespace AND NOT t.tgisinternal
UNION ALL
SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' ' || coalesce(array_to_string(c.reloptions, ','), '') || ' ' ||
       coalesce(obj_description(c.oid, 'pg_class'), '')
  FROM pg_class c WHERE c.relnamespace = 'noetl'::regnamespace
ORDER BY 1
SQL
done
diff -q "$tmp/noetl_upgrade.schema" "$tmp/noetl_fresh.schema" >/dev/null
same=$?
ok $([ $same = 0 ] && [ "$(wc -l <"$tmp/noetl_fresh.schema")" -gt 50 ]; echo $?) \
   "its objects are a new installation's ($(wc -l <"$tmp/noetl_fresh.schema") columns, functions, indexes, constraints, triggers and relations compared)"
[ $same = 0 ] || diff "$tmp/noetl_fresh.schema" "$tmp/noetl_upgrade.schema" | head -20 | sed 's/^/# /'

# the task leased under 1.0 has no token: its report is refused, and it
# runs again when its lease expires; the queued ones run to the end
late=$(q "SELECT noetl.complete(queue_id, 'none', '{}') FROM noetl.queue WHERE status = 'leased'" 2>&1)
ok $(echo "$late" | grep -q 'not leased with this token'; echo $?) "a task leased under 1.0 cannot be reported without a token"
psql -XAtq -v ON_ERROR_STOP=1 -d noetl_upgrade >"$tmp/finish.out" 2>&1 <<'SQL'
SELECT noetl.complete(queue_id, lease_token, '{"n": 1}') FROM noetl.lease('new-worker', 100);
SELECT noetl.complete(queue_id, lease_token, '{"n": 2}') FROM noetl.lease('new-worker', 100);
SQL
ok $? "the queued tasks are leased with tokens and completed"
sed 's/^/# /' "$tmp/finish.out" | grep -i error
ok $([ "$(q "SELECT count(*) FROM noetl.execution x JOIN ids USING (execution_id) WHERE ids.name LIKE 'queued%' AND x.status = 'completed'")" = 3 ]; echo $?) \
   "the executions started under 1.0 complete under $current"

# what 1.0's schema could not hold runs after the update: a loop, a sub-playbook
psql -XAtq -v ON_ERROR_STOP=1 -d noetl_upgrade >"$tmp/loop.out" 2>&1 <<'SQL'
SELECT 1 FROM noetl.register($$
metadata: {name: after, path: tests/upgrade/after}
workflow:
  - step: start
    tool: python
    code: x
    loop: {collection: [1, 2], element: n}
    next: [{step: child}]
  - step: child
    tool: playbook
    path: tests/upgrade/leaf
$$);
SELECT 1 FROM noetl.register($$
metadata: {name: leaf, path: tests/upgrade/leaf}
workflow:
  - step: start
$$);
CREATE TABLE ids2 AS SELECT noetl.execute('tests/upgrade/after') AS x;
SELECT noetl.complete(queue_id, lease_token, '{"n": 1}') FROM noetl.lease('new-worker', 100);
SELECT noetl.complete(queue_id, lease_token, '{"n": 2}') FROM noetl.lease('new-worker', 100);
SQL
sed 's/^/# /' "$tmp/loop.out" | grep -i error
ok $([ "$(q "SELECT status || ' ' || (SELECT count(*) FROM noetl.execution c WHERE c.parent_execution_id = x.execution_id) FROM noetl.execution x JOIN ids2 ON ids2.x = x.execution_id")" = "completed 1" ]; echo $?) \
   "after the update, a loop and a sub-playbook run"
exit $((failed > 0))
