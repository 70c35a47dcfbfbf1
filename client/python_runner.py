# python_runner.py: noetl worker's python runner.
#
# The worker runs this as python3 -c (client/Makefile compiles it into the
# program as tool_python_script, python_runner.c); tool_python.c says what
# it does and what the worker sends it.  It can be run on its own, with
# descriptors 3 and 4 set up as runner.h describes (test/tap/python_tool.py
# does).  The rules it follows are NoETL's python executor's, written out
# with their sources in docs/compatibility.md ("The python tool").
import ast, base64, fcntl, inspect, json, os, signal, stat, sys, traceback
import datetime as _noetl_datetime, uuid as _noetl_uuid

# the largest script file read (script: with source type file)
_NOETL_MAX_SCRIPT = 16 * 1024 * 1024
_NOETL_SOURCES = ('file', 'gcs', 's3', 'http')


def _noetl_coerce(value):
    # NoETL's _coerce_param: a string that, stripped, is {...} or [...] is
    # parsed as JSON, else as a Python literal; anything else stays as it is
    if not isinstance(value, str):
        return value
    s = value.strip()
    if not ((s.startswith('{') and s.endswith('}')) or (s.startswith('[') and s.endswith(']'))):
        return value
    try:
        return json.loads(s)
    except Exception:
        pass
    try:
        return ast.literal_eval(s)
    except Exception:
        return value


class _NoetlMissing(Exception):
    pass


def _noetl_call(main, args, context):
    # what main's parameters get: "context" the context; a name the args
    # hold, that arg; else a key of the context (input, data, workload,
    # execution_id, a step's result...); else, for input_data or a lone
    # parameter, the args as one dict; else its default; **kwargs the
    # args no parameter took
    try:
        params = list(inspect.signature(main).parameters.values())
    except (TypeError, ValueError):
        return main(**args)
    var_kw = any(p.kind == p.VAR_KEYWORD for p in params)
    named = [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    positional = []
    keywords = {}
    for p in named:
        if p.name == 'context':
            value = context
        elif p.name in args:
            value = args[p.name]
        elif p.name in context:
            value = context[p.name]
        elif p.name == 'input_data' or (len(named) == 1 and p.default is p.empty and
                                        p.kind != p.KEYWORD_ONLY):
            value = dict(args)
        elif p.default is not p.empty:
            value = _NoetlMissing
        else:
            raise TypeError("missing required argument '%s' for the python task: "
                            "give it in the step's args" % p.name)
        if p.kind == p.POSITIONAL_ONLY:
            positional.append(p.default if value is _NoetlMissing else value)
        elif value is not _NoetlMissing:
            keywords[p.name] = value
    if var_kw:
        for k, v in args.items():
            if k not in keywords and k not in [p.name for p in named]:
                keywords[k] = v
    return main(*positional, **keywords)


async def _noetl_await(a):
    return await a


def _noetl_script_http(script, source):
    # NoETL's fetch_from_http (plugin/shared/script/sources/http.py@32245391):
    # source.endpoint, else script.uri; source.method (GET), headers, timeout
    # (30 s); 404 FileNotFoundError, 401/403 PermissionError, other >= 400
    # ConnectionError; redirects followed (requests' default).  Bounded here:
    # http and https only, the body at most _NOETL_MAX_SCRIPT, the timeout at
    # most 300 s.
    import urllib.error, urllib.request
    url = source.get('endpoint') or script.get('uri')
    if not isinstance(url, str) or not url:
        raise ValueError('script.source.endpoint or script.uri is required for http source')
    if not url.lower().startswith(('http://', 'https://')):
        raise ValueError('script %r: an http source needs an http:// or https:// URL' % url)
    method = source.get('method') or 'GET'
    headers = source.get('headers') or {}
    timeout = source.get('timeout', 30)
    if not isinstance(method, str) or not isinstance(headers, dict) \
            or isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError('script.source: method must be a string, headers a mapping, timeout a positive number')
    request = urllib.request.Request(url, method=method.upper(),
                                     headers={str(k): str(v) for k, v in headers.items()})
    class _Redirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, hdrs, newurl):
            if not newurl.lower().startswith(('http://', 'https://')):
                raise ConnectionError('script %r: redirected to %r, which is not http(s)' % (url, newurl))
            return super().redirect_request(req, fp, code, msg, hdrs, newurl)
    opener = urllib.request.build_opener(_Redirects)
    try:
        with opener.open(request, timeout=min(timeout, 300)) as response:
            body = response.read(_NOETL_MAX_SCRIPT + 1)
            charset = response.headers.get_content_charset() or script.get('encoding') or 'utf-8'
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise FileNotFoundError('HTTP 404: Script not found at %s' % url) from None
        if e.code in (401, 403):
            raise PermissionError('HTTP %d: Access denied to %s' % (e.code, url)) from None
        raise ConnectionError('HTTP %d: Failed to fetch from %s' % (e.code, url)) from None
    except (urllib.error.URLError, OSError) as e:
        raise ConnectionError('Failed to fetch from %s: %s' % (url, getattr(e, 'reason', e))) from None
    if len(body) > _NOETL_MAX_SCRIPT:
        raise ValueError('script %r is larger than %d MB' % (url, _NOETL_MAX_SCRIPT >> 20))
    return body.decode(charset, errors='replace')


def _noetl_script(script, root):
    # NoETL's resolve_script, for the one source a worker can read: a file,
    # here under the worker's script root and nowhere else
    if not isinstance(script, dict):
        raise ValueError('script must be a mapping (uri, source.type)')
    source = script.get('source')
    if not isinstance(source, dict) or not source.get('type'):
        raise ValueError('script.source.type is required')
    kind = source['type']
    if kind not in _NOETL_SOURCES:
        raise ValueError('script.source.type must be one of: %s, not %r' % (', '.join(_NOETL_SOURCES), kind))
    if kind == 'http':
        return _noetl_script_http(script, source)
    if kind != 'file':
        raise ValueError('script.source.type %r is not supported by noetl worker: give the code '
                         'inline (code:), as a file (source type file) under the worker\'s '
                         '--script-root, or at an http(s) URL (source type http)' % kind)
    uri = script.get('uri')
    if not isinstance(uri, str) or not uri:
        raise ValueError('script.uri is required, a path under the worker\'s --script-root')
    if not root:
        raise PermissionError('script %r: this worker reads no script files: start it with '
                              '--script-root DIR (or NOETL_SCRIPT_ROOT)' % uri)
    top = os.path.realpath(root)
    path = os.path.realpath(os.path.join(top, uri))
    if os.path.commonpath([top, path]) != top:
        raise PermissionError('script %r is outside the worker\'s script root' % uri)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError('script %r is not a regular file' % uri)
        if st.st_size > _NOETL_MAX_SCRIPT:
            raise ValueError('script %r is larger than %d MB' % (uri, _NOETL_MAX_SCRIPT >> 20))
        chunks = []
        size = 0
        while size <= _NOETL_MAX_SCRIPT:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            chunks.append(b)
            size += len(b)
        if size > _NOETL_MAX_SCRIPT:
            raise ValueError('script %r is larger than %d MB' % (uri, _NOETL_MAX_SCRIPT >> 20))
    finally:
        os.close(fd)
    return b''.join(chunks).decode(script.get('encoding') or 'utf-8')


def _noetl_code(task):
    # NoETL's order: script, then code_b64, code_base64, code
    script = task.get('script')
    if script is not None:
        code = _noetl_script(script, task.get('script_root'))
        return code, '<script %s>' % script.get('uri')
    for key in ('code_b64', 'code_base64'):
        if task.get(key) is not None:
            return base64.b64decode(task[key], validate=True).decode('utf-8'), '<step %s>' % task.get('step')
    code = task.get('code')
    if code is None:
        raise ValueError("no code: a python step needs script, code_b64, code_base64 or code")
    if not code.strip():
        raise ValueError('empty code')
    return code, '<step %s>' % task.get('step')


def _noetl_context(task, args):
    # NoETL's context (its worker's _build_execution_context): what the
    # broker sent, then input and data (the args), env, execution_id, job
    context = task.get('context')
    context = dict(context) if isinstance(context, dict) else {}
    loop = task.get('loop')
    if isinstance(loop, dict) and 'item' in loop:
        # NoETL's build_iteration_context (controller/iterator/execution.py@32245391)
        item = loop['item']
        context['parent'] = dict(context)
        if isinstance(context.get('work'), dict):
            context['work'] = dict(context['work'], **{loop.get('element') or 'item': item})
        context[loop.get('element') or 'item'] = item
        context['_loop'] = {'current_index': loop.get('index'), 'index': loop.get('index'),
                            'item': item, 'count': loop.get('count')}
        # the loop step's own name (the task's step is the item's node_id,
        # "step[index]") answers {result_index}
        step, suffix = task.get('step'), '[%s]' % loop.get('index')
        if isinstance(step, str) and step.endswith(suffix) and len(step) > len(suffix):
            context[step[:-len(suffix)]] = {'result_index': loop.get('index')}
        args.setdefault('value', item)
        if 'batch' in loop:
            context['batch'] = loop['batch']
            args.setdefault('batch', loop['batch'])
    context.setdefault('input', dict(args))
    context.setdefault('data', dict(args))
    context.setdefault('env', dict(os.environ))
    context.setdefault('execution_id', task.get('execution_id'))
    context.setdefault('job', {'id': task.get('queue_id'), 'uuid': str(task.get('queue_id')),
                               'execution_id': task.get('execution_id'),
                               'node_id': task.get('step'), 'worker_id': task.get('worker_id'),
                               'attempt': task.get('attempt')})
    return context


def _noetl_run(frame):
    try:
        # the action's python fields (task.c), then what the worker set
        action = frame.get('action')
        task = dict(action) if isinstance(action, dict) else {}
        task.update((k, v) for k, v in frame.items() if k != 'action')
        args = task.get('args')
        args = {k: _noetl_coerce(v) for k, v in args.items()} if isinstance(args, dict) else {}
        context = _noetl_context(task, args)
        code, name = _noetl_code(task)
        ns = {'__name__': '__main__', 'context': context, 'os': os, 'json': json,
              'datetime': _noetl_datetime, 'uuid': _noetl_uuid}
        exec(compile(code, name, 'exec'), ns)
        main = ns.get('main')
        if not callable(main):
            raise NameError("the step's code defines no main()")
        result = _noetl_call(main, args, context)
        if inspect.isawaitable(result):
            import asyncio
            result = asyncio.run(_noetl_await(result))
        return json.dumps({'ok': True, 'result': result}, default=str, allow_nan=False)
    except BaseException as e:
        message = '%s: %s' % (type(e).__name__, e) if str(e) else type(e).__name__
        return json.dumps({'ok': False, 'error': message, 'stack_trace': traceback.format_exc()},
                          default=str)


def _noetl_flush(*files):
    for f in files:
        try:
            f.flush()
        except BaseException:
            pass


def _noetl_reset(umask):
    signal.alarm(0)
    for timer in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):
        signal.setitimer(timer, 0)
    os.umask(umask)


def _noetl_loop():
    task_fd = fcntl.fcntl(4, fcntl.F_DUPFD_CLOEXEC, 100)
    report_fd = fcntl.fcntl(3, fcntl.F_DUPFD_CLOEXEC, 100)
    os.close(3)
    os.close(4)
    tasks = os.fdopen(task_fd, 'rb')
    reports = os.fdopen(report_fd, 'wb')
    std = (sys.stdin, sys.stdout, sys.stderr)
    cwd = os.getcwd()
    env = dict(os.environ)
    umask = os.umask(0o22)
    os.umask(umask)
    while True:
        line = tasks.readline()
        if not line:
            return
        seq, size = line.split()
        data = tasks.read(int(size))
        sys.stdout = sys.stderr
        try:
            text = _noetl_run(json.loads(data))
        finally:
            _noetl_flush(sys.stdout, sys.stderr, *std)
            sys.stdin, sys.stdout, sys.stderr = std
            try:
                os.chdir(cwd)
            except OSError:
                pass
            if os.environ != env:
                os.environ.clear()
                os.environ.update(env)
            _noetl_reset(umask)
        out = text.encode()
        reports.write(b'%s %d\n' % (seq, len(out)) + out)
        reports.flush()


_noetl_loop()
