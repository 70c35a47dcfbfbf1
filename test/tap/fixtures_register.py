#!/usr/bin/python3
"""Every NoETL fixture playbook registers, except those under
broken_playbooks/, which are refused with a message naming the location.

Registration warns of what it ignores and of tools no worker has
announced; with one worker announced that runs python, http and postgres
(what noetl worker runs), the corpus gives exactly the warnings listed in
WARNINGS, each checked against NoETL's source (docs/compatibility.md,
"Playbooks"), and no others: a warning on a field NoETL used is a bug.

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

NO_WORKER = 'workflow[%d]: no worker has announced the tool "%s" (noetl.worker)'
SCRIPT_SOURCE = ("workflow[%d].script: noetl's worker cannot load a script from source type \"%s\" "
                 "(it reads files under its --script-root)")
SCRIPT_TOOL = ("workflow[%d].script: only the python tool of noetl's worker reads \"script\"; "
               "the \"%s\" step ignores it")
# NoETL's http tool never read verify_ssl (httpx.Client(timeout=...) in
# plugin/tools/http/executor.py @32245391), and neither does noetl's
VERIFY_SSL = 'workflow[%d]: unknown key "verify_ssl" (ignored)'
WARNINGS = {
    "era-b/data_transfer/http_to_postgres_transfer.yaml": [NO_WORKER % (2, "transfer")],
    "era-b/data_transfer/snowflake_postgres.yaml": [NO_WORKER % (1, "snowflake"), NO_WORKER % (4, "transfer")],
    "era-b/http_duckdb_postgres/http_duckdb_postgres.yaml": [NO_WORKER % (3, "duckdb")],
    "era-b/retry_test/duckdb_retry_query.yaml": [NO_WORKER % (0, "duckdb")],
    "era-b/snowflake_transfer/snowflake_transfer.yaml":
        [NO_WORKER % (1, "snowflake"), NO_WORKER % (4, "snowflake_transfer")],
    "era-b/snowflake_transfer/snowflake_transfer_query.yaml":
        [NO_WORKER % (1, "snowflake"), NO_WORKER % (4, "snowflake_transfer")],
    "era-c/data_transfer/http_to_databases/http_to_databases.yaml":
        [NO_WORKER % (2, "snowflake"), NO_WORKER % (5, "duckdb")],
    "era-c/data_transfer/http_to_postgres_transfer/http_to_postgres_transfer.yaml": [NO_WORKER % (2, "transfer")],
    "era-c/data_transfer/snowflake_postgres/snowflake_postgres.yaml":
        [NO_WORKER % (1, "snowflake"), NO_WORKER % (4, "transfer")],
    "era-c/duckdb_gcs_workload_identity/duckdb_gcs_workload_identity.yaml": [NO_WORKER % (1, "duckdb")],
    "era-c/interactive_brokers/ib_gateway_test.yaml": [VERIFY_SSL % 1, VERIFY_SSL % 3, VERIFY_SSL % 6],
    "era-c/retry_test/duckdb_retry_query.yaml": [NO_WORKER % (1, "duckdb")],
    "era-c/script_execution/postgres_file_example.yaml": [SCRIPT_TOOL % (1, "postgres")],
    "era-c/script_execution/postgres_s3_example.yaml": [SCRIPT_SOURCE % (1, "s3"), SCRIPT_TOOL % (1, "postgres")],
    "era-c/script_execution/python_gcs_example.yaml": [SCRIPT_SOURCE % (1, "gcs")],
    "era-c/script_execution/python_http_example.yaml": [SCRIPT_SOURCE % (1, "http")],
}


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
    seen = set()
    tap.ok(len(files) >= 60, "found the fixture corpus (%d files)" % len(files))
    for f in files:
        rel = os.path.relpath(f, FIXTURES)
        with open(f, encoding="utf-8") as fh:
            text = fh.read()
        seen.add(rel)
        broken = "broken_playbooks" in rel.split(os.sep)
        cur = conn.cursor()
        cur.execute("BEGIN")
        cur.execute("DELETE FROM noetl.worker")
        cur.execute("INSERT INTO noetl.worker (worker_id, tools) VALUES ('fixtures', '{python,http,postgres}')")
        try:
            cur.execute("SELECT path, version, warnings FROM noetl.register(%s)", (text,))
            path, version, warnings = cur.fetchone()
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
        expected = WARNINGS.get(rel, [])
        tap.ok(warnings == expected, "%s gives %s" % (rel, "%d expected warnings" % len(expected) if expected else "no warnings"),
               "got: %r\nexpected: %r" % (warnings, expected))
        meta = yaml.safe_load(text).get("metadata", {})
        tap.ok(path == (meta.get("path") or meta.get("name")) and version >= 1,
               "%s is registered under its metadata path" % rel, "path %r" % path)
        problems = shape_problems(payload)
        tap.ok(not problems, "%s is stored in normalised form" % rel, "\n".join(problems))
    tap.ok(not set(WARNINGS) - seen, "every fixture WARNINGS lists is in the corpus",
           ", ".join(sorted(set(WARNINGS) - seen)))
    tap.done()


if __name__ == "__main__":
    main()
