#!/usr/bin/python3
"""Every NoETL fixture playbook registers, except those under
broken_playbooks/, which are refused with a message naming the location.

For each registered fixture the stored payload is checked for the
normalised shape the broker relies on: "tool" instead of "type", inputs
under "args" only, "next" as a list of {step, when?, args?} whose targets
exist, "sink" instead of "save", loops under "loop".
"""

import glob
import os
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from noetltest import FIXTURES, Tap, connect  # noqa: E402

ALIASES = {"type", "with", "params", "input", "payload", "data", "save"}


def shape_problems(payload):
    problems = []
    steps = payload.get("workflow", [])
    names = {s.get("step") for s in steps}
    for i, s in enumerate(steps):
        where = "workflow[%d]" % i
        for k in ALIASES & set(s):
            problems.append("%s still has %r" % (where, k))
        if not isinstance(s.get("next"), list):
            problems.append("%s.next is not a list" % where)
            continue
        for j, t in enumerate(s["next"]):
            if not isinstance(t, dict) or set(t) - {"step", "when", "args"}:
                problems.append("%s.next[%d] is not {step, when?, args?}: %r" % (where, j, t))
            elif t["step"] not in names:
                problems.append("%s.next[%d] targets unknown %r" % (where, j, t["step"]))
        if s.get("tool") in ("iterator", "workbook", "router", "start", "end"):
            problems.append("%s keeps tool %r" % (where, s["tool"]))
        if "loop" in s and not {"collection", "element", "mode"} <= set(s["loop"]):
            problems.append("%s.loop is incomplete: %r" % (where, s["loop"]))
    return problems


def main():
    tap = Tap()
    tap.require_fixtures()
    conn = connect()
    files = sorted(glob.glob(os.path.join(FIXTURES, "**", "*.yaml"), recursive=True))
    tap.ok(len(files) >= 60, "found the fixture corpus (%d files)" % len(files))
    for f in files:
        rel = os.path.relpath(f, FIXTURES)
        with open(f, encoding="utf-8") as fh:
            text = fh.read()
        broken = "broken_playbooks" in rel.split(os.sep)
        cur = conn.cursor()
        cur.execute("BEGIN")
        try:
            cur.execute("SELECT path, version FROM noetl.register(%s)", (text,))
            path, version = cur.fetchone()
            cur.execute("SELECT payload FROM noetl.catalog WHERE path = %s AND version = %s",
                        (path, version))
            payload = cur.fetchone()[0]
            err = None
        except Exception as e:  # refused
            err = e
        cur.execute("ROLLBACK")
        if broken:
            state = getattr(err, "sqlstate", None)
            tap.ok(err is not None and state == "22023" and str(err).startswith("workflow["),
                   "%s is refused with its location" % rel,
                   "got: %s %s" % (state, err))
            continue
        if not tap.ok(err is None, "%s registers" % rel, str(err)):
            continue
        meta = yaml.safe_load(text).get("metadata", {})
        tap.ok(path == (meta.get("path") or meta.get("name")) and version >= 1,
               "%s is registered under its metadata path" % rel, "path %r" % path)
        problems = shape_problems(payload)
        tap.ok(not problems, "%s is stored in normalised form" % rel, "\n".join(problems))
    tap.done()


if __name__ == "__main__":
    main()
