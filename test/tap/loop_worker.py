#!/usr/bin/python3
"""Loops of python tasks run end to end by the real `noetl worker`.

One worker (--jobs 4) serves every playbook below; each check reads the
loop step's result list (step_state), the items' queue rows and the events.
The items look at the queue themselves, from inside the worker's python
(psycopg, the PG* variables the worker inherits): how many items of their
loop are in flight while they run, so that the window is checked where
it matters, not guessed from timings.

- sequential: one item in flight at a time; the element, _loop, value,
  parent and <step>.result_index reach main as NoETL's
  iterator passed them (compatibility.md, "Loops"), but not index
  (enumerate reaches the broker's rendering only); the list in input order;
- parallel (max_in_flight 2): two items in flight, never three;
- chunk: each iteration gets its batch (as the element and as batch);
- on_item_error continue: the failing item is null in the list and listed
  in errors, iteration_failed is written, the next step sees the list;
- on_item_error fail: the step and the execution fail, the items beyond
  the window are never run;
- a retried item: it fails twice then completes; only its row has 3
  attempts, and the list is whole.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from noetltest import REPO, Tap, connect  # noqa: E402

NOETL = os.environ.get("NOETL") or os.path.join(REPO, "client", "noetl")
DEADLINE = 60  # seconds an execution may take before it counts as hung (a guard, never a check)

# what each item runs: it reports its frame and the items of its loop in
# flight (queued, leased, retry) at its start, waiting until it sees
# `want` of them (bounded, so that a window too small only fails a check)
PROBE = r'''
import psycopg, time
def inflight(eid, step):
    with psycopg.connect('', autocommit=True) as c:
        return c.execute("SELECT count(*) FILTER (WHERE status IN ('queued', 'leased', 'retry')), "
                         "count(*) FILTER (WHERE status = 'waiting') FROM noetl.queue "
                         "WHERE execution_id = %s::bigint AND node_name = %s "
                         "AND node_id <> node_name", (eid, step)).fetchone()
def probe(context, step, want):
    seen, waiting = inflight(context['execution_id'], step)
    deadline = time.monotonic() + 10
    while seen < want and (waiting or seen > 1) and time.monotonic() < deadline:
        time.sleep(0.05)
        now, waiting = inflight(context['execution_id'], step)
        seen = max(seen, now)
    return seen
'''

PLAYBOOKS = {
    "sequential": '''
metadata: {name: lw_sequential, path: tests/loop_worker/sequential}
workload:
  items: [{name: c, v: 3}, {name: a, v: 1}, {name: b, v: 2}]
workflow:
  - step: start
    next: [{step: each}]
  - step: each
    tool: python
    loop:
      collection: "{{ workload.items }}"
      element: it
    code: |
%(probe)s
      def main(context, value):
          return {'name': context['it']['name'], 'v': context['it']['v'],
                  'value': value, 'loop': context['_loop'],
                  'index': context.get('index'), 'self': context.get('each'),
                  'parent_has_it': 'it' in context.get('parent', {}),
                  'parent_workload': 'workload' in context.get('parent', {}),
                  'inflight': probe(context, 'each', 1)}
    next: [{step: after}]
  - step: after
    tool: python
    args: {names: "{{ each | map(attribute='name') | list }}", n: "{{ each | length }}"}
    code: |
      def main(names, n):
          return {'names': names, 'n': n}
''',
    "parallel": '''
metadata: {name: lw_parallel, path: tests/loop_worker/parallel}
workflow:
  - step: start
    next: [{step: each}]
  - step: each
    tool: python
    loop:
      collection: [10, 11, 12, 13, 14, 15]
      element: x
      mode: parallel
      max_in_flight: 2
    code: |
%(probe)s
      def main(context):
          return {'x': context['x'], 'inflight': probe(context, 'each', 2)}
''',
    "chunk": '''
metadata: {name: lw_chunk, path: tests/loop_worker/chunk}
workflow:
  - step: start
    next: [{step: each}]
  - step: each
    type: iterator
    collection: [1, 2, 3, 4, 5, 6, 7]
    element: part
    where: "{{ part != 4 }}"
    order_by: "{{ -part }}"
    chunk: 3
    task:
      type: python
      code: |
        def main(context, batch, value):
            return {'part': context['part'], 'batch': batch, 'value': value,
                    'count': context['_loop']['count']}
''',
    "continue": '''
metadata: {name: lw_continue, path: tests/loop_worker/continue}
workflow:
  - step: start
    next: [{step: each}]
  - step: each
    tool: python
    loop:
      collection: [1, 2, 3]
      element: n
      on_item_error: continue
    code: |
      def main(context):
          if context['n'] == 2:
              raise ValueError('item two is bad')
          return {'n': context['n']}
    next: [{step: after}]
  - step: after
    tool: python
    args: {got: "{{ each }}"}
    code: |
      def main(got):
          return {'got': got}
''',
    "fail": '''
metadata: {name: lw_fail, path: tests/loop_worker/fail}
workflow:
  - step: start
    next: [{step: each}]
  - step: each
    tool: python
    loop:
      collection: [1, 2, 3, 4, 5]
      element: n
    code: |
      def main(context):
          if context['n'] == 2:
              raise ValueError('item two is bad')
          return {'n': context['n']}
    next: [{step: after}]
  - step: after
    tool: python
    code: |
      def main():
          return {}
''',
    "retry": '''
metadata: {name: lw_retry, path: tests/loop_worker/retry}
workflow:
  - step: start
    next: [{step: each}]
  - step: each
    tool: python
    loop:
      collection: [1, 2, 3]
      element: n
      mode: parallel
    retry: {max_attempts: 3, initial_delay: 0.1}
    code: |
      def main(context):
          if context['n'] == 2 and context['job']['attempt'] < 3:
              raise RuntimeError('not yet, attempt %%d' %% context['job']['attempt'])
          return {'n': context['n'], 'attempt': context['job']['attempt']}
''',
}


def run(cur, name):
    """Runs playbook name to its end: (execution_id, status, error)."""
    cur.execute("SELECT noetl.execute(%s)", ("tests/loop_worker/" + name,))
    eid = cur.fetchone()[0]
    until = time.monotonic() + DEADLINE
    while True:
        cur.execute("SELECT status::text, error FROM noetl.execution WHERE execution_id = %s",
                    (eid,))
        status, error = cur.fetchone()
        if status != "running" or time.monotonic() > until:
            return eid, status, error
        time.sleep(0.2)


def step_row(cur, eid, step):
    cur.execute("SELECT status::text, result, loop_total, loop_done, loop_failed FROM "
                "noetl.step_state WHERE execution_id = %s AND step = %s", (eid, step))
    return cur.fetchone()


def items(cur, eid, step):
    """{index: (status, attempts, error)} of the loop's item rows."""
    cur.execute("SELECT node_id, status::text, attempts, error FROM noetl.queue "
                "WHERE execution_id = %s AND node_name = %s AND node_id <> node_name",
                (eid, step))
    return {int(n[len(step) + 1:-1]): (s, a, e) for n, s, a, e in cur.fetchall()}


def events(cur, eid, kind):
    cur.execute("SELECT node_id, meta, error FROM noetl.event WHERE execution_id = %s "
                "AND event_type = %s ORDER BY event_id", (eid, kind))
    return cur.fetchall()


def task_result(cur, eid, step):
    cur.execute("SELECT result FROM noetl.queue WHERE execution_id = %s AND node_id = %s",
                (eid, step))
    row = cur.fetchone()
    return row and row[0]


def main():
    tap = Tap()
    conn = connect()
    cur = conn.cursor()
    cur.execute("SET statement_timeout = '60s'")  # a hang guard
    probe = "\n".join("      " + line for line in PROBE.strip("\n").split("\n"))
    for name, text in PLAYBOOKS.items():
        cur.execute("SELECT noetl.register(%s)", (text % {"probe": probe},))
    tmp = tempfile.mkdtemp(prefix="loop_worker.")
    log = open(os.path.join(tmp, "worker.log"), "w+")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    worker = subprocess.Popen([NOETL, "worker", "--id", "loop-worker", "--jobs", "4", "--poll",
                               "1", "--tools", "python"], stdout=log, stderr=subprocess.STDOUT,
                              env=env, cwd=tmp)
    try:
        # sequential, with the frame as main sees it
        eid, status, error = run(cur, "sequential")
        tap.ok(status == "completed", "sequential: completed", "%s: %s" % (status, error))
        row = step_row(cur, eid, "each")
        got = row[1] if row else None
        tap.ok(row is not None and row[0] == "completed" and row[2:] == (3, 3, 0),
               "sequential: the loop step completed, 3 of 3 done, none failed", repr(row))
        want = [{"name": "c", "v": 3, "value": {"name": "c", "v": 3}, "index": None,
                 "self": {"result_index": 0},
                 "loop": {"current_index": 0, "index": 0, "item": {"name": "c", "v": 3},
                          "count": 3}},
                {"name": "a", "v": 1, "value": {"name": "a", "v": 1}, "index": None,
                 "self": {"result_index": 1},
                 "loop": {"current_index": 1, "index": 1, "item": {"name": "a", "v": 1},
                          "count": 3}},
                {"name": "b", "v": 2, "value": {"name": "b", "v": 2}, "index": None,
                 "self": {"result_index": 2},
                 "loop": {"current_index": 2, "index": 2, "item": {"name": "b", "v": 2},
                          "count": 3}}]
        strip = [{k: v for k, v in r.items() if k in want[0]} for r in got or []]
        tap.ok(strip == want, "sequential: the list in input order; main got the element, "
               "value, _loop and each.result_index (no index: enumerate stays the broker's)", json.dumps(got))
        tap.ok(bool(got) and all(r.get("parent_workload") and not r.get("parent_has_it")
                                 for r in got),
               "sequential: parent is the execution's context, without the element",
               json.dumps(got))
        tap.ok(bool(got) and [r.get("inflight") for r in got] == [1, 1, 1],
               "sequential: each item ran alone (1 in flight)", json.dumps(got))
        tap.ok(task_result(cur, eid, "after") == {"names": ["c", "a", "b"], "n": 3},
               "sequential: the next step reads the list ({{ each | length }}, map)",
               json.dumps(task_result(cur, eid, "after")))
        tap.ok(len(events(cur, eid, "loop_iteration")) == 3
               and [e[0] for e in events(cur, eid, "action_completed")][:3]
               == ["each[0]", "each[1]", "each[2]"],
               "sequential: 3 loop_iteration events, the items completed in order")

        # parallel, window 2
        eid, status, error = run(cur, "parallel")
        got = (step_row(cur, eid, "each") or [None, None])[1]
        tap.ok(status == "completed" and isinstance(got, list)
               and [r["x"] for r in got] == [10, 11, 12, 13, 14, 15],
               "parallel: completed, the list in input order", "%s %s" % (status, json.dumps(got)))
        seen = [r["inflight"] for r in got or []]
        tap.ok(bool(seen) and max(seen) == 2, "parallel: two items in flight at once, never "
               "more (max_in_flight 2)", json.dumps(seen))

        # chunk, where, order_by (era B's iterator)
        eid, status, error = run(cur, "chunk")
        got = (step_row(cur, eid, "each") or [None, None])[1]
        want = [{"part": [7, 6, 5], "batch": [7, 6, 5], "value": [7, 6, 5], "count": 2},
                {"part": [3, 2, 1], "batch": [3, 2, 1], "value": [3, 2, 1], "count": 2}]
        tap.ok(status == "completed" and got == want,
               "chunk: where drops 4, order_by sorts down, batches of 3 as element, batch "
               "and value", "%s %s" % (status, json.dumps(got)))

        # a failing item under continue
        eid, status, error = run(cur, "continue")
        row = step_row(cur, eid, "each")
        tap.ok(status == "completed" and row is not None and row[1] == [{"n": 1}, None, {"n": 3}]
               and row[4] == 1,
               "continue: completed, the failed item null in the list, loop_failed 1",
               "%s %s %r" % (status, error, row))
        failed = events(cur, eid, "iteration_failed")
        tap.ok(len(failed) == 1 and failed[0][0] == "each[1]"
               and "item two is bad" in (failed[0][2] or ""),
               "continue: one iteration_failed for each[1], with the item's error", repr(failed))
        done = events(cur, eid, "step_completed")
        meta = [m for n, m, e in done if n == "each"]
        errs = (meta[0] or {}).get("errors") if meta else None
        tap.ok(bool(errs) and len(errs) == 1 and errs[0].get("index") == 1
               and "item two is bad" in errs[0].get("message", ""),
               "continue: step_completed's meta.errors lists index 1", repr(meta))
        tap.ok(task_result(cur, eid, "after") == {"got": [{"n": 1}, None, {"n": 3}]},
               "continue: the next step gets the list", json.dumps(task_result(cur, eid, "after")))

        # a failing item under fail (loop:'s default)
        eid, status, error = run(cur, "fail")
        row = step_row(cur, eid, "each")
        its = items(cur, eid, "each")
        tap.ok(status == "failed" and "item two is bad" in (error or ""),
               "fail: the execution failed with the item's error", "%s: %s" % (status, error))
        tap.ok(row is not None and row[0] == "failed" and its.get(0, ("",))[0] == "done"
               and its.get(1, ("",))[0] == "dead"
               and all(its[i][0] == "cancelled" and its[i][1] == 0 for i in (2, 3, 4)),
               "fail: the step failed; item 0 done, item 1 dead, the rest cancelled unrun",
               "%r %r" % (row, its))
        tap.ok(task_result(cur, eid, "after") is None
               and "each" not in [n for n, m, e in events(cur, eid, "step_completed")]
               and [n for n, m, e in events(cur, eid, "step_failed")] == ["each"],
               "fail: one step_failed (each), no step_completed for it, the next step never ran")

        # a retried item
        eid, status, error = run(cur, "retry")
        row = step_row(cur, eid, "each")
        its = items(cur, eid, "each")
        tap.ok(status == "completed" and row is not None
               and row[1] == [{"n": 1, "attempt": 1}, {"n": 2, "attempt": 3},
                              {"n": 3, "attempt": 1}],
               "retry: completed, item 1 on its third attempt", "%s %s %r" % (status, error, row))
        tap.ok({i: a for i, (s, a, e) in its.items()} == {0: 1, 1: 3, 2: 1},
               "retry: attempts 1, 3, 1 on the item rows", repr(its))
        retries = events(cur, eid, "step_retry")
        tap.ok([n for n, m, e in retries] == ["each[1]", "each[1]"],
               "retry: two step_retry events, both each[1]'s", repr(retries))
        tap.ok(worker.poll() is None, "the worker ran to the end")
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        if tap.failed:
            log.seek(0)
            for line in log.read().splitlines()[-40:]:
                print("#   " + line)
        log.close()
    tap.done()


if __name__ == "__main__":
    main()
