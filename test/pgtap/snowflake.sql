-- noetl.snowflake_id(): NoETL's bit layout, increasing within a session.
-- (Uniqueness across concurrent sessions: test/tap/snowflake_concurrency.sh.)
BEGIN;
SELECT plan(5);

CREATE TEMP TABLE ids AS
    SELECT g, noetl.snowflake_id() AS id, clock_timestamp() AS at FROM generate_series(1, 50000) g;

SELECT is((SELECT count(DISTINCT id) FROM ids), 50000::bigint, '50,000 ids in one statement are distinct');
SELECT is((SELECT count(*) FROM (SELECT id, lag(id) OVER (ORDER BY g) AS prev FROM ids) s WHERE id <= prev),
          0::bigint, 'ids increase in the order they are drawn');
SELECT ok((SELECT bool_and(abs(extract(epoch FROM at) * 1000 -
                               ((id >> 23) + extract(epoch FROM timestamptz '2024-01-01 00:00:00+00') * 1000)) < 5000)
             FROM ids),
          'the top 41 bits are milliseconds since 2024-01-01 UTC');
SELECT is((SELECT count(*) FROM ids WHERE ((id >> 18) & 31) <> current_setting('noetl.shard_id')::int),
          0::bigint, 'bits 18..22 hold noetl.shard_id');
SELECT ok((SELECT min(id) FROM ids) > 0, 'ids are positive');

SELECT * FROM finish();
ROLLBACK;
