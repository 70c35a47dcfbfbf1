# test/lib/packages.sh: install the Debian packages a script needs.
#
#   ensure_packages PKG...   installs those missing (as root, with apt-get);
#                            fails, naming them, when not root
#
# Sourced by .ci/run and the demo.

ensure_packages() {
    local missing p
    missing=$(for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
    done)
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "missing packages (run as root to install them):" $missing >&2
        return 1
    fi
    echo "installing:" $missing
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || return 1
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/tmp/noetl-apt.log 2>&1 \
        || { tail -30 /tmp/noetl-apt.log >&2; return 1; }
}

# what building and running noetl needs
NOETL_BUILD_PACKAGES="postgresql-15 postgresql-server-dev-15 libyaml-dev libcurl4-openssl-dev
                      pkg-config gcc make python3"
# and what its tests need besides
NOETL_TEST_PACKAGES="postgresql-15-cron postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
                     python3-yaml python3-jinja2 python3-psycopg valgrind libc6-dbg"
