#!/usr/bin/python3
"""Robustness: a bounded fuzz of the broker, its worker protocol, playbooks
and templates, checked against the broker's invariants afterwards.

With a fixed seed (NOETL_FUZZ_SEED) and a fixed number of operations
(NOETL_FUZZ_OPS, 8000 by default: about 30 s on two cores), it registers
playbooks of many shapes (chains, fan-out and a join at end, conditions,
retries, control steps, end results and task arguments that fail at run
time, template budgets, workbooks, loops fixed and random (every mode,
window, where, order_by, limit, chunk and failure rule, some of them loops
of sub-playbooks), sub-playbooks, playbooks that cannot run), then drives a
random mix of operations through three connections, some inside explicit
transactions (any isolation level) that commit or roll back, some under
savepoints, some as an INSERT-only role, a few in concurrent bursts:

  register   valid, mutated and hostile playbook texts through
             noetl.register / parse_playbook / yaml_to_jsonb; noetl.playbook
             and noetl.status
  start      noetl.execute and raw execution_start events (aliases,
             client-chosen ids, bad contexts, versions and workloads)
  lease      noetl.lease with random arguments (invalid ones must fail); a
             lease may be for one second, and the broker worker expires it
  report     complete / fail / release / heartbeat / report, or raw INSERTs
             (by queue_id or by execution_id + node_id, several in one
             statement), with the lease's own token, results of random
             shapes (NoETL's envelope, deep, big, invalid JSON), and again
             after the task ended, the execution ended or was cancelled
  misreport  reports with a wrong, NULL, mangled or borrowed token, or the
             right token under another execution's id (all must fail)
  event      raw INSERTs (VALUES, SELECT, CTE, ON CONFLICT, COPY as the
             INSERT-only role) of every event type, with queue_id 0, -1,
             NULL, 2^63-1, other executions' ids, unknown nodes, huge or deep
             JSON, client-chosen event_id / created_at / status
  cancel     noetl.cancel and raw execution_cancel of anything
  template   noetl.render / render_text / eval / truthy on mutated and
             hostile templates and contexts
  txn        BEGIN, SAVEPOINT, RELEASE, ROLLBACK TO, COMMIT, ROLLBACK, and
             SET LOCAL of short statement timeouts, noetl's limits and
             budgets, search_path and the role
  subxact    several of the above in one statement, each in an exception
             block of a PL/pgSQL function: errors of the broker caught in a
             subtransaction, and the next event evaluated after them
  burst      one task completed from every connection at once, branches of
             one execution completed at once, a cancellation racing a
             completion and a failure, concurrent leases (never a task twice)

Every operation must succeed or fail with a clean SQL error.  Clean is any
SQLSTATE except: class XX (internal error: an elog(ERROR), a failed check of
the C code), class 58 (system error), class 53 (insufficient resources: the
fuzz's inputs are far below the machine's limits, so running out of memory
means a missing bound), 57P01-57P04 (the server shutting down or
crashing), and 57014 when the fuzz did not ask for a short statement
timeout: every operation takes milliseconds (a second or two under load for
the largest documents), so one that runs for 30 s hangs (3 s once a hang
was seen, so that a hang bug costs little time).  A lost connection is
unclean too.
An operation that must fail (invalid lease or heartbeat arguments, a report
with a wrong token, an event of the broker's own types or without a type,
a start with the id of an existing execution, ...) is unclean when it
succeeds, and so is a stored event that keeps a client-chosen event_id,
created_at or status, or a lease token.  Lock timeouts (lock_timeout is
100 ms, so that interleaved transactions cannot wait on each other for
long), deadlocks and serialization failures are clean.

Afterwards it checks the invariants in one snapshot while executions still
run, then leases and completes what the fuzz's executions have left, cancels
those still running, and checks them again: one terminal event per ended
execution and none while running (and it matches the status); a step's
queue rows <=> step_started events, an admitted iteration's row <=> one
loop_iteration; a loop's rows match its counters (loop_next admitted, the
rest waiting, done and dead counted, no more than its window in flight), a
completed loop has its whole list, an ended execution no waiting row;
pending equals the outstanding tasks plus the running loops (0 once
ended), and no running execution is left with nothing outstanding; no stored
lease token, no alias stored, no broker event that an event of its execution
(or, for a sub-playbook's, of its parent or child) did not produce, and none
of the event ids the fuzz's own inserts returned stored as a broker type.  Last, that the server never restarted: the same
pg_postmaster_start_time(), every connection alive (a crashed backend makes
the postmaster end them all; the start time only changes on a full
restart) and the same broker worker process.

A failure prints the seed: rerun with the same NOETL_FUZZ_SEED and
NOETL_FUZZ_OPS to replay the same choices (outcomes that depend on timing,
such as lease expiry and lock timeouts, can differ), and with
NOETL_FUZZ_VERBOSE=1 to print every clean error too.  Executions and
playbooks (under tests/fuzz/) stay; the role it creates is dropped.
"""

import atexit
import importlib.util
import json
import os
import random
import sys
import threading
import time
import traceback
import uuid

import psycopg
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from noetltest import REPO, Tap, connect  # noqa: E402

SEED = int(os.environ.get("NOETL_FUZZ_SEED", "20261201"))
OPS = int(os.environ.get("NOETL_FUZZ_OPS", "8000"))
NCONN = 3
VERBOSE = os.environ.get("NOETL_FUZZ_VERBOSE") == "1"
# Operations take milliseconds (a second or two under load for the largest
# documents): one that runs for HANG hangs.  Once one hang was seen, the
# limit is HANG_LATER, so that a hang bug costs the run little time.
HANG = "30s"
HANG_LATER = "3s"
ROLE = "noetl_fuzz_client"
PREFIX = "tests/fuzz/"
TOOLS = ["fuzz_a", "fuzz_b"]
I64 = 2 ** 63 - 1
I32 = 2 ** 31 - 1
BROKER_TYPES = ["step_started", "step_completed", "step_failed", "step_retry",
                "execution_complete", "execution_completed", "execution_failed",
                "execution_cancelled"]
CLIENT_TYPES = ["execution_start", "execution_started", "playbook_started", "action_completed",
                "action_error", "action_failed", "execution_cancel", "action_released",
                "action_started", "step_result"]
ALIASES = ["execution_started", "playbook_started", "action_failed", "execution_completed"]
OTHER_TYPES = ["warning", "custom_log", "", " ", "EXECUTION_START", "action_completed ",
               "x" * 300, "ünïcødé", "step_started\n"]
TERMINAL = {"execution_complete": "completed", "execution_failed": "failed",
            "execution_cancelled": "cancelled"}


def unclean_state(state):
    """A SQLSTATE that is not a clean refusal (see the docstring)."""
    if state is None:
        return True
    return state[:2] in ("XX", "58", "53") or state in ("57P01", "57P02", "57P03", "57P04")


# ------------------------------------------------------------------ playbooks

def valid_playbooks():
    """Playbooks of every shape the broker runs (and two it refuses to run)."""
    P = {}
    P["chain"] = """
metadata: {path: tests/fuzz/chain, name: chain}
workload: {n: 2, label: chain}
workflow:
  - step: start
    next: [s1]
  - step: s1
    tool: fuzz_a
    args: {n: "{{ workload.n }}", label: "{{ workload.label }}-1"}
    next: [s2]
  - step: s2
    tool: fuzz_b
    args: {prev: "{{ s1 }}"}
    next: [s3]
  - step: s3
    type: fuzz_a
    with: {v: "{{ s2.v | default(0) }}"}
    next: [end]
  - step: end
    result: {last: "{{ s3.v }}", first: "{{ s1 }}", id: "{{ execution_id }}"}
"""
    branches = ["b%d" % i for i in range(1, 6)]
    P["fan"] = ("metadata: {path: tests/fuzz/fan}\nworkflow:\n  - step: start\n    next: [%s]\n"
                % ", ".join(branches)
                + "".join("  - step: %s\n    tool: %s\n    args: {i: %d}\n    next: [end]\n"
                          % (b, TOOLS[i % 2], i) for i, b in enumerate(branches))
                + "  - step: end\n    result:\n"
                + "".join("      %s: \"{{ %s.v }}\"\n" % (b, b) for b in branches))
    wide = ["w%d" % i for i in range(25)]
    P["wide"] = ("metadata: {path: tests/fuzz/wide}\nworkflow:\n  - step: start\n    next: [%s]\n"
                 % ", ".join(wide)
                 + "".join("  - step: %s\n    tool: fuzz_b\n    next: [end]\n" % w for w in wide)
                 + "  - step: end\n    result: {n: \"{{ w0 | length }}\"}\n")
    P["cond"] = """
metadata: {path: tests/fuzz/cond}
workflow:
  - step: start
    tool: fuzz_a
    next:
      - {step: hi, when: "{{ result.v > 5 }}"}
      - {step: lo, when: "{{ result.v is number and result.v <= 5 }}"}
      - {step: odd, when: "{{ result.x.y.z }}"}
      - {step: never, when: "{{ false }}"}
      - {step: always, when: "true", args: {got: "{{ result }}"}}
      - {step: divz, when: "{{ 1 // (result.zero | int) }}"}
  - {step: hi, tool: fuzz_b, next: [end]}
  - {step: lo, tool: fuzz_b, next: [end]}
  - {step: odd, tool: fuzz_b, next: [end]}
  - {step: never, tool: fuzz_b, next: [end]}
  - {step: always, tool: fuzz_a, next: [end]}
  - {step: divz, tool: fuzz_a, next: [end]}
  - step: end
    result: {branch: "{{ 'hi' if hi is defined else 'lo' }}", always: "{{ always }}"}
"""
    P["retry"] = """
metadata: {path: tests/fuzz/retry}
workflow:
  - step: start
    next: [flaky, stubborn, picky]
  - step: flaky
    tool: fuzz_a
    retry: {max_attempts: 4, initial_delay: 0.05, backoff_multiplier: 2, max_delay: 0.3, jitter: true}
    next: [end]
  - step: stubborn
    tool: fuzz_b
    retry:
      max_attempts: 3
      initial_delay: 0.05
      retry_when: "{{ error != 'fatal' }}"
      stop_when: "{{ result.stop }}"
    next: [end]
  - step: picky
    tool: fuzz_a
    retry: {max_attempts: 2, initial_delay: 0.1, retry_when: "{{ result.a.b.c }}"}
    next: [end]
  - step: end
    result: {flaky: "{{ flaky }}", stubborn: "{{ stubborn }}"}
"""
    P["control"] = """
metadata: {path: tests/fuzz/control}
workload: {n: 1, skip: false}
workflow:
  - step: start
    next: [route1]
  - step: route1
    tool: router
    next:
      - {step: route2, args: {from: r1, n: "{{ workload.n + 1 }}"}}
  - step: route2
    type: route
    next:
      - {step: work, args: {k: "{{ workload.n * 3 }}"}}
      - {step: end, when: "{{ workload.skip }}"}
  - step: work
    tool: fuzz_b
    params: {base: 1}
    next: [end]
  - step: end
    tool: end
"""
    P["endfail"] = """
metadata: {path: tests/fuzz/endfail}
workflow:
  - step: start
    tool: fuzz_a
    next: [end]
  - step: end
    result: {q: "{{ 10 // (start.zero | int) }}", r: "{{ start.v }}"}
"""
    P["endundef"] = """
metadata: {path: tests/fuzz/endundef}
workflow:
  - step: start
    next: [a]
  - step: a
    tool: fuzz_b
    next: [end]
  - step: end
    result: {deep: "{{ a.missing.deeper }}"}
"""
    P["argsfail"] = """
metadata: {path: tests/fuzz/argsfail}
workload: {obj: {}}
workflow:
  - step: start
    next: [a, b]
  - step: a
    tool: fuzz_a
    args: {x: "{{ workload.obj.attr.x }}"}
    next: [end]
  - step: b
    tool: fuzz_b
    next: [end]
  - step: end
"""
    P["endtask"] = """
metadata: {path: tests/fuzz/endtask}
workflow:
  - step: start
    next: [a, b]
  - step: a
    tool: fuzz_a
    next: [{step: end, args: {from_a: "{{ result }}"}}]
  - step: b
    tool: fuzz_b
    next: [end]
  - step: end
    tool: fuzz_a
    args: {a: "{{ a.v }}", b: "{{ b.v }}"}
"""
    P["budget"] = """
metadata: {path: tests/fuzz/budget}
workflow:
  - step: start
    tool: fuzz_b
    next:
      - {step: end, when: "{{ ('x' * 2000000) | length > 1 }}"}
      - {step: end, when: "{{ range(1000000) | list | length > 1 }}"}
      - {step: end}
  - step: end
    result: {big: "{{ range(1000000) | list | length }}", pow: "{{ 2 ** 100000 }}"}
"""
    P["diamond"] = """
metadata: {path: tests/fuzz/diamond}
workflow:
  - step: start
    next: [a, b]
  - {step: a, tool: fuzz_a, next: [c]}
  - {step: b, tool: fuzz_b, next: [c]}
  - {step: c, tool: fuzz_a, next: [end]}
  - step: end
    result: {c: "{{ c }}"}
"""
    P["cycle"] = """
metadata: {path: tests/fuzz/cycle}
workflow:
  - step: start
    next: [a]
  - {step: a, tool: fuzz_a, next: [b]}
  - {step: b, tool: fuzz_b, next: [a, end]}
  - step: end
"""
    P["single"] = """
metadata: {path: tests/fuzz/single}
workflow:
  - step: start
    tool: fuzz_b
    args: {w: "{{ workload }}"}
"""
    P["onlycontrol"] = """
metadata: {path: tests/fuzz/onlycontrol}
workload: {n: 5}
workflow:
  - step: start
    next: [mid]
  - step: mid
    next: [end]
  - step: end
    result: {n: "{{ workload.n }}", id: "{{ execution_id }}"}
"""
    P["prio"] = """
metadata: {path: tests/fuzz/prio}
workflow:
  - step: start
    next: [p1, p2, p3]
  - {step: p1, tool: fuzz_a, priority: 5, next: [end]}
  - {step: p2, tool: fuzz_a, priority: -3, next: [end]}
  - {step: p3, tool: fuzz_b, priority: 1000000, sink: {tool: postgres, table: t}, next: [end]}
  - step: end
"""
    P["workbook"] = """
metadata: {path: tests/fuzz/workbook}
workbook:
  - name: wtask
    tool: fuzz_b
    args: {from_wb: 1}
workflow:
  - step: start
    next: [w]
  - step: w
    type: workbook
    name: wtask
    args: {own: 2}
    next: [end]
  - step: end
"""
    P["loop"] = """
metadata: {path: tests/fuzz/loop}
workload: {items: [1, 2, 3]}
workflow:
  - step: start
    next: [each]
  - step: each
    tool: fuzz_a
    loop: {collection: "{{ workload.items }}", element: it}
    next: [end]
  - step: end
"""
    P["loops"] = """
metadata: {path: tests/fuzz/loops}
workload: {items: [5, 3, 8, 1, 9, 2, 7], c: 3, words: [b, a, c]}
workflow:
  - step: start
    next: [par, filt, cont, iter, empty]
  - step: par
    tool: fuzz_a
    loop: {collection: "{{ workload.items }}", element: it, mode: parallel, max_in_flight: 3}
    retry: {max_attempts: 2, initial_delay: 0.01}
    args: {it: "{{ it }}", i: "{{ _loop.index }}"}
    next: [join]
  - step: filt
    tool: fuzz_b
    loop: {collection: "{{ workload.items }}", element: x, where: "{{ x > 2 }}", order_by: "{{ -x }}",
           limit: 4, chunk: 2, enumerate: true, mode: async, concurrency: "{{ workload.c }}"}
    args: {batch: "{{ x }}", index: "{{ index }}"}
    next: [join]
  - step: cont
    tool: fuzz_a
    loop: {collection: "{{ workload.words }}", element: w, on_item_error: continue}
    next: [join]
  - step: iter
    type: iterator
    collection: "{{ workload.words }}"
    element: w
    mode: parallel
    task: {type: fuzz_b, args: {w: "{{ w }}", self: "{{ iter.result_index }}"}}
    next: [join]
  - step: empty
    tool: fuzz_a
    loop: {collection: [], element: e}
    next: [join]
  - step: join
    tool: fuzz_b
    args: {par: "{{ par | length }}", cont: "{{ cont }}", iter: "{{ iter }}", e: "{{ empty }}"}
    next: [end]
  - step: end
    result: {par: "{{ par }}", filt: "{{ filt | length }}"}
"""
    P["loopnext"] = """
metadata: {path: tests/fuzz/loopnext}
workflow:
  - step: start
    next: [src]
  - step: src
    tool: fuzz_a
    next: [{step: each, args: {k: "{{ src.v }}"}}]
  - step: each
    tool: fuzz_b
    loop: {collection: "{{ [src.v, src.zero, src.node] }}", element: it, mode: parallel,
           max_in_flight: 2, on_item_error: fail}
    next: [{step: end, when: "{{ each | length == 3 }}"}, {step: other}]
  - step: other
    tool: fuzz_a
  - step: end
"""
    P["loopchild"] = """
metadata: {path: tests/fuzz/loopchild}
workflow:
  - step: start
    next: [kids]
  - step: kids
    tool: playbook
    path: tests/fuzz/chain
    return_step: s2
    args: {n: "{{ it }}", label: "kid-{{ _loop.index }}"}
    loop: {collection: [1, 2, 3, 4], element: it, mode: parallel, max_in_flight: 2}
    retry: {max_attempts: 2}
    next: [end]
  - step: end
    result: {kids: "{{ kids }}"}
"""
    P["subpb"] = """
metadata: {path: tests/fuzz/subpb}
workflow:
  - step: start
    next: [child]
  - step: child
    tool: playbook
    path: tests/fuzz/chain
    next: [end]
  - step: end
"""
    return P


HOSTILE_TEXTS = [
    "", " ", "\t", "---", "...", "null", "[]", "{}", "42", "'str'", "{", "[", "- - - -",
    "metadata: {path: tests/fuzz/h1}",
    "metadata: {path: tests/fuzz/h2}\nworkflow: []",
    "metadata: {path: tests/fuzz/h3}\nworkflow: [{step: start, next: [nowhere]}]",
    "metadata: {path: tests/fuzz/h4}\nworkflow: [{step: start}, {step: start}]",
    "metadata: {path: tests/fuzz/h5}\nworkflow: [{step: start, tool: fuzz_a, args: {x: '{{ x | nosuch }}'}}]",
    "metadata: {path: tests/fuzz/h6}\nworkflow: [{step: start, tool: fuzz_a, args: {x: '{% if %}'}}]",
    "metadata: {path: tests/fuzz/h7}\nworkflow: [{step: start, next: [{step: start, wehn: x}]}]",
    "metadata: {path: tests/fuzz/h8}\nworkflow: [{step: start, tool: fuzz_a, retry: {max_attempts: 1e400}}]",
    "metadata: {path: tests/fuzz/h9}\nworkflow: [{step: start, tool: fuzz_a, retry: {max_attempts: 99999999999999999999, initial_delay: -1}}]",
    "metadata: {path: tests/fuzz/h10}\nworkflow: [{step: start, tool: fuzz_a, retry: {initial_delay: .nan}}]",
    "metadata: {path: tests/fuzz/h11}\nworkflow: [{step: start, tool: fuzz_a, retry: {nosuch: 1}}]",
    "metadata: {path: tests/fuzz/h12}\nworkflow: [{step: start, tool: fuzz_a, type: fuzz_b}]",
    "metadata: {path: tests/fuzz/h13}\nworkflow: [{step: start, loop: {}}]",
    "metadata: {path: tests/fuzz/h14}\nworkflow: [{step: start, tool: playbook}]",
    "metadata: {path: tests/fuzz/h15}\nworkflow: [{step: '', tool: fuzz_a}]",
    "metadata: {path: tests/fuzz/h16}\nworkflow: [{step: start, type: workbook, name: nosuch}]",
    "metadata: {path: tests/fuzz/h17}\nworkflow: [{step: start, next: {when: '{{ 1 }}', then: [end]}}, {step: end}]",
    "metadata: {path: tests/fuzz/h18}\nworkflow: [{step: start, tool: fuzz_a, priority: -99999999999999999999999}]",
    "metadata: {path: 7}\nworkflow: [{step: start}]",
    "metadata: {path: [a]}\nworkflow: [{step: start}]",
    "metadata: {name: ''}\nworkflow: [{step: start}]",
    "metadata: {path: \"" + "p" * 5000 + "\"}\nworkflow: [{step: start}]",
    "metadata: {path: tests/fuzz/h19}\nworkflow: [{step: start, when: '{{ 1 +  }}'}]",
    "metadata: {path: tests/fuzz/h20}\nworkflow:\n  - step: start\n\ttool: x",
    "metadata: {path: tests/fuzz/h21}\nworkflow: &a [*a]",
    "metadata: {path: tests/fuzz/h22}\nworkflow: !!binary aGVsbG8=",
    "metadata: {path: tests/fuzz/h23}\nworkflow: !!set {a, b}",
    "metadata: {path: tests/fuzz/h24}\nworkflow: [{step: start, tool: fuzz_a, args: {x: .inf}}]",
    "metadata: {path: tests/fuzz/h25}\nworkflow: [{step: start, tool: fuzz_a, args: {? [a, b] : c}}]",
    "metadata: {path: tests/fuzz/h26}\nworkflow: [{step: start, tool: fuzz_a, args: {d: 2001-12-14}}]",
    "metadata: {path: tests/fuzz/h27}\nworkflow: [{step: start, tool: !!python/object:os.system x}]",
    "{\"metadata\": {\"path\": \"tests/fuzz/h28\"}, \"workflow\": [{\"step\": \"start\", \"tool\": \"fuzz_a\", \"args\": {\"n\": 1e999999}}]}",
    "{\"metadata\": {\"path\": \"tests/fuzz/h29\"}, \"workflow\": [{\"step\": \"start\"}],}",
    "\ufeffmetadata: {path: tests/fuzz/h30}\nworkflow: [{step: start}]",
    # aliases that expand to far more values than the document holds
    "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n",
]

YAML_SPLICES = [": ", "- ", "\n", "\n  ", "\n    - ", "{", "}", "[", "]", ",", "&a ", "*a", "!!str ",
                "!!int ", "? ", "|", ">", "#", "'", '"', "\t", "~", "null", "yes", "0x", "1e9",
                "99999999999999999999999", "{{", "}}", "{%", "%}", "step: ", "next: ", "tool: ",
                "when: ", "retry: ", "args: ", "workflow: ", "end", "start", "<<: ", "---\n"]


def random_loop(r):
    """Loop settings of random shape, mostly valid: every mode, window,
    filter, order, limit, chunk and failure rule, and a few bad values."""
    loop = {"collection": r.choice(["{{ workload.items }}", "{{ s1.l }}", "{{ s1 }}", [], [1],
                                    list(range(r.randint(0, 12))), "[1, 2, 3]", "{{ nosuch }}",
                                    "{{ range(%d) | list }}" % r.randint(0, 30), {"a": 1}, 7, None]),
            "element": r.choice(["it", "it", "x", "item", "s1", "_loop", ""])}
    for key, values in (("mode", ["sequential", "parallel", "async", "nosuch", 1]),
                        ("max_in_flight", [1, 2, 3, 8, 0, -1, "x", 10 ** 12]),
                        ("concurrency", [1, 2, "{{ workload.c }}", "{{ 0 }}", "{{ nosuch }}", 1.5]),
                        ("where", ["{{ it % 2 == 0 }}", "{{ it > 2 }}", "{{ it.x }}", "no", "{{ 1/0 }}",
                                   "{{ parent.workload.c }}"]),
                        ("order_by", ["{{ -it }}", "{{ it }}", "{{ it | string }}", "{{ [it] }}", "{{ 1/0 }}"]),
                        ("limit", [0, 1, 3, 100, -1, "2"]),
                        ("chunk", [1, 2, 3, 0, -1, "x"]),
                        ("enumerate", [True, False, "{{ true }}", "yes"]),
                        ("on_item_error", ["continue", "fail", "nosuch"])):
        if r.random() < 0.35:
            loop[key] = r.choice(values)
    return loop


def random_loop_playbook(r, n):
    """A playbook whose middle step is a random loop, as loop: or as era B's
    type: iterator, with retries and a next that reads its list."""
    loop = random_loop(r)
    each = {"step": "each", "next": [{"step": "end", "when": "{{ each | length > 1 }}"}, {"step": "last"}]}
    if r.random() < 0.3:
        each.update({"type": "iterator", "task": {"type": r.choice(["fuzz_a", "fuzz_b"]),
                                                   "args": {"v": "{{ %s }}" % (loop["element"] or "it")}}})
        each.update(loop)
    elif r.random() < 0.15:
        # a loop of sub-playbooks
        each.update({"tool": "playbook", "path": r.choice(["tests/fuzz/chain", "tests/fuzz/single",
                                                           "tests/fuzz/onlycontrol", "tests/fuzz/nosuch"]),
                     "loop": loop, "args": {"n": "{{ _loop.index }}"}})
    else:
        each.update({"tool": r.choice(["fuzz_a", "fuzz_b"]), "loop": loop,
                     "args": {"v": "{{ _loop.index }}", "n": "{{ _loop.count }}"}})
    if r.random() < 0.3:
        each["retry"] = {"max_attempts": r.choice([2, 3]), "initial_delay": 0.01}
    doc = {"metadata": {"path": PREFIX + "genloop/%d" % n},
           "workload": {"items": [r.randint(-5, 20) for _ in range(r.randint(0, 10))], "c": r.randint(1, 4)},
           "workflow": [{"step": "start", "next": ["s1"]},
                        {"step": "s1", "tool": "fuzz_a", "next": ["each"]},
                        each,
                        {"step": "last", "tool": "fuzz_b", "args": {"l": "{{ each }}"}, "next": ["end"]},
                        {"step": "end", "result": {"l": "{{ each }}"}}]}
    return yaml.safe_dump(doc, allow_unicode=True)


def mutate_text(r, t):
    """A few random edits of a text: splices, deletions, repetitions, swaps."""
    for _ in range(r.randint(1, 4)):
        p = r.randrange(len(t) + 1)
        k = r.random()
        if k < 0.4:
            t = t[:p] + r.choice(YAML_SPLICES) + t[p:]
        elif k < 0.6 and t:
            t = t[:p] + t[p + r.randint(1, 6):]
        elif k < 0.75 and t:
            q = min(len(t), p + r.randint(1, 10))
            t = t[:p] + t[p:q] * r.randint(2, 5) + t[q:]
        elif k < 0.85:
            t = t[:p] + rchar(r) + t[p:]
        else:
            q = r.randrange(len(t) + 1)
            a, b = min(p, q), max(p, q)
            t = t[:a] + t[b:] + t[a:b]
    return t


def rchar(r):
    while True:
        c = r.randint(1, 0x1FFFF)
        if not 0xD800 <= c <= 0xDFFF:
            return chr(c)


# ------------------------------------------------------------------ JSON

KEYS = ["v", "ok", "n", "x", "zero", "stop", "a", "data", "status", "id", "meta", "items",
        "status_code", "error", "", "ünï", "a.b", "{{ x }}", "k" * 200]
SCALARS = [None, True, False, 0, -1, 1, 7, 6, 5, 4.5, -0.0, 1.5e308, 5e-324, 2 ** 63, 2 ** 64 + 1,
           -2 ** 63 - 1, 10 ** 40, "", "x", "fatal", "boom", "ünïcødé 😀", "{{ 1 // 0 }}",
           "{{ workload.n }}", "{{ execution_id }}", "{% for i in range(3) %}{{ i }}{% endfor %}",
           "line\nbreak", "tab\t", "\u2028", "'; DROP TABLE noetl.event; --"]


def rjson(r, depth=0):
    """A random JSON value of modest size."""
    k = r.random()
    if depth >= 4 or k < 0.35:
        if r.random() < 0.3:
            return r.randint(-10, 10)
        return r.choice(SCALARS)
    if k < 0.55:
        return [rjson(r, depth + 1) for _ in range(r.randint(0, 4))]
    return {r.choice(KEYS): rjson(r, depth + 1) for _ in range(r.randint(0, 5))}


def rjson_text(r):
    """JSON text of a random shape: usual results, envelopes, deep, big, invalid."""
    k = r.random()
    if k < 0.25:
        return json.dumps({"v": r.choice([1, 5, 6, 10, -3, "7", None, 2.5]), "ok": r.random() < 0.8,
                           "zero": r.choice([0, 1, 2, None]), "stop": r.random() < 0.2,
                           "a": r.choice([None, {"b": {"c": True}}, 1])})
    if k < 0.4:
        env = {"status": r.choice(["success", "error", "ok", None, 1]), "data": rjson(r)}
        for extra in ("id", "meta", "other"):
            if r.random() < 0.2:
                env[extra] = rjson(r, 3)
        return json.dumps(env)
    if k < 0.7:
        return json.dumps(rjson(r))
    if k < 0.78:
        d = r.choice([8, 50, 127, 128, 129, 300, 3000, 200000])
        o, c = r.choice([("[", "]"), ('{"a":', "}")])
        return o * d + "1" + c * d
    if k < 0.84:
        return json.dumps({"blob": "y" * r.choice([1000, 50000, 300000])})
    if k < 0.88:
        return json.dumps({"k%d" % i: i for i in range(r.choice([100, 3000]))})
    if k < 0.94:
        return r.choice(['{"a":', "NaN", "Infinity", "[1,]", "{'a': 1}", '"\\u0000"',
                         '{"x": "\\ud800"}', "", " ", "nul", '{"a": 1}{"b": 2}', "1e999999",
                         '{"a": "\\u0000x"}', "[" * 10 + "]" * 9])
    return json.dumps(r.choice(SCALARS))


def rworkload(r):
    k = r.random()
    if k < 0.8:
        w = {"n": r.choice([1, 2, 3, "abc", None, 2 ** 70, 1.5, [1]]),
             "skip": r.random() < 0.3, "label": r.choice(["x", "", "{{ 1 }}", None]),
             "obj": r.choice([{}, {"attr": {"x": 1}}, None, "s"]), "items": [1, 2]}
        if r.random() < 0.3:
            w[r.choice(KEYS)] = rjson(r)
        return json.dumps(w)
    if k < 0.88:
        return json.dumps(rjson(r))
    if k < 0.92:
        return None
    return rjson_text(r)


# ------------------------------------------------------------------ templates

def load_module(name):
    path = os.path.join(REPO, "test", "tap", name + ".py")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


HOSTILE_TEMPLATES = [
    "{{ 1 // 0 }}", "{{ x.y.z }}", "{{ range(10**9) | list }}", "{{ 'a' * 10**9 }}",
    "{{ 2 ** 100000 }}", "{{ 10 ** 5000 }}", "{{ 9 ** 9 ** 9 }}", "{{" * 3000, "{%" * 3000,
    "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}",
    "{{ " + "(" * 100000 + "1" + ")" * 100000 + " }}", "{{ " + "-" * 100000 + "1 }}",
    "{{ " + "[" * 5000 + "]" * 5000 + " }}", "{{ now() }}", "{{ token('x') }}", "{{ secret('y') }}",
    "{% raw %}{{ x }}", "{{ 1e309 }}", "{{ 1.0 / 0 }}", "{{ 'x' | int }}", "{{ '%s' % 1 }}",
    "{{ d.items }}", "{{ l | sort | unique }}", "{{ x | default(" * 2000 + "1" + ")" * 2000 + " }}",
    "{% if x %}" * 3000 + "{% endif %}" * 3000, "{{ l[99999999999999999999] }}",
    "{{ 'a' ~ none ~ missing }}", "{{ dict(a=1, a=2) }}", "{{ range(-1, -10**18, -1) | list | length }}",
    "{{ (range(100000) | list) * 100000 }}", "{{ s | replace('', 'xx') }}", "{{ 'x' * (2 ** 62) }}",
    "{{ l | join(l) }}", "{{ users | sort(attribute='age') }}", "{{ 1 < 'a' }}", "{{ [] | max }}",
    "{{ {}.x }}", "{{ nested.a.b.c[1].d[0][0] }}", "{# " + "x" * 100000, "{{ big ** big }}",
]


class Stats:
    """Per operation class: operations, successes, clean errors, unclean outcomes."""

    def __init__(self):
        self.lock = threading.Lock()
        self.classes = {}
        self.hangs = 0
        self.time = {}

    def add(self, cls, outcome, what=None, state=None):
        with self.lock:
            c = self.classes.setdefault(cls, {"ops": 0, "ok": 0, "clean": 0, "unclean": [], "states": {}})
            c["ops"] += 1
            if outcome == "ok":
                c["ok"] += 1
            elif outcome == "clean":
                c["clean"] += 1
                c["states"][state] = c["states"].get(state, 0) + 1
                if VERBOSE:
                    print("# %s: [%s] %s" % (cls, state, what))
            else:
                c["unclean"].append(what)
                if outcome == "hang":
                    self.hangs += 1


def short(x, n=240):
    s = repr(x)
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


class Lost(Exception):
    """A connection was lost: the fuzz stops and the checks run."""


class Session:
    """One fuzz connection and its explicit transaction, if any."""

    def __init__(self, name, stats):
        self.name = name
        self.stats = stats
        self.conn = connect()
        self.conn.execute("SET lock_timeout = '100ms'")
        self.conn.execute("SET statement_timeout = '%s'" % HANG)
        self.conn.execute("SET deadlock_timeout = '50ms'")
        self.conn.execute("SET client_min_messages = error")
        self.conn.execute("SET application_name = 'noetl_fuzz'")
        self.conn.execute(TRY_FUNCTION)
        self.reset()

    def reset(self):
        self.in_txn = False
        self.failed = False
        self.savepoints = 0
        self.short_timeout = False
        self.as_role = False
        self.role_depth = 0         # the savepoint depth SET LOCAL ROLE was run at
        self.must_rollback = False
        self.new_leases = []        # (savepoint depth, Lease) leased in this transaction
        self.new_events = []        # (savepoint depth, event_id) returned in this transaction

    def run(self, cls, sql, params=(), must_fail=False, check=None, note=None):
        """Runs one statement; counts its outcome under cls; returns its rows or None."""
        try:
            cur = self.conn.execute(sql, params)
            rows = cur.fetchall() if cur.description else []
        except psycopg.Error as e:
            state = getattr(e, "sqlstate", None)
            if self.in_txn:
                self.failed = True
            if self.conn.closed or self.conn.broken:
                self.stats.add(cls, "unclean", "connection lost: %s %s -- %s" % (
                    short(sql, 400), short(params), str(e).strip()[:300]))
                raise Lost(str(e))
            if state == "57014" and not self.short_timeout:
                self.stats.add(cls, "hang", "[%s] runs for over %s (a hang): %s -- %s %s" % (
                    state, HANG_LATER if self.stats.hangs else HANG, str(e).split("\n")[0][:300],
                    short(sql, 400), short(params)))
            elif unclean_state(state):
                self.stats.add(cls, "unclean", "[%s] %s -- %s %s" % (
                    state, str(e).split("\n")[0][:300], short(sql, 400), short(params)))
            else:
                self.stats.add(cls, "clean", str(e).split("\n")[0][:200], state)
            return None
        if must_fail:
            self.stats.add(cls, "unclean", "succeeded but must fail (%s): %s %s -> %s" % (
                note or "", short(sql, 400), short(params), short(rows)))
            return rows
        problem = check(rows) if check else None
        if problem:
            self.stats.add(cls, "unclean", "%s: %s %s -> %s" % (problem, short(sql, 400),
                                                                 short(params), short(rows)))
        else:
            self.stats.add(cls, "ok")
        return rows

    def control(self, sql):
        """A transaction control statement, counted under txn."""
        return self.run("txn", sql)


TRY_FUNCTION = """
CREATE FUNCTION pg_temp.fuzz_try(stmts text[]) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    out text[] := '{}';
    st text;
BEGIN
    FOREACH st IN ARRAY stmts LOOP
        BEGIN
            EXECUTE st;
            out := out || 'ok'::text;
        EXCEPTION WHEN others THEN
            out := out || SQLSTATE::text;
        END;
    END LOOP;
    RETURN out;
END
$$"""


class Collector:
    """Stands in for a Session: collects statements (with their parameters bound)
    to run them later as one, each in a PL/pgSQL exception block."""

    def __init__(self, session):
        self.session = session
        self.mogrify = psycopg.ClientCursor(session.conn).mogrify
        self.stmts = []
        self.in_txn = True          # what it leases is never taken for held
        self.failed = False
        self.savepoints = 0
        self.as_role = session.as_role
        self.short_timeout = session.short_timeout
        self.must_rollback = False
        self.new_leases = []
        self.new_events = []
        self.conn = session.conn

    def run(self, cls, sql, params=(), must_fail=False, check=None, note=None):
        self.stmts.append((cls, self.mogrify(sql, params), must_fail, note))
        return None

    def control(self, sql):
        return None


class Lease:
    __slots__ = ("qid", "eid", "node", "token", "tool")

    def __init__(self, row):
        self.qid, self.eid, self.node, self.tool, self.token = row


LEASE_COLS = "queue_id, execution_id, node_id, tool, lease_token"


class Fuzz:
    def __init__(self, r, stats):
        self.r = r
        self.stats = stats
        self.sessions = [Session("c%d" % i, stats) for i in range(NCONN)]
        self.admin = connect()
        self.admin.execute("SET statement_timeout = '60s'")
        self.paths = []             # playbook paths of the fuzz
        self.runnable = []          # those that can run
        self.versions = {}          # the version of each registered at the start
        self.bad_paths = ["tests/fuzz/nosuch", "", "tests/fuzz/chain ", "TESTS/FUZZ/CHAIN", "x" * 3000]
        self.held = []              # leases whose token is current, as far as known
        self.spent = []             # leases reported, released, rolled back or taken over
        self.execs = []             # executions of the fuzz (refreshed from the database)
        self.tasks = []             # (queue_id, execution_id, node_id) of the fuzz
        self.other_execs = []       # executions that are not the fuzz's
        self.client_events = []     # event ids the fuzz's committed inserts returned
        self.past_ids = []          # snowflake ids drawn earlier (valid, past, unused)
        self.templates = []
        self.contexts = []
        self.hang_later = False
        self.collector = None

    # -------------------------------------------------------------- pools

    def refresh(self):
        """Reloads the pools of executions and tasks from the database."""
        cur = self.admin.execute(
            "SELECT x.execution_id FROM noetl.execution x JOIN noetl.catalog c USING (catalog_id)"
            " WHERE c.path LIKE %s ORDER BY x.execution_id DESC LIMIT 300", (PREFIX + "%",))
        self.execs = [row[0] for row in cur.fetchall()]
        cur = self.admin.execute(
            "SELECT q.queue_id, q.execution_id, q.node_id FROM noetl.queue q"
            " WHERE q.execution_id = ANY(%s) ORDER BY q.queue_id DESC LIMIT 600", (self.execs,))
        self.tasks = cur.fetchall()
        cur = self.admin.execute(
            "SELECT x.execution_id FROM noetl.execution x JOIN noetl.catalog c USING (catalog_id)"
            " WHERE c.path NOT LIKE %s ORDER BY x.execution_id LIMIT 20", (PREFIX + "%",))
        self.other_execs = [row[0] for row in cur.fetchall()]
        self.past_ids = [row[0] for row in self.admin.execute(
            "SELECT noetl.snowflake_id() FROM generate_series(1, 5)").fetchall()]

    def rexec(self):
        r = self.r
        k = r.random()
        if self.execs and k < 0.75:
            return r.choice(self.execs)
        return r.choice([0, -1, I64, -I64 - 1, None, r.randint(1, I64),
                         r.choice(self.past_ids) if self.past_ids else 1,
                         r.choice(self.other_execs) if self.other_execs else 2])

    def rqueue(self):
        r = self.r
        k = r.random()
        if self.tasks and k < 0.6:
            return r.choice(self.tasks)[0]
        if self.held and k < 0.75:
            return r.choice(self.held).qid
        return r.choice([0, -1, I64, -I64 - 1, None, r.randint(1, I64), 2 ** 31, -2 ** 31])

    def rnode(self):
        return self.r.choice([None, "start", "end", "s1", "b1", "a", "nonexistent", "start[0]",
                              "n" * 2000, "ünï", "", "w0", "flaky"])

    def rtoken(self):
        r = self.r
        k = r.random()
        pool = self.held + self.spent
        if pool and k < 0.5:
            return r.choice(pool).token
        return r.choice([None, "", str(uuid.UUID(int=r.getrandbits(128))), "guess", "t" * 5000])

    def session(self):
        """A connection to run the next operation on (out of a failed transaction first)."""
        if self.collector is not None:
            return self.collector
        s = self.r.choice(self.sessions)
        if s.failed:
            if s.savepoints and self.r.random() < 0.7:
                self.rollback_to(s)
            else:
                self.commit_or_rollback(s, False)
        return s

    # -------------------------------------------------------------- transactions

    def commit_or_rollback(self, s, commit=None):
        r = self.r
        if not s.in_txn:
            return
        if commit is None:
            commit = r.random() < 0.6
        if s.must_rollback or s.failed:
            commit = False
        rows = s.control("COMMIT" if commit else "ROLLBACK")
        ok = rows is not None and commit
        for _, lease in s.new_leases:
            (self.held if ok else self.spent).append(lease)
        if ok:
            self.client_events.extend(e for _, e in s.new_events)
        s.reset()

    def op_txn(self):
        r = self.r
        s = self.session()
        k = r.random()
        if not s.in_txn:
            level = r.choice(["", "", " ISOLATION LEVEL READ COMMITTED", " ISOLATION LEVEL REPEATABLE READ",
                              " ISOLATION LEVEL SERIALIZABLE"])
            if s.control("BEGIN" + level) is not None:
                s.in_txn = True
                if r.random() < 0.1:
                    s.short_timeout = True
                    s.control("SET LOCAL statement_timeout = '%dms'" % r.choice([1, 2, 5, 20]))
                if r.random() < 0.15:
                    s.control("SET LOCAL %s" % r.choice([
                        "noetl.max_json_depth = 8", "noetl.max_json_depth = 10000", "noetl.max_result_size = '4kB'",
                        "noetl.max_workload_size = '1kB'", "noetl.template_max_steps = 1000",
                        "noetl.template_max_memory = '1MB'", "noetl.template_max_range = 3",
                        "noetl.playbook_cache_size = 1", "search_path = pg_temp, public"]))
                if r.random() < 0.1 and s.control("SET LOCAL ROLE " + ROLE) is not None:
                    s.as_role = True
                    s.role_depth = 0
            return
        if s.failed:
            if s.savepoints and r.random() < 0.7:
                self.rollback_to(s)
            else:
                self.commit_or_rollback(s, False)
            return
        if k < 0.3 and s.savepoints < 5:
            if s.control("SAVEPOINT sp%d" % (s.savepoints + 1)) is not None:
                s.savepoints += 1
        elif k < 0.45 and s.savepoints:
            self.rollback_to(s)
        elif k < 0.55 and s.savepoints:
            if s.control("RELEASE SAVEPOINT sp%d" % s.savepoints) is not None:
                s.savepoints -= 1
                s.role_depth = min(s.role_depth, s.savepoints)
        else:
            self.commit_or_rollback(s)

    def rollback_to(self, s):
        depth = s.savepoints
        if s.control("ROLLBACK TO SAVEPOINT sp%d" % depth) is None:
            self.commit_or_rollback(s, False)
            return
        s.failed = False
        if s.as_role and s.role_depth >= depth:
            s.as_role = False       # the SET LOCAL ROLE was rolled back too
        keep = []
        for d, lease in s.new_leases:
            if d >= depth:
                self.spent.append(lease)
            else:
                keep.append((d, lease))
        s.new_leases = keep
        s.new_events = [(d, e) for d, e in s.new_events if d < depth]
        if self.r.random() < 0.5 and s.control("RELEASE SAVEPOINT sp%d" % depth) is not None:
            s.savepoints -= 1
            s.role_depth = min(s.role_depth, s.savepoints)

    def returned_events(self, s, rows):
        """Remembers the event ids an insert returned (kept if its transaction commits)."""
        ids = [row[0] for row in rows or [] if row and isinstance(row[0], int)]
        if s.in_txn:
            s.new_events.extend((s.savepoints, e) for e in ids)
        else:
            self.client_events.extend(ids)

    def took(self, s, rows):
        leases = [Lease(row) for row in rows or []]
        if s.in_txn:
            s.new_leases.extend((s.savepoints, lease) for lease in leases)
        else:
            self.held.extend(leases)
        return leases

    def spend(self, lease):
        if lease in self.held:
            self.held.remove(lease)
        self.spent.append(lease)
        if len(self.spent) > 400:
            del self.spent[:100]

    # -------------------------------------------------------------- operations

    def op_register(self):
        r = self.r
        s = self.session()
        k = r.random()
        if k < 0.25:
            text = r.choice(HOSTILE_TEXTS)
        elif k < 0.55:
            text = mutate_text(r, r.choice(list(self.valid.values())))
        elif k < 0.7:
            text = self.structural_mutation()
        elif k < 0.75:
            text = random_loop_playbook(r, r.randint(100, 140))
        elif k < 0.85:
            d = r.choice([100, 127, 129, 1000, 100000])
            text = "metadata: {path: tests/fuzz/deep}\nworkflow: [{step: start, tool: fuzz_a, args: %s}]" % (
                "[" * d + "1" + "]" * d)
        else:
            text = r.choice(list(self.valid.values()))
        text = text.replace("\x00", "")
        fn = r.random()
        if fn < 0.1:
            path = r.choice(self.paths + self.bad_paths + [None])
            version = r.choice([None, None, 1, 0, -1, I32, self.versions.get(path)])
            s.run("register", "SELECT noetl.playbook(%s::text, %s::int) IS NOT NULL", (path, version),
                  must_fail=path is None or path.startswith("tests/fuzz/nosuch"), note="not registered")
        elif fn < 0.13:
            s.run("register", "SELECT noetl.status() IS NOT NULL", must_fail=s.as_role, note="not granted")
        elif fn < 0.25:
            s.run("register", "SELECT noetl.parse_playbook(%s::text) IS NOT NULL", (text,))
        elif fn < 0.35:
            s.run("register", "SELECT noetl.yaml_to_jsonb(%s::text) IS NOT NULL", (text,))
        else:
            rows = s.run("register", "SELECT path, version FROM noetl.register(%s::text)", (text,))
            if rows and rows[0][0].startswith(PREFIX) and rows[0][0] not in self.paths \
                    and not s.in_txn and len(self.paths) < 60:
                self.paths.append(rows[0][0])

    def structural_mutation(self):
        """A valid playbook with a few of its values replaced, keys dropped or added."""
        r = self.r
        doc = yaml.safe_load(r.choice(list(self.valid.values())))
        doc["metadata"] = {"path": PREFIX + "mut/%d" % r.randint(1, 40)}
        for _ in range(r.randint(1, 3)):
            step = r.choice(doc["workflow"])
            key = r.choice(["next", "tool", "args", "retry", "when", "result", "priority", "loop",
                            "type", "sink", "step", "nosuch", "with", "code", "timeout"])
            k = r.random()
            if k < 0.3:
                step.pop(key, None)
            elif k < 0.5 and key == "retry":
                step[key] = r.choice([True, False, 0, 1, 3, 10001, -1, 1.5, "x", None,
                                      {"max_attempts": r.choice([1, 2, 5, 10000, 10001, 0]),
                                       "initial_delay": r.choice([0, 0.01, -1, 1e300, "1"]),
                                       "backoff_multiplier": r.choice([0, 1, 1e300, -2]),
                                       "max_delay": r.choice([0, 0.1, 1e300]),
                                       "jitter": r.choice([True, False, "yes"])}])
            elif k < 0.6 and key == "loop":
                step[key] = random_loop(r)
            elif k < 0.7 and key == "next":
                names = [st.get("step") for st in doc["workflow"]]
                step[key] = r.choice([[], [r.choice(names)], r.choice(names),
                                      [{"step": r.choice(names), "when": r.choice(HOSTILE_TEMPLATES)}],
                                      {"when": "{{ result.v }}", "then": [r.choice(names)]},
                                      [{"step": r.choice(names), "args": {"x": r.choice(HOSTILE_TEMPLATES)}}]])
            else:
                step[key] = rjson(r) if r.random() < 0.5 else r.choice(HOSTILE_TEMPLATES[:20] + ["fuzz_a", "fuzz_b"])
        if r.random() < 0.5:
            return json.dumps(doc)
        return yaml.safe_dump(doc, allow_unicode=True)

    def op_start(self):
        r = self.r
        s = self.session()
        k = r.random()
        path = r.choice(self.runnable) if k < 0.85 else r.choice(self.paths) if k < 0.93 \
            else r.choice(self.bad_paths + [None])
        if r.random() < 0.5:
            # mostly the version registered first (later ones may be mutations)
            version = self.versions.get(path) if r.random() < 0.7 else \
                r.choice([None] * 15 + [1, 2, 0, -1, 999, I32, I32 + 1])
            s.run("start", "SELECT noetl.execute(%s::text, %s::jsonb, %s::int)", (path, rworkload(r), version))
        else:
            etype = r.choice(["execution_start"] * 3 + ["execution_started", "playbook_started"])
            ctx = {"path": path}
            if r.random() < 0.6 and path in self.versions:
                ctx["version"] = self.versions[path]
            elif r.random() < 0.3:
                ctx["version"] = r.choice([1, "1", 1.5, 1e20, -1, None, [1], True])
            if r.random() < 0.7:
                try:
                    ctx["workload"] = json.loads(rworkload(r) or "null")
                except (ValueError, RecursionError):
                    ctx["workload"] = r.choice([[], "w", 1])
            ctx_text = json.dumps(ctx) if r.random() < 0.9 else rjson_text(r)
            eid = None
            kk = r.random()
            if kk < 0.08 and self.past_ids:
                eid = self.past_ids.pop()   # a valid, past, unused id chosen by the client
            elif kk < 0.12 and self.execs:
                eid = r.choice(self.execs)  # an existing execution: must fail
            elif kk < 0.16:
                eid = r.choice([I64, r.randint(-10 ** 12, -10 ** 6), 2 ** 62])
            elif kk < 0.18:
                # ids other tests use: only in a transaction that rolls back
                eid = r.choice([0, -1])
                s.must_rollback = s.in_txn
                if not s.in_txn:
                    eid = None
            nrows = 1 if r.random() < 0.9 else r.randint(2, 3)
            values = ", ".join(["(%s::bigint, %s::text, %s::jsonb, %s::bigint, %s::text, %s::timestamptz)"] * nrows)
            params = []
            for _ in range(nrows):
                params += [eid, etype, ctx_text,
                           r.choice([None, 1, 12345]),
                           r.choice([None, None, "ignored", "completed"]),
                           r.choice([None, None, "2000-01-01", "infinity"])]
            must_fail = eid is not None and eid in self.execs
            rows = s.run("start",
                         "INSERT INTO noetl.event (execution_id, event_type, context, event_id, status, created_at)"
                         " VALUES " + values + " RETURNING event_id, execution_id, status, created_at, lease_token",
                         params, must_fail=must_fail and nrows == 1, note="existing execution id",
                         check=self.check_returned)
            self.returned_events(s, rows)

    def check_returned(self, rows, chosen_ids=(1, 12345, 42)):
        """Stored events show the broker's event_id, created_at and status, never a token."""
        for row in rows:
            event_id, status, created_at, token = row[0], row[2], row[3], row[4]
            if token is not None:
                return "a lease_token was stored"
            if event_id in chosen_ids:
                return "the client's event_id was kept"
            if status not in (None, "ignored"):
                return "the client's status was kept"
            if created_at is not None and created_at.year < 2020:
                return "the client's created_at was kept"
        return None

    def op_lease(self):
        r = self.r
        s = self.session()
        worker = r.choice(["fz1", "fz2", "fz3"] * 12 + [None, "", " ", "w" * 10000, "ünï", "'; --"])
        max_tasks = r.choice([1, 1, 2, 3, 5, 20] * 8 + [0, -1, None, 1000, 1001, I32, -I32 - 1])
        seconds = r.choice([1, 2, 5, 30, 60] * 10 + [0, -5, None, 86400, 86401, I32])
        tools = r.choice([TOOLS] * 12 + [["fuzz_a"], ["fuzz_b"], [], ["nosuch"], [None], ["fuzz_a", None]])
        bad = worker in (None, "") or max_tasks is None or not 1 <= max_tasks <= 1000 \
            or seconds is None or not 1 <= seconds <= 86400
        if s.as_role:
            bad = True  # not granted
        if r.random() < 0.03 and s.in_txn:
            tools = None        # every tool, other tests' too: only in a transaction that rolls back
            s.must_rollback = True
        rows = s.run("lease", "SELECT " + LEASE_COLS + " FROM noetl.lease(%s::text, %s::int, %s::int, %s::text[])",
                     (worker, max_tasks, seconds, tools), must_fail=bad, note="invalid lease arguments",
                     check=lambda rows: self.check_lease(rows, max_tasks, tools))
        if rows and not bad:
            self.took(s, rows)

    def check_lease(self, rows, max_tasks, tools):
        if len(rows) > max_tasks:
            return "more tasks than max_tasks"
        for row in rows:
            if tools is not None and row[3] not in tools:
                return "a task of a tool not asked for"
            if not row[4]:
                return "a lease without a token"
        return None

    def result_param(self):
        return rjson_text(self.r) if self.r.random() < 0.9 else None

    def op_report(self):
        r = self.r
        s = self.session()
        if not self.held:
            return self.op_lease()
        if r.random() < 0.1:
            return self.op_multi(s)
        if self.spent and r.random() < 0.15:
            # twice, after a cancellation, after the execution ended, after a rollback:
            # the right token of an earlier lease
            lease = r.choice(self.spent)
        else:
            lease = r.choice(self.held)
        k = r.random()
        if k < 0.35:
            dur = r.choice([None, 0.5, -1.0, 1e308, float("nan")])
            s.run("report", "SELECT noetl.complete(%s::bigint, %s::text, %s::jsonb, %s::float8)",
                  (lease.qid, lease.token, self.result_param(), dur))
            self.spend(lease)
        elif k < 0.55:
            err = r.choice(["boom", "fatal", None, "", "e" * 100000, "ünï\nline"])
            s.run("report", "SELECT noetl.fail(%s::bigint, %s::text, %s::text, %s::jsonb, %s::text, %s::float8)",
                  (lease.qid, lease.token, err, self.result_param(), r.choice([None, "trace"]),
                   r.choice([None, 1.0])))
            self.spend(lease)
        elif k < 0.62:
            s.run("report", "SELECT noetl.release(%s::bigint, %s::text)", (lease.qid, lease.token))
            self.spend(lease)
        elif k < 0.72:
            ext = r.choice([1, 5, 30, 60, 0, -1, None, 86401])
            s.run("report", "SELECT noetl.heartbeat(%s::bigint, %s::text, %s::int)", (lease.qid, lease.token, ext),
                  must_fail=ext is None or not 1 <= ext <= 86400 or s.as_role, note="invalid extend_seconds")
        elif k < 0.82:
            etype = r.choice(["action_started", "step_result", "action_completed", "action_error",
                              "action_failed", "action_released", "execution_complete", "warning", None, ""])
            bad = etype not in ("action_started", "step_result", "action_completed", "action_error",
                                "action_failed", "action_released") or s.as_role
            s.run("report", "SELECT noetl.report(%s::bigint, %s::text, %s::text, %s::jsonb, %s::text, %s::text,"
                  " %s::float8, %s::jsonb)",
                  (lease.qid, lease.token, etype, self.result_param(), r.choice([None, "err"]),
                   None, None, r.choice([None, '{"lease_expired": true, "attempt": 1}', rjson_text(r)])),
                  must_fail=bad, note="not a report type")
            if etype in ("action_completed", "action_error", "action_failed", "action_released"):
                self.spend(lease)
        else:
            # a raw report: by queue_id, or by execution_id and node_id, with forged columns
            etype = r.choice(["action_completed", "action_error", "action_released", "action_started"])
            by_node = r.random() < 0.4
            cols = ["event_type", "lease_token", "result", "worker_id", "event_id", "status", "node_name",
                    "catalog_id", "created_at", "meta"]
            vals = [etype, lease.token, self.result_param(), r.choice(["forger", None]), r.choice([1, None, 42]),
                    r.choice(["completed", None, "ignored"]), r.choice([None, "other"]), r.choice([None, 1]),
                    r.choice([None, "2001-02-03"]), r.choice([None, '{"lease_expired": true, "attempt": 1}'])]
            if by_node:
                cols += ["execution_id", "node_id"]
                vals += [lease.eid, lease.node]
            else:
                cols += ["queue_id"]
                vals += [lease.qid]
            rows = self.insert_event(s, "report", cols, [vals])
            self.returned_events(s, rows)
            if etype != "action_started":
                self.spend(lease)

    def op_multi(self, s):
        """Several events in one INSERT: reports of held tasks (one maybe twice), a cancel, a start."""
        r = self.r
        leases = r.sample(self.held, min(len(self.held), r.randint(1, 3)))
        same = [x for x in self.held if x.eid == leases[0].eid and x not in leases]
        leases += same[:2]
        cols = ["event_type", "queue_id", "lease_token", "result", "execution_id", "context"]
        rows = [[r.choice(["action_completed"] * 3 + ["action_error", "action_released", "action_started"]),
                 x.qid, x.token, self.result_param(), None, None] for x in leases]
        if r.random() < 0.3:
            rows.append(list(rows[0]))
        if r.random() < 0.2:
            rows.append(["execution_cancel", None, None, None, leases[0].eid, None])
        if r.random() < 0.2:
            rows.append(["execution_start", None, None, None, None,
                         json.dumps({"path": r.choice(self.runnable), "workload": {"n": 1}})])
        r.shuffle(rows)
        for x in leases:
            self.spend(x)
        res = self.insert_event(s, "report", cols, rows)
        self.returned_events(s, res)

    def op_misreport(self):
        """Reports that must be refused: wrong, NULL, borrowed tokens, or the wrong execution."""
        r = self.r
        s = self.session()
        pool = self.held + self.spent
        if not pool:
            return self.op_lease()
        lease = r.choice(pool)
        others = [x for x in pool if x.qid != lease.qid and x.token != lease.token]
        k = r.random()
        if k < 0.2:
            token = None
        elif k < 0.5:
            token = str(uuid.UUID(int=r.getrandbits(128)))
        elif k < 0.7 and others:
            token = r.choice(others).token
        else:
            token = r.choice(["", " ", lease.token.upper() if lease.token else "x", lease.token + " ",
                              " " + lease.token, lease.token[:-1], lease.token + "\n"])
        if token == lease.token:
            token = "definitely-wrong"
        fn = r.random()
        if fn < 0.3:
            s.run("misreport", "SELECT noetl.complete(%s::bigint, %s::text, %s::jsonb)",
                  (lease.qid, token, self.result_param()), must_fail=True, note="wrong token")
        elif fn < 0.45:
            s.run("misreport", "SELECT noetl.fail(%s::bigint, %s::text, 'x')", (lease.qid, token),
                  must_fail=True, note="wrong token")
        elif fn < 0.55:
            s.run("misreport", "SELECT noetl.release(%s::bigint, %s::text)", (lease.qid, token),
                  must_fail=True, note="wrong token")
        elif fn < 0.65:
            s.run("misreport", "SELECT noetl.heartbeat(%s::bigint, %s::text, 10)", (lease.qid, token),
                  must_fail=True, note="wrong token")
        elif fn < 0.8:
            rows = self.insert_event(s, "misreport", ["event_type", "queue_id", "lease_token", "result"],
                                     [[r.choice(["action_completed", "action_error", "action_released",
                                                 "action_started", "step_result"]), lease.qid, token, self.result_param()]],
                                     must_fail=True, note="wrong token")
            self.returned_events(s, rows)
        else:
            # the right token, with another execution's id: must be refused
            other = [e for e in self.execs if e != lease.eid]
            if not other:
                return
            rows = self.insert_event(s, "misreport", ["event_type", "queue_id", "execution_id", "lease_token"],
                                     [["action_completed", lease.qid, r.choice(other), lease.token]],
                                     must_fail=True, note="task of another execution")
            self.returned_events(s, rows)

    COLTYPES = {"execution_id": "bigint", "event_id": "bigint", "parent_event_id": "bigint",
                "parent_execution_id": "bigint", "catalog_id": "bigint", "event_type": "text",
                "node_id": "text", "node_name": "text", "node_type": "text", "status": "text",
                "context": "jsonb", "result": "jsonb", "meta": "jsonb", "error": "text",
                "stack_trace": "text", "worker_id": "text", "queue_id": "bigint",
                "duration": "float8", "created_at": "timestamptz", "lease_token": "text"}

    def insert_event(self, s, cls, cols, rows, must_fail=False, note=None, form=None):
        """INSERTs event rows (VALUES, SELECT, a CTE, or COPY as the INSERT-only role)."""
        r = self.r
        form = form or r.choice(["values"] * 6 + ["select", "cte", "conflict"])
        one = "(" + ", ".join("%%s::%s" % self.COLTYPES[c] for c in cols) + ")"
        params = [v for row in rows for v in row]
        returning = "" if s.as_role else " RETURNING event_id, execution_id, status, created_at, lease_token"
        collist = "(" + ", ".join(cols) + ")"
        if form == "select":
            sql = "INSERT INTO noetl.event %s SELECT * FROM (VALUES %s) v%s" % (
                collist, ", ".join([one] * len(rows)), returning)
        elif form == "cte" and not s.as_role:
            sql = ("WITH ins AS (INSERT INTO noetl.event %s VALUES %s%s) SELECT * FROM ins ORDER BY event_id"
                   % (collist, ", ".join([one] * len(rows)), returning))
        elif form == "conflict":
            sql = "INSERT INTO noetl.event %s VALUES %s ON CONFLICT DO NOTHING%s" % (
                collist, ", ".join([one] * len(rows)), returning)
        else:
            sql = "INSERT INTO noetl.event %s VALUES %s%s" % (collist, ", ".join([one] * len(rows)), returning)
        return s.run(cls, sql, params, must_fail=must_fail, note=note,
                     check=None if must_fail or s.as_role else self.check_returned)

    def copy_events(self, s, cols, rows):
        """COPY FROM STDIN as the INSERT-only role: a stream of events, checked as such."""
        if not s.in_txn or s.failed:
            return
        if not s.as_role:
            if s.control("SET LOCAL ROLE " + ROLE) is None:
                return
            s.as_role = True
            s.role_depth = s.savepoints
        must_fail = any(row[cols.index("event_type")] in BROKER_TYPES for row in rows)
        try:
            with s.conn.cursor().copy("COPY noetl.event (%s) FROM STDIN" % ", ".join(cols)) as cp:
                for row in rows:
                    cp.write_row(row)
        except psycopg.Error as e:
            state = getattr(e, "sqlstate", None)
            s.failed = True
            if s.conn.closed or s.conn.broken:
                self.stats.add("event", "unclean", "connection lost in COPY: %s" % short(rows))
                raise Lost(str(e))
            if unclean_state(state) or (state == "57014" and not s.short_timeout):
                self.stats.add("event", "unclean", "[%s] %s -- COPY %s" % (state, str(e).split("\n")[0], short(rows)))
            else:
                self.stats.add("event", "clean", str(e).split("\n")[0][:200], state)
            return
        if must_fail:
            self.stats.add("event", "unclean", "COPY of a broker event type succeeded: %s" % short(rows))
        else:
            self.stats.add("event", "ok")

    def random_event_row(self, cols):
        r = self.r
        row = []
        for c in cols:
            if c == "event_type":
                row.append(r.choice(CLIENT_TYPES * 2 + BROKER_TYPES + OTHER_TYPES + [None]))
            elif c == "execution_id":
                row.append(self.rexec())
            elif c == "queue_id":
                row.append(self.rqueue())
            elif c in ("event_id", "parent_event_id", "parent_execution_id", "catalog_id"):
                row.append(r.choice([None, 0, -1, 1, I64, r.randint(1, I64)]))
            elif c in ("node_id", "node_name"):
                row.append(self.rnode())
            elif c == "node_type":
                row.append(r.choice([None, "fuzz_a", "control", "python"]))
            elif c == "status":
                row.append(r.choice([None, "ignored", "completed", "failed", "x"]))
            elif c == "context":
                row.append(json.dumps({"path": r.choice(self.paths), "workload": rjson(r)})
                           if r.random() < 0.4 else rjson_text(r))
            elif c in ("result", "meta"):
                row.append(rjson_text(r) if r.random() < 0.8 else None)
            elif c in ("error", "stack_trace"):
                row.append(r.choice([None, "err", "", "e" * 50000]))
            elif c == "worker_id":
                row.append(r.choice([None, "fz1", "forger"]))
            elif c == "duration":
                row.append(r.choice([None, "NaN", "Infinity", "-1", "1e308", "1e309", "0"]))
            elif c == "created_at":
                row.append(r.choice([None, "2000-01-01", "infinity", "-infinity", "epoch", "294277-01-01", "garbage"]))
            elif c == "lease_token":
                row.append(self.rtoken())
        return row

    def op_event(self):
        r = self.r
        s = self.session()
        optional = ["execution_id", "queue_id", "node_id", "node_name", "node_type", "status", "context",
                    "result", "meta", "error", "stack_trace", "worker_id", "duration", "created_at",
                    "lease_token", "event_id", "parent_event_id", "parent_execution_id", "catalog_id"]
        cols = ["event_type"] + r.sample(optional, r.randint(1, 7))
        if "execution_id" not in cols and r.random() < 0.7:
            cols.append("execution_id")
        n = 1 if r.random() < 0.8 else r.randint(2, 4)
        rows = [self.random_event_row(cols) for _ in range(n)]
        for row in rows:
            for i, c in enumerate(cols):
                if isinstance(row[i], str):
                    row[i] = row[i].replace("\x00", "")
        # executions 0 and -1 (other tests name them) and other tests' executions are
        # only touched in transactions that roll back
        if "execution_id" in cols:
            i = cols.index("execution_id")
            for row in rows:
                if row[i] in (0, -1) or row[i] in self.other_execs:
                    if s.in_txn:
                        s.must_rollback = True
                    else:
                        row[i] = None
        types = [row[0] for row in rows]
        must_fail = any(t in BROKER_TYPES or t is None for t in types)
        if r.random() < 0.08 and s.in_txn and not s.failed and not isinstance(s, Collector):
            self.copy_events(s, cols, rows)
            return
        res = self.insert_event(s, "event", cols, rows, must_fail=must_fail, note="broker or NULL event type")
        self.returned_events(s, res)

    def op_cancel(self):
        r = self.r
        s = self.session()
        eid = self.rexec()
        if eid in (0, -1) or eid in self.other_execs:
            if not s.in_txn:
                return
            s.must_rollback = True
        if r.random() < 0.6:
            rows = s.run("cancel", "SELECT noetl.cancel(%s::bigint)", (eid,), must_fail=s.as_role)
        else:
            cols = ["event_type", "execution_id"] + r.sample(["queue_id", "node_id", "result", "lease_token", "status"], 2)
            row = self.random_event_row(cols)
            row[0], row[1] = "execution_cancel", eid
            rows = self.insert_event(s, "cancel", cols, [row])
            self.returned_events(s, rows)

    def op_template(self):
        r = self.r
        s = self.session()
        k = r.random()
        if k < 0.3:
            t = r.choice(HOSTILE_TEMPLATES)
        elif k < 0.8:
            t = self.mutate_template(r, r.choice(self.templates))
        else:
            t = r.choice(self.templates)
        t = t.replace("\x00", "")
        ctx = r.choice(self.contexts) if r.random() < 0.7 else rjson_text(r)
        fn = r.random()
        if fn < 0.4:
            s.run("template", "SELECT length(noetl.render_text(%s::text, %s::jsonb))", (t, ctx))
        elif fn < 0.6:
            tpl = json.dumps({"a": t, "b": [t, {"c": "{{ x }}"}], "n": 1}) if r.random() < 0.7 else rjson_text(r)
            s.run("template", "SELECT noetl.render(%s::jsonb, %s::jsonb) IS NULL", (tpl, ctx))
        elif fn < 0.8:
            expr = t.replace("{{", "").replace("}}", "") if r.random() < 0.7 else t
            s.run("template", "SELECT noetl.eval(%s::text, %s::jsonb) IS NULL", (expr, ctx))
        else:
            s.run("template", "SELECT noetl.truthy(%s::text, %s::jsonb)", (t, ctx))

    def op_subxact(self):
        """Several operations in one statement, each in an exception block of a PL/pgSQL
        function: errors of the broker caught in a subtransaction, and the next event
        evaluated after them in the same transaction."""
        r = self.r
        s = self.session()
        if s.failed:
            return
        col = Collector(s)
        self.collector = col
        try:
            for _ in range(r.randint(2, 6)):
                r.choice([self.op_report, self.op_report, self.op_misreport, self.op_event,
                          self.op_start, self.op_cancel, self.op_lease, self.op_template])()
        finally:
            self.collector = None
        for _, lease in col.new_leases:
            self.spent.append(lease)
        if not col.stmts:
            return
        s.must_rollback = s.must_rollback or col.must_rollback
        if col.must_rollback and not s.in_txn:
            return
        rows = s.run("subxact", "SELECT pg_temp.fuzz_try(%s::text[])", ([st for _, st, _, _ in col.stmts],))
        if not rows:
            return
        for (cls, st, must_fail, note), state in zip(col.stmts, rows[0][0]):
            if state == "ok" and must_fail:
                self.stats.add("subxact", "unclean", "succeeded but must fail (%s) in fuzz_try: %s"
                               % (note or "", short(st, 400)))
            elif state != "ok" and unclean_state(state):
                self.stats.add("subxact", "unclean", "[%s] in fuzz_try: %s" % (state, short(st, 400)))

    # -------------------------------------------------------------- bursts

    def op_burst(self):
        """Several connections at once, each in its own thread."""
        r = self.r
        for s in self.sessions:
            self.commit_or_rollback(s)
        kind = r.choice(["same_task", "branches", "cancel_race", "leases", "mixed"])
        jobs = []
        if kind == "same_task":
            if not self.held:
                return
            lease = r.choice(self.held)
            self.spend(lease)
            res = self.result_param()
            for s in self.sessions:
                jobs.append((s, "SELECT noetl.complete(%s::bigint, %s::text, %s::jsonb)",
                             (lease.qid, lease.token, res)))
        elif kind == "branches":
            # every branch of one execution held, completed from different connections
            by_exec = {}
            for lease in self.held:
                by_exec.setdefault(lease.eid, []).append(lease)
            many = [v for v in by_exec.values() if len(v) >= 2]
            if not many:
                return
            group = r.choice(many)[:NCONN]
            for s, lease in zip(self.sessions, group):
                self.spend(lease)
                jobs.append((s, "SELECT noetl.complete(%s::bigint, %s::text, %s::jsonb)",
                             (lease.qid, lease.token, self.result_param())))
        elif kind == "cancel_race":
            if not self.held:
                return
            lease = r.choice(self.held)
            self.spend(lease)
            jobs.append((self.sessions[0], "SELECT noetl.complete(%s::bigint, %s::text, '{\"v\": 1}')",
                         (lease.qid, lease.token)))
            jobs.append((self.sessions[1], "SELECT noetl.cancel(%s::bigint)", (lease.eid,)))
            jobs.append((self.sessions[2], "SELECT noetl.fail(%s::bigint, %s::text, 'race')",
                         (lease.qid, lease.token)))
        elif kind == "leases":
            for i, s in enumerate(self.sessions):
                jobs.append((s, "SELECT " + LEASE_COLS + " FROM noetl.lease(%s::text, 3, 30, %s::text[])",
                             ("burst%d" % i, TOOLS)))
        else:
            path = r.choice(self.paths)
            jobs.append((self.sessions[0], "SELECT noetl.execute(%s::text, %s::jsonb)", (path, rworkload(r))))
            if self.execs:
                jobs.append((self.sessions[1], "SELECT noetl.cancel(%s::bigint)", (r.choice(self.execs),)))
            if self.held:
                lease = r.choice(self.held)
                self.spend(lease)
                jobs.append((self.sessions[2], "SELECT noetl.release(%s::bigint, %s::text)",
                             (lease.qid, lease.token)))
        barrier = threading.Barrier(len(jobs))
        results = [None] * len(jobs)
        lost = []

        def work(i, s, sql, params):
            try:
                barrier.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass
            try:
                results[i] = s.run("burst", sql, params)
            except Lost as e:
                lost.append(e)

        threads = [threading.Thread(target=work, args=(i,) + job) for i, job in enumerate(jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if lost:
            raise lost[0]
        if kind == "leases":
            seen = {}
            for res in results:
                for lease in self.took(self.sessions[0], res or []):
                    if lease.qid in seen:
                        self.stats.add("burst", "unclean", "task %d leased twice at once" % lease.qid)
                    seen[lease.qid] = lease

    # -------------------------------------------------------------- the run

    def run(self, nops):
        r = self.r
        ops = [(self.op_txn, 12), (self.op_start, 10), (self.op_lease, 14), (self.op_report, 20),
               (self.op_misreport, 6), (self.op_event, 14), (self.op_cancel, 3), (self.op_template, 10),
               (self.op_register, 4), (self.op_burst, 2), (self.op_subxact, 3)]
        fns = [f for f, _ in ops]
        weights = [w for _, w in ops]
        for i in range(nops):
            if i % 100 == 0:
                try:
                    self.refresh()
                except psycopg.OperationalError as e:
                    raise Lost("the fuzz's own connection: %s" % e)
            fn = r.choices(fns, weights)[0]
            t = time.time()
            try:
                fn()
            except Lost:
                raise
            except Exception:   # a bug of the fuzz itself
                self.stats.add("fuzzer", "unclean", "operation %d (%s): %s" % (
                    i, fn.__name__, traceback.format_exc()))
            self.stats.time[fn.__name__] = self.stats.time.get(fn.__name__, 0) + time.time() - t
            if self.stats.hangs >= 1 and not self.hang_later:
                # a hang is reported already: the rest of the run need not wait as long
                self.hang_later = True
                for s in self.sessions:
                    self.commit_or_rollback(s)
                    s.control("SET statement_timeout = '%s'" % HANG_LATER)
            # a transaction does not stay open for long
            for s in self.sessions:
                if s.in_txn and r.random() < 0.05:
                    self.commit_or_rollback(s)
        for s in self.sessions:
            self.commit_or_rollback(s)


# ------------------------------------------------------------------ checks

def broker_pids(conn):
    return [row[0] for row in conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'noetl broker' ORDER BY pid").fetchall()]


def check_invariants(conn, client_events, snapshot=True):
    """The invariants, read in one snapshot: a dict of check name -> problems.
    With snapshot=False they are read in the caller's transaction."""
    if snapshot:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return check_invariants(conn, client_events, False)
    out = {}
    out["terminal"] = conn.execute("""
        SELECT 'execution ' || x.execution_id || ' is ' || x.status || ' with ' || count(e.event_id)
               || ' terminal events'
          FROM noetl.execution x
          LEFT JOIN noetl.event e ON e.execution_id = x.execution_id
               AND e.event_type IN ('execution_complete', 'execution_failed', 'execution_cancelled')
         GROUP BY x.execution_id, x.status
        HAVING count(e.event_id) <> CASE WHEN x.status = 'running' THEN 0 ELSE 1 END
        UNION ALL
        SELECT 'terminal event ' || e.event_id || ' of execution ' || e.execution_id || ', which does not exist'
          FROM noetl.event e
         WHERE e.event_type IN ('execution_complete', 'execution_failed', 'execution_cancelled')
           AND NOT EXISTS (SELECT 1 FROM noetl.execution x WHERE x.execution_id = e.execution_id)
         LIMIT 20""").fetchall()
    # a step's queue row (node_id = node_name) has one step_started; an
    # iteration's ("step[i]") has one loop_iteration once admitted (none while
    # waiting; a dead one may have died in its admission, a cancelled one
    # waiting), under a loop step_state of its execution; a loop's own
    # step_started (node_type loop, no queue_id) is one per loop step_state
    out["dispatch"] = conn.execute("""
        SELECT 'queue row ' || q.queue_id || ' (' || q.execution_id || ', ' || q.node_id || ') has '
               || count(e.event_id) || ' step_started events'
          FROM noetl.queue q
          LEFT JOIN noetl.event e ON e.execution_id = q.execution_id AND e.queue_id = q.queue_id
               AND e.event_type = 'step_started'
         WHERE q.node_id = q.node_name
         GROUP BY q.queue_id, q.execution_id, q.node_id
        HAVING count(e.event_id) <> 1
        UNION ALL
        SELECT 'iteration ' || q.queue_id || ' (' || q.execution_id || ', ' || q.node_id || ') is '
               || q.status || ' with ' || count(e.event_id) || ' loop_iteration and '
               || count(e.event_id) FILTER (WHERE e.event_type = 'step_started') || ' step_started events'
          FROM noetl.queue q
          LEFT JOIN noetl.event e ON e.execution_id = q.execution_id AND e.queue_id = q.queue_id
               AND e.event_type IN ('loop_iteration', 'step_started')
         WHERE q.node_id <> q.node_name
         GROUP BY q.queue_id, q.execution_id, q.node_id, q.status
        HAVING count(e.event_id) FILTER (WHERE e.event_type = 'step_started') <> 0
            OR count(e.event_id) > CASE WHEN q.status::text = 'waiting' THEN 0 ELSE 1 END
            OR (count(e.event_id) = 0 AND q.status::text IN ('queued', 'leased', 'retry', 'done'))
        UNION ALL
        SELECT 'iteration ' || q.queue_id || ' (' || q.execution_id || ', ' || q.node_id
               || ') has no loop step ' || q.node_name || ' that holds its index'
          FROM noetl.queue q
         WHERE q.node_id <> q.node_name
           AND NOT EXISTS (SELECT 1 FROM noetl.step_state s
                            WHERE s.execution_id = q.execution_id AND s.step = q.node_name
                              AND s.loop_total IS NOT NULL
                              AND q.node_id = ANY (SELECT s.step || '[' || i || ']'
                                                     FROM generate_series(0, s.loop_total - 1) i))
        UNION ALL
        SELECT 'step_started ' || e.event_id || ' of execution ' || e.execution_id || ' names queue_id '
               || coalesce(e.queue_id::text, 'NULL') || ', which is no task of it'
          FROM noetl.event e
         WHERE e.event_type = 'step_started'
           AND e.queue_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM noetl.queue q
                            WHERE q.queue_id = e.queue_id AND q.execution_id = e.execution_id)
        UNION ALL
        SELECT 'step_started ' || e.event_id || ' of execution ' || e.execution_id || ' (' || e.node_id
               || ', ' || coalesce(e.node_type, 'no node_type') || ') has no queue_id and no loop step_state'
          FROM noetl.event e
         WHERE e.event_type = 'step_started'
           AND e.queue_id IS NULL
           AND (e.node_type IS DISTINCT FROM 'loop'
                OR NOT EXISTS (SELECT 1 FROM noetl.step_state s
                                WHERE s.execution_id = e.execution_id AND s.step = e.node_id
                                  AND s.loop_total IS NOT NULL))
        UNION ALL
        SELECT 'loop step ' || s.step || ' of execution ' || s.execution_id || ' has '
               || count(e.event_id) || ' step_started events'
          FROM noetl.step_state s
          LEFT JOIN noetl.event e ON e.execution_id = s.execution_id AND e.node_id = s.step
               AND e.event_type = 'step_started'
         WHERE s.loop_total IS NOT NULL
         GROUP BY s.execution_id, s.step
        HAVING count(e.event_id) <> 1
        UNION ALL
        SELECT 'queue row ' || q.queue_id || ' of execution ' || q.execution_id || ', which does not exist'
          FROM noetl.queue q
         WHERE NOT EXISTS (SELECT 1 FROM noetl.execution x WHERE x.execution_id = q.execution_id)
         LIMIT 20""").fetchall()
    # a running loop: its rows match its counters (all n rows inserted at its
    # start, the first loop_next admitted, the rest waiting), and no more
    # than its window are in flight; a completed one has every row ended
    # and a list of loop_total; no ended execution keeps a waiting row
    out["loops"] = conn.execute("""
        WITH it AS (
            SELECT q.execution_id, q.node_name AS step, q.status::text AS status,
                   substring(q.node_id FROM length(q.node_name) + 2
                             FOR length(q.node_id) - length(q.node_name) - 2)::int AS i
              FROM noetl.queue q
             WHERE q.node_id <> q.node_name AND q.node_id LIKE '%%]'
               AND substring(q.node_id FROM length(q.node_name) + 2
                             FOR length(q.node_id) - length(q.node_name) - 2) ~ '^[0-9]{1,9}$')
        SELECT 'loop ' || s.step || ' of execution ' || s.execution_id || ' (' || s.status
               || ', total ' || s.loop_total || ', next ' || s.loop_next || ', done ' || s.loop_done
               || ', failed ' || s.loop_failed || ', window ' || s.loop_window || ') has '
               || count(it.i) || ' rows: ' || count(it.i) FILTER (WHERE it.status = 'waiting')
               || ' waiting (' || count(it.i) FILTER (WHERE it.status = 'waiting' AND it.i < s.loop_next)
               || ' admitted), ' || count(it.i) FILTER (WHERE it.status IN ('queued', 'leased', 'retry'))
               || ' in flight, ' || count(it.i) FILTER (WHERE it.status = 'done') || ' done, '
               || count(it.i) FILTER (WHERE it.status = 'dead') || ' dead, '
               || count(it.i) FILTER (WHERE it.status = 'cancelled') || ' cancelled'
          FROM noetl.step_state s
          JOIN noetl.execution x ON x.execution_id = s.execution_id
          LEFT JOIN it ON it.execution_id = s.execution_id AND it.step = s.step
         WHERE s.loop_total IS NOT NULL
         GROUP BY s.execution_id, s.step, s.status, s.loop_total, s.loop_next, s.loop_done,
                  s.loop_failed, s.loop_window, x.status, s.result
        HAVING count(it.i) <> s.loop_total
            OR (s.status::text = 'dispatched' AND x.status::text = 'running'
                AND (count(it.i) FILTER (WHERE it.status = 'waiting' AND it.i < s.loop_next) <> 0
                     OR count(it.i) FILTER (WHERE it.status <> 'waiting' AND it.i >= s.loop_next) <> 0
                     OR count(it.i) FILTER (WHERE it.status IN ('done', 'dead')) <> s.loop_done
                     OR count(it.i) FILTER (WHERE it.status = 'dead') <> s.loop_failed
                     OR count(it.i) FILTER (WHERE it.status IN ('queued', 'leased', 'retry'))
                        <> s.loop_next - s.loop_done
                     OR s.loop_next - s.loop_done > s.loop_window
                     OR s.loop_done >= s.loop_total))
            OR (s.status::text = 'completed'
                AND (count(it.i) FILTER (WHERE it.status IN ('done', 'dead')) <> s.loop_total
                     OR jsonb_typeof(s.result) IS DISTINCT FROM 'array'
                     OR jsonb_array_length(s.result) <> s.loop_total))
            OR (x.status::text <> 'running' AND count(it.i) FILTER (WHERE it.status = 'waiting') <> 0)
            OR (x.status::text <> 'running' AND s.status::text = 'dispatched')
         LIMIT 20""").fetchall()
    out["pending"] = conn.execute("""
        SELECT 'execution ' || x.execution_id || ' is ' || x.status || ' with pending ' || x.pending
               || ' and ' || count(q.queue_id) || ' outstanding tasks'
          FROM noetl.execution x
          LEFT JOIN noetl.queue q ON q.execution_id = x.execution_id
               AND q.status IN ('queued', 'leased', 'retry')
         GROUP BY x.execution_id, x.status, x.pending
        HAVING x.pending <> CASE WHEN x.status = 'running'
                                 THEN count(q.queue_id)
                                      + (SELECT count(*) FROM noetl.step_state s
                                          WHERE s.execution_id = x.execution_id
                                            AND s.loop_total IS NOT NULL
                                            AND s.status::text = 'dispatched')
                                 ELSE 0 END
            OR (x.status <> 'running' AND count(q.queue_id) <> 0)
         LIMIT 20""").fetchall()
    out["stuck"] = conn.execute("""
        SELECT 'execution ' || x.execution_id || ' is running with nothing outstanding'
          FROM noetl.execution x
         WHERE x.status = 'running' AND x.pending = 0
           AND NOT EXISTS (SELECT 1 FROM noetl.queue q WHERE q.execution_id = x.execution_id
                              AND q.status IN ('queued', 'leased', 'retry'))
         LIMIT 20""").fetchall()
    out["client"] = conn.execute("""
        SELECT 'event ' || e.event_id || ' of execution ' || e.execution_id || ' stores a lease_token'
          FROM noetl.event e WHERE e.lease_token IS NOT NULL
        UNION ALL
        SELECT 'event ' || e.event_id || ' (' || e.event_type || ') belongs to execution ' || x.execution_id
               || ', which is ' || x.status
          FROM noetl.event e JOIN noetl.execution x USING (execution_id)
         WHERE (e.event_type = 'execution_complete' AND x.status <> 'completed')
            OR (e.event_type = 'execution_failed' AND x.status <> 'failed')
            OR (e.event_type = 'execution_cancelled' AND x.status <> 'cancelled')
        UNION ALL
        SELECT 'event ' || e.event_id || ' is stored under the alias ' || e.event_type
          FROM noetl.event e WHERE e.event_type = ANY(%s)
        UNION ALL
        SELECT 'broker event ' || e.event_id || ' (' || e.event_type || ') of execution ' || e.execution_id
               || ' was not produced by an event of that execution, its parent or a child of it'
          FROM noetl.event e
          JOIN noetl.execution x ON x.execution_id = e.execution_id
         WHERE e.event_type = ANY(%s)
           AND NOT EXISTS (SELECT 1 FROM noetl.event p
                            WHERE p.execution_id = e.execution_id AND p.event_id = e.parent_event_id
                              AND NOT p.event_type = ANY(%s))
           -- a sub-playbook's end is written into its parent by the child's terminal
           -- event, and a parent's start, cancel or failure into its children by its own
           AND NOT EXISTS (SELECT 1 FROM noetl.event p
                             JOIN noetl.execution px ON px.execution_id = p.execution_id
                            WHERE p.event_id = e.parent_event_id
                              AND (p.execution_id = x.parent_execution_id
                                   OR px.parent_execution_id = e.execution_id))
        UNION ALL
        SELECT 'event ' || e.event_id || ', inserted by the fuzz, is stored as ' || e.event_type
          FROM noetl.event e
         WHERE e.event_id = ANY(%s) AND e.event_type = ANY(%s)
         LIMIT 20""", (ALIASES, BROKER_TYPES, BROKER_TYPES, client_events, BROKER_TYPES)).fetchall()
    return {k: [row[0] for row in v] for k, v in out.items()}


def drive(conn, seconds):
    """Leases and completes the fuzz's tasks until none is left to do (or time is up)."""
    conn.execute("SET statement_timeout = '60s'")
    deadline = time.time() + seconds
    done = 0
    while time.time() < deadline:
        rows = conn.execute("SELECT queue_id, lease_token, node_id FROM noetl.lease('fuzz-driver', 100, 60, %s)",
                            (TOOLS,)).fetchall()
        for qid, token, node in rows:
            try:
                conn.execute("SELECT noetl.complete(%s, %s, %s::jsonb)",
                             (qid, token, json.dumps({"v": 3, "ok": True, "zero": 1, "node": node})))
                done += 1
            except psycopg.Error:
                pass
        if not rows:
            waiting = conn.execute(
                "SELECT count(*) FROM noetl.queue q JOIN noetl.execution x USING (execution_id)"
                " JOIN noetl.catalog c ON c.catalog_id = x.catalog_id"
                " WHERE c.path LIKE %s AND x.status = 'running' AND q.tool = ANY(%s)"
                " AND (q.status = 'retry' AND q.available_at < now() + interval '3 s'"
                "      OR q.status = 'leased' AND q.lease_until < now() + interval '3 s')",
                (PREFIX + "%", TOOLS)).fetchone()[0]
            if waiting == 0:
                break
            time.sleep(0.1)
    return done


def reconnect():
    """A new connection, once the server accepts one again (after a crash, it recovers first)."""
    for _ in range(300):
        try:
            return connect()
        except psycopg.OperationalError:
            time.sleep(0.1)
    return connect()


def drop_role(conn):
    """Drops the fuzz's role if it exists: True, or the error."""
    try:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone():
            conn.execute("REVOKE ALL ON noetl.event FROM " + ROLE)
            conn.execute("DROP ROLE " + ROLE)
        return True
    except psycopg.Error as e:
        return str(e)


def main():
    tap = Tap()
    t0 = time.time()
    print("# seed %d, %d operations, %d connections (NOETL_FUZZ_SEED=%d NOETL_FUZZ_OPS=%d to replay)"
          % (SEED, OPS, NCONN, SEED, OPS))
    admin = connect()
    admin.execute("SET client_min_messages = warning")
    start_time = admin.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
    brokers = broker_pids(admin)
    drop_role(admin)
    admin.execute("CREATE ROLE " + ROLE)
    atexit.register(lambda: drop_role(reconnect()))     # also if the fuzz itself fails
    admin.execute("GRANT INSERT ON noetl.event TO " + ROLE)
    canary = connect()
    run_start = admin.execute("SELECT now()").fetchone()[0]

    r = random.Random(SEED)
    stats = Stats()
    fz = Fuzz(r, stats)
    fz.valid = valid_playbooks()
    refused = []
    for name, text in fz.valid.items():
        try:
            path, version = admin.execute("SELECT path, version FROM noetl.register(%s)", (text,)).fetchone()
            fz.paths.append(path)
            fz.versions[path] = version
            fz.runnable.append(path)
        except psycopg.Error as e:
            refused.append("%s: %s" % (name, e))
    tap.ok(not refused, "%d playbooks of every shape register" % len(fz.valid), "\n".join(refused))
    # random loops: registered if their settings are valid (a refusal is a clean error, checked
    # with the register class), runnable then
    loops, unclean = 0, []
    for n in range(30):
        try:
            path, version = admin.execute("SELECT path, version FROM noetl.register(%s)",
                                          (random_loop_playbook(r, n),)).fetchone()
            fz.paths.append(path)
            fz.versions[path] = version
            fz.runnable.append(path)
            loops += 1
        except psycopg.Error as e:
            if unclean_state(e.sqlstate):
                unclean.append("%s: %s" % (e.sqlstate, str(e).strip()))
    tap.ok(loops > 0 and not unclean, "random loop playbooks register or are refused cleanly "
           "(%d of 30 registered)" % loops, "\n".join(unclean))

    tf = load_module("template_fuzz")
    td = tf.load_generator()
    gen = td.Gen(SEED)
    with open(os.path.join(REPO, "test", "templates", "cases.yaml"), encoding="utf-8") as f:
        fz.templates = [c["t"] for c in yaml.safe_load(f)] + [gen.template() for _ in range(100)]
    fz.mutate_template = tf.mutate
    fz.contexts = [json.dumps(td.BASE_CONTEXT), "{}", "[]", "null", "1", '"s"',
                   json.dumps({"x": {"y": None}, "l": list(range(100))})]

    lost = None
    try:
        fz.run(OPS)
    except Lost as e:
        lost = e
        print("# a connection was lost, the fuzz stopped: %s" % str(e).strip().split("\n")[0])
        time.sleep(2)       # if the server crashed, it is restarting
    fuzz_seconds = time.time() - t0
    print("# seconds by operation: %s" % ", ".join(
        "%s %.1f" % (k[3:], v) for k, v in sorted(stats.time.items(), key=lambda kv: -kv[1])))

    # per operation class: clean outcomes only
    for cls in ["register", "start", "lease", "report", "misreport", "event", "cancel", "template", "txn",
                "burst", "subxact"]:
        c = stats.classes.get(cls, {"ops": 0, "ok": 0, "clean": 0, "unclean": [], "states": {}})
        states = sorted(c["states"].items(), key=lambda kv: -kv[1])
        tap.ok(not c["unclean"] and (c["ops"] > 0 or OPS < 2000),
               "%s: %d ops, all succeeded or failed cleanly (%d succeeded, %d failed%s)"
               % (cls, c["ops"], c["ok"], c["clean"],
                  ": " + ", ".join("%s %d" % kv for kv in states[:6]) + (", ..." if len(states) > 6 else "")
                  if states else ""),
               "%d unclean, the first ones:\n%s" % (len(c["unclean"]), "\n".join(c["unclean"][:5])))
    bugs = stats.classes.get("fuzzer", {"unclean": []})["unclean"]
    tap.ok(not bugs, "the fuzz itself raised no exception", "\n".join(bugs[:3]))

    # the invariants, while executions still run ...
    checker = reconnect()
    names = [
        ("terminal", "one terminal event per ended execution, none while running"),
        ("dispatch", "every step's queue row has exactly one step_started, every admitted iteration one "
                     "loop_iteration, every step_started its queue row or loop step"),
        ("loops", "every loop's rows match its counters and its window; a completed loop has its whole "
                  "list; no ended execution keeps a waiting iteration"),
        ("pending", "pending equals the outstanding tasks and running loops (0, and none outstanding, "
                    "once ended)"),
        ("stuck", "every running execution has work outstanding (none is stuck)"),
        ("client", "no stored lease token, no broker event written by a client"),
    ]
    mine = ("SELECT x.status, count(*) FROM noetl.execution x JOIN noetl.catalog c USING (catalog_id)"
            " WHERE c.path LIKE %s AND x.started_at >= %s GROUP BY 1 ORDER BY 1")
    counts = checker.execute(mine, (PREFIX + "%", run_start)).fetchall()
    print("# after %.1f s of fuzzing, this run's executions: %s"
          % (fuzz_seconds, ", ".join("%s %d" % c for c in counts)))
    mid = check_invariants(checker, fz.client_events)
    for key, name in names:
        tap.ok(not mid[key], "during the run: " + name, "\n".join(mid[key]))

    # ... then after the fuzz's tasks are leased and completed, and the rest cancelled
    completed = drive(checker, 20)
    cancelled = checker.execute(
        "SELECT count(noetl.cancel(x.execution_id)) FROM noetl.execution x JOIN noetl.catalog c USING (catalog_id)"
        " WHERE c.path LIKE %s AND x.status = 'running'", (PREFIX + "%",)).fetchone()[0]
    counts = checker.execute(mine, (PREFIX + "%", run_start)).fetchall()
    expired = checker.execute(
        "SELECT count(*) FROM noetl.event e JOIN noetl.execution x USING (execution_id)"
        " JOIN noetl.catalog c ON c.catalog_id = x.catalog_id"
        " WHERE c.path LIKE %s AND x.started_at >= %s AND e.error = 'lease expired'",
        (PREFIX + "%", run_start)).fetchone()[0]
    print("# drove %d tasks to completion, cancelled %d executions: %s; the broker worker expired %d leases"
          % (completed, cancelled, ", ".join("%s %d" % c for c in counts), expired))
    end = check_invariants(checker, fz.client_events)
    for key, name in names:
        tap.ok(not end[key], "at the end: " + name, "\n".join(end[key]))
    by = dict(counts)
    tap.ok((by.get("completed", 0) > 0 and by.get("failed", 0) > 0 and by.get("cancelled", 0) > 0 or OPS < 2000)
           and by.get("running", 0) == 0,
           "this run's executions ended every way, and none runs", "by status: %s" % by)

    # nothing restarted, checked last so that a crash anywhere above shows
    alive = []
    for name, conn in [(s.name, s.conn) for s in fz.sessions] + [("the idle one", canary), ("admin", admin)]:
        try:
            conn.execute("SELECT 1").fetchone()
        except psycopg.Error as e:
            alive.append("%s: %s" % (name, str(e).strip().split("\n")[0]))
    checker = reconnect()
    now_start = checker.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
    tap.ok(now_start == start_time, "the server never restarted (started at %s)" % start_time,
           "pg_postmaster_start_time() was %s, is %s" % (start_time, now_start))
    tap.ok(not alive and lost is None,
           "every connection of the fuzz is still alive (%d, an idle one, the checker's)" % NCONN,
           "\n".join(alive + ["lost during the fuzz: %s" % lost] if lost else alive))
    brokers_now = broker_pids(checker)
    tap.ok(len(brokers) == 1 and brokers_now == brokers,
           "the broker worker is the process it was (pid %s)" % (brokers[0] if brokers else None),
           "broker worker pids: %s at the start, %s now" % (brokers, brokers_now))

    # clean up: the role (executions and playbooks stay)
    for conn in [s.conn for s in fz.sessions] + [canary, fz.admin, admin]:
        conn.close()
    dropped = drop_role(checker)
    tap.ok(dropped is True, "the fuzz's role is dropped", dropped)
    print("# %.1f s in all" % (time.time() - t0))
    tap.done()


if __name__ == "__main__":
    main()
