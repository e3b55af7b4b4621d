# parkd — parking-facility controller.
#
#   make            build build/parkd
#   make run        install missing Debian packages, start parkd on conf/parkd.json
#                   (PARKD_ARGS="--listen 127.0.0.1:7071", PARKD_CONFIG=FILE)
#   make install    binary, systemd unit, example config, README (DESTDIR, PREFIX)
#   make city-demo  three facilities (conf/city) publishing to one Redis
#   make test       install missing packages, run every test (unit, ASan+UBSan, integration)
#   make bench      micro-benchmarks of the core and a TCP load run
#   make standby-demo   the demo garage as a primary and a sync standby (Ctrl-C stops)
#   make bench-standby  gate load alone/async/sync, a standby's catch-up, takeover time
#   make bench-redis  parkd against a private redis-server SET, same load generator
#   make fuzz       build the libFuzzer targets (FUZZ_SECONDS=600 make fuzz-run to run them)
#
# User CFLAGS are respected; warnings are errors unless WERROR=0.
# SAN=1 builds with AddressSanitizer and UndefinedBehaviorSanitizer.

CC       ?= cc
BUILD    ?= build
PREFIX   ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DOCDIR     ?= $(PREFIX)/share/doc/parkd
CFLAGS   ?= -O2 -g
WERROR   ?= 1
SAN      ?= 0

# The core (lib/, proto/) needs cJSON and libuuid; only the daemon needs
# libuv, hiredis, nettle, http-parser and wslay.
CORE_PKGS   = libcjson uuid
DAEMON_PKGS = libuv hiredis nettle
CORE_PKG_CFLAGS := $(shell pkg-config --cflags $(CORE_PKGS) 2>/dev/null)
CORE_PKG_LIBS   := $(shell pkg-config --libs $(CORE_PKGS) 2>/dev/null)
PKG_CFLAGS := $(shell pkg-config --cflags $(CORE_PKGS) $(DAEMON_PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(CORE_PKGS) $(DAEMON_PKGS) 2>/dev/null)
# http-parser and wslay ship no pkg-config file.
DAEMON_LIBS = -lhttp_parser -lwslay

# -Wno-format-truncation: messages are built with snprintf into fixed
# buffers on purpose; cutting a long path short is the intended behaviour.
WARN = -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
       -Wmissing-prototypes -Wformat=2 -Wformat-security -Wvla -Wundef \
       -Wwrite-strings -Wcast-qual -Wnull-dereference -Wimplicit-fallthrough \
       -Wno-format-truncation
ifeq ($(WERROR),1)
WARN += -Werror
endif
ifeq ($(SAN),1)
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -DJW_CHECK_LITERALS
endif

# The layers are kept by what each may include: lib/ sees only lib/,
# proto/ sees lib/ and proto/, daemon/ and the tests see everything.
# Objects set INC and PKG_INC for themselves below.
INC     = -Ilib -Iproto -Idaemon
PKG_INC = $(PKG_CFLAGS)
ALL_CPPFLAGS = -D_GNU_SOURCE $(INC) $(CPPFLAGS)
ALL_CFLAGS   = -std=c11 $(WARN) $(SANFLAGS) $(PKG_INC) $(CFLAGS)
ALL_LDFLAGS  = $(SANFLAGS) $(LDFLAGS)
LIBS_ALL     = $(PKG_LIBS) -lm
CORE_LIBS    = $(CORE_PKG_LIBS) -lm

LIB_SRC    = $(sort $(wildcard lib/*.c))
PROTO_SRC  = $(sort $(wildcard proto/*.c))
DAEMON_SRC = $(sort $(wildcard daemon/*.c))
# Daemon code with no libuv, hiredis or files, which unit tests link too
# (ids.c asks the kernel for random bytes, nothing else).
PURE_SRC   = daemon/settings.c daemon/histogram.c daemon/ids.c daemon/gather.c
UNIT_SRC   = $(sort $(wildcard tests/unit/test_*.c))
BENCH_SRC  = $(sort $(wildcard tests/bench/*.c))

LIB_OBJ    = $(LIB_SRC:%.c=$(BUILD)/%.o)
PROTO_OBJ  = $(PROTO_SRC:%.c=$(BUILD)/%.o)
DAEMON_OBJ = $(DAEMON_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/webpage.o
PURE_OBJ   = $(PURE_SRC:%.c=$(BUILD)/%.o)
CORE_A     = $(BUILD)/libparkcore.a
# Pure parts of daemon/ (no libuv, no I/O) that unit tests link as well.
UNIT_BIN   = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_BIN  = $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

.PHONY: all run city-demo standby-demo test unit unit-bins bench-bins integration check bench bench-redis bench-standby fuzz fuzz-run clean install uninstall lint deps

all: $(BUILD)/parkd

$(LIB_OBJ): INC = -Ilib
$(LIB_OBJ): PKG_INC = $(CORE_PKG_CFLAGS)
$(PROTO_OBJ): INC = -Ilib -Iproto
$(PROTO_OBJ): PKG_INC = $(CORE_PKG_CFLAGS)
$(PURE_OBJ): PKG_INC = $(CORE_PKG_CFLAGS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(CORE_A): $(LIB_OBJ) $(PROTO_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/parkd: $(DAEMON_OBJ) $(CORE_A)
	$(CC) $(ALL_LDFLAGS) -o $@ $(DAEMON_OBJ) $(CORE_A) $(DAEMON_LIBS) $(LIBS_ALL)

# The live map page, embedded in the binary.
$(BUILD)/gen/webpage.c: daemon/www/map.html scripts/embed.sh
	@mkdir -p $(dir $@)
	scripts/embed.sh webpage_map daemon/www/map.html > $@

$(BUILD)/gen/webpage.o: $(BUILD)/gen/webpage.c
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

# Unit tests link the pure core (lib/, proto/ and the pure daemon objects)
# with cmocka, cJSON and libuuid: no libuv, no hiredis.
$(UNIT_BIN): PKG_INC = $(CORE_PKG_CFLAGS)
$(BUILD)/tests/%: tests/unit/%.c $(PURE_OBJ) $(CORE_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP $< -o $@ $(UNIT_EXTRA) $(PURE_OBJ) $(CORE_A) $(ALL_LDFLAGS) $(UNIT_WRAP) -lcmocka $(CORE_LIBS)

# test_zone tests daemon/zone.c against the system's time zone files, and
# counts its calls to localtime_r (what the cache is for).
$(BUILD)/tests/test_zone: $(BUILD)/daemon/zone.o
$(BUILD)/tests/test_zone: UNIT_EXTRA = $(BUILD)/daemon/zone.o
$(BUILD)/tests/test_zone: UNIT_WRAP = -Wl,--wrap=localtime_r

# test_oom fails allocations anywhere in the core: every call to these
# from the objects it links goes through its own wrappers.
$(BUILD)/tests/test_oom: UNIT_WRAP = -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup

# Benchmarks link the core and the daemon's pure parts (the ids a request
# makes), and the loop where they need it.
$(BUILD)/bench/%: tests/bench/%.c $(PURE_OBJ) $(CORE_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP $< -o $@ $(PURE_OBJ) $(CORE_A) $(ALL_LDFLAGS) $(LIBS_ALL) -lpthread

deps:
	@scripts/deps.sh build

# make run PARKD_ARGS="--listen 127.0.0.1:7071 --data-dir /tmp/parkd2"
# PARKD_CONFIG=other.json picks another file; neither edits the repository.
PARKD_CONFIG ?= conf/parkd.json
PARKD_ARGS   ?=
run:
	@scripts/deps.sh run
	@$(MAKE) --no-print-directory all
	$(BUILD)/parkd -c $(PARKD_CONFIG) $(PARKD_ARGS)

# Three facilities of one city against one Redis (conf/city, README "Many facilities").
city-demo:
	@scripts/deps.sh run
	@$(MAKE) --no-print-directory all
	@scripts/city-demo.sh

# Tools the integration tests load into the daemon (tests/tools).
TOOLS = $(BUILD)/tests/failmalloc.so
$(BUILD)/tests/failmalloc.so: tests/tools/failmalloc.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) $(CFLAGS) -fPIC -shared $< -o $@

unit-bins: $(UNIT_BIN) $(TOOLS)

# Built by make test too, so that a benchmark never rots unnoticed.
bench-bins: $(BENCH_BIN)

unit: $(UNIT_BIN)
	@ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1} tests/run-unit.sh $(UNIT_BIN)

test:
	@scripts/deps.sh test
	@tests/run-all.sh

# The load run and the core's benchmarks (bench_alloc among them), then the
# comparison with redis-server (its rows without bench_alloc again).
bench: $(BENCH_BIN) $(BUILD)/parkd
	@tests/bench/run.sh $(BUILD)
	@VS_ROWS="p1 p16 half durable audit" tests/bench/vsredis.sh $(BUILD)

bench-redis: $(BENCH_BIN) $(BUILD)/parkd
	@tests/bench/vsredis.sh $(BUILD)

# A primary and a sync standby of the demo garage (conf/standby-*.json).
standby-demo:
	@scripts/deps.sh run
	@$(MAKE) --no-print-directory all
	@scripts/standby-demo.sh $(BUILD)

# Gate load alone, with an async and a sync standby; catch-up; takeover.
bench-standby: $(BENCH_BIN) $(BUILD)/parkd
	@python3 tests/bench/standby.py $(BUILD)

FUZZ_SRC = $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN = $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_SECONDS ?= 60
# The core is compiled once for all targets (instrumented, no libFuzzer
# main); each target links it with its own entry point.
FUZZ_CC     = clang -std=c11 -g -O1 -D_GNU_SOURCE -Ilib -Iproto -Idaemon $(CORE_PKG_CFLAGS) \
	      $(filter-out -Wno-format-truncation,$(WARN)) -fno-sanitize-recover=all
FUZZ_OBJ    = $(patsubst %.c,build/fuzz/obj/%.o,$(LIB_SRC) $(PROTO_SRC) $(PURE_SRC))
build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c $< -o $@
build/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined $< $(FUZZ_OBJ) -o $@ $(CORE_PKG_LIBS) -lm
fuzz: $(FUZZ_BIN)
fuzz-run: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do n=$$(basename $$f); mkdir -p tests/fuzz/corpus-$$n; \
	  cp -n tests/fuzz/seeds/$$n/* tests/fuzz/corpus-$$n/ 2>/dev/null || true; \
	  echo "== $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 tests/fuzz/corpus-$$n || exit 1; done

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --std=c11 --inline-suppr -Ilib -Iproto -Idaemon \
	  --library=scripts/cjson.cfg \
	  --suppress=missingIncludeSystem lib proto daemon

# The example configuration goes in only where none is: an operator's
# file (tokens, passwords) is never overwritten.  It is root's alone (0600):
# the unit hands it to the daemon as a credential.
install: $(BUILD)/parkd
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BUILD)/parkd $(DESTDIR)$(BINDIR)/parkd
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    -e 's|@DOCDIR@|$(DOCDIR)|g' systemd/parkd.service.in > $(BUILD)/parkd.service
	install -m 0644 $(BUILD)/parkd.service $(DESTDIR)$(UNITDIR)/parkd.service
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/parkd
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/parkd/parkd.json ]; then \
	  echo "$(DESTDIR)$(SYSCONFDIR)/parkd/parkd.json exists: kept"; \
	else \
	  install -m 0600 conf/parkd.json $(DESTDIR)$(SYSCONFDIR)/parkd/parkd.json && \
	  echo "installed the example configuration $(DESTDIR)$(SYSCONFDIR)/parkd/parkd.json"; \
	fi

# Removes what install put there.  The configuration only when it is still
# the example as shipped: an edited one is the operator's.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/parkd $(DESTDIR)$(UNITDIR)/parkd.service \
	    $(DESTDIR)$(DOCDIR)/README.md
	@if cmp -s conf/parkd.json $(DESTDIR)$(SYSCONFDIR)/parkd/parkd.json; then \
	  rm -f $(DESTDIR)$(SYSCONFDIR)/parkd/parkd.json; \
	elif [ -e $(DESTDIR)$(SYSCONFDIR)/parkd/parkd.json ]; then \
	  echo "$(DESTDIR)$(SYSCONFDIR)/parkd/parkd.json was edited: kept"; \
	fi
	-rmdir $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/parkd 2>/dev/null

clean:
	rm -rf build

-include $(FUZZ_OBJ:.o=.d) $(LIB_OBJ:.o=.d) $(PROTO_OBJ:.o=.d) $(DAEMON_OBJ:.o=.d) $(UNIT_BIN:=.d) $(BENCH_BIN:=.d)
