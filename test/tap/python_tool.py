#!/usr/bin/python3
"""The python tool of noetl worker as NoETL's python executor ran code
(docs/compatibility.md, "The python tool").

Against the cluster the PG* variables name (noetl installed, its broker
worker running), with a noetl worker of its own: each of NoETL's calling
conventions (main(**args), main(input_data) with and without args,
main(context), main(context=..., **args), main(x, y, context), the
context global, the globals NoETL gave, sync and async), the coercion of
args that look like JSON or Python lists and dicts, script: (a file under
--script-root; paths out of it, symbolic links out of it, files too large,
source types the worker cannot load), code_b64, and what a task prints
reaching the worker's log: every line after its task, bounded, the tail
kept with a line saying how much was dropped, the worker's memory not
growing with 300 MB printed.  Then the python runner on its own, given
task frames directly (runner.h): a loop's item as NoETL passed it (value,
the element's name, _loop), the broker's context, script errors that need
no worker, and the coercion's edge cases.
"""

import fcntl
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import psycopg

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import noetltest  # noqa: E402

REPO = noetltest.REPO
NOETL = os.path.join(REPO, "client", "noetl")
RUNNER = os.path.join(REPO, "client", "python_runner.py")
tap = noetltest.Tap()
tmp = tempfile.mkdtemp(prefix="python_tool.")
root = os.path.join(tmp, "root")
os.makedirs(os.path.join(root, "sub"))
conn = noetltest.connect()


def register(name, step, workload=None):
    doc = {"metadata": {"path": "tests/python_tool/" + name},
           "workflow": [{"step": "start", "next": ["s"]},
                        dict({"step": "s", "tool": "python", "next": ["end"]}, **step),
                        {"step": "end"}]}
    if workload is not None:
        doc["workload"] = workload
    conn.execute("SELECT noetl.register(%s)", (json.dumps(doc),))


def run(name):
    """Runs tests/python_tool/NAME to its end: (ok, result, error, execution id)."""
    out = subprocess.run([NOETL, "run", "tests/python_tool/" + name, "--wait"],
                         capture_output=True, text=True, timeout=120).stdout
    m = re.search(r"^execution (\d+) of", out, re.M)
    if m is None:
        return False, None, "no execution: " + out, None
    eid = int(m.group(1))
    row = conn.execute("SELECT event_type, result, error FROM noetl.event"
                       " WHERE execution_id = %s AND node_id = 's'"
                       "   AND event_type IN ('action_completed', 'action_error')"
                       " ORDER BY event_id DESC LIMIT 1", (eid,)).fetchone()
    if row is None:
        return False, None, "no report: " + out, eid
    return row[0] == "action_completed", row[1], row[2], eid


def case(name, body, args=None, want=None, check=None, **step):
    """Registers and runs a one-step playbook (its code BODY); checks its result."""
    s = dict(step)
    if body is not None:
        s["code"] = body
    if args is not None:
        s["args"] = args
    register(name, s, s.pop("workload", None))
    ok, result, error, eid = run(name)
    if check is None:
        tap.ok(ok and result == want, name, "ok=%s result=%r error=%s" % (ok, result, error))
    else:
        tap.ok(check(ok, result, error, eid), name,
               "ok=%s result=%r error=%s" % (ok, result, error))


def failed_with(text):
    return lambda ok, result, error, eid: not ok and error is not None and text in error


# ------------------------------------------------------------------ the worker
log_path = os.path.join(tmp, "worker.log")
log = open(log_path, "w")
worker = subprocess.Popen([NOETL, "worker", "--id", "python_tool", "--tools", "python",
                           "--jobs", "2", "--poll", "0.5", "--script-root", root],
                          stderr=log, stdout=subprocess.DEVNULL)
try:
    # -------------------------------------------------------- calling conventions
    case("kwargs", "def main(**kwargs):\n    return kwargs\n", {"a": 1, "b": "x"},
         {"a": 1, "b": "x"})
    case("input_data_no_args", "def main(input_data):\n    return {'got': input_data}\n",
         {}, {"got": {}})
    case("input_data_no_args_field",
         "def main(input_data):\n    return {'got': input_data}\n", None, {"got": {}})
    case("input_data_named", "def main(input_data):\n    return input_data\n",
         {"input_data": {"k": 1}}, {"k": 1})
    case("input_data_as_dict", "def main(input_data):\n    return input_data\n",
         {"x": 1, "y": 2}, {"x": 1, "y": 2})
    case("context_param",
         "def main(context):\n"
         "    return {'eid': context['execution_id'], 'node': context['job']['node_id'],\n"
         "            'input': context['input'], 'data': context['data'],\n"
         "            'env': isinstance(context['env'], dict)}\n",
         {"a": 1},
         check=lambda ok, r, e, eid: ok and r == {"eid": str(eid), "node": "s", "input": {"a": 1},
                                                  "data": {"a": 1}, "env": True})
    case("context_and_kwargs",
         "def main(context=None, **kwargs):\n"
         "    return {'eid': context['execution_id'], 'kwargs': kwargs}\n",
         {"a": 1, "b": [2]},
         check=lambda ok, r, e, eid: ok and r == {"eid": str(eid), "kwargs": {"a": 1, "b": [2]}})
    case("context_default_dict_and_kwargs",
         "def main(context: dict = {}, **kwargs):\n"
         "    return {'eid': context.get('execution_id'), 'kwargs': kwargs}\n",
         {"a": 1},
         check=lambda ok, r, e, eid: ok and r == {"eid": str(eid), "kwargs": {"a": 1}})
    case("positional_and_context",
         "def main(x, y, context):\n    return [x, y, context['execution_id']]\n",
         {"x": 1, "y": 2, "z": 3},
         check=lambda ok, r, e, eid: ok and r == [1, 2, str(eid)])
    case("context_global",
         "def main():\n    return {'eid': context['execution_id'], 'step': context['job']['node_id']}\n",
         check=lambda ok, r, e, eid: ok and r == {"eid": str(eid), "step": "s"})
    case("context_global_at_top_level",
         "EID = context['execution_id']\ndef main():\n    return EID\n",
         check=lambda ok, r, e, eid: ok and r == str(eid))
    # the broker's context: the workload and the results of the steps before (noetl.task_context)
    doc = {"metadata": {"path": "tests/python_tool/context_steps"}, "workload": {"w": 7},
           "workflow": [{"step": "start", "next": ["a"]},
                        {"step": "a", "tool": "python", "code": "def main():\n    return {'x': 5}\n",
                         "next": ["s"]},
                        {"step": "s", "tool": "python", "next": ["end"],
                         "code": "def main(context):\n"
                                 "    return [context['a'], context['workload'], context['work'],\n"
                                 "            context['execution_id'], 's' in context]\n"},
                        {"step": "end"}]}
    conn.execute("SELECT noetl.register(%s)", (json.dumps(doc),))
    ok, result, error, eid = run("context_steps")
    tap.ok(ok and result == [{"x": 5}, {"w": 7}, {"w": 7}, str(eid), False],
           "context_steps: the context holds the workload and the finished steps' results",
           "ok=%s result=%r error=%s" % (ok, result, error))
    case("noetl_globals",
         "def main():\n"
         "    return [json.dumps([1]), isinstance(os.getpid(), int),\n"
         "            datetime.date(2024, 1, 2).isoformat(), len(str(uuid.uuid4()))]\n",
         want=["[1]", True, "2024-01-02", 36])
    case("async", "import asyncio\nasync def main(a):\n    await asyncio.sleep(0)\n    return {'a': a}\n",
         {"a": 5}, {"a": 5})
    case("async_input_data", "async def main(input_data):\n    return input_data\n",
         {}, {})
    case("default_kept", "def main(a, b=5):\n    return [a, b]\n", {"a": 1}, [1, 5])
    case("missing_argument", "def main(a, b):\n    return [a, b]\n", {"a": 1},
         check=failed_with("missing required argument 'b' for the python task"))

    # ------------------------------------------------------------------ coercion
    case("coercion",
         "def main(d, l, bad, spaced, nested):\n"
         "    return [type(d).__name__, d, type(l).__name__, l, bad, spaced, nested]\n",
         {"d": '{"k": [1, 2]}', "l": "[1, 'two', None]", "bad": " {not json",
          "spaced": "  [3]  ", "nested": {"inner": "[1]"}},
         ["dict", {"k": [1, 2]}, "list", [1, "two", None], " {not json", [3],
          {"inner": "[1]"}])
    case("coercion_of_tojson",
         "def main(user_data):\n    return {'type': type(user_data).__name__, 'v': user_data}\n",
         {"user_data": "{{ workload.user_data | tojson }}"},
         {"type": "dict", "v": {"name": "Ada", "tags": ["x"]}},
         workload={"user_data": {"name": "Ada", "tags": ["x"]}})

    # ------------------------------------------------------------------ script
    with open(os.path.join(root, "sub", "hello.py"), "w") as f:
        f.write("def main(name, count):\n"
                "    print('hello from the file')\n"
                "    return {'messages': ['hello %s' % name] * count, 'eid': context['execution_id']}\n")
    with open(os.path.join(tmp, "outside.py"), "w") as f:
        f.write("def main():\n    return 'outside'\n")
    os.symlink(os.path.join(tmp, "outside.py"), os.path.join(root, "link_out.py"))
    os.symlink(os.path.join(root, "sub", "hello.py"), os.path.join(root, "link_in.py"))
    with open(os.path.join(root, "huge.py"), "wb") as f:
        f.truncate(17 * 1024 * 1024)
    os.mkfifo(os.path.join(root, "fifo.py"))

    def script(uri, kind="file", **source):
        return {"uri": uri, "source": dict({"type": kind}, **source)}

    case("script_file", None, {"name": "{{ workload.who }}", "count": 2},
         check=lambda ok, r, e, eid: ok and r == {"messages": ["hello NoETL"] * 2, "eid": str(eid)},
         script=script("{{ workload.path }}"),
         workload={"who": "NoETL", "path": "./sub/hello.py"})
    case("script_over_code", None, {"name": "x", "count": 1},
         check=lambda ok, r, e, eid: ok and isinstance(r, dict) and r.get("messages") == ["hello x"],
         script=script("sub/hello.py"), code="def main(**k):\n    return 'the code'\n")
    case("script_absolute_inside", None, {"name": "x", "count": 1},
         check=lambda ok, r, e, eid: ok and isinstance(r, dict) and r.get("messages") == ["hello x"],
         script=script(os.path.join(root, "sub", "hello.py")))
    case("script_symlink_inside", None, {"name": "x", "count": 1},
         check=lambda ok, r, e, eid: ok and isinstance(r, dict) and r.get("messages") == ["hello x"],
         script=script("link_in.py"))
    case("script_escapes", None, check=failed_with("outside the worker's script root"),
         script=script("../outside.py"))
    case("script_absolute_outside", None, check=failed_with("outside the worker's script root"),
         script=script(os.path.join(tmp, "outside.py")))
    case("script_symlink_out", None, check=failed_with("outside the worker's script root"),
         script=script("link_out.py"))
    case("script_huge", None, check=failed_with("larger than 16 MB"), script=script("huge.py"))
    case("script_fifo", None, check=failed_with("is not a regular file"), script=script("fifo.py"))
    case("script_missing", None, check=failed_with("FileNotFoundError"), script=script("nope.py"))
    for kind, uri in (("gcs", "gs://bucket/hello.py"), ("s3", "s3://bucket/hello.py")):
        case("script_" + kind, None,
             check=failed_with("script.source.type '%s' is not supported by noetl worker" % kind),
             script=script(uri, kind))

    # an http source, from a server on 127.0.0.1 (NoETL's fetch_from_http)
    class Scripts(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/hello.py":
                body = open(os.path.join(root, "sub", "hello.py"), "rb").read()
                self.send_response(200)
            elif self.path == "/moved":
                body = b""
                self.send_response(302)
                self.send_header("Location", "/hello.py")
            elif self.path == "/to_file":
                body = b""
                self.send_response(302)
                self.send_header("Location", "ftp://127.0.0.1/hello.py")
            elif self.path == "/big":
                body = b"#" * (17 * 1024 * 1024)
                self.send_response(200)
            elif self.path == "/secret":
                body = b"no"
                self.send_response(401 if self.headers.get("X-Key") != "k" else 200)
                if self.headers.get("X-Key") == "k":
                    body = b"def main():\n    return 'with the header'\n"
            else:
                body = b"missing"
                self.send_response(404 if self.path == "/nope" else 500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Scripts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % server.server_address[1]
    case("script_http", None, {"name": "web", "count": 1},
         check=lambda ok, r, e, eid: ok and isinstance(r, dict) and r.get("messages") == ["hello web"],
         script=script("unused.py", "http", endpoint="{{ workload.url }}"),
         workload={"url": base + "/hello.py"})
    case("script_http_uri", None, {"name": "web", "count": 1},
         check=lambda ok, r, e, eid: ok and isinstance(r, dict) and r.get("messages") == ["hello web"],
         script=script(base + "/moved", "http"))
    case("script_http_headers", None, None, "with the header",
         script=script(base + "/secret", "http", headers={"X-Key": "k"}))
    case("script_http_401", None, check=failed_with("PermissionError: HTTP 401"),
         script=script(base + "/secret", "http"))
    case("script_http_404", None, check=failed_with("FileNotFoundError: HTTP 404"),
         script=script(base + "/nope", "http"))
    case("script_http_500", None, check=failed_with("ConnectionError: HTTP 500"),
         script=script(base + "/boom", "http"))
    case("script_http_huge", None, check=failed_with("larger than 16 MB"),
         script=script(base + "/big", "http"))
    case("script_http_redirect_out", None, check=failed_with("which is not http(s)"),
         script=script(base + "/to_file", "http"))
    case("script_http_scheme", None, check=failed_with("needs an http:// or https:// URL"),
         script=script("file:///etc/passwd", "http"))
    # an unknown source type never reaches the worker: registration refuses it, as NoETL's
    # validate_script_config did (the runner's own refusal is tried with a frame below)
    try:
        register("script_unknown_source", {"script": script("x.py", "ftp")})
        tap.ok(False, "script_unknown_source", "registered")
    except psycopg.errors.InvalidParameterValue as e:
        tap.ok('source type "ftp"' in str(e), "script_unknown_source: refused at registration", str(e))
    case("code_b64", None, None, 42, code_b64="ZGVmIG1haW4oKToKICAgIHJldHVybiA0Mgo=")
    case("code_base64", None, None, 42, code_base64="ZGVmIG1haW4oKToKICAgIHJldHVybiA0Mgo=")

    # ------------------------------------------------------------------ output
    case("prints", "def main():\n    print('first line')\n    print('second line')\n    return 1\n",
         want=1)
    case("prints_and_fails", "def main():\n    print('said before failing')\n    raise ValueError('no')\n",
         check=failed_with("ValueError: no"))
    case("prints_300_mb",
         "import sys\n"
         "def main():\n"
         "    block = ('x' * 99 + '\\n') * 10000\n"
         "    for i in range(300):\n"
         "        sys.stderr.write(block)\n"
         "    print('the very last line')\n"
         "    return 'loud'\n", want="loud")
    case("thread_prints_after",
         "import threading, time\n"
         "def late():\n"
         "    time.sleep(0.3)\n"
         "    print('late words')\n"
         "def main():\n"
         "    threading.Thread(target=late).start()\n"
         "    return 1\n", want=1)
    late = False
    for i in range(150):
        with open(log_path, errors="replace") as f:
            if re.search(r"noetl: slot \d, outside a task: late words\n", f.read()):
                late = True
                break
        time.sleep(0.1)
    tap.ok(late, "what a task's thread prints after the task is logged after its slot")
    with open("/proc/%d/status" % worker.pid) as f:
        hwm = int(re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M).group(1))
    tap.ok(hwm < 64 * 1024, "the worker's peak RSS stays small with 300 MB printed by a task",
           "VmHWM %d kB" % hwm)
finally:
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    log.close()

# a context that cannot be read fails its task alone: a worker whose session
# allows results of 1 kB, a workload whose three copies in the context pass it
small_log = open(os.path.join(tmp, "small.log"), "w")
small = subprocess.Popen([NOETL, "worker", "--id", "python_tool_small", "--tools", "python",
                          "--poll", "0.5"], stderr=small_log, stdout=subprocess.DEVNULL,
                         env=dict(os.environ, PGOPTIONS="-c noetl.max_result_size=1kB"))
try:
    case("context_too_large", "def main(context):\n    return 1\n",
         check=failed_with("could not read the task's context: the context of task"),
         workload={"big": "x" * 500})
    case("context_too_large_then_others", "def main():\n    return 2\n", None, 2)
finally:
    small.terminate()
    try:
        small.wait(timeout=30)
    except subprocess.TimeoutExpired:
        small.kill()
        small.wait()
    small_log.close()

with open(log_path, errors="replace") as f:
    text = f.read()
prefix = r"noetl: task \d+ \(step s\): "
tap.ok(re.search(prefix + r"first line\n" + prefix + r"second line\n", text),
       "what a task prints reaches the worker's log, each line after its task",
       text[-2000:])
tap.ok(re.search(prefix + r"said before failing\n", text),
       "what a failed task printed reaches the log too")
tap.ok(re.search(prefix + r"hello from the file\n", text), "a script file's output is logged")
m = re.search(prefix + r"\[(\d+) bytes of output dropped, the last (\d+) kept\]\n"
              r"((?:" + prefix + r"x{99}\n)+)" + prefix + r"the very last line\n", text)
tap.ok(m and int(m.group(1)) + int(m.group(2)) == 300000000 + len("the very last line\n"),
       "300 MB printed: a line says how much was dropped, then the tail, in whole lines",
       m and m.group(1, 2))
tap.ok(m and int(m.group(2)) <= 64 * 1024, "the tail kept is at most 64 kB", m and m.group(2))
tap.ok(len(text) < 1024 * 1024, "the log stays small", "%d bytes" % len(text))

# ------------------------------------------------------------------ the runner, directly
def frames(tasks):
    """Runs the python runner on its own with these task frames; their reports."""
    task_r, task_w = os.pipe()
    rep_r, rep_w = os.pipe()

    def setup():
        # each first above 4, so that neither is overwritten before it is moved
        rep, task = fcntl.fcntl(rep_w, fcntl.F_DUPFD, 10), fcntl.fcntl(task_r, fcntl.F_DUPFD, 10)
        os.dup2(rep, 3)
        os.dup2(task, 4)

    p = subprocess.Popen(["/usr/bin/python3", RUNNER], preexec_fn=setup, close_fds=False,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    os.close(task_r)
    os.close(rep_w)
    reports = []
    with os.fdopen(task_w, "wb") as w, os.fdopen(rep_r, "rb") as r:
        for i, t in enumerate(tasks, 1):
            data = json.dumps(t).encode()
            w.write(b"%d %d\n" % (i, len(data)) + data)
            w.flush()
            seq, size = r.readline().split()
            reports.append(json.loads(r.read(int(size))))
    p.wait(timeout=30)
    return reports


def frame(code, args=None, **action):
    return {"step": "s", "execution_id": "7", "queue_id": "8", "attempt": 1, "worker_id": "w",
            "script_root": None, "code": code, "args": args or {}, "action": action}


loop = {"element": "city", "item": {"name": "Paris"}, "index": 2, "count": 3}
cases = [
    ("a loop's item is value, and the element's name in the context",
     frame("def main(value, city, context):\n"
           "    return [value, city, context['city'], context['_loop']]\n", loop=loop),
     [{"name": "Paris"}, {"name": "Paris"}, {"name": "Paris"},
      {"current_index": 2, "index": 2, "item": {"name": "Paris"}, "count": 3}]),
    ("a loop's item reaches **kwargs as value",
     frame("def main(**kw):\n    return kw\n", {"a": 1}, loop=loop),
     {"a": 1, "value": {"name": "Paris"}}),
    ("an arg named value is not replaced by the loop's item",
     frame("def main(value):\n    return value\n", {"value": "mine"}, loop=loop), "mine"),
    ("a loop's batch is an arg and in the context",
     frame("def main(batch, context):\n    return [batch, context['batch']]\n",
           loop=dict(loop, batch=[1, 2])), [[1, 2], [1, 2]]),
    ("a loop without an item is no iteration",
     frame("def main(**kw):\n    return kw\n", loop={"in": "x"}), {}),
    ("the broker's context: workload and results by step, by name too",
     frame("def main(workload, start):\n    return [workload, start, context['execution_id']]\n",
           context={"workload": {"w": 1}, "start": {"ok": True}, "execution_id": "7"}),
     [{"w": 1}, {"ok": True}, "7"]),
    ("args win over the context's keys",
     frame("def main(workload):\n    return workload\n", {"workload": "arg"},
           context={"workload": {"w": 1}}), "arg"),
    ("a string of digits, true or null is not coerced (NoETL's executor coerces only [...] and {...})",
     frame("def main(**kw):\n    return kw\n", {"n": "42", "t": "true", "z": "null", "e": ""}),
     {"n": "42", "t": "true", "z": "null", "e": ""}),
    ("a Python dict literal is coerced", frame("def main(d):\n    return d\n", {"d": "{'a': (1, 2)}"}),
     {"a": [1, 2]}),
    ("a bracketed string that is neither JSON nor a literal stays a string",
     frame("def main(d):\n    return d\n", {"d": "[1, 2"}), "[1, 2"),
]
for name, t, want in cases:
    r = frames([t])[0]
    tap.ok(r.get("ok") and r.get("result") == want, name, r)

errors = [
    ("a worker without a script root reads no file",
     frame(None, script={"uri": "x.py", "source": {"type": "file"}}), "reads no script files"),
    ("a script that is not a mapping", frame(None, script="x.py"), "script must be a mapping"),
    ("a script without a source type", frame(None, script={"uri": "x.py"}),
     "script.source.type is required"),
    ("a script of an unknown source type",
     frame(None, script={"uri": "x.py", "source": {"type": "ftp"}}), "script.source.type must be one of"),
    ("no code at all", frame(None), "no code: a python step needs script"),
    ("empty code", frame("  \n"), "empty code"),
    ("code without main", frame("x = 1\n"), "defines no main()"),
]
for name, t, want in errors:
    r = frames([t])[0]
    tap.ok(not r.get("ok") and want in r.get("error", ""), name, r)

conn.close()
subprocess.run(["rm", "-rf", tmp])
tap.done()
