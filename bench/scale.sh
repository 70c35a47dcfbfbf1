#!/usr/bin/env bash
# bench/scale.sh: does each path grow linearly with the size of its input?
#
# Every path that reads a playbook, a workload or a template context is
# timed with SMALL and LARGE keys (10,000 and 100,000 by default), and the
# ratio LARGE/SMALL printed: about 10 is linear (n log n gives about 12),
# 100 is quadratic.  The inputs are built in the server before the clock
# starts; each statement is the best of ROUNDS runs.
#
#   NOETL_BENCH_EXISTING=1 PGPORT=... bash bench/scale.sh
#
# ONLY=regex runs the paths whose name matches.  The budgets are lifted
# for the run (noetl.template_max_steps and
# noetl.template_max_memory), so that only time is measured.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SMALL=${SMALL:-10000}
LARGE=${LARGE:-100000}
ROUNDS=${ROUNDS:-3}
bench_setup

psql -Xq -v ON_ERROR_STOP=1 -v small="$SMALL" -v large="$LARGE" <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS scale_in;
CREATE TABLE scale_in AS
SELECT n,
       -- a playbook whose workload has n keys, as YAML and as JSON text
       E'metadata: {name: scale}\nworkload:\n' ||
           (SELECT string_agg(format('  k%s: v%s', i, i), E'\n') FROM generate_series(1, n) i) ||
           E'\nworkflow:\n  - step: start\n' AS yaml,
       jsonb_build_object('metadata', jsonb_build_object('name', 'scale'),
                          'workload', (SELECT jsonb_object_agg('k' || i, 'v' || i) FROM generate_series(1, n) i),
                          'workflow', jsonb_build_array(jsonb_build_object('step', 'start')))::text AS json,
       -- a step whose inputs come under two aliases that are merged
       E'metadata: {name: merge}\nworkflow:\n  - step: start\n    tool: python\n    with:\n' ||
           (SELECT string_agg(format('      a%s: 1', i), E'\n') FROM generate_series(1, n) i) ||
           E'\n    args:\n' ||
           (SELECT string_agg(format('      b%s: 2', i), E'\n') FROM generate_series(1, n) i) || E'\n' AS merge,
       -- n workbook entries, n steps that use them
       E'metadata: {name: wb}\nworkbook:\n' ||
           (SELECT string_agg(format('  - {name: t%s, tool: python, code: x}', i), E'\n') FROM generate_series(1, n) i) ||
           E'\nworkflow:\n  - {step: start, next: [s1]}\n' ||
           (SELECT string_agg(format('  - {step: s%s, tool: workbook, name: t%s}', i, i), E'\n') FROM generate_series(1, n) i) ||
           E'\n' AS workbook,
       -- a context with n keys, and a template object with n strings
       jsonb_build_object('w', (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, n) i),
                          'x', 1) AS ctx,
       (SELECT jsonb_object_agg('k' || i, '{{ x + ' || i || ' }}') FROM generate_series(1, n) i) AS tpl
FROM (VALUES (:small), (:large)) v(n);
SQL

# best N: the best time in ms of ROUNDS runs of SQL with :n = N
best() {
    local sql=$1 n=$2 r t b=
    for r in $(seq 1 "$ROUNDS"); do
        t=$(printf '%s\n' "SET noetl.template_max_steps = 2147483647;" \
                "SET noetl.template_max_memory = '4GB';" '\timing on' "$sql;" |
            psql -XAtq -v ON_ERROR_STOP=1 -v n="$n" | awk '/^Time: / { print $2 }')
        [ -n "$t" ] || { echo "failed: $sql" >&2; exit 1; }
        if [ -z "$b" ] || awk -v t="$t" -v b="$b" 'BEGIN { exit !(t < b) }'; then
            b=$t
        fi
    done
    echo "$b"
}

run() {
    local name=$1 sql=$2 s l
    if [ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]]; then
        return 0
    fi
    s=$(best "$sql" "$SMALL")
    l=$(best "$sql" "$LARGE")
    awk -v name="$name" -v s="$s" -v l="$l" -v a="$SMALL" -v b="$LARGE" \
        'BEGIN { printf "%-22s %8d: %9.1f ms   %8d: %9.1f ms   ratio %6.1f\n", name, a, s, b, l, l / s }'
}

echo "path                    (ratio about $((LARGE / SMALL)) is linear)"
run yaml_to_jsonb     "SELECT length(noetl.yaml_to_jsonb(yaml)::text) FROM scale_in WHERE n = :n"
run parse_yaml        "SELECT length(noetl.parse_playbook(yaml)::text) FROM scale_in WHERE n = :n"
run parse_json        "SELECT length(noetl.parse_playbook(json)::text) FROM scale_in WHERE n = :n"
run args_merge        "SELECT length(noetl.parse_playbook(merge)::text) FROM scale_in WHERE n = :n"
run workbook          "SELECT length(noetl.parse_playbook(workbook)::text) FROM scale_in WHERE n = :n"
run render_lookups    "SELECT length(noetl.render_text('{% for d in [w] %}{% for k in d %}{{ d[k] }}{% endfor %}{% endfor %}', ctx)) FROM scale_in WHERE n = :n"
run render_object     "SELECT length(noetl.render(tpl, ctx)::text) FROM scale_in WHERE n = :n"
run dict_build        "SELECT noetl.eval('dict(w) | length', ctx) FROM scale_in WHERE n = :n"
run tojson            "SELECT noetl.eval('w | tojson | length', ctx) FROM scale_in WHERE n = :n"
run unique            "SELECT noetl.eval('w | unique | list | length', ctx) FROM scale_in WHERE n = :n"
run sort              "SELECT noetl.eval('w | sort | length', ctx) FROM scale_in WHERE n = :n"
psql -Xq -c 'DROP TABLE scale_in'
