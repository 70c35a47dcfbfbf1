--
-- Loops through the broker, with the worker written in SQL
-- (test/lib/sqlworker.sql): the events of a loop, the iterations' frames
-- after where, order_by, limit, chunk and enumerate, an empty collection,
-- and the messages of collections that are not lists.  No ids, no times.
--
\set ECHO none
BEGIN;
-- leases must see only this file's tasks
DELETE FROM noetl.queue;
\i test/lib/sqlworker.sql
\set ECHO all
-- the events of a sequential loop of three items, then a step after it
SELECT noetl.register($$
metadata: {name: events, path: regress/loops/events}
workflow:
  - step: start
    next: [s]
  - step: s
    tool: python
    code: x
    args: {v: "{{ n }}"}
    loop: {collection: [a, b, c], element: n}
    next: [{step: after, args: {got: "{{ s | length }}"}}]
  - step: after
    tool: python
    code: y
$$) \gset ignored_
SELECT noetl.execute('regress/loops/events') AS ev \gset
SELECT pg_temp.work(:ev, '{"s[1]": {"r": "B"}}');
SELECT event_type, node_id, node_type, status, meta FROM noetl.event WHERE execution_id = :ev ORDER BY event_id;
SELECT node_id, status, attempts, action -> 'args' AS args, result FROM noetl.queue
 WHERE execution_id = :ev ORDER BY queue_id;
SELECT step, status, result, loop_total, loop_next, loop_done, loop_failed, loop_window
  FROM noetl.step_state WHERE execution_id = :ev ORDER BY step;
-- where, order_by, limit and enumerate: the frames, as each action's "loop"
SELECT noetl.register($$
metadata: {name: filters, path: regress/loops/filters}
workload:
  rows:
    - {id: 1, score: 7, keep: "yes"}
    - {id: 2, score: 3, keep: "no"}
    - {id: 3, score: 9, keep: "Y"}
    - {id: 4, score: 1, keep: "on"}
    - {id: 5, score: 5, keep: "off"}
    - {id: 6, score: 3, keep: "true"}
    - {id: 7, score: 8, keep: "NULL"}
    - {id: 8, score: 3, keep: 1}
workflow:
  - step: start
    tool: python
    code: x
    args: {id: "{{ r.id }}", i: "{{ index }}", loop: "{{ _loop.index }}/{{ _loop.count }}"}
    loop:
      collection: "{{ workload.rows }}"
      element: r
      mode: parallel
      where: "{{ r.keep }}"
      order_by: "{{ r.score }}"
      limit: 4
      enumerate: true
$$) \gset ignored_
SELECT noetl.execute('regress/loops/filters') AS fl \gset
SELECT node_id, status, action -> 'loop' AS frame, action -> 'args' AS args FROM noetl.queue
 WHERE execution_id = :fl ORDER BY queue_id;
-- chunk: each iteration is a batch
SELECT noetl.register($$
metadata: {name: chunks, path: regress/loops/chunks}
workflow:
  - step: start
    tool: python
    code: x
    args: {rows: "{{ batch | length }}"}
    loop: {collection: [1, 2, 3, 4, 5, 6, 7], element: b, chunk: 3, mode: parallel}
$$) \gset ignored_
SELECT noetl.execute('regress/loops/chunks') AS ch \gset
SELECT node_id, status, action -> 'loop' AS frame, action -> 'args' AS args FROM noetl.queue
 WHERE execution_id = :ch ORDER BY queue_id;
-- an empty collection: the loop completes at once with [], and next runs
SELECT noetl.register($$
metadata: {name: collections, path: regress/loops/collections}
workload: {empty: [], mapping: {a: 1}, string: abc, number: 3, "null": null, json_text: " [1, {\"a\": 2}]", python_text: "[1, 'two', None]", dict_text: "{\"a\": 1}"}
workflow:
  - step: start
    tool: python
    code: x
    loop: {collection: "{{ workload[workload.which] }}", element: n}
    next: [{step: after, args: {got: "{{ start }}"}}]
  - step: after
    tool: python
    code: y
$$) \gset ignored_
SELECT noetl.execute('regress/loops/collections', '{"which": "empty"}') AS em \gset
SELECT event_type, node_id, status, result FROM noetl.event WHERE execution_id = :em ORDER BY event_id;
SELECT node_id, status, action -> 'args' AS args FROM noetl.queue WHERE execution_id = :em;
-- text that holds a list is that list (JSON, or a Python literal), as NoETL's coerce_items read it
SELECT noetl.execute('regress/loops/collections', '{"which": "json_text"}') AS jt \gset
SELECT node_id, status, action -> 'loop' -> 'item' AS item FROM noetl.queue WHERE execution_id = :jt ORDER BY queue_id;
SELECT noetl.execute('regress/loops/collections', '{"which": "python_text"}') AS pt \gset
SELECT (SELECT loop_total FROM noetl.step_state WHERE execution_id = :pt AND step = 'start') AS total,
       (SELECT action -> 'loop' -> 'item' FROM noetl.queue WHERE execution_id = :pt AND node_id = 'start[0]') AS first;
-- collections that are not lists fail the step, and the execution
CREATE FUNCTION pg_temp.outcome(which text, OUT status text, OUT error text) LANGUAGE plpgsql AS $$
DECLARE
    eid bigint := noetl.execute('regress/loops/collections', jsonb_build_object('which', which));
BEGIN
    SELECT x.status, x.error INTO status, error FROM noetl.execution x WHERE x.execution_id = eid;
END $$;
SELECT w.which, o.* FROM unnest(ARRAY['mapping', 'string', 'number', 'null', 'dict_text']) WITH ORDINALITY w (which, n),
       LATERAL pg_temp.outcome(w.which) o ORDER BY w.n;
SELECT noetl.register($$
metadata: {name: broken, path: regress/loops/broken}
workflow:
  - step: start
    tool: python
    code: x
    loop: {collection: "{{ workload.missing.deeper }}", element: n}
$$) \gset ignored_
SELECT noetl.execute('regress/loops/broken') AS br \gset
SELECT event_type, node_name, status, error FROM noetl.event WHERE execution_id = :br ORDER BY event_id;
ROLLBACK;
