#!/usr/bin/env bash
# bench/worker.sh: what noetl worker costs per task, against a SQL driver.
#
# N executions of a one-task playbook are started (noetl.execute_many),
# then drained, and the time from the start of the drain to the end of
# the last execution is measured (the end from noetl.execution.ended_at):
#
#   worker   noetl worker --tools TOOL --jobs 4
#   driver   a "SQL driver": 4 processes (/usr/bin/python3 with psycopg),
#            each looping noetl.lease(ID, 1, 60, ARRAY[TOOL]) for one
#            task, running it, then noetl.complete(...) with the result
#            the worker would report: a postgres task's command on a
#            second connection that the process keeps, a python task's
#            code exec()uted in the driver's own interpreter.  The
#            processes connect (and prepare) before the clock starts.
#   isolate  noetl worker --isolate --jobs 4: a process per task, as
#            every task was run before version 1.2 (on ISOLATE_N tasks)
#
# for a postgres task (SELECT 1) and a python one (main() returning 1).
# Rounds are interleaved (worker, driver, isolate, then again), each
# from emptied tables; it prints each round, the medians in tasks per
# second, and last the ratios worker / driver and worker / isolate.
# Target (issue 11): worker >= 0.7 of the driver on SELECT 1 tasks.
#
# ROUNDS (3), N (2000), ISOLATE_N (400), JOBS (4), SIDES ("worker driver
# isolate"), NOETL (the program to measure: another build's, to compare
# versions); QUICK=1: a smoke test with small sizes whose figures mean
# nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}
N=${N:-2000}
ISOLATE_N=${ISOLATE_N:-400}
JOBS=${JOBS:-4}
SIDES=${SIDES:-worker driver isolate}
if [ "${QUICK:-0}" = 1 ]; then ROUNDS=1; N=100; ISOLATE_N=20; fi
NOETL=${NOETL:-$BENCH_SRC/client/noetl}
PYTHON=${PYTHON:-/usr/bin/python3}
bench_setup

dir=$(mktemp -d)
worker_pid=
cleanup() {
    [ -n "$worker_pid" ] && kill -KILL "$worker_pid" 2>/dev/null
    rm -rf "$dir"
    bench_teardown
}
trap cleanup EXIT

"$NOETL" register - >/dev/null <<'YAML'
metadata: {path: bench/worker/postgres}
workflow:
  - step: start
    next: [work]
  - step: work
    tool: postgres
    command: SELECT 1
    next: [end]
  - step: end
YAML
"$NOETL" register - >/dev/null <<'YAML'
metadata: {path: bench/worker/python}
workflow:
  - step: start
    next: [work]
  - step: work
    tool: python
    code: |
      def main():
          return 1
    next: [end]
  - step: end
YAML

# the SQL driver: JOBS processes, connected before the clock starts
cat >"$dir/driver.py" <<'PY'
import json, os, sys, time
import psycopg
from psycopg.types.json import Jsonb

tool, jobs = sys.argv[1], int(sys.argv[2])
LEASE = "SELECT queue_id, lease_token, action FROM noetl.lease(%s, 1, 60, ARRAY[%s])"
COMPLETE = "SELECT noetl.complete(%s, %s, %s)"

def run_postgres(conn, action):
    cur = conn.execute(action["command"])
    rows = cur.fetchall() if cur.description else []
    names = [d.name for d in cur.description] if cur.description else []
    return {"command": cur.statusmessage, "row_count": len(rows),
            "rows": [dict(zip(names, r)) for r in rows]}

def run_python(conn, action):
    ns = {"__name__": "__main__"}
    exec(compile(action.get("code") or "", "<step>", "exec"), ns)
    return json.loads(json.dumps(ns["main"](**(action.get("args") or {})), default=str))

def work(i, go, ready):
    control = psycopg.connect(autocommit=True, prepare_threshold=0)
    tasks = psycopg.connect(autocommit=True, prepare_threshold=0)
    run = run_postgres if tool == "postgres" else run_python
    os.write(ready, b"x")
    os.read(go, 1)
    me = "driver-%d" % i
    while True:
        rows = control.execute(LEASE, (me, tool)).fetchall()
        if not rows:
            break
        queue_id, token, action = rows[0]
        control.execute(COMPLETE, (queue_id, token, Jsonb(run(tasks, action))))
    os._exit(0)

go_r, go_w = os.pipe()
ready_r, ready_w = os.pipe()
children = []
for i in range(jobs):
    pid = os.fork()
    if pid == 0:
        work(i, go_r, ready_w)
    children.append(pid)
for _ in range(jobs):
    os.read(ready_r, 1)
print("%.6f" % time.time(), flush=True)
os.write(go_w, b"x" * jobs)
status = 0
for pid in children:
    _, st = os.waitpid(pid, 0)
    status |= st
sys.exit(1 if status else 0)
PY

# prepare TOOL COUNT: emptied tables, COUNT executions waiting for a worker
prepare() {
    psql -Xq -v ON_ERROR_STOP=1 <<SQL
SET client_min_messages = warning;
TRUNCATE noetl.event, noetl.queue, noetl.step_state, noetl.execution;
SELECT count(*) FROM unnest(noetl.execute_many('bench/worker/$1', array_fill('{}'::jsonb, ARRAY[$2]))) \g /dev/null
ANALYZE noetl.event, noetl.queue, noetl.step_state, noetl.execution;
CHECKPOINT;
SQL
}

# finished COUNT: all COUNT executions completed (and nothing else)
finished() {
    [ "$(psql -XAtc "SELECT count(*) FILTER (WHERE status = 'completed') = $1 AND count(*) = $1 FROM noetl.execution")" = t ]
}

# measure SIDE TOOL COUNT: tasks per second
measure() {
    local side=$1 tool=$2 count=$3 start end i
    prepare "$tool" "$count"
    case $side in
        driver)
            start=$("$PYTHON" "$dir/driver.py" "$tool" "$JOBS")
            ;;
        worker|isolate)
            start=$(date +%s.%N)
            local iso=()
            [ "$side" = isolate ] && iso=(--isolate)
            "$NOETL" worker --id "bench-$side" --tools "$tool" --jobs "$JOBS" --poll 1 "${iso[@]}" \
                2>"$dir/worker.log" &
            worker_pid=$!
            ;;
    esac
    for i in $(seq 1 6000); do
        finished "$count" && break
        sleep 0.1
    done
    if [ -n "$worker_pid" ]; then
        kill -TERM "$worker_pid"; wait "$worker_pid" || true; worker_pid=
    fi
    finished "$count" || { echo "$side $tool: not all $count executions completed" >&2; tail -5 "$dir/worker.log" >&2; exit 1; }
    end=$(psql -XAtc "SELECT extract(epoch FROM max(ended_at)) FROM noetl.execution")
    awk -v n="$count" -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", n / (e - s) }'
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "bench/worker${QUICK:+ (QUICK: small sizes, figures meaningless)}: $JOBS jobs, $N tasks per round ($ISOLATE_N with --isolate), $ROUNDS rounds; tasks per second"
declare -A all
for r in $(seq 1 "$ROUNDS"); do
    for tool in postgres python; do
        line="round $r, $tool:"
        for side in $SIDES; do
            count=$N
            [ "$side" = isolate ] && count=$ISOLATE_N
            v=$(measure "$side" "$tool" "$count")
            all[$side.$tool]="${all[$side.$tool]:-} $v"
            line="$line $side $v"
        done
        echo "$line"
    done
done
echo
for tool in postgres python; do
    line="$tool tasks, medians:"
    for side in $SIDES; do
        line="$line $side $(echo "${all[$side.$tool]}" | median)/s"
    done
    echo "$line"
done
echo
for tool in postgres python; do
    w=$(echo "${all[worker.$tool]:-}" | median)
    line="$tool:"
    for side in driver isolate; do
        case " $SIDES " in *" $side "*) ;; *) continue ;; esac
        line="$line worker / $side $(awk -v w="$w" -v d="$(echo "${all[$side.$tool]}" | median)" 'BEGIN { printf "%.2f", w / d }')"
    done
    echo "$line"
done
