#!/usr/bin/python3
"""NoETL's fixture corpus as the acceptance suite: every playbook of
$NOETL_FIXTURES run end to end by the real `noetl worker`, each checked
against the outcome NoETL documents for it (test/fixtures_expected.yaml).

- The public hosts the fixtures call (httpbin.org, jsonplaceholder,
  open-meteo, raw.githubusercontent.com) are imitated on 127.0.0.1
  (test/lib/fixture_hosts.py).  A URL in the playbook's workload is
  redirected by a workload override (noetl.execute lays the workload given
  over the playbook's, key by key); one hard-coded in a step, by a
  rewritten copy of the playbook's text made here, in memory.  The corpus
  itself is never changed or copied into the repository.
- A fixture with postgres steps gets a scratch database of its own
  (dropped at the end), given to it by overriding every workload key whose
  value is NoETL's credential name "pg_local" with its connection string.
  A credential a step names (auth: NAME, auth: {credential: NAME}) is
  stored under that name (`credentials:`) pointing to the scratch database.
- Each fixture's execution has a deadline (FIXTURE_TIMEOUT seconds, 45 by
  default, or its own `timeout:`); one still running then fails its check
  and is cancelled.  Up to FIXTURE_CONCURRENCY (8) run at once.
- A fixture listed `not_yet: reason` is run all the same, as a TAP TODO
  test: the suite stays green while it fails, and says so when it starts
  passing ("unexpectedly passed: move it out of not_yet").
- FIXTURE_ONLY=REGEX runs only the fixtures whose path matches (while working
  on one); FIXTURE_REPORT=FILE writes every outcome there as JSON, and the
  worker's log beside it.

Expectation fields (all optional; a fixture without any must complete):
    status: completed | failed | [...] the execution's terminal status (a list: any of them)
    refused: TEXT                     registration must fail, its message containing TEXT
    error: TEXT                       when it failed, its error contains TEXT
    attempts: {STEP: N}               the step's task ran N times
    log: {STEP: TEXT}                 what the step's task printed, in the worker's log, has TEXT
    sql: [[QUERY, ROWS], ...]         QUERY on the fixture's scratch database returns ROWS
    steps: {STEP: SUBSET}             the step's result contains SUBSET (dicts key by key)
    result: SUBSET                    the execution's result contains SUBSET
    ran: [STEP, ...]                  steps that must have run (a task or a step state)
    children: [[STEP, STATUS], ...]   the sub-playbook executions it started, in the
                                      order they started: the parent's step (node_id)
                                      and the child's status
    not_ran: [STEP, ...]              steps that must not
    workload: {KEY: VALUE}            more overrides; "{scratch}" is the scratch
                                      database's connection string ("{scratch_db}" its
                                      name, "{pghost}", "{pgport}", "{pguser}" the
                                      server's), "{hosts}" the fixture hosts' base URL
    setup_sql: TEXT                   run on the scratch database before the fixture
    credentials: [NAME, ...]          postgres credentials stored (noetl.credential_set,
                                      pgcrypto) pointing to the fixture's scratch database,
                                      under a name of its own that its copy names instead
    timeout: SECONDS
    not_yet: REASON
    already: {FIELD: ...}             of a not_yet fixture, what works already
                                      (steps, ran, attempts, ...; status only if
                                      given), checked as an ordinary test
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import psycopg
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import fixture_hosts  # noqa: E402
from noetltest import FIXTURES, REPO, Tap, connect  # noqa: E402

EXPECTED = os.path.join(REPO, "test", "fixtures_expected.yaml")
TIMEOUT = float(os.environ.get("FIXTURE_TIMEOUT", "45"))
CONCURRENCY = int(os.environ.get("FIXTURE_CONCURRENCY", "8"))
FIELDS = {"status", "refused", "error", "attempts", "log", "sql", "steps", "result", "ran",
          "not_ran", "workload", "setup_sql", "timeout", "not_yet", "already", "children",
          "credentials"}
# what an already: block may check
ALREADY = {"status", "error", "attempts", "log", "sql", "steps", "result", "ran", "not_ran",
           "children"}
# what NoETL's script_execution fixtures load from their scripts/ directory,
# which the corpus does not carry: written under the worker's working
# directory, at the relative path the fixtures give
SCRIPTS = {"tests/fixtures/playbooks/script_execution/scripts/hello_world.py":
           fixture_hosts.HELLO_WORLD_PY}


class TodoTap(Tap):
    def todo(self, cond, name, reason, diag=None):
        """A check expected to fail (TAP TODO): reported, never counted as a failure."""
        self.n += 1
        print("%s %d - %s # TODO %s" % ("ok" if cond else "not ok", self.n, name, reason))
        if cond:
            print("#   unexpectedly passed: move it out of not_yet in test/fixtures_expected.yaml")
        elif diag:
            for line in str(diag).splitlines():
                print("#   " + line)
        sys.stdout.flush()


def noetl_program():
    if os.environ.get("NOETL"):
        return os.environ["NOETL"]
    built = os.path.join(REPO, "client", "noetl")
    return built if os.access(built, os.X_OK) else "noetl"


def contains(actual, subset):
    """Whether actual holds subset: dicts key by key, everything else equal."""
    if isinstance(subset, dict):
        return isinstance(actual, dict) and all(k in actual and contains(actual[k], v)
                                                for k, v in subset.items())
    if isinstance(subset, list):
        return isinstance(actual, list) and len(actual) == len(subset) and \
            all(contains(a, b) for a, b in zip(actual, subset))
    return actual == subset and type(actual) is type(subset)


def workload_block(lines):
    """The range of lines of the top-level workload: block (or None)."""
    for i, line in enumerate(lines):
        if re.match(r"workload\s*:", line):
            j = i + 1
            while j < len(lines) and (lines[j][:1] in (" ", "\t", "#", "") or lines[j].strip() == ""):
                j += 1
            return i, j
    return None


def prepare(text, base, scratch, extra, subst):
    """The text to register and the workload overrides for one fixture."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    workload = doc.get("workload") if isinstance(doc, dict) else None
    over = {}
    if isinstance(workload, dict):
        for k, v in workload.items():
            if isinstance(v, str):
                if v == "pg_local" and scratch:
                    over[k] = scratch
                elif fixture_hosts.rewrite(v, base) != v:
                    over[k] = fixture_hosts.rewrite(v, base)
    for k, v in (extra or {}).items():
        v = json.dumps(v)
        for name, value in subst.items():
            v = v.replace("{%s}" % name, json.dumps(value or "")[1:-1])
        over[k] = json.loads(v)
    # URLs hard-coded outside the workload: a rewritten copy
    lines = text.split("\n")
    block = workload_block(lines)
    out = []
    for i, line in enumerate(lines):
        in_workload = block is not None and block[0] <= i < block[1]
        out.append(line if in_workload else fixture_hosts.rewrite(line, base))
    return "\n".join(out), over


def message(e):
    """A server error's message and detail, without its context lines."""
    d = getattr(e, "diag", None)
    if d is None or not d.message_primary:
        return str(e).strip()
    return d.message_primary + ("\nDETAIL: " + d.message_detail if d.message_detail else "")


def first_failure(cur, eid):
    cur.execute("""SELECT node_name, event_type, error FROM noetl.event
                   WHERE execution_id = %s AND error IS NOT NULL
                   ORDER BY event_id LIMIT 1""", (eid,))
    row = cur.fetchone()
    return "%s (%s): %s" % row if row else None


def outcome(cur, eid):
    cur.execute("SELECT status::text, result, error FROM noetl.execution WHERE execution_id = %s",
                (eid,))
    row = cur.fetchone()
    if row is None:
        return {"status": "not started", "result": None, "error": None, "steps": {}, "ran": set()}
    cur.execute("SELECT node_id, status::text, result, attempts, queue_id FROM noetl.queue "
                "WHERE execution_id = %s", (eid,))
    steps, ran, attempts, queue_ids = {}, set(), {}, {}
    for node, status, result, n, qid in cur.fetchall():
        steps[node] = result
        attempts[node] = n
        queue_ids[node] = qid
        if status not in ("queued", "cancelled"):
            ran.add(node)
    cur.execute("SELECT step, status::text, result FROM noetl.step_state WHERE execution_id = %s",
                (eid,))
    for step, status, result in cur.fetchall():
        steps.setdefault(step, result)
        ran.add(step)
    cur.execute("SELECT parent_step, status::text FROM noetl.execution "
                "WHERE parent_execution_id = %s ORDER BY execution_id", (eid,))
    children = [list(r) for r in cur.fetchall()]
    return {"status": row[0], "result": row[1], "error": row[2], "steps": steps, "ran": ran,
            "children": children,
            "attempts": attempts, "queue_ids": queue_ids, "first_failure": first_failure(cur, eid)}


def printed(log, queue_id):
    """What the worker's log says task queue_id printed."""
    prefix = "noetl: task %d (step " % queue_id
    out = []
    for line in log.splitlines():
        if line.startswith(prefix):
            rest = line[len(prefix):]
            at = rest.find("): ")
            if at >= 0:
                out.append(rest[at + 3:])
    return "\n".join(out)


def problems(exp, got, whole=True):
    """What differs from the expectation (an empty list: none); with whole
    false (an already: block), the status only if the expectation gives one."""
    out = []
    want = exp.get("status", "completed")
    if (whole or "status" in exp) and got["status"] not in (want if isinstance(want, list) else [want]):
        out.append("status %s, expected %s" % (got["status"], want))
    if "error" in exp and got["status"] == "failed" and exp["error"] not in (got.get("error") or ""):
        out.append("error %r does not contain %r" % (got.get("error"), exp["error"]))
    for step, n in (exp.get("attempts") or {}).items():
        if got["attempts"].get(step) != n:
            out.append("step %s ran %s times, expected %d" % (step, got["attempts"].get(step), n))
    for step, text in (exp.get("log") or {}).items():
        qid = got["queue_ids"].get(step)
        if qid is None or text not in printed(got["log"], qid):
            out.append("the worker's log has no %r printed by step %s" % (text, step))
    for query, rows in exp.get("sql") or []:
        if not got.get("scratch"):
            out.append("sql check without a scratch database: %s" % query)
            continue
        try:
            with psycopg.connect(got["scratch"], autocommit=True, connect_timeout=10,
                                 options="-c statement_timeout=60s") as c:
                actual = [list(r) for r in c.execute(query).fetchall()]
        except psycopg.Error as e:
            out.append("%s: %s" % (query, str(e).strip()))
            continue
        if actual != rows:
            out.append("%s: %s, expected %s" % (query, json.dumps(actual, default=str)[:300],
                                                json.dumps(rows)))
    for step, subset in (exp.get("steps") or {}).items():
        if step not in got["steps"]:
            out.append("step %s has no result" % step)
        elif not contains(got["steps"][step], subset):
            out.append("step %s: result %s does not contain %s"
                       % (step, json.dumps(got["steps"][step])[:400], json.dumps(subset)))
    if "result" in exp and not contains(got["result"], exp["result"]):
        out.append("result %s does not contain %s"
                   % (json.dumps(got["result"])[:400], json.dumps(exp["result"])))
    for step in exp.get("ran") or []:
        if step not in got["ran"]:
            out.append("step %s did not run" % step)
    if "children" in exp and got["children"] != exp["children"]:
        out.append("children %s, expected %s" % (json.dumps(got["children"]),
                                                  json.dumps(exp["children"])))
    for step in exp.get("not_ran") or []:
        if step in got["ran"]:
            out.append("step %s ran" % step)
    if out and got.get("first_failure"):
        out.append("first failure: " + got["first_failure"])
    return out


def main():
    tap = TodoTap()
    tap.require_fixtures()
    with open(EXPECTED, encoding="utf-8") as fh:
        expected = yaml.safe_load(fh) or {}
    files = sorted(os.path.relpath(f, FIXTURES)
                   for f in glob.glob(os.path.join(FIXTURES, "**", "*.yaml"), recursive=True))
    tap.ok(len(files) >= 60, "found the fixture corpus (%d files)" % len(files))
    unlisted = [f for f in files if f not in expected]
    tap.ok(not unlisted, "every fixture has an expectation in test/fixtures_expected.yaml",
           "unlisted: " + ", ".join(unlisted))
    stale = [f for f in expected if f not in files]
    tap.ok(not stale, "every expectation names a fixture of the corpus", "stale: " + ", ".join(stale))
    bad = ["%s: %s" % (f, sorted(set(e or {}) - FIELDS)) for f, e in expected.items()
           if set(e or {}) - FIELDS]
    bad += ["%s: already: %s" % (f, sorted(set(e["already"] or {}) - ALREADY))
            for f, e in expected.items() if isinstance((e or {}).get("already"), dict)
            and set(e["already"]) - ALREADY]
    bad += ["%s: already: without not_yet" % f for f, e in expected.items()
            if "already" in (e or {}) and "not_yet" not in e]
    tap.ok(not bad, "the expectations use only known fields", "\n".join(bad))

    program = noetl_program()
    if shutil.which(program) is None:
        print("Bail out! the noetl program (%s) is not built" % program)
        sys.exit(1)
    if os.environ.get("FIXTURE_ONLY"):
        files = [f for f in files if re.search(os.environ["FIXTURE_ONLY"], f)]
    conn = connect()
    cur = conn.cursor()
    cur.execute("SET statement_timeout = '60s'")  # a hang guard, never an assertion
    server = fixture_hosts.start()
    base = "http://127.0.0.1:%d" % server.server_address[1]
    tmp = tempfile.mkdtemp(prefix="fixtures_run.")
    worker_log = open(os.path.join(tmp, "worker.log"), "w+")
    for rel, text in SCRIPTS.items():
        os.makedirs(os.path.join(tmp, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(tmp, rel), "w") as fh:
            fh.write(text)
    # script: files are read under the worker's script root, its working directory here;
    # the worker's python3 is the one running this test (psycopg for the psycopg fixture)
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    worker = subprocess.Popen([program, "worker", "--id", "fixtures-run", "--jobs",
                               str(CONCURRENCY), "--poll", "1", "--tools", "python,http,postgres,sink,transfer",
                               "--task-timeout", str(int(TIMEOUT)), "--script-root", tmp],
                              stdout=worker_log, stderr=subprocess.STDOUT, cwd=tmp, env=env)
    scratch_dbs = []
    credentials = []
    runs = []  # one dict per fixture: what was run, how it went
    try:
        for n, rel in enumerate(files):
            exp = expected.get(rel) or {}
            with open(os.path.join(FIXTURES, rel), encoding="utf-8") as fh:
                text = fh.read()
            scratch = db = None
            if re.search(r"(tool|type)\s*:\s*postgres\b|psycopg", text):
                db = "noetl_fixture_%d" % n
                cur.execute('DROP DATABASE IF EXISTS "%s"' % db)
                cur.execute('CREATE DATABASE "%s"' % db)
                scratch_dbs.append(db)
                scratch = "dbname=%s host=%s port=%s user=%s" % (
                    db, conn.info.host, conn.info.port, conn.info.user)
                if exp.get("setup_sql"):
                    with psycopg.connect(scratch, autocommit=True) as c:
                        c.execute(exp["setup_sql"])
                # stored under a name of this fixture's own (the copy it registers
                # names that one), so that fixtures run at once that name the same
                # credential each write to their own scratch database
                for name in exp.get("credentials") or []:
                    own = "%s__fixture_%d" % (name, n)
                    cur.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
                    cur.execute("SELECT noetl.credential_set(%s, 'postgres', %s, 'fixtures_run.py')",
                                (own, json.dumps({"host": conn.info.host, "port": conn.info.port,
                                                  "user": conn.info.user, "dbname": db})))
                    credentials.append(own)
                    text = re.sub(r"(?<![\w-])%s(?![\w-])" % re.escape(name), own, text)
            subst = {"scratch": scratch, "scratch_db": db, "hosts": base,
                     "pghost": conn.info.host, "pgport": str(conn.info.port),
                     "pguser": conn.info.user}
            text, over = prepare(text, base, scratch, exp.get("workload"), subst)
            runs.append({"rel": rel, "exp": exp, "text": text, "over": over, "scratch": scratch})

        # register, then run CONCURRENCY at a time, each until its deadline
        for r in runs:
            try:
                cur.execute("SELECT path, version FROM noetl.register(%s)", (r["text"],))
                r["path"], r["version"] = cur.fetchone()
            except psycopg.Error as e:
                r["refused"] = message(e)
        pending = [r for r in runs if "refused" not in r]
        active = []
        while pending or active:
            while pending and len(active) < CONCURRENCY:
                r = pending.pop(0)
                try:
                    cur.execute("SELECT noetl.execute(%s, %s, %s)",
                                (r["path"], json.dumps(r["over"]), r["version"]))
                    r["eid"] = cur.fetchone()[0]
                    r["deadline"] = time.monotonic() + float(r["exp"].get("timeout", TIMEOUT))
                    active.append(r)
                except psycopg.Error as e:
                    r["start_error"] = message(e)
            time.sleep(0.3)
            if worker.poll() is not None:
                break
            for r in list(active):
                cur.execute("SELECT status::text FROM noetl.execution WHERE execution_id = %s",
                            (r["eid"],))
                row = cur.fetchone()
                if row and row[0] != "running":
                    active.remove(r)
                elif time.monotonic() > r["deadline"]:
                    # cancelled now, so that its tasks make way for the next fixtures
                    r["timed_out"] = True
                    cur.execute("SELECT noetl.cancel(%s)", (r["eid"],))
                    active.remove(r)
        tap.ok(worker.poll() is None, "the worker ran to the end",
               "exited with %s" % worker.returncode)

        for r in runs:
            rel, exp = r["rel"], r["exp"]
            name = "%s: %s" % (rel, describe(exp))
            if "refused" in r or "refused" in exp:
                got = r.get("refused")
                if "refused" in exp:
                    diag = [] if got and exp["refused"] in got else \
                        ["registration: %s, expected refused with %r" % (got or "accepted",
                                                                           exp["refused"])]
                else:
                    diag = ["registration refused: %s" % got]
            elif "start_error" in r:
                diag = ["noetl.execute: %s" % r["start_error"]]
            else:
                got = outcome(cur, r["eid"])
                got["scratch"] = r["scratch"]
                worker_log.flush()
                with open(worker_log.name) as fh:
                    got["log"] = fh.read()
                r["outcome"] = got
                diag = problems(exp, got)
                if r.get("timed_out"):
                    diag.insert(0, "still running after %g s: cancelled"
                                % float(exp.get("timeout", TIMEOUT)))
            if "not_yet" in exp:
                tap.todo(not diag, name, "not yet: " + exp["not_yet"], "\n".join(diag))
                if "already" in exp:
                    now = exp["already"] or {}
                    if "outcome" in r:
                        adiag = problems(now, r["outcome"], whole=False)
                    else:
                        adiag = diag or ["not run"]
                    tap.ok(not adiag, "%s: already %s" % (rel, ", ".join(sorted(now))),
                           "\n".join(adiag))
            else:
                tap.ok(not diag, name, "\n".join(diag))
    finally:
        for r in runs:
            if r.get("eid"):
                try:
                    cur.execute("SELECT noetl.cancel(execution_id) FROM noetl.execution "
                                "WHERE execution_id = %s AND status = 'running'", (r["eid"],))
                except psycopg.Error:
                    pass
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        server.shutdown()
        if os.environ.get("FIXTURE_REPORT"):
            with open(os.environ["FIXTURE_REPORT"], "w") as fh:
                json.dump([{"rel": r["rel"], "refused": r.get("refused"),
                            "timed_out": r.get("timed_out", False),
                            "outcome": {k: (sorted(v) if isinstance(v, set) else v)
                                        for k, v in (r.get("outcome") or {}).items()
                                        if k != "log"}}
                           for r in runs], fh, indent=1, default=str)
        for name in credentials:
            try:
                cur.execute("SELECT noetl.credential_remove(%s)", (name,))
            except psycopg.Error:
                pass
        for db in scratch_dbs:
            try:
                cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % db)
            except psycopg.Error:
                pass
        worker_log.seek(0)
        log = worker_log.read()
        if os.environ.get("FIXTURE_REPORT"):
            with open(os.environ["FIXTURE_REPORT"] + ".worker.log", "w") as fh:
                fh.write(log)
        if tap.failed and log:
            print("# the worker's log (last 40 lines):")
            for line in log.splitlines()[-40:]:
                print("#   " + line)
        worker_log.close()
        shutil.rmtree(tmp, ignore_errors=True)
    tap.done()


def describe(exp):
    if "refused" in exp:
        return "refused at registration"
    what = exp.get("status", "completed")
    if isinstance(what, list):
        what = " or ".join(what)
    extra = [k for k in ("steps", "result", "ran", "not_ran", "error", "attempts", "sql", "log",
                         "children")
             if k in exp]
    return what + (" (" + ", ".join(extra) + " as documented)" if extra else "")


if __name__ == "__main__":
    main()
