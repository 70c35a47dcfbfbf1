# bench/lib.sh: shared set-up for the benchmarks.
#
# A benchmark runs against the server named by the PG* variables when
# NOETL_BENCH_EXISTING=1 (noetl must be installed there); otherwise it
# builds and installs noetl and starts a throwaway cluster of its own, which
# it stops on exit.  Benchmarks print ratios measured in one run: absolute
# numbers on this small, shared machine say little, ratios say more.

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}

bench_setup() {
    if [ "${NOETL_BENCH_EXISTING:-0}" = 1 ]; then
        return 0
    fi
    make -s -C "$BENCH_SRC" >/dev/null || exit 1
    if [ -n "${NOETL_DESTDIR:-}" ]; then
        # a private copy of PostgreSQL (test/lib/devroot.sh)
        . "$BENCH_SRC/test/lib/devroot.sh"
        (cd "$BENCH_SRC" && devroot_install "$NOETL_DESTDIR" >/dev/null) || exit 1
        export PGBIN="$NOETL_DESTDIR/usr/lib/postgresql/15/bin" PATH="$NOETL_DESTDIR/usr/local/bin:$PATH"
    else
        make -s -C "$BENCH_SRC" install >/dev/null || exit 1
    fi
    # shellcheck source=../test/lib/cluster.sh
    . "$BENCH_SRC/test/lib/cluster.sh"
    export PGPORT=${BENCH_PGPORT:-54339}
    cluster_start || exit 1
    BENCH_OWN_CLUSTER=1
    trap cluster_stop EXIT
    psql -Xq -c 'CREATE EXTENSION IF NOT EXISTS noetl' || exit 1
}

# bench_teardown stops the cluster bench_setup started (for scripts that set
# their own EXIT trap)
bench_teardown() {
    [ "${BENCH_OWN_CLUSTER:-0}" = 1 ] && cluster_stop
    return 0
}

# tps SCRIPT CLIENTS SECONDS: transactions per second of a pgbench script
tps() {
    "$PGBENCH" -n -M prepared -c "$2" -j "$2" -T "$3" -f "$1" 2>/dev/null |
        awk '/^tps = / { printf "%.0f", $3 }'
}
