#!/usr/bin/python3
"""Stand-ins for the public hosts NoETL's fixture playbooks call, on the
loopback interface, for test/tap/fixtures_run.py.

Each host is served under a path prefix of its own name, so that
https://httpbin.org/get becomes http://127.0.0.1:PORT/httpbin.org/get
(rewrite() does that to a playbook's text).  Answers have the shape the
real services give, with fixed data, and nothing takes long:

    httpbin.org               /get, /post (and /put, /patch, /delete, /anything):
                              the request echoed ({args, data, json, headers, url});
                              /status/N: status N, empty body; /delay/N: N
                              seconds (at most 2), then /get's answer
    jsonplaceholder.typicode.com
                              /posts, /posts/N, /users, /users/N, /todos, /comments:
                              fixed data, 100 posts, 10 users (nested address
                              and company), 20 todos, 20 comments; ?userId= etc. filter
    api.open-meteo.com        /v1/forecast: {latitude, longitude, current,
                              hourly} from the latitude/longitude asked
    raw.githubusercontent.com .../hello_world.py: a script with the contract of
                              NoETL's script_execution/scripts/hello_world.py
                              (main(name, count) -> {status, messages,
                              total_greetings, script_source: "file"})

    python3 test/lib/fixture_hosts.py [PORT]   serves until killed, printing its port
"""
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

HOSTS = ("httpbin.org", "jsonplaceholder.typicode.com", "api.open-meteo.com",
         "raw.githubusercontent.com")

POSTS = [{"userId": (i - 1) // 10 + 1, "id": i,
          "title": "post %d title" % i, "body": "post %d body\nsecond line" % i}
         for i in range(1, 101)]
USERS = [{"id": i, "name": "User %d" % i, "username": "user%d" % i,
          "email": "user%d@example.org" % i,
          "address": {"street": "%d Main St" % i, "suite": "Apt. %d" % i, "city": "City%d" % i,
                      "zipcode": "%05d" % i,
                      "geo": {"lat": "%.4f" % (i * 1.5), "lng": "%.4f" % (-i * 2.5)}},
          "phone": "555-01%02d" % i, "website": "user%d.example.org" % i,
          "company": {"name": "Company %d" % i, "catchPhrase": "phrase %d" % i, "bs": "bs %d" % i}}
         for i in range(1, 11)]
TODOS = [{"userId": (i - 1) // 2 + 1, "id": i, "title": "todo %d" % i, "completed": i % 2 == 0}
         for i in range(1, 21)]
COMMENTS = [{"postId": (i - 1) // 5 + 1, "id": i, "name": "comment %d" % i,
             "email": "c%d@example.org" % i, "body": "comment %d body" % i} for i in range(1, 21)]
COLLECTIONS = {"posts": POSTS, "users": USERS, "todos": TODOS, "comments": COMMENTS}

HELLO_WORLD_PY = '''\
def main(name="World", count=1):
    messages = ["Hello, %s! (Greeting #%d)" % (name, i + 1) for i in range(count)]
    return {"status": "success", "messages": messages,
            "total_greetings": count, "script_source": "file"}
'''


def rewrite(text, base):
    """text with every https?://HOST of HOSTS replaced by base + "/HOST"."""
    return re.sub(r"https?://(%s)" % "|".join(re.escape(h) for h in HOSTS),
                  lambda m: "%s/%s" % (base, m.group(1)), text)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send(self, status, body=b"", ctype="application/json"):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(n, 1 << 20)) if n > 0 else b""

    def handle_any(self):
        url = urlparse(self.path)
        parts = url.path.lstrip("/").split("/", 1)
        host, path = parts[0], "/" + (parts[1] if len(parts) > 1 else "")
        query = {k: v[0] if len(v) == 1 else v
                 for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        data = self.body()
        if host == "httpbin.org":
            return self.httpbin(path, query, data)
        if host == "jsonplaceholder.typicode.com":
            return self.jsonplaceholder(path, query, data)
        if host == "api.open-meteo.com" and path == "/v1/forecast":
            return self.forecast(query)
        if host == "raw.githubusercontent.com" and path.endswith("/hello_world.py"):
            return self.send(200, HELLO_WORLD_PY.encode(), "text/plain; charset=utf-8")
        return self.send(404, {"error": "no such path on the fixture hosts: %s" % self.path})

    def httpbin(self, path, query, data):
        m = re.fullmatch(r"/status/(\d{3})", path)
        if m:
            return self.send(int(m.group(1)), b"", "text/html; charset=utf-8")
        m = re.fullmatch(r"/delay/(\d+(?:\.\d+)?)", path)
        if m:
            time.sleep(min(float(m.group(1)), 2.0))
            path = "/get"
        if path in ("/get", "/post", "/put", "/patch", "/delete") or path.startswith("/anything"):
            echo = {"args": query, "headers": dict(self.headers.items()), "origin": "127.0.0.1",
                    "url": "https://httpbin.org" + self.path.split("/httpbin.org", 1)[-1]}
            if self.command != "GET":
                text = data.decode("utf-8", "replace")
                try:
                    parsed = json.loads(text) if text else None
                except ValueError:
                    parsed = None
                echo.update({"data": text, "json": parsed, "form": {}, "files": {}})
            if path.startswith("/anything"):
                echo["method"] = self.command
            return self.send(200, echo)
        return self.send(404, b"", "text/html")

    def jsonplaceholder(self, path, query, data):
        m = re.fullmatch(r"/(posts|users|todos|comments)(?:/(\d+))?/?", path)
        if not m:
            return self.send(404, {})
        rows = COLLECTIONS[m.group(1)]
        if self.command == "POST":
            try:
                obj = json.loads(data or b"{}")
            except ValueError:
                obj = {}
            if not isinstance(obj, dict):
                obj = {}
            return self.send(201, dict(obj, id=len(rows) + 1))
        if m.group(2):
            hit = [r for r in rows if r["id"] == int(m.group(2))]
            return self.send(200, hit[0]) if hit else self.send(404, {})
        for k, v in query.items():
            rows = [r for r in rows if str(r.get(k)) == str(v)]
        return self.send(200, rows)

    def forecast(self, query):
        try:
            lat, lon = float(query.get("latitude", 0)), float(query.get("longitude", 0))
        except (TypeError, ValueError):
            return self.send(400, {"error": True, "reason": "invalid latitude or longitude"})
        temp = round(15 + lat / 10 - lon / 100, 1)
        hours = ["2025-01-01T%02d:00" % h for h in range(24)]
        return self.send(200, {
            "latitude": lat, "longitude": lon, "timezone": "GMT", "elevation": 38.0,
            "current": {"time": "2025-01-01T12:00", "interval": 900, "temperature_2m": temp},
            "current_weather": {"time": "2025-01-01T12:00", "temperature": temp, "windspeed": 10.0},
            "hourly_units": {"time": "iso8601", "temperature_2m": "°C"},
            "hourly": {"time": hours,
                       "temperature_2m": [round(temp + (h % 12) / 2 - 3, 1) for h in range(24)]}})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

    def log_message(self, fmt, *args):
        pass


def start(port=0):
    """Starts the server in a thread of this process; returns it (server_address, shutdown())."""
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
