# test/lib/client_tap.sh: what the TAP programs that drive the noetl program share.
#
# Sourced by test/tap/e2e.sh and test/tap/client.sh, which run against the
# cluster the PG* variables name.  Sets SRC (the tree), NOETL (the program
# built there) and tmp (a directory that goes, with every process whose pid
# is in pids, when the script exits).
#
#   ok STATUS DESCRIPTION    prints "ok N - DESCRIPTION", or "not ok ..."
#                            and counts it in $failed, when STATUS is not 0
#   q SQL                    runs SQL, printing its rows unaligned
#   wait_for SQL [SECONDS]   polls (15 s by default) until SQL returns t
#   start_worker ID ARGS...  starts noetl worker --id ID ARGS, logging to
#                            $tmp/ID.log; its pid in $worker
#   run NAME PATH [ARGS...]  noetl run PATH ARGS --wait: its output in
#                            $tmp/NAME.out, its exit status in $rc, the
#                            execution in $eid
#   result                   prints the result of execution $eid

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NOETL="$SRC/client/noetl"
tmp=$(mktemp -d)
pids=()
client_tap_cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap client_tap_cleanup EXIT

n=0; failed=0
ok() {
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
wait_for() {
    local i
    for i in $(seq 1 $((${2:-15} * 10))); do
        [ "$(q "$1" 2>/dev/null)" = t ] && return 0
        sleep 0.1
    done
    return 1
}
start_worker() {
    local id=$1; shift
    "$NOETL" worker --id "$id" "$@" 2>>"$tmp/$id.log" &
    worker=$!
    pids+=("$worker")
}
run() {
    local name=$1; shift
    timeout 60 "$NOETL" run "$@" --wait >"$tmp/$name.out" 2>&1
    rc=$?
    eid=$(sed -n 's/^execution \([0-9]*\) of .* started$/\1/p' "$tmp/$name.out")
}
result() { q "SELECT result FROM noetl.execution WHERE execution_id = ${eid:-0}"; }
