#!/usr/bin/env bash
# examples/demo.sh: what `make demo` runs (it needs no make itself).
#
# On a fresh Debian 12 machine, as root: installs what it needs, builds and
# installs noetl, starts a throwaway PostgreSQL 15 cluster with noetl
# preloaded, registers examples/, starts a worker, runs NoETL's
# workbook_branches to completion, prints the execution's timeline, and
# stops everything it started.  Exits 0 when the execution completed.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)

# shellcheck source=../test/lib/packages.sh
. "$SRC/test/lib/packages.sh"
echo "== packages"
# shellcheck disable=SC2086
ensure_packages $NOETL_BUILD_PACKAGES
echo "ok"

echo "== build and install"
make -s -j2 >/tmp/noetl-demo-build.log 2>&1 && make -s install >>/tmp/noetl-demo-build.log 2>&1 \
    || { tail -30 /tmp/noetl-demo-build.log; exit 1; }
echo "ok"

echo "== a throwaway cluster, noetl preloaded"
# shellcheck source=../test/lib/cluster.sh
. "$SRC/test/lib/cluster.sh"
export PGPORT=${DEMO_PGPORT:-54330}
CLUSTER_PRELOAD=noetl cluster_start
worker=
cleanup() {
    if [ -n "$worker" ]; then
        kill -TERM "$worker" 2>/dev/null || true
        wait "$worker" 2>/dev/null || true
    fi
    cluster_stop
}
trap cleanup EXIT
psql -Xq -v ON_ERROR_STOP=1 -c "CREATE EXTENSION noetl"
echo "PostgreSQL $(psql -XAtc 'SHOW server_version') in $PGDATA, socket $PGHOST, port $PGPORT"

NOETL="$SRC/client/noetl"
echo "== noetl register examples/*.yaml"
"$NOETL" register examples/*.yaml

echo "== noetl worker (in the background; its log: $CLUSTER_DIR/worker.log)"
"$NOETL" worker --id demo-worker --jobs 2 2>"$CLUSTER_DIR/worker.log" &
worker=$!

echo "== noetl run examples/workbook_branches --wait"
set +e
"$NOETL" run examples/workbook_branches --wait | tee "$CLUSTER_DIR/run.log"
rc=${PIPESTATUS[0]}
set -e
eid=$(sed -n 's/^execution \([0-9]*\) of .* started$/\1/p' "$CLUSTER_DIR/run.log")

echo "== noetl status $eid"
"$NOETL" status "$eid"

echo "== the worker's log"
cat "$CLUSTER_DIR/worker.log"
[ "$rc" = 0 ] && echo "== the demo ran workbook_branches to completion" || echo "== the execution did not complete"
exit "$rc"
