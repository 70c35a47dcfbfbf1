"""Helpers shared by the Python tests under test/tap: TAP output and a
connection to the test database (from the usual PG* variables)."""

import os
import sys

import psycopg

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("NOETL_SHARED", os.path.join(os.path.dirname(REPO), "shared"))
FIXTURES = os.path.join(SHARED, "noetl-fixtures")


class Tap:
    """Prints TAP: one "ok"/"not ok" line per check, the plan at the end."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, name))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, name))
            if diag:
                for line in str(diag).splitlines():
                    print("#   " + line)
        sys.stdout.flush()
        return cond

    def done(self):
        print("1..%d" % self.n)
        sys.exit(1 if self.failed or self.n == 0 else 0)


def connect():
    return psycopg.connect("", autocommit=True)
