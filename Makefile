# Strata — plain Makefile. See README.md.
#
#   make deps     install missing Debian packages (deploy/install-deps.sh)
#   make          build/stratad build/strata-front build/strata build/libstrata.a
#   make run      deps + build + stratad and one frontend on 127.0.0.1:8080
#   make test     deps + build + unit tests (criterion) + integration tests
#                 + the GraphQL conformance test (Node) + a short parser fuzz run
#   make asan     the same suites built with -fsanitize=address,undefined
#   make tsan     core's concurrency tests under ThreadSanitizer
#   make bench    benchmarks against the anchors (bench/README.md)
#   make clean

BUILD   ?= build
CC      ?= cc
PYTHON  ?= /usr/bin/python3
SANITIZE ?=
OPT     ?= -O2

PKGS     := liburing msgpack jansson libwebsockets libzstd liblz4 libisal libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lnng
TEST_LIBS  := $(shell pkg-config --libs criterion 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-missing-field-initializers
CFLAGS  += -DSTRATA_LIBURING_VERSION=\"$(shell pkg-config --modversion liburing 2>/dev/null)\" -std=c11 -D_GNU_SOURCE $(OPT) -g $(WARN) -MMD -MP -I. -Iinclude $(PKG_CFLAGS) $(SANITIZE)
LDFLAGS += $(SANITIZE)
LDLIBS  += $(PKG_LIBS) -lpthread -lm

# Objects of one folder: build/obj/<folder>/<name>.o
objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard $(1)/*.c))

# core/ and frontend/ may hold one folder per module (core/columnar/...).
CORE_OBJS     := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard core/*.c core/*/*.c)) $(call objs,shm)
PROTO_OBJS    := $(call objs,proto)
IPC_OBJS      := $(call objs,ipc)
DAEMON_OBJS   := $(filter-out %/main.o,$(call objs,daemon))
FRONT_OBJS    := $(filter-out %/frontend/main.o,$(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard frontend/*.c frontend/*/*.c)))
CLI_OBJS      := $(filter-out %/main.o,$(call objs,cli))

# The dashboard page (frontend/dashboard/*) and the GraphQL explorer
# (frontend/graphql/explorer/*) are compiled into strata-front as byte
# arrays, one table each (frontend/embed.sh, coreutils only).
DASH_FILES    := frontend/dashboard/index.html frontend/dashboard/dashboard.js \
                 frontend/dashboard/dashboard.css
GQLX_FILES    := frontend/graphql/explorer/index.html frontend/graphql/explorer/explorer.js \
                 frontend/graphql/explorer/explorer.css
FRONT_OBJS    += $(BUILD)/obj/gen/dashboard_files.o $(BUILD)/obj/gen/gql_explorer_files.o

LIBSTRATA     := $(BUILD)/libstrata.a
LIBPROTO      := $(BUILD)/libstrata_proto.a
LIBIPC        := $(BUILD)/libstrata_ipc.a
LIBDAEMON     := $(BUILD)/libstratad.a
LIBFRONT      := $(BUILD)/libstrata_front.a
LIBCLI        := $(BUILD)/libstrata_cli.a

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
# lsm_bench links RocksDB and LevelDB (make bench-deps): built by `make bench` only
BENCH_SRCS := $(filter-out bench/lsm_bench.c,$(wildcard bench/*.c))
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

BINS := $(BUILD)/stratad $(BUILD)/strata-front $(BUILD)/strata

.PHONY: all deps bench-deps run test unit integration asan tsan bench clean
all: $(BINS) $(LIBSTRATA) $(BUILD)/strata.pc

# Builds run on every core (make test / asan / tsan / run); the suites run one at a time.
NPROC := $(shell nproc 2>/dev/null || echo 2)

deps:
	@bash deploy/install-deps.sh

bench-deps:
	@bash deploy/install-deps.sh --bench

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/gen/dashboard_files.c: $(DASH_FILES) frontend/embed.sh
	@mkdir -p $(dir $@)
	sh frontend/embed.sh $@ dashboard_files $(DASH_FILES)
$(BUILD)/gen/gql_explorer_files.c: $(GQLX_FILES) frontend/embed.sh
	@mkdir -p $(dir $@)
	sh frontend/embed.sh $@ gql_explorer_files $(GQLX_FILES)
$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIBSTRATA): $(CORE_OBJS)
$(LIBPROTO): $(PROTO_OBJS)
$(LIBIPC): $(IPC_OBJS)
$(LIBDAEMON): $(DAEMON_OBJS)
$(LIBFRONT): $(FRONT_OBJS)
$(LIBCLI): $(CLI_OBJS)
$(BUILD)/%.a:
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/stratad: $(BUILD)/obj/daemon/main.o $(LIBDAEMON) $(LIBPROTO) $(LIBIPC) $(LIBSTRATA)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/strata-front: $(BUILD)/obj/frontend/main.o $(LIBFRONT) $(LIBPROTO) $(LIBIPC)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/strata: $(BUILD)/obj/cli/main.o $(LIBCLI) $(LIBPROTO) $(LIBIPC) $(LIBSTRATA)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIBDAEMON) $(LIBFRONT) $(LIBPROTO) $(LIBIPC) $(LIBSTRATA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBDAEMON) $(LIBFRONT) $(LIBPROTO) $(LIBIPC) $(LIBSTRATA) $(TEST_LIBS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIBSTRATA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBSTRATA) $(LDLIBS)

$(BUILD)/bench/lsm_bench: bench/lsm_bench.c $(LIBSTRATA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBSTRATA) -lrocksdb -lleveldb $(LDLIBS)

$(BUILD)/strata.pc: Makefile
	@mkdir -p $(dir $@)
	@printf 'prefix=%s\nName: strata\nDescription: Strata storage engine (libstrata)\nVersion: 0.1.0\nCflags: -I$${prefix}/include\nLibs: -L$${prefix}/$(BUILD) -lstrata\nLibs.private: %s\n' "$(CURDIR)" "$(PKG_LIBS) -lpthread -lm" > $@

run: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@bash deploy/run-local.sh

# The test entry point: installs what is missing, builds, runs every suite.
test: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all unit-bins
	@$(MAKE) --no-print-directory -j1 unit integration graphql-test fuzz-gql

.PHONY: unit-bins
unit-bins: $(UNIT_BINS)

unit: $(UNIT_BINS)
	@bash tests/run-unit.sh $(UNIT_BINS)

# A failed test is run once more (and the first failure stays in the log):
# kill -9 / restart cycles on a loaded 2-core machine have timing we do not
# control; a test that fails twice fails the suite.
integration: $(BINS)
	@rm -rf $(BUILD)/.pytest_cache
	STRATA_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) -m pytest -q -o cache_dir=$(CURDIR)/$(BUILD)/.pytest_cache tests/integration || \
	{ echo "== integration: re-running the failed tests once"; \
	  STRATA_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) -m pytest -q -o cache_dir=$(CURDIR)/$(BUILD)/.pytest_cache --last-failed --last-failed-no-failures none tests/integration; }

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 \
	  SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  -j$(NPROC) all unit-bins
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan-nng.supp \
	  $(MAKE) --no-print-directory -j1 BUILD=build/asan OPT=-O1 \
	  SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  unit integration graphql-test fuzz-gql

# Criterion's runner cannot start under ThreadSanitizer on this kernel, so
# the concurrency tests for TSan are plain programs (tests/tsan/*.c).
TSAN_SRCS := $(wildcard tests/tsan/*.c)
$(BUILD)/tsan-tests/%: tests/tsan/%.c $(LIBSTRATA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBSTRATA) $(LDLIBS)

# tests/unit/test_buffer_concurrency.c and test_event_ring.c carry their own
# main() for TSan builds (same test bodies), so they run here too.
TSAN_UNIT := build/tsan/tests/test_buffer_concurrency build/tsan/tests/test_event_ring
tsan: deps
	@$(MAKE) --no-print-directory -j$(NPROC) BUILD=build/tsan OPT=-O1 SANITIZE="-fsanitize=thread" \
	  $(patsubst tests/tsan/%.c,build/tsan/tsan-tests/%,$(TSAN_SRCS)) $(TSAN_UNIT)
	@for t in $(patsubst tests/tsan/%.c,build/tsan/tsan-tests/%,$(TSAN_SRCS)) $(TSAN_UNIT); do \
	  echo "== $$t"; TSAN_OPTIONS=halt_on_error=1:exitcode=66 $$t || exit 1; done

bench: bench-deps all $(BENCH_BINS)
	@$(MAKE) --no-print-directory $(BUILD)/bench/lsm_bench
	@bash bench/run.sh $(BUILD)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(BUILD)/tests -name '*.d' 2>/dev/null)

# ---- GraphQL (frontend/graphql): run by `make test` and `make asan` ----
.PHONY: graphql-test fuzz-gql
# The Node conformance test (npm graphql + graphql-ws + ws, installed by
# tests/graphql/run.sh with `npm ci` when missing) against real processes.
graphql-test: $(BINS)
	@BUILD=$(CURDIR)/$(BUILD) bash tests/graphql/run.sh

# The parser's fuzz target: a plain program with gcc (random and mutated
# inputs, or a corpus dir), a libFuzzer target with clang -DSTRATA_LIBFUZZER.
GQL_FUZZ_SRCS := frontend/graphql/gql_arena.c frontend/graphql/gql_parse.c \
	frontend/graphql/gql_schema.c frontend/graphql/gql_validate.c frontend/graphql/gql_sdl.c
$(BUILD)/fuzz/gql_parse_fuzz: tests/fuzz/gql_parse_fuzz.c $(GQL_FUZZ_SRCS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(GQL_FUZZ_SRCS) $(LDLIBS)
fuzz-gql: $(BUILD)/fuzz/gql_parse_fuzz
	$(BUILD)/fuzz/gql_parse_fuzz -n 20000

# ---- WebSocket benchmark (bench/ws.sh, bench/README-ws.md) ----
# ws_driver calls stratad's control ops over nng, so it links the proto and
# ipc libraries as well (the generic $(BUILD)/bench/% rule links libstrata only).
$(BUILD)/bench/ws_driver: bench/ws_driver.c $(LIBPROTO) $(LIBIPC) $(LIBSTRATA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBPROTO) $(LIBIPC) $(LIBSTRATA) $(LDLIBS)

.PHONY: bench-ws
bench-ws: all $(BUILD)/bench/ws_driver $(BUILD)/bench/ws_client $(BUILD)/bench/nng_pubsub $(BUILD)/bench/fanout_floor
	@bash bench/ws.sh $(BUILD)
