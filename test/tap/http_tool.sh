#!/usr/bin/env bash
# test/tap/http_tool.sh: the http tool against a local server
# (test/lib/http_server.py), through noetl worker.
#
# Against the cluster named by the PG* variables (noetl installed, its
# broker worker running): a non-2xx response fails its task with the
# response as the result (status_code, headers, url, data, as NoETL shapes
# them); redirects are not followed (NoETL's httpx.Client does not), and
# with follow_redirects: true are followed as httpx follows them (the
# method kept on 307, turned into GET on 302 and 303, Authorization not
# sent to another origin), a loop stopped after 20; the headers under
# their lower-case names, a repeated one joined; a body too large and a
# scheme other than http(s) refused; retry_when reading status_code, with
# NoETL's retry fixture http_retry_status_code run against the local
# server (skipped without the corpus).
set -u
# shellcheck source=../lib/client_tap.sh
. "$(dirname "$0")/../lib/client_tap.sh"
echo "1..31"

[ -x "$NOETL" ] || { echo "Bail out! client/noetl is not built"; exit 1; }
FIXTURES=${NOETL_FIXTURES:-$SRC/../shared/noetl-fixtures}

/usr/bin/python3 "$SRC/test/lib/http_server.py" 0 >"$tmp/http.port" 2>"$tmp/http.log" &
pids+=($!)
for i in $(seq 1 50); do [ -s "$tmp/http.port" ] && break; sleep 0.1; done
port=$(head -1 "$tmp/http.port")
base="http://127.0.0.1:$port"

# one playbook, its http step's fields from the workload
"$NOETL" register - >"$tmp/register.out" 2>&1 <<'YAML' || echo "# register failed"
metadata: {path: tests/http_tool/call}
workflow:
  - step: start
    next: [call]
  - step: call
    tool: http
    method: "{{ workload.method }}"
    url: "{{ workload.url }}"
    headers: "{{ workload.headers }}"
    args: "{{ workload.args }}"
    follow_redirects: "{{ workload.follow }}"
    next: [end]
  - step: end
    result: {call: "{{ call }}"}
YAML
"$NOETL" register - >/dev/null <<'YAML' || echo "# register failed"
metadata: {path: tests/http_tool/retry}
workflow:
  - step: start
    next: [call]
  - step: call
    tool: http
    url: "{{ workload.url }}"
    retry:
      max_attempts: 3
      initial_delay: 0.1
      retry_when: "{{ status_code >= 500 }}"
    next: [end]
  - step: end
    result: {calls: "{{ call.data.calls }}"}
YAML
start_worker http-tool --tools http --poll 0.5
ok $(grep -q "tests/http_tool/call version" "$tmp/register.out" && ! grep -q "follow_redirects" "$tmp/register.out"; echo $?) \
   "follow_redirects registers without a warning of an unknown key"

# call NAME URL [METHOD [FOLLOW [ARGS [HEADERS]]]]: runs tests/http_tool/call
call() {
    run "$1" tests/http_tool/call --workload "{\"url\": \"$2\", \"method\": \"${3:-GET}\", \"follow\": ${4:-false},
                                               \"args\": ${5:-{\}}, \"headers\": ${6:-{\}}}"
}
# the task's result (of its last report), and its error
task_result() { q "SELECT result FROM noetl.queue WHERE execution_id = ${eid:-0} AND node_id = 'call'"; }
last_error() {
    q "SELECT error FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error' ORDER BY event_id DESC LIMIT 1"
}
last_error_result() {
    q "SELECT result $1 FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error' ORDER BY event_id DESC LIMIT 1"
}

# non-2xx fails, with the response as the result
call not_found "$base/status/404"
ok $([ "$rc" = 1 ]; echo $?) "a 404 fails the execution"
ok $([ "$(last_error)" = "HTTP 404: Not Found (GET $base/status/404)" ]; echo $?) "... with NoETL's error: $(last_error)"
ok $([ "$(last_error_result "-> 'status_code'")|$(last_error_result "-> 'data'")|$(last_error_result "#>> '{headers,content-type}'")|$(last_error_result "->> 'url'")" = \
       "404|{\"status\": 404}|application/json|$base/status/404" ]; echo $?) \
   "... and the response as the result: status_code, data, headers, url"
call server_error "$base/status/500" POST false '{"a": 1}'
ok $([ "$rc" = 1 ] && [ "$(last_error_result "-> 'status_code'")" = 500 ]; echo $?) \
   "a 500 fails, with its status_code: $(last_error)"
call ok "$base/status/201" PUT
ok $([ "$rc" = 0 ] && [ "$(q "SELECT result #> '{call,status_code}' FROM noetl.execution WHERE execution_id = ${eid:-0}")" = 201 ]; echo $?) \
   "a 201 is a result"

# redirects: not followed by default
call moved "$base/redirect/301?to=/method"
ok $([ "$rc" = 1 ] && [ "$(last_error_result "-> 'status_code'")|$(last_error_result "#>> '{headers,location}'")" = "301|/method" ]; echo $?) \
   "a 301 is not followed (as NoETL's httpx client): the task fails, with the Location in the result"
# with follow_redirects: true, as httpx follows them
for code in 301 302 307; do
    call "follow$code" "$base/redirect/$code?to=/method" GET true
    ok $([ "$rc" = 0 ] && [ "$(q "SELECT result #>> '{call,data,method}' || ' ' || (result #>> '{call,url}') FROM noetl.execution WHERE execution_id = ${eid:-0}")" = "GET $base/method" ]; echo $?) \
       "follow_redirects: a $code is followed to the page it names"
done
call post307 "$base/redirect/307?to=/method" POST true '{"n": 7}'
ok $([ "$(q "SELECT result #> '{call,data}' FROM noetl.execution WHERE execution_id = ${eid:-0}")" = \
       '{"body": {"n": 7}, "cookie": null, "method": "POST", "authorization": null}' ]; echo $?) \
   "... a 307 keeps the method and the body"
call post302 "$base/redirect/302?to=/method" POST true '{"n": 7}'
ok $([ "$(q "SELECT result #> '{call,data}' FROM noetl.execution WHERE execution_id = ${eid:-0}")" = \
       '{"body": null, "cookie": null, "method": "GET", "authorization": null}' ]; echo $?) \
   "... a 302 after a POST is a GET without the body"
call put303 "$base/redirect/303?to=/method" PUT true '{"n": 7}'
ok $([ "$(q "SELECT result #>> '{call,data,method}' FROM noetl.execution WHERE execution_id = ${eid:-0}")" = GET ]; echo $?) \
   "... a 303 after a PUT is a GET"
call auth_same "$base/redirect/307?to=/method" GET true '{}' '{"Authorization": "Bearer s", "Cookie": "c=1"}'
ok $([ "$(q "SELECT (result #>> '{call,data,authorization}') || ' ' || coalesce(result #>> '{call,data,cookie}', 'none') FROM noetl.execution WHERE execution_id = ${eid:-0}")" = "Bearer s none" ]; echo $?) \
   "... Authorization kept within the origin, Cookie dropped"
call auth_other "$base/redirect/307?to=http://localhost:$port/method" GET true '{}' '{"Authorization": "Bearer s"}'
ok $([ "$rc" = 0 ] && [ "$(q "SELECT (result #>> '{call,url}') || ' ' || coalesce(result #>> '{call,data,authorization}', 'none') FROM noetl.execution WHERE execution_id = ${eid:-0}")" = "http://localhost:$port/method none" ]; echo $?) \
   "... Authorization not sent to another origin"
call loop "$base/loop" GET true
ok $([ "$rc" = 1 ] && [ "$(last_error)" = "GET $base/loop: more than 20 redirects" ] &&
     [ "$(last_error_result "-> 'status_code'")" = 302 ]; echo $?) \
   "a redirect loop is stopped after 20: $(last_error)"
ok $(kill -0 "$worker" 2>/dev/null; echo $?) "... and the worker is still running"

# the response as NoETL shapes it
call headers "$base/headers"
ok $([ "$(q "SELECT (result #>> '{call,headers,x-dup}') || '|' || (result #>> '{call,headers,x-mixed-case}') || '|' ||
                    jsonb_typeof(result #> '{call,data}') || '|' || (result #>> '{call,data}') FROM noetl.execution WHERE execution_id = ${eid:-0}")" = \
       'a, b|v|string|{"not": "parsed"}' ]; echo $?) \
   "headers under lower-case names, a repeated one joined by \", \"; a body that is not application/json stays text"
call head "$base/status/200" HEAD
ok $([ "$rc" = 0 ] && [ "$(q "SELECT result #> '{call,data}' FROM noetl.execution WHERE execution_id = ${eid:-0}")" = '""' ]; echo $?) \
   "an empty body is \"\", as httpx's text"

# bounds
call big "$base/big?n=$((64 * 1024 * 1024 + 1))"
ok $([ "$rc" = 1 ] && [ "$(last_error)" = "GET $base/big?n=$((64 * 1024 * 1024 + 1)): the response body is larger than 64 MB" ]; echo $?) \
   "a body larger than 64 MB fails the task: $(last_error)"
call many "$base/many-headers?n=20000"
ok $([ "$rc" = 1 ] && last_error | grep -qF 'the response headers are larger than 1024 kB, or more than 10000 lines'; echo $?) \
   "20,000 headers fail the task: $(last_error)"
call file "file:///etc/hostname"
ok $([ "$rc" = 1 ] && last_error | grep -q 'not supported'; echo $?) \
   "a file: URL is refused: $(last_error)"
call inject "$base/method" GET false '{}' '{"X-A": "a\r\nAuthorization: injected"}'
ok $([ "$rc" = 1 ] && [ "$(last_error)" = 'the value of http header "X-A" has a control character (a line break?)' ]; echo $?) \
   "a line break in a header value is refused, not sent as a header of its own"
call smuggle "$base/method" 'GET /x HTTP/1.1\r\nX-B: 1\r\n\r\nGET'
ok $([ "$rc" = 1 ] && last_error | grep -q 'is not a method name'; echo $?) \
   "a method that is not a token is refused: $(last_error | head -1)"
call badurl "$base/method\r\nX-C: 1"
ok $([ "$rc" = 1 ] && last_error | grep -q 'URL using bad/illegal format'; echo $?) \
   "a URL with a line break is refused, not sent: $(last_error | tail -1)"
ok $(kill -0 "$worker" 2>/dev/null; echo $?) "... and the worker is still running"

# retry_when reads status_code
run flaky tests/http_tool/retry --workload "{\"url\": \"$base/flaky/http-tool-$$\"}"
ok $([ "$rc" = 0 ] && [ "$(result)" = '{"calls": 3}' ]; echo $?) "retry_when on status_code: two 503s retried, then a 200"
ok $([ "$(q "SELECT string_agg(result ->> 'status_code', ',' ORDER BY event_id) FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error'")" = 503,503 ]; echo $?) \
   "... each 503 an action_error with the response"
run no_retry tests/http_tool/retry --workload "{\"url\": \"$base/status/404\"}"
ok $([ "$rc" = 1 ] && [ "$(q "SELECT count(*) FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error'")" = 1 ]; echo $?) \
   "... a 404 is not retried"

# NoETL's own retry fixture, against the local server
fixture="$FIXTURES/era-c/retry_test/http_retry_status_code.yaml"
if [ -f "$fixture" ]; then
    "$NOETL" register "$fixture" >/dev/null || echo "# register failed"
    run fixture503 tests/retry/http_status_code --workload "{\"test_url\": \"$base/status/503\"}"
    ok $([ "$rc" = 1 ] && [ "$(q "SELECT count(*) FROM noetl.event WHERE execution_id = ${eid:-0} AND event_type = 'action_error'")" = 3 ]; echo $?) \
       "http_retry_status_code: a 503 tried three times, then the execution fails"
    run fixture_flaky tests/retry/http_status_code --workload "{\"test_url\": \"$base/flaky/fixture-$$\"}"
    ok $([ "$rc" = 0 ]; echo $?) "http_retry_status_code: two 503s, then a 200: completed"
else
    echo "ok $((n + 1)) # skip no fixtures at $FIXTURES"; n=$((n + 1))
    echo "ok $((n + 1)) # skip no fixtures at $FIXTURES"; n=$((n + 1))
fi

kill -TERM "$worker"; wait "$worker"
[ "$failed" = 0 ] || tail -n 20 "$tmp"/*.log
exit $((failed > 0))
