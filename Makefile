# Makefile for noetl: a PGXS extension plus its client program and test helpers.
#
# The extension version is defined once, in noetl.control; everything else
# (the install script name, the version compiled into the library) is derived
# from it here.

EXTENSION  = noetl
EXTVERSION = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" noetl.control)

MODULE_big = noetl
OBJS       = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA       = noetl--$(EXTVERSION).sql
PGFILEDESC = "noetl - NoETL workflow broker"

PG_CPPFLAGS = -I$(srcdir)/src -DNOETL_VERSION='"$(EXTVERSION)"' $(shell pkg-config --cflags yaml-0.1)
SHLIB_LINK  = $(shell pkg-config --libs yaml-0.1)

REGRESS     := $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=noetl
ISOLATION   := $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))
ISOLATION_OPTS = --load-extension=noetl

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The LISTEN clients of the tests (test/tap/notify.sh) and of bench/notify.sh,
# built with the library.  libpq comes with postgresql-server-dev-15.
TEST_PROGRAMS = test/c/notify_test test/c/notify_bench
all: $(TEST_PROGRAMS)
EXTRA_CLEAN += $(TEST_PROGRAMS)

test/c/%: test/c/%.c
	$(CC) $(CFLAGS) -I$(shell $(PG_CONFIG) --includedir) -o $@ $< \
		-L$(shell $(PG_CONFIG) --libdir) -lpq
