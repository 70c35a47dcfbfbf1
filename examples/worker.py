#!/usr/bin/env python3
"""A noetl worker in Python, in a few lines: how to write one in any language.

    python3 examples/worker.py [--id NAME]      (connection from the PG* variables)

It LISTENs on noetl_queue, leases python tasks, runs each one's main() with
the task's args, and reports the result or the error.  Everything it does is
SQL: noetl.lease, noetl.complete, noetl.fail.  It also leases on a timer,
because notifications are only hints.  Needs Debian's python3-psycopg.
"""
import argparse
import asyncio
import inspect
import json
import os
import select
import socket
import traceback

import psycopg


def run(task):
    """Runs a python task: its code defines main(**args), maybe async."""
    namespace = {}
    exec(task["action"].get("code", ""), namespace)
    args = task["action"].get("args") or {}
    params = inspect.signature(namespace["main"]).parameters
    result = namespace["main"](**{k: v for k, v in args.items() if k in params})
    return asyncio.run(result) if inspect.iscoroutine(result) else result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", default=f"{socket.gethostname()}-py-{os.getpid()}")
    parser.add_argument("--poll", type=float, default=5.0)
    options = parser.parse_args()
    worker = options.id

    with psycopg.connect(autocommit=True) as conn:
        conn.execute("LISTEN noetl_queue")
        while True:
            rows = conn.execute(
                "SELECT queue_id, lease_token, action FROM noetl.lease(%s, 1, 60, ARRAY['python'])",
                (worker,),
            ).fetchall()
            for queue_id, token, action in rows:
                # every report of the task carries the token its lease came with
                try:
                    result = run({"action": action})
                    conn.execute("SELECT noetl.complete(%s, %s, %s)",
                                 (queue_id, token, json.dumps(result)))
                except Exception as e:
                    conn.execute("SELECT noetl.fail(%s, %s, %s, NULL, %s)",
                                 (queue_id, token, f"{type(e).__name__}: {e}",
                                  traceback.format_exc()))
            if not rows:
                # sleep until a notification arrives, or the poll interval passes
                select.select([conn.fileno()], [], [], options.poll)
                conn.execute("SELECT 1")   # reads what arrived


if __name__ == "__main__":
    main()
