#!/usr/bin/python3
"""Differential test: noetl.render against NoETL's render_template rules.

NoETL renders a string (noetl/core/dsl/render.py, render_template, at
58c2a16b and 32245391) by looking a plain {{ a.b.c }} path up in the
context, else rendering it with Jinja2 with step results wrapped in a
TaskResultProxy, and coercing the text back to a value (json.loads, then
ast.literal_eval, booleans, ints, floats, none/null).  `reference` below
restates those rules over python3-jinja2; noetl.render must give the same
value for every case:

  - rendered text of many shapes ({{ s | string }} with s a generated JSON
    or Python literal, or a near miss), with a fixed seed
    (NOETL_RENDER_SEED overrides it);
  - plain paths, generated over a nested context with keys such as items,
    keys, data and result, with blanks around the parts;
  - hand-written cases of the proxy and the path.

Where noetl departs on purpose (docs/compatibility.md, "Rendering"), the
reference says so: values JSON cannot hold (sets, bytes, complex numbers,
NaN and infinities, lone surrogates), and literals with \\0 or \\N{...}
escapes anywhere, stay text; reading a dict method as an attribute is
refused (README, "Templates"), so such cases are not compared; a template
that raises is an error in noetl, where NoETL returned it unchanged, so
both sides must fail.
"""

import ast
import json
import math
import os
import random
import sys

import jinja2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from noetltest import Tap, connect  # noqa: E402

RESERVED = {"work", "workload", "context", "env", "job", "input", "data", "results"}
OPS = ["==", "!=", "<", ">", "+", "-", "*", "/", "|", " if ", " else "]


class Departure(Exception):
    """A value noetl keeps as text on purpose."""


class Proxy:
    """NoETL's TaskResultProxy.__getattr__; prints as the dict (noetl's rule)."""

    def __init__(self, data):
        self._data = data

    def __getattr__(self, name):
        if name == "data" and name not in self._data:
            return self
        if name == "result" and name not in self._data:
            return self
        if name == "is_defined":
            return True
        if name in self._data:
            return self._data[name]
        raise AttributeError(name)

    def __getitem__(self, key):
        return self._data[key]

    def __str__(self):
        return str(self._data)


def coerce(rendered):
    """The end of render_template: rendered text back to a value."""
    if (rendered.startswith("[") and rendered.endswith("]")) or \
            (rendered.startswith("{") and rendered.endswith("}")):
        try:
            return json.loads(rendered)
        except json.JSONDecodeError:
            try:
                return ast.literal_eval(rendered)
            except Exception:
                pass
    try:
        if rendered.lower() in {"true", "false"}:
            return rendered.lower() == "true"
        if rendered.isdigit():
            return int(rendered)
        if any(ch in rendered for ch in ".eE") and rendered.replace(".", "", 1).replace(
                "e", "", 1).replace("E", "", 1).lstrip("+-").replace("0", "1").isdigit():
            return float(rendered)
        if rendered.strip().lower() in {"none", "null"}:
            return None
        try:
            return ast.literal_eval(rendered)
        except Exception:
            pass
    except Exception:
        pass
    if rendered.strip() == "":
        return ""
    return rendered


def reference(template, ctx):
    """render_template(env, template, ctx, strict_keys=True) for one string."""
    if "\\N{" in str(ctx) or "\\0" in str(ctx):
        raise Departure()       # \N{name} escapes and NULs anywhere: text
    if "{{" not in template or "}}" not in template:
        return template
    expr = template.strip()
    if expr == "{{}}":
        return ""
    if expr.startswith("{{") and expr.endswith("}}"):
        path = expr[2:-2].strip()
        if not any(op in path for op in OPS):
            value = ctx
            for part in path.split("."):
                part = part.strip()
                if isinstance(value, dict) and part in value:
                    value = value[part]
                else:
                    break
            else:
                return value
            if any(part.strip() in dir(dict) for part in path.split(".")):
                # Jinja2 reads the method; noetl refuses (README, "Templates")
                raise Departure()
    custom = dict(ctx)
    for k, v in ctx.items():
        if k not in RESERVED and isinstance(v, dict):
            custom[k] = Proxy(v)
        elif k not in RESERVED and isinstance(v, list):
            # NoETL's wrapping, for .result: the cases use no other operation on a list
            custom[k] = {"result": v}
    rendered = jinja2.Environment().from_string(template).render(**custom)
    return coerce(rendered)


def as_json(v):
    """The value as noetl stores it, or Departure."""
    if isinstance(v, tuple):
        v = list(v)
    if isinstance(v, list):
        return [as_json(x) for x in v]
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if isinstance(k, bool):
                k = "true" if k else "false"
            elif k is None:
                k = "null"
            elif isinstance(k, float):
                if not math.isfinite(k):
                    raise Departure()
                k = repr(k)
            elif isinstance(k, int):
                k = str(k)
            elif not isinstance(k, str):
                raise Departure()
            if "\x00" in k or any(0xD800 <= ord(c) <= 0xDFFF for c in k):
                raise Departure()
            out[k] = as_json(x)
        return out
    if isinstance(v, float) and not math.isfinite(v):
        raise Departure()
    if isinstance(v, (set, frozenset, bytes, complex, type(...))):
        raise Departure()
    if isinstance(v, str) and ("\x00" in v or any(0xD800 <= ord(c) <= 0xDFFF for c in v)):
        raise Departure()
    return v


def same(a, b):
    """Equal JSON values, bools apart from numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b and isinstance(a, float) == isinstance(b, float)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


ATOMS = ["1", "-1", "+1", "0", "007", "00", "1.5", "-.5", "5.", "1e5", "1E-3", "1_000", "1__0", "0x1F",
         "0o7", "0b1", "1j", "True", "False", "None", "true", "false", "null", "none", "NaN", "Infinity",
         "'a'", '"a"', "'it''s'", '"\\u00e9"', "'\\x41'", "r'\\n'", "u'x'", "b'x'", "'\\n'", '"\\/"', "''",
         '""', "'a' 'b'", "'''t'''", "1e400", '"\\ud83d\\ude00"', "'\\N{BULLET}'", "[]", "{}", "()", "1.",
         ".", "-", "x", "e5", "1e", "- 1", "--1", "{1, 2}", "'\\0'"]


def literal(rnd, depth=0):
    if depth > 3 or rnd.random() < 0.4:
        return rnd.choice(ATOMS)
    items = [literal(rnd, depth + 1) for _ in range(rnd.randint(0, 3))]
    sep = rnd.choice([",", ", ", " ,", ",\n", " , "])
    trail = rnd.choice(["", "", ","])
    k = rnd.random()
    if k < 0.35:
        return "[" + sep.join(items) + trail + "]"
    if k < 0.6:
        return "(" + sep.join(items) + trail + ")"
    if k < 0.75:
        return sep.join(items) + trail
    return "{" + sep.join(literal(rnd, depth + 1) + rnd.choice([":", ": ", " : "]) + i for i in items) + trail + "}"


KEYS = ["a", "b", "items", "keys", "values", "data", "result", "get", "x_1"]


def nested(rnd, depth=0):
    if depth > 2 or rnd.random() < 0.3:
        return rnd.choice([1, "s", "123", "{'k': 1}", None, True, [1, 2], 2.5])
    return {k: nested(rnd, depth + 1) for k in rnd.sample(KEYS, rnd.randint(1, 4))}


def path(rnd, ctx):
    parts = []
    value = ctx
    for _ in range(rnd.randint(1, 4)):
        if isinstance(value, dict) and value and rnd.random() < 0.85:
            k = rnd.choice(sorted(value))
            value = value[k]
        else:
            k = rnd.choice(KEYS)
        parts.append(k)
    sp = rnd.choice(["", " ", "  "])
    body = ".".join(sp + p + sp for p in parts) if rnd.random() < 0.2 else ".".join(parts)
    return rnd.choice(["", " ", "\n"]) + "{{ " + body + " }}" + rnd.choice(["", " ", "\t"])


HAND = [
    ("{{ s.data.x }}", {"s": {"x": 1}}),
    ("{{ s.result.x }}", {"s": {"x": 1}}),
    ("{{ s.data.result.data.x + 1 }}", {"s": {"x": 1}}),
    ("{{ s.data.x }}", {"s": {"data": {"x": 9}, "x": 1}}),
    ("{{ s['data'].x }}", {"s": {"x": 1}}),
    ("{{ s.is_defined }}", {"s": {"x": 1}}),
    ("{{ s.is_defined }}", {"s": {"is_defined": 0}}),
    ("{{ s.data.x if s.data.x else 0 }}", {"s": {"x": 3}}),
    ("{{ s.data.ok == true }}", {"s": {"ok": True}}),
    ("{{ s.inner.data ~ '|' }}", {"s": {"inner": {"y": 2}}}),
    ("{{ workload.data ~ '|' }}", {"workload": {"x": 1}}),
    ("{{ data.data ~ '|' }}", {"data": {"x": 1}}),
    ("x{{ s.data }}", {"s": {"x": 1}}),
    ("{{ s.items }}", {"s": {"items": [5, 6]}}),
    ("{{ s.keys }}", {"s": {"keys": "k"}}),
    ("{{ s . values }}", {"s": {"values": 1}}),
    ("{{ n }}", {"n": "123"}),
    ("{{ n | string }}", {"n": "123"}),
    ("{{}}", {}),
    ("  {{ a.b }}  ", {"a": {"b": "{'k': 1}"}}),
    ("{{ a.b }}{{ a.b }}", {"a": {"b": 1}}),
    ("{{ a.b }}, {{ a.b }}", {"a": {"b": 1}}),
    ("[{{ a.b }}, '{{ a.c }}']", {"a": {"b": 1, "c": "x"}}),
    ("{{ a.b | tojson }}", {"a": {"b": {"k": [1, None, "x"]}}}),
    ("{{ a.b | tojson }}", {"a": {"b": "text"}}),
    ("{{ nope }}", {}),
    ("id-{{ a }}", {"a": 5}),
    ("{{ a - 1 }}", {"a": 5}),
    ("{{ a.b-1 }}", {"a": {"b": 5, "b-1": 0}}),
    ("{{ a.0 }}", {"a": {"0": "zero"}}),
    ("{{ a.result[0] }}", {"a": [7]}),
    ("{{ a.result.result ~ '|' }}", {"a": [7]}),
    ("{{ a }}", {"a": [1, 2]}),
    ("{{ a | length }}", {"a": "12345"}),
    ("{{ ' 1.5 ' }}", {}),
    ("{{ '1.5' }}", {}),
    ("{{ 'True' }}", {}),
    ("{{ '  none ' }}", {}),
    ("{{ '   ' }}", {}),
    ("{% if a %}1{% endif %}{{ '' }}", {"a": True}),
    ("  {{ a ~ '' }}  ", {"a": "x"}),
    ("\n{{ a ~ '' }}\n", {"a": "5"}),
    ("{{ a ~ '' }}\n", {"a": "x"}),
    ("{{- a ~ '' }}  ", {"a": "[1]"}),
    (" {{ w.a | tojson }} ", {"w": {"a": {"k": 1}}}),
    (" {{ a + 1 }} ", {"a": 1}),
    ("{{ a.b.data }}", {"a": {"b": {"c": 1}}}),
    ("{{ a.b.data ~ '|' }}", {"a": {"b": {"c": 1}}}),
]


def main():
    tap = Tap()
    seed = int(os.environ.get("NOETL_RENDER_SEED", "12"))
    rnd = random.Random(seed)
    conn = connect()
    cur = conn.cursor()

    cases = [(t, c, "hand-written") for t, c in HAND]
    cases += [("{{ s | string }}", {"s": literal(rnd)}, "coercion") for _ in range(3000)]
    for _ in range(1500):
        ctx = {k: nested(rnd) for k in rnd.sample(KEYS, rnd.randint(1, 4))}
        cases.append((path(rnd, ctx), ctx, "plain path"))

    counts = {}
    bad = []
    for template, ctx, kind in cases:
        # both see the context as jsonb keeps it (its order of keys)
        cur.execute("SELECT %s::jsonb::text", (json.dumps(ctx),))
        ctx_text = cur.fetchone()[0]
        ctx = json.loads(ctx_text)
        try:
            exp = ("ok", as_json(reference(template, ctx)))
        except Departure:
            # only rendered text can hold what JSON cannot: it stays text
            exp = ("ok", ctx["s"]) if kind == "coercion" else ("departure", None)
        except Exception:
            exp = ("error", None)
        try:
            cur.execute("SELECT noetl.render(to_jsonb(%s::text), %s::jsonb)::text", (template, ctx_text))
            got = ("ok", json.loads(cur.fetchone()[0]))
        except Exception as e:
            got = ("error", str(e).splitlines()[0])
        agree = exp[0] == "departure" or (exp[0] == got[0] and (exp[0] == "error" or same(exp[1], got[1])))
        n, a = counts.get(kind, (0, 0))
        counts[kind] = (n + 1, a + (1 if agree else 0))
        if not agree:
            bad.append("%r with %s: NoETL %r, noetl %r" % (template, json.dumps(ctx)[:200], exp, got))

    for kind, (n, a) in counts.items():
        tap.ok(a == n, "%s: %d of %d cases agree with NoETL's rules (seed %d)" % (kind, a, n, seed),
               "\n".join(bad)[:4000] if a != n else None)
    tap.done()


main()
