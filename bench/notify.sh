#!/usr/bin/env bash
# bench/notify.sh: how fast workers hear of new tasks, and what listeners
# cost producers, in one run.
#
# Latency: N_LAT executions started one after another, each GAP_MS after
# the previous one was announced; for each, the time from the end of the
# producer's statement (its commit follows at once) to the listener's
# wake-up on noetl_queue.  Targets: median <= 2 ms, p99 <= 10 ms.  The same
# back to back (no gap) is printed too: there the broker coalesces what
# commits within noetl.notify_interval of the last notification.
#
# Throughput: producers (pgbench, 2 clients) start executions of a
# one-task playbook for SECONDS, with 0, 1 and 10 idle listeners on
# noetl_queue; printed as ratios to the run with none.  Target: 10
# listeners >= 0.9x.  Producers never NOTIFY; the broker worker sends at
# most one notification per wake-up.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
N_LAT=${N_LAT:-1000}
GAP_MS=${GAP_MS:-10}
SECONDS_RUN=${SECONDS_RUN:-10}
ROUNDS=${ROUNDS:-3}
BIN="$BENCH_SRC/test/c/notify_bench"
bench_setup
make -s -C "$BENCH_SRC" test/c/notify_bench >/dev/null

psql -Xq -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
SELECT noetl.register(E'metadata: {path: bench/one}\nworkflow:\n  - step: start\n    next: [task]\n  - step: task\n    tool: python\n    code: x\n') \g /dev/null
SQL

interval=$(psql -XAtc "SHOW noetl.notify_interval")
lat=$("$BIN" latency "$N_LAT" bench/one "$GAP_MS")
echo "latency over $N_LAT executions $GAP_MS ms apart (ms): $lat"
b2b=$("$BIN" latency "$N_LAT" bench/one 0)
echo "latency over $N_LAT executions back to back, noetl.notify_interval = $interval (ms): $b2b"

dir=$(mktemp -d)
pids=()
cleanup() { [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"; }
trap 'cleanup; bench_teardown' EXIT
echo "SELECT noetl.execute('bench/one');" >"$dir/produce.sql"

listeners() {  # listeners N: exactly N idle listeners running
    while [ ${#pids[@]} -gt "$1" ]; do
        kill "${pids[-1]}" 2>/dev/null || true
        unset 'pids[-1]'
    done
    while [ ${#pids[@]} -lt "$1" ]; do
        "$BIN" listen & pids+=($!)
    done
    sleep 0.5
}

declare -A best=([0]=0 [1]=0 [10]=0)
for r in $(seq 1 "$ROUNDS"); do
    order="0 1 10"; [ $((r % 2)) = 0 ] && order="10 1 0"
    line="round $r:"
    for l in $order; do
        listeners "$l"
        t=$(tps "$dir/produce.sql" 2 "$SECONDS_RUN")
        line="$line $l listeners $t tps;"
        [ "$t" -gt "${best[$l]}" ] && best[$l]=$t
    done
    echo "$line"
done
listeners 0
awk -v a="${best[0]}" -v b="${best[1]}" -v c="${best[10]}" -v lat="$lat" 'BEGIN {
    split(lat, f, " ");
    printf "latency: median %.2f ms (target <= 2), p99 %.2f ms (target <= 10)\n", f[2], f[4];
    printf "producer throughput, best of the rounds: 0 listeners %d tps, 1 listener %d tps, 10 listeners %d tps\n", a, b, c;
    printf "ratio 1 listener / none: %.2f; 10 listeners / none: %.2f (target >= 0.90)\n", b / a, c / a }'
