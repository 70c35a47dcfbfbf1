"""Helpers shared by the Python tests under test/tap: TAP output and a
connection to the test database (from the usual PG* variables)."""

import os
import sys

import psycopg

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# NoETL's fixture playbooks are NoETL's, not this project's: they live
# outside the repository, where NOETL_FIXTURES says (test/README.md)
FIXTURES = os.environ.get("NOETL_FIXTURES",
                          os.path.join(os.path.dirname(REPO), "shared", "noetl-fixtures"))
FIXTURES_MISSING = ("NoETL fixture corpus not found in %s: set NOETL_FIXTURES to a checkout of its "
                    "tests/fixtures/playbooks (see test/README.md)" % FIXTURES)


def have_fixtures():
    """Whether the fixture corpus is there.  Under CI (CI=true) it must be."""
    return os.path.isdir(FIXTURES)


def under_ci():
    return os.environ.get("CI") == "true"


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

    def skip(self, name, reason):
        """A check that is skipped, with the reason."""
        self.n += 1
        print("ok %d # skip %s: %s" % (self.n, name, reason))
        sys.stdout.flush()

    def skip_all(self, reason):
        """Skips the whole test: a plan of nothing, with the reason."""
        print("1..0 # SKIP %s" % reason)
        sys.exit(0)

    def require_fixtures(self):
        """Skips the whole test when the corpus is absent (a failure under CI)."""
        if have_fixtures():
            return
        if under_ci():
            self.ok(False, "the NoETL fixture corpus is in NOETL_FIXTURES (CI=true needs it)",
                    FIXTURES_MISSING)
            self.done()
        self.skip_all(FIXTURES_MISSING)

    def done(self):
        print("1..%d" % self.n)
        sys.exit(1 if self.failed or self.n == 0 else 0)


def connect():
    return psycopg.connect("", autocommit=True)
