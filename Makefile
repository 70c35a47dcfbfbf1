# Makefile for noetl: a PGXS extension plus its client program and test helpers.
#
# The extension version is defined once, in noetl.control; everything else
# (the install script name, the version compiled into the library) is derived
# from it here.

.DEFAULT_GOAL := all

EXTENSION  = noetl
EXTVERSION = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" noetl.control)

MODULE_big = noetl
OBJS       = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA       = $(sort $(wildcard noetl--*.sql))
PGFILEDESC = "noetl - NoETL workflow broker"

PG_CPPFLAGS = -I$(srcdir)/src -DNOETL_VERSION='"$(EXTVERSION)"' $(shell pkg-config --cflags yaml-0.1)
SHLIB_LINK  = $(shell pkg-config --libs yaml-0.1)

# tests: pg_regress inputs in test/sql and test/expected, isolation specs in
# test/specs (test/README.md says what each layer covers)
REGRESS     := $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --outputdir=test --load-extension=noetl
ISOLATION   := $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --outputdir=test/output_iso --load-extension=noetl
EXTRA_CLEAN = test/results test/output_iso test/regression.diffs test/regression.out

# header dependencies: PGXS tracks them only in a PostgreSQL source tree
# (configure --enable-depend), so the compiler writes them here (src/*.d)
PG_CFLAGS   = -MMD -MP
EXTRA_CLEAN += $(OBJS:.o=.d)
-include $(OBJS:.o=.d)

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config

# make demo installs what it needs, so it must work before anything else is
demo:
	bash examples/demo.sh
.PHONY: demo

# noetl beside graphile-worker and pg-boss (bench/README.md); QUICK=1 runs a
# smoke test of every mode in a couple of minutes
bench-peers:
	QUICK=$(QUICK) bash bench/peers/run.sh
.PHONY: bench-peers

# noetl worker against a SQL driver (bench/README.md); QUICK=1 as above
bench-worker:
	QUICK=$(QUICK) bash bench/worker.sh
.PHONY: bench-worker

# a loop of 10,000 and 100,000 items against the same queue rows by hand
# (bench/README.md); QUICK=1 as above
bench-loops:
	QUICK=$(QUICK) bash bench/loops.sh
.PHONY: bench-loops

ifeq ($(wildcard $(PG_CONFIG)),)
all install installcheck:
	@echo "PostgreSQL 15 and its development files are missing: 'make demo' or 'bash .ci/run', as root, install them" >&2
	@exit 1
else
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Programs built with the library: the noetl program, and the LISTEN
# clients of the tests (test/tap/notify.sh) and bench/notify.sh.  libpq
# comes with postgresql-server-dev-15; libcurl with libcurl4-openssl-dev.
# The noetl program is a PGXS PROGRAM with a makefile of its own
# (client/Makefile: PGXS builds one PROGRAM or MODULE_big per makefile),
# which installs it into CLIENT_BINDIR (/usr/local/bin), on the PATH.
LIBPQ_CFLAGS   = -I$(shell $(PG_CONFIG) --includedir)
LIBPQ_LIBS     = -L$(shell $(PG_CONFIG) --libdir) -lpq
TEST_PROGRAMS  = test/c/notify_test test/c/notify_bench

all: client $(TEST_PROGRAMS)
EXTRA_CLEAN += $(TEST_PROGRAMS) $(TEST_PROGRAMS:=.d)

client:
	$(MAKE) -C client
clean: clean-client
clean-client:
	$(MAKE) -C client clean

test/c/%: test/c/%.c test/c/listen.h
	$(CC) $(CFLAGS) $(LIBPQ_CFLAGS) -o $@ $< $(LIBPQ_LIBS)

install: install-client remove-old-scripts
install-client:
	$(MAKE) -C client install
uninstall: uninstall-client
uninstall-client:
	$(MAKE) -C client uninstall

# a script that an earlier build installed and this tree no longer has would
# still be used by CREATE EXTENSION: install exactly this tree's scripts
remove-old-scripts:
	rm -f '$(DESTDIR)$(datadir)/extension/$(EXTENSION)--'*.sql

.PHONY: client clean-client install-client uninstall-client remove-old-scripts
endif
