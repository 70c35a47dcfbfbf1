#!/usr/bin/env python3
"""A small HTTP server for the examples and tests, on the loopback interface.

    python3 test/lib/http_server.py [PORT]

Prints the port it listens on (PORT 0, the default, picks a free one) and
serves until killed:

    GET  /items?limit=N   {"items": [...]} (the first N of three items)
    POST /echo            {"received": <the JSON body>, "x_example": <X-Example header>}
    GET  /flaky/KEY       503 for the first two requests with KEY, then 200 {"calls": n}
    GET  /query           {"query": {name: value}, "x_example": <X-Example header>}
    GET  /deep?n=N        an array nested N deep (JSON, but deeper than a worker takes as such)

and, for any method (GET, HEAD, POST, PUT, PATCH, DELETE):

    /status/N             status N, {"status": N}
    /redirect/N?to=PATH   status N with Location: PATH
    /loop                 302 with Location: /loop, for ever
    /method               {"method", "body" (the JSON body, or null), "authorization", "cookie"}
    /deny                 401 {"error", "authorization", "x_token"}: the headers it was sent, echoed
    /digest               {"authorization_sha256", "x_token_sha256", "query_sha256"}: the SHA-256
                          (hex) of the Authorization and X-Token headers and of the query string
                          it was sent (null if none),
                          so that a test sees what arrived without a secret in the reply
    /calls                {"digest": N}: how many requests /digest has had
    /headers              X-Dup twice, X-Mixed-Case, and a JSON-looking text/plain body
    /big?n=N              N bytes of text/plain
    /many-headers?n=N     N headers X-H-1 .. X-H-N
"""
import hashlib
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ITEMS = [{"id": 1, "name": "anvil"}, {"id": 2, "name": "bucket"}, {"id": 3, "name": "chisel"}]
calls = {}


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def any_method(self, method):
        """the routes of any method; False if the path is none of them"""
        url = urlparse(self.path)
        query = parse_qs(url.query)
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length) if length else b""
        if url.path.startswith("/status/"):
            self.reply(int(url.path[len("/status/"):]), {"status": int(url.path[len("/status/"):])})
        elif url.path.startswith("/redirect/"):
            self.send_response(int(url.path[len("/redirect/"):]))
            self.send_header("Location", query.get("to", ["/method"])[0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path == "/method":
            self.reply(200, {"method": method, "body": json.loads(raw) if raw else None,
                             "authorization": self.headers.get("Authorization"),
                             "cookie": self.headers.get("Cookie")})
        elif url.path == "/deny":
            self.reply(401, {"error": "denied", "authorization": self.headers.get("Authorization"),
                             "x_token": self.headers.get("X-Token")})
        elif url.path == "/digest":
            calls["digest"] = calls.get("digest", 0) + 1
            def sha(v):
                return hashlib.sha256(v.encode()).hexdigest() if v else None
            self.reply(200, {"authorization_sha256": sha(self.headers.get("Authorization")),
                             "x_token_sha256": sha(self.headers.get("X-Token")),
                             "query_sha256": sha(url.query)})
        elif url.path == "/calls":
            self.reply(200, {"digest": calls.get("digest", 0)})
        elif url.path == "/headers":
            data = b'{"not": "parsed"}'
            self.send_response(200)
            self.send_header("X-Dup", "a")
            self.send_header("X-Dup", "b")
            self.send_header("X-Mixed-Case", "v")
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif url.path == "/many-headers":
            self.send_response(200)
            for i in range(int(query.get("n", ["0"])[0])):
                self.send_header("X-H-%d" % i, "v")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path == "/big":
            n = int(query.get("n", ["0"])[0])
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = b"x" * 65536
            while n > 0:
                self.wfile.write(chunk[:n])
                n -= len(chunk)
        else:
            return False
        return True

    def do_HEAD(self):
        self.any_method("HEAD") or self.reply(404, {"error": "no such path"})

    def do_PUT(self):
        self.any_method("PUT") or self.reply(404, {"error": "no such path"})

    def do_PATCH(self):
        self.any_method("PATCH") or self.reply(404, {"error": "no such path"})

    def do_DELETE(self):
        self.any_method("DELETE") or self.reply(404, {"error": "no such path"})

    def do_GET(self):
        url = urlparse(self.path)
        if self.any_method("GET"):
            pass
        elif url.path == "/items":
            limit = int(parse_qs(url.query).get("limit", ["3"])[0])
            self.reply(200, {"items": ITEMS[:limit]})
        elif url.path.startswith("/flaky/"):
            key = url.path[len("/flaky/"):]
            calls[key] = calls.get(key, 0) + 1
            if calls[key] <= 2:
                self.reply(503, {"error": "try again", "calls": calls[key]})
            else:
                self.reply(200, {"calls": calls[key]})
        elif url.path == "/query":
            query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            self.reply(200, {"query": query, "x_example": self.headers.get("X-Example")})
        elif url.path == "/deep":
            n = int(parse_qs(url.query).get("n", ["1"])[0])
            data = ("[" * n + "]" * n).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self.reply(404, {"error": "no such path"})

    def do_POST(self):
        if urlparse(self.path).path != "/echo" and self.any_method("POST"):
            return
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"null")
        if urlparse(self.path).path == "/echo":
            self.reply(200, {"received": body, "x_example": self.headers.get("X-Example")})
        else:
            self.reply(404, {"error": "no such path"})

    def log_message(self, fmt, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
