#!/usr/bin/env bash
# test/tap/notify.sh: what a worker LISTENing on noetl's channels hears.
# Runs the libpq client test/c/notify_test (built by make) against the
# cluster named by the PG* variables, whose broker worker serves $PGDATABASE.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin="$here/../c/notify_test"
if [ ! -x "$bin" ]; then
    echo "1..1"
    echo "not ok 1 - test/c/notify_test is built (run make)"
    exit 1
fi
exec "$bin"
