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
"""
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

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/items":
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
