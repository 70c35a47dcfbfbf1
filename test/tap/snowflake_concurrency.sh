#!/usr/bin/env bash
# Two sessions draw 200,000 snowflake ids each at the same time; no id may
# repeat, and each session's ids must increase.
set -u
export PGOPTIONS="-c client_min_messages=warning"
psql -XqAt -c "DROP TABLE IF EXISTS noetl_test_ids" \
     -c "CREATE UNLOGGED TABLE noetl_test_ids (session int, n int, id bigint)" || exit 1
# both start at the same moment, however long each takes to connect
at=$(psql -XqAt -c "SELECT clock_timestamp() + interval '1 s'")
for s in 1 2; do
    psql -XqAt -c "SELECT pg_sleep_until('$at')" \
         -c "INSERT INTO noetl_test_ids SELECT $s, g, noetl.snowflake_id() FROM generate_series(1, 200000) g" >/dev/null &
done
wait
read -r total distinct overlap_ms < <(psql -XqAt -F ' ' -c "
    SELECT count(*), count(DISTINCT id),
           (SELECT least(max(id) FILTER (WHERE session = 1), max(id) FILTER (WHERE session = 2))
                 - greatest(min(id) FILTER (WHERE session = 1), min(id) FILTER (WHERE session = 2)))
           >> 23
      FROM noetl_test_ids")
decreasing=$(psql -XqAt -c "
    SELECT count(*) FROM (SELECT id, lag(id) OVER (PARTITION BY session ORDER BY n) AS prev
                            FROM noetl_test_ids) s WHERE id <= prev")
psql -XqAt -c "DROP TABLE noetl_test_ids"
n=0; fail=0
check() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
[ "$total" = 400000 ]; check $? "two sessions drew 400000 ids ($total)"
[ "$distinct" = "$total" ]; check $? "no id repeats across concurrent sessions ($distinct distinct)"
[ "${overlap_ms:-0}" -gt 0 ]; check $? "the sessions really ran at the same time (${overlap_ms:-0} ms of overlap)"
[ "$decreasing" = 0 ]; check $? "each session's ids increase ($decreasing out of order)"
echo "1..$n"
exit $fail
