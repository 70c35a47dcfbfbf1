#!/usr/bin/python3
"""Robustness: randomly mutated templates never crash or hang the backend.

Templates from test/templates/*.yaml and from the differential test's
generator are mutated at random (characters inserted, deleted, repeated,
delimiters and brackets spliced in, nesting blown up), 10,000 of them by
default, and rendered with noetl.render_text under a statement timeout.
Every outcome must be a rendered text or a clean SQL error with one of the
expected SQLSTATEs: 22023 (template error), 54000 (a limit of the
template budget: noetl.template_max_steps, _max_memory, _max_range),
54001 (nesting deeper than the stack allows).  A timeout, any other SQLSTATE, or a lost connection
fails the test.  The same session is used throughout, so a crash is seen.
"""

import importlib.util
import json
import os
import random
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from noetltest import REPO, Tap, connect  # noqa: E402

ALLOWED = {"22023", "54000", "54001"}
SPLICES = ["{{", "}}", "{%", "%}", "{#", "#}", "{{-", "-}}", "{%-", "-%}", "|", "||", "(", ")",
           "[", "]", "{", "}", "'", '"', "\\", ".", ",", ":", "=", "==", "**", "//", "~",
           " if ", " else ", " for ", " in ", " not ", " is ", " and ", " or ", "endif",
           "endfor", "elif", "loop.", "range(", "| default(", "| tojson", "| sort",
           "| round(", "\n", "\t", "\x00", "😀", "é", "0x", "1e", "_", "9" * 30, "-", "+"]
# the syntax of issue 12: set, unpacking, slices, tuples, methods, % formatting
SPLICES += ["{% set ", "{% endset %}", " = ", "::-1]", "[1:", ":0]", "(,)", "(1,)", ", ", ".split(",
            ".strip()", ".items()", ".get(", ".join(", "'%s' % ", "%(k)", "%*d", "%.999999f", "%9999d"]


def load_generator():
    path = os.path.join(REPO, "test", "tap", "template_differential.py")
    spec = importlib.util.spec_from_file_location("template_differential", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def mutate(r, t):
    for _ in range(r.randint(1, 4)):
        k = r.random()
        p = r.randrange(len(t) + 1)
        if k < 0.35:
            t = t[:p] + r.choice(SPLICES) + t[p:]
        elif k < 0.6 and t:
            q = min(len(t), p + r.randint(1, 5))
            t = t[:p] + t[q:]
        elif k < 0.75 and t:
            q = min(len(t), p + r.randint(1, 8))
            t = t[:p] + t[p:q] * r.randint(2, 6) + t[q:]
        elif k < 0.85:
            t = t[:p] + chr(r.randint(1, 0x2FFF)) + t[p:]
        elif k < 0.95 and t:
            q = r.randrange(len(t) + 1)
            a, b = min(p, q), max(p, q)
            t = t[:a] + t[b:] + t[a:b]
        else:
            depth = r.choice([50, 300, 3000])
            opener = r.choice(["(", "[", "{% if x %}", "not ", "-", "x|default("])
            closer = {"(": ")", "[": "]", "{% if x %}": "{% endif %}", "not ": "",
                      "-": "", "x|default(": ")"}[opener]
            t = t[:p] + opener * depth + "1" + closer * depth + t[p:]
    return t


def main():
    tap = Tap()
    td = load_generator()
    conn = connect()
    cur = conn.cursor()
    cur.execute("SET statement_timeout = '10s'")
    ctx = json.dumps(td.BASE_CONTEXT)
    folder = os.path.join(REPO, "test", "templates")
    seeds = []
    for name in sorted(n for n in os.listdir(folder) if n.endswith(".yaml")):
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            seeds += [c["t"] for c in yaml.safe_load(f)]
    seed = int(os.environ.get("NOETL_FUZZ_SEED", "20261127"))
    gen = td.Gen(seed)
    seeds += [gen.template() for _ in range(300)]
    count = int(os.environ.get("NOETL_FUZZ_CASES", "10000"))
    r = random.Random(seed)
    rendered = errors = 0
    problems = []
    for i in range(count):
        t = mutate(r, r.choice(seeds)).replace("\x00", "")
        try:
            cur.execute("SELECT noetl.render_text(%s, %s::jsonb)", (t, ctx))
            cur.fetchone()
            rendered += 1
        except Exception as e:
            state = getattr(e, "sqlstate", None)
            if conn.closed or state not in ALLOWED:
                problems.append("%r -> [%s] %s" % (t[:300], state, str(e).split("\n")[0][:200]))
                if conn.closed:
                    break
            errors += 1
    tap.ok(not problems, "%d mutated templates: %d rendered, %d clean errors (seed %d)"
           % (count, rendered, errors, seed), "\n".join(problems[:10]))
    alive = False
    try:
        cur.execute("SELECT 1")
        alive = cur.fetchone()[0] == 1
    except Exception:
        pass
    tap.ok(alive, "the session is still alive after the fuzzing")
    tap.done()


if __name__ == "__main__":
    main()
