#!/usr/bin/env bash
# bench/templates.sh: the cost of a branch condition in noetl's template
# engine against PostgreSQL's built-in jsonpath, in the same run.
#
#   noetl:    SELECT noetl.truthy('{{ result.is_hot == true }}', ctx)
#   jsonpath: SELECT jsonb_path_exists(ctx, '$.result.is_hot ? (@ == true)')
#
# ctx is read from a one-row table by both, so neither is folded into a
# constant when pgbench prepares the statement.  The two are measured in
# alternation (SECONDS each, ROUNDS rounds) and the best round of each is
# compared.  Target: noetl no slower than 1.5x the jsonpath.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SECONDS_EACH=${SECONDS_EACH:-5}
ROUNDS=${ROUNDS:-3}
bench_setup

psql -Xq <<'SQL'
DROP TABLE IF EXISTS bench_ctx;
CREATE TABLE bench_ctx (ctx jsonb);
INSERT INTO bench_ctx VALUES
  ('{"result": {"is_hot": true, "message": "hot", "temperature_c": 30},
     "workload": {"temperature_c": 30, "city": "x"}, "execution_id": 260000000000000001}');
SQL
dir=$(mktemp -d)
echo "SELECT noetl.truthy('{{ result.is_hot == true }}', ctx) FROM bench_ctx;" >"$dir/noetl.sql"
echo "SELECT jsonb_path_exists(ctx, '\$.result.is_hot ? (@ == true)') FROM bench_ctx;" >"$dir/jsonpath.sql"
# both must agree before they are timed
[ "$(psql -XAt -f "$dir/noetl.sql")" = "$(psql -XAt -f "$dir/jsonpath.sql")" ] || { echo "results differ"; exit 1; }

best_n=0
best_j=0
for r in $(seq 1 "$ROUNDS"); do
    n=$(tps "$dir/noetl.sql" 1 "$SECONDS_EACH")
    j=$(tps "$dir/jsonpath.sql" 1 "$SECONDS_EACH")
    echo "round $r: noetl.truthy $n tps, jsonb_path_exists $j tps"
    [ "$n" -gt "$best_n" ] && best_n=$n
    [ "$j" -gt "$best_j" ] && best_j=$j
done
rm -rf "$dir"

# The same comparison without the client round trip: 200,000 evaluations
# inside one statement each, best of ROUNDS.
ms() {
    psql -XAt -c '\timing on' -c "$1" | awk '/^Time: / { print $2 }'
}
best_in_n=
best_in_j=
for r in $(seq 1 "$ROUNDS"); do
    a=$(ms "SELECT count(*) FILTER (WHERE noetl.truthy('{{ result.is_hot == true }}', c.ctx)) FROM generate_series(1, 200000) g, bench_ctx c")
    b=$(ms "SELECT count(*) FILTER (WHERE jsonb_path_exists(c.ctx, '\$.result.is_hot ? (@ == true)')) FROM generate_series(1, 200000) g, bench_ctx c")
    echo "in-server round $r: noetl.truthy $a ms, jsonb_path_exists $b ms (200,000 calls each)"
    best_in_n=$(awk -v x="$a" -v y="${best_in_n:-$a}" 'BEGIN { print (x < y ? x : y) }')
    best_in_j=$(awk -v x="$b" -v y="${best_in_j:-$b}" 'BEGIN { print (x < y ? x : y) }')
done
psql -Xq -c 'DROP TABLE bench_ctx'
awk -v n="$best_n" -v j="$best_j" -v a="$best_in_n" -v b="$best_in_j" 'BEGIN {
    printf "pgbench, one call per statement: noetl.truthy %d tps, jsonb_path_exists %d tps\n", n, j;
    printf "ratio (time per statement, noetl / jsonpath): %.2f (target <= 1.50)\n", j / n;
    printf "in one statement: noetl.truthy %.2f us per call, jsonb_path_exists %.2f us per call\n", a / 200, b / 200;
    printf "ratio (time per call, noetl / jsonpath): %.2f\n", a / b }'
