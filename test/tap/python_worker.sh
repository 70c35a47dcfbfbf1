#!/usr/bin/env bash
# test/tap/python_worker.sh: the README's worker in another language.
#
# examples/worker.py (Python, with Debian's python3-psycopg) runs the python
# examples to completion against the cluster named by the PG* variables,
# with no other worker running.
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
NOETL="$SRC/client/noetl"
tmp=$(mktemp -d)
n=0; failed=0
ok() {
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
echo "1..3"
/usr/bin/python3 "$SRC/examples/worker.py" --id python-example --poll 1 2>"$tmp/worker.log" &
worker=$!
trap 'kill "$worker" 2>/dev/null; wait "$worker" 2>/dev/null; rm -rf "$tmp"' EXIT
"$NOETL" register "$SRC/examples/hello.yaml" "$SRC/examples/parallel_branches.yaml" >/dev/null
ok $? "the examples are registered"
for p in hello parallel_branches; do
    timeout 30 "$NOETL" run "examples/$p" --wait >"$tmp/$p.out" 2>&1
    rc=$?
    eid=$(sed -n 's/^execution \([0-9]*\) of .* started$/\1/p' "$tmp/$p.out")
    by=$(psql -XAtqc "SELECT string_agg(DISTINCT worker_id, ',') FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_completed'")
    ok $([ "$rc" = 0 ] && [ "$by" = python-example ]; echo $?) "examples/$p completes, run by the Python worker ($by)"
done
[ "$failed" = 0 ] || cat "$tmp/worker.log"
exit $((failed > 0))
