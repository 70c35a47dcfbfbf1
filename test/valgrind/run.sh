#!/usr/bin/env bash
# test/valgrind/run.sh: noetl's broker-facing tests once under valgrind.
#
#     test/valgrind/run.sh [SUITE...]
#
# Given noetl built and installed (into the system, or into the private
# copy of PostgreSQL that NOETL_DESTDIR names, as .ci/run does), starts a
# throwaway cluster of its own (test/lib/cluster.sh's settings, on port
# NOETL_VALGRIND_PORT, by default PGPORT + 1) whose postmaster runs under
# valgrind memcheck, so that every server process is checked.  It runs the
# suites named (default: all) against it:
#
#   regress     pg_regress, the REGRESS tests (test/sql/) but the slow yaml
#   isolation   pg_regress, the ISOLATION specs (test/specs/)
#   pgtap       pg_prove test/pgtap/*.sql
#   tap         the TAP programs of test/tap that drive the broker worker,
#               the clients and the template and YAML engines
#   workload    test/valgrind/workload.sql: large values through the broker
#
# then stops the cluster and reads every valgrind log.  It prints TAP; a
# test fails when a memcheck error has a frame in noetl (scan.awk decides),
# when a server process was terminated by a signal, or when a suite did not
# run at all.  What the suites report is shown but not counted: under
# valgrind the server is 20 to 50 times slower, tests that measure time
# can miss, and the normal suite judges results.  It exits non-zero if a
# test failed.  The logs stay in NOETL_VALGRIND_LOGDIR (by default a new
# directory under /tmp).  README.md says more.
#
# Run it as root (as .ci/run does) or as the owner of the installation.
set -uo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$SRC/test/valgrind"
export NOETL_SHARED=${NOETL_SHARED:-$(cd "$SRC/.." && pwd)/shared}
if [ -n "${NOETL_DESTDIR:-}" ]; then
    # the layout test/lib/devroot.sh makes
    PGBIN="$NOETL_DESTDIR/usr/lib/postgresql/15/bin"
    export PATH="$NOETL_DESTDIR/usr/local/bin:$PATH"
fi
export PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PORT=${NOETL_VALGRIND_PORT:-$((${PGPORT:-54329} + 1))}
OUT=${NOETL_VALGRIND_LOGDIR:-$(mktemp -d /tmp/noetl-valgrind.XXXXXX)}
SUITES=${*:-regress isolation pgtap tap workload}
# left out for time (seconds under valgrind on the 2-core CI machine):
# sql/yaml (26: its alias-expansion budget test is one long loop), sql/playbook
# (67: its 100,000-key cases; fixtures_register.py drives playbook.c), e2e.sh
# (62: the client on the same SQL API the others drive), template_fuzz.py
# (19) and snowflake_concurrency.sh (18: no broker)
REGRESS_SKIP=${NOETL_VALGRIND_REGRESS_SKIP:-yaml playbook}
TAP_PROGRAMS=${NOETL_VALGRIND_TAP:-notify.sh lease_expiry.sh broker_concurrency.sh python_worker.sh
    loop_worker.py fixtures_register.py template_differential.py yaml_differential.py broker_fuzz.py
    hostile_search_path.sh dump_restore.sh}
# the fuzzer, a tenth of its usual run: adversarial input through every path
export NOETL_FUZZ_OPS=${NOETL_VALGRIND_FUZZ_OPS:-800}

tap=()          # the TAP lines, printed after the plan at the end
ntests=0
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }
ok() {          # ok STATUS DESCRIPTION [FILE]: a test; FILE explains a failure
    local line
    ntests=$((ntests + 1))
    if [ "$1" = 0 ]; then
        tap+=("ok $ntests - $2")
        return
    fi
    tap+=("not ok $ntests - $2")
    if [ -n "${3:-}" ] && [ -s "$3" ]; then
        while IFS= read -r line; do tap+=("#   $line"); done <"$3"
    fi
}
note() { tap+=("# $*"); }
finish() {
    local line failed=0
    echo "1..$ntests"
    for line in "${tap[@]}"; do
        echo "$line"
        case $line in "not ok "*) failed=1 ;; esac
    done
    echo "# logs: $OUT"
    exit $failed
}
has_suite() { case " $SUITES " in *" $1 "*) return 0 ;; esac; return 1; }

mkdir -p "$OUT/vg"
chmod 755 "$OUT"
# the server reads it: the checkout may be in a directory it cannot enter
cp "$HERE/noetl.supp" "$OUT/noetl.supp"

# shellcheck source=test/lib/packages.sh
. "$SRC/test/lib/packages.sh"
# libc6-dbg is valgrind's recommended package, named for
# --no-install-recommends: with it libc's frames have names
if ! ensure_packages valgrind libc6-dbg >"$OUT/packages.log" 2>&1; then
    ok 1 "valgrind is installed (apt-get install valgrind libc6-dbg)" "$OUT/packages.log"
    finish
fi
libdir=$("$PGBIN/pg_config" --pkglibdir)
if [ ! -f "$libdir/noetl.so" ]; then
    ok 1 "noetl is installed in $libdir (make install, or set NOETL_DESTDIR)"
    finish
fi
cmp -s "$SRC/noetl.so" "$libdir/noetl.so" ||
    note "$libdir/noetl.so is not the one built in $SRC: install the build first"

# ---------------------------------------------------------------- cluster

# test/lib/cluster.sh makes the cluster with its settings, which are then
# restarted with the postmaster under valgrind.  Besides .ci/run's lease
# check interval, the settings keep processes few and slow work out: no
# autovacuum, no JIT (LLVM under valgrind), no parallel workers, no
# checkpoint before the end.
# shellcheck source=test/lib/cluster.sh
. "$SRC/test/lib/cluster.sh"
export PGPORT=$PORT PGDATABASE=postgres
export CLUSTER_EXTRA_CONF="noetl.lease_check_interval = 200ms
autovacuum = off
jit = off
max_parallel_workers_per_gather = 0
max_parallel_maintenance_workers = 0
checkpoint_timeout = 1h
max_wal_size = 4GB"
# shellcheck disable=SC2317  # (called by the trap)
stop_all() {
    [ -n "${PGDATA:-}" ] && [ -f "$PGDATA/server.log" ] && cp "$PGDATA/server.log" "$OUT/server.log"
    cluster_stop
}
trap stop_all EXIT

# valgrind's options:
#  --trace-children=yes   a program a server process runs is checked too
#  --read-var-info=no     no variable names in messages: a much faster start
#  --vgdb=no              no gdb server (and no FIFOs in /tmp)
#  --log-file=...%p       one log per process (backends are the postmaster's
#                         forks: each writes its own)
#  --fullpath-after=      frames show source paths: scan.awk knows noetl's
#                         frames by them
#  --num-callers=40       deep enough to reach noetl's frames under the
#                         executor, SPI and the template engine
#  --leak-check=no        PostgreSQL frees whole memory contexts, at exit not
#                         at all: leak reports would be noise
#  --error-limit=no       after 1000 reports elsewhere, noetl's still count
#  --freelist-vol=...     freed blocks stay unusable longer (200 MB a
#                         process), so a late read of one is still seen
valgrind_opts=(--tool=memcheck --trace-children=yes --read-var-info=no --vgdb=no
    "--log-file=$OUT/vg/vg.%p.log" "--suppressions=$OUT/noetl.supp" --fullpath-after=
    --num-callers=40 --leak-check=no --error-limit=no --freelist-vol=200000000
    --freelist-big-blocks=1000000)
# more from the environment, e.g. --gen-suppressions=all
read -r -a more <<<"${NOETL_VALGRIND_OPTS:-}"
valgrind_opts+=("${more[@]}")
# pg_ctl -p runs this instead of postgres; each exec keeps the process, so
# the postmaster's pid is pg_ctl's child and start -w and stop work as usual
printf '#!/bin/sh\nexec valgrind %s %q "$@"\n' "$(printf '%q ' "${valgrind_opts[@]}")" \
    "$PGBIN/postgres" >"$OUT/postgres"
chmod 755 "$OUT/postgres"

t0=$(now)
started=1
if cluster_start >"$OUT/cluster.log" 2>&1 &&
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >>"$OUT/cluster.log" 2>&1; then
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$OUT/vg"
    as_pg touch "$OUT/vg/.writable" >>"$OUT/cluster.log" 2>&1 &&
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -p "$OUT/postgres" -w -t 300 start \
        >>"$OUT/cluster.log" 2>&1 &&
        psql -Xq -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION pg_cron' -c 'CREATE EXTENSION pgtap' \
            -c 'CREATE EXTENSION noetl' >>"$OUT/cluster.log" 2>&1 &&
        # valgrind really runs the postmaster
        grep -q '^==[0-9]*== Memcheck' "$OUT/vg/vg.$(head -1 "$PGDATA/postmaster.pid").log" \
            2>>"$OUT/cluster.log" &&
        started=0
fi
[ "$started" = 0 ] || tail -20 "${PGDATA:-/nonexistent}/server.log" >>"$OUT/cluster.log" 2>/dev/null
ok $started "the server runs under valgrind memcheck, port $PORT (ready in $(since "$t0") s)" \
    "$OUT/cluster.log"
[ "$started" = 0 ] || finish

# ---------------------------------------------------------------- suites

# timed NAME COMMAND...: runs a suite, its output in $OUT/NAME.log and its
# time in $OUT/NAME.seconds
timed() {
    local name=$1 t0
    shift
    t0=$(now)
    "$@" >"$OUT/$name.log" 2>&1
    since "$t0" >"$OUT/$name.seconds"
}
# ran NAME DESCRIPTION KIND: the suite ran if it reported any test; its
# failures are listed, not counted
ran() {
    local log="$OUT/$1.log" p f line
    if [ "$3" = regress ]; then
        read -r p f < <(awk '/\.\.\. ok/{p++} /\.\.\. FAILED/{f++} END{print p+0, f+0}' "$log")
        grep -E '\.\.\. FAILED' "$log" | head -5 >"$log.failed"
    else
        read -r p f < <(awk '/^ok [0-9]+/{p++} /^not ok [0-9]+/{f++} END{print p+0, f+0}' "$log")
        grep -E '^not ok [0-9]+' "$log" | head -5 >"$log.failed"
    fi
    tail -15 "$log" >"$log.tail"
    # a TAP program with nothing to do here (its input is missing) says so
    # with a plan of 1..0 # SKIP: a skip, not a pass
    if [ "$3" = tap ] && [ $((p + f)) = 0 ] && line=$(grep -m1 -E '^1\.\.0 # (SKIP|skip)' "$log"); then
        ok 0 "$2 skipped under valgrind # SKIP ${line#*# [Ss][Kk][Ii][Pp] }"
        return
    fi
    [ $((p + f)) -gt 0 ]
    ok $? "$2 ran under valgrind in $(cat "$OUT/$1.seconds") s ($p passed, $f failed)" "$log.tail"
    [ "$f" = 0 ] || while IFS= read -r line; do note "  not counted: $line"; done <"$log.failed"
}

pgxs=$(dirname "$("$PGBIN/pg_config" --pgxs)")/../..
regress_tests=$(cd "$SRC/test/sql" && for f in *.sql; do
    case " $REGRESS_SKIP " in *" ${f%.sql} "*) ;; *) echo "${f%.sql}" ;; esac
done)
specs=$(cd "$SRC/test/specs" && for f in *.spec; do echo "${f%.spec}"; done)

# Two lanes at once, one a core: pg_regress works in databases of its own
# (contrib_regression, isolation_regression), the rest in postgres, where
# the broker worker is, one suite after another (they lease tasks).
(
    # shellcheck disable=SC2086
    has_suite regress && timed regress "$pgxs/src/test/regress/pg_regress" --inputdir="$SRC/test" \
        --outputdir="$OUT/regress" --bindir="$PGBIN" --load-extension=noetl \
        --dbname=contrib_regression $regress_tests
    # shellcheck disable=SC2086
    has_suite isolation && timed isolation "$pgxs/src/test/isolation/pg_isolation_regress" \
        --inputdir="$SRC/test" --outputdir="$OUT/isolation" --bindir="$PGBIN" --load-extension=noetl \
        --dbname=isolation_regression $specs
) &
lane=$!
cd "$SRC" || exit 1
has_suite pgtap && timed pgtap pg_prove --verbose -d postgres test/pgtap/*.sql
if has_suite tap; then
    for t in $TAP_PROGRAMS; do
        timed "tap-$t" "$SRC/test/tap/$t"
    done
fi
# last: it empties the queue
has_suite workload && timed workload pg_prove --verbose -d postgres test/valgrind/workload.sql
wait "$lane"

has_suite regress && ran regress "pg_regress (test/sql/)" regress
has_suite isolation && ran isolation "isolation specs (test/specs/)" regress
has_suite pgtap && ran pgtap "pgTAP (test/pgtap/)" tap
if has_suite tap; then
    for t in $TAP_PROGRAMS; do
        ran "tap-$t" "test/tap/$t" tap
    done
fi
has_suite workload && ran workload "test/valgrind/workload.sql" tap

# ---------------------------------------------------------------- verdict

t0=$(now)
as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 300 stop >"$OUT/stop.log" 2>&1
stopped=$?
# the postmaster's own log is finished after its pid file is gone
logs_done() {
    local f
    for f in "$OUT"/vg/vg.*.log; do grep -q 'ERROR SUMMARY' "$f" || return 1; done
}
for _ in $(seq 1 100); do
    logs_done && break
    sleep 0.1
done
ok $stopped "the server stops (in $(since "$t0") s)" "$OUT/stop.log"
cp "$PGDATA/server.log" "$OUT/server.log"

grep -E 'terminated by signal' "$OUT/server.log" >"$OUT/signals.txt"
[ ! -s "$OUT/signals.txt" ]
ok $? "no server process was terminated by a signal" "$OUT/signals.txt"

awk -v sources="$(cd "$SRC/src" && echo *.[ch])" -f "$HERE/scan.awk" \
    "$OUT"/vg/vg.*.log >"$OUT/scan.txt"
read -r _ nlogs incomplete warnings < <(grep '^L' "$OUT/scan.txt")
if ! grep -q '^E	noetl' "$OUT/scan.txt"; then
    ok 0 "no memory error in noetl's frames ($nlogs processes checked)"
fi
n=0
while IFS=$'\t' read -r _ _ count procs kind where _; do
    n=$((n + 1))
    awk -F'\t' -v n="$n" '$1 == "E" { on = ($2 == "noetl" && ++i == n) } on && $1 == "X" { print $2 }' \
        "$OUT/scan.txt" | head -40 >"$OUT/excerpt.$n"
    ok 1 "memcheck: $kind, in $where ($count times, in $procs processes)" "$OUT/excerpt.$n"
done < <(grep '^E	noetl' "$OUT/scan.txt")
others=$(awk -F'\t' '$1 == "E" && $2 == "other" { n += $3 } END { print n + 0 }' "$OUT/scan.txt")
if [ "$others" -gt 0 ]; then
    note "$others memcheck reports with no noetl frame, not counted (see $OUT/vg):"
    while IFS=$'\t' read -r _ _ count procs kind _; do
        note "  $count x $kind ($procs processes)"
    done < <(grep '^E	other' "$OUT/scan.txt" | head -10)
fi
[ "$incomplete" = 0 ] || note "$incomplete of $nlogs valgrind logs end early (a process killed with SIGKILL?)"
[ "$warnings" = 0 ] || note "valgrind warned $warnings times (grep Warning: $OUT/vg/*)"
finish
