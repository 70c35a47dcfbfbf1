# test/lib/devroot.sh: install noetl into a private copy of PostgreSQL.
#
# For developers running several builds at once on one machine (each in its
# own clone or worktree): PostgreSQL finds its library and share
# directories relative to its binaries, so a copy of Debian's PostgreSQL 15
# under a directory of one's own, with noetl installed into it by
# "make install DESTDIR=...", is a server of its own that other builds'
# "make install" cannot disturb.  .ci/run uses it when NOETL_DESTDIR is
# set; CI does not set it and installs into the system.
#
#   devroot_install DIR      copies PostgreSQL into DIR (once), installs
#                            the current build there, and exports PGBIN
#                            and PATH so that the cluster and the noetl
#                            program come from DIR

devroot_install() {
    local root=$1 v=15
    if [ ! -x "$root/usr/lib/postgresql/$v/bin/postgres" ]; then
        mkdir -p "$root/usr/lib/postgresql" "$root/usr/share/postgresql" || return 1
        cp -a "/usr/lib/postgresql/$v" "$root/usr/lib/postgresql/" || return 1
        cp -a "/usr/share/postgresql/$v" "$root/usr/share/postgresql/" || return 1
    fi
    make -s install DESTDIR="$root" || return 1
    export PGBIN="$root/usr/lib/postgresql/$v/bin"
    export PATH="$root/usr/local/bin:$PATH"
}
