# test/lib/cluster.sh: start and stop a throwaway PostgreSQL 15 cluster.
#
# Sourced by .ci/run, the demo and the benchmarks.  As root, the server runs
# as the "postgres" system user (initdb and postgres refuse root).  The
# cluster listens on a unix socket only, in its own directory, on its own
# port, with noetl and pg_cron preloaded (CLUSTER_PRELOAD sets the list;
# set and empty, nothing is preloaded).
#
#   cluster_start            sets PGDATA, PGHOST, PGPORT, PGUSER, PGDATABASE
#   cluster_restart          restarts it (after installing a new noetl.so)
#   cluster_stop             stops it and removes its directories
#   cluster_log [N]          prints the last N lines of the server log

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

as_pg() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

cluster_start() {
    local conf
    CLUSTER_DIR=$(mktemp -d /tmp/noetl-cluster.XXXXXX)
    export PGDATA="$CLUSTER_DIR/data" PGHOST="$CLUSTER_DIR/sock"
    export PGPORT=${PGPORT:-54329} PGUSER=postgres PGDATABASE=${PGDATABASE:-postgres}
    mkdir -p "$PGDATA" "$PGHOST"
    chmod 755 "$CLUSTER_DIR"
    chmod 700 "$PGDATA"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$CLUSTER_DIR"
    as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust --no-sync \
        -E UTF8 --locale=C.UTF-8 >"$CLUSTER_DIR/initdb.log" 2>&1 \
        || { cat "$CLUSTER_DIR/initdb.log"; return 1; }
    conf="$PGDATA/postgresql.conf"
    local preload=${CLUSTER_PRELOAD-pg_cron,noetl}
    cat >>"$conf" <<CONF
listen_addresses = ''
port = $PGPORT
unix_socket_directories = '$PGHOST'
shared_preload_libraries = '$preload'
max_worker_processes = 16
max_connections = 100
fsync = off
full_page_writes = off
log_min_messages = warning
log_line_prefix = '%m [%p] %b '
# a test key for noetl.credential's data (test/pgtap/credentials.sql,
# test/tap/credentials.sh); a real installation keeps its own key here
noetl.credential_key = 'noetl-test-credential-key'
CONF
    case ",$preload," in
        *,pg_cron,*) printf "cron.database_name = 'postgres'\ncron.use_background_workers = on\n" >>"$conf" ;;
    esac
    if [ -n "${CLUSTER_EXTRA_CONF:-}" ]; then
        printf '%s\n' "$CLUSTER_EXTRA_CONF" >>"$conf"
    fi
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 start >/dev/null \
        || { tail -50 "$PGDATA/server.log"; return 1; }
}

cluster_restart() {
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -m fast -w -t 60 restart >/dev/null \
        || { tail -50 "$PGDATA/server.log"; return 1; }
}

cluster_stop() {
    [ -n "${CLUSTER_DIR:-}" ] || return 0
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    rm -rf "$CLUSTER_DIR"
    CLUSTER_DIR=
}

cluster_log() {
    tail -n "${1:-40}" "$PGDATA/server.log"
}
