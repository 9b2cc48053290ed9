# Agora - GNU make, pkg-config. `make help` lists the targets.
#
# Flavours live side by side under build/: release (optimised, what `make run`
# starts) and test (AddressSanitizer + UndefinedBehaviorSanitizer, what
# `make test` runs).

CC ?= cc
PKG_CONFIG ?= pkg-config
PYTHON ?= /usr/bin/python3
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

LIBS_PKG := libuv jansson sqlite3 libsodium libcurl openssl
TEST_PKG := cmocka

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wformat=2 -Wvla
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -DAGORA_VERSION='"$(VERSION)"' $(WARN) -Isrc \
	$(shell $(PKG_CONFIG) --cflags $(LIBS_PKG) 2>/dev/null)
BANNED := -include src/base/banned.h
# http-parser and wslay (Debian's libwslay-dev) ship no pkg-config file.
LDLIBS = $(shell $(PKG_CONFIG) --libs $(LIBS_PKG) 2>/dev/null) -lhttp_parser -lwslay -lm

RELEASE_CFLAGS := -O2 -g -DNDEBUG
TEST_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
TEST_LDFLAGS := -fsanitize=address,undefined

SRC := $(sort $(wildcard src/*/*.c))
MAIN_SRC := $(sort $(wildcard src/cli/*.c))
LIB_SRC := $(filter-out $(MAIN_SRC),$(SRC))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))

# Files served as they are (OpenAPI document, docs page), compiled in.
include mk/assets.mk

REL_OBJ := $(patsubst src/%.c,build/release/obj/%.o,$(SRC)) $(ASSETS_REL_OBJ)
TST_OBJ := $(patsubst src/%.c,build/test/obj/%.o,$(SRC)) $(ASSETS_TST_OBJ)
TST_LIB_OBJ := $(patsubst src/%.c,build/test/obj/%.o,$(LIB_SRC)) $(ASSETS_TST_OBJ)
UNIT_BIN := $(patsubst tests/unit/%.c,build/test/unit/%,$(UNIT_SRC))

.PHONY: all build run test deps test-deps unit integration build-test format clean help bench fuzz \
	install man bench-rules

all: build

help:
	@echo "make run    install missing packages, build, start agora serve (127.0.0.1:1883)"
	@echo "make test   install missing packages, build with ASan/UBSan, run every test"
	@echo "make build  optimised binary in build/release/agora"
	@echo "make bench  Agora beside Mosquitto and the forwarder; writes docs/PERFORMANCE.md"
	@echo "make bench-rules  the rules engine's evaluations per second on one core, and their cost through the broker"
	@echo "make fuzz   run the libFuzzer targets (clang) for FUZZ_SECONDS each"
	@echo "make format clang-format every C file"
	@echo "make install  the binary, man page and bash completion under PREFIX (/usr/local)"
	@echo "make man    docs/agora.1 from docs/man/*.roff"

deps:
	@sh scripts/install-deps.sh

test-deps:
	@sh scripts/install-deps.sh test

build: build/release/agora

# `make install [PREFIX=/usr/local] [DESTDIR=]`: the binary, its man page and
# its bash completion.
PREFIX ?= /usr/local
INSTALL_BIN ?= build/release/agora
install: $(INSTALL_BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 755 $(INSTALL_BIN) $(DESTDIR)$(PREFIX)/bin/agora
	install -m 644 docs/agora.1 $(DESTDIR)$(PREFIX)/share/man/man1/agora.1
	install -m 644 scripts/agora.bash-completion \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/agora

# docs/agora.1 is put together from docs/man/*.roff (a test checks it is).
man:
	sh scripts/build-man.sh > docs/agora.1

build/release/agora: $(REL_OBJ)
	$(CC) $(REL_OBJ) $(LDLIBS) -o $@

build/release/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(RELEASE_CFLAGS) $(BANNED) -MMD -MP -c $< -o $@

build/test/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(TEST_CFLAGS) $(BANNED) -MMD -MP -c $< -o $@

build/test/agora: $(TST_OBJ)
	$(CC) $(TEST_LDFLAGS) $(TST_OBJ) $(LDLIBS) -o $@

# Helpers every unit test links: broker bookkeeping and the test client,
# compiled once. Unit tests compile with banned.h like the sources.
UNIT_SUPPORT_OBJ := build/test/unit/obj/broker_support.o build/test/unit/obj/broker_client.o
UNIT_HEADERS := tests/unit/helpers.h tests/unit/broker_support.h tests/unit/broker_client.h \
	tests/unit/utf8_samples.h tests/unit/api_harness.h tests/unit/store_files.h \
	tests/unit/store_memory.h src/base/banned.h

build/test/unit/obj/%.o: tests/unit/%.c $(UNIT_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(TEST_CFLAGS) $(BANNED) $(shell $(PKG_CONFIG) --cflags $(TEST_PKG)) -c $< -o $@

build/test/unit/%: tests/unit/%.c $(UNIT_SUPPORT_OBJ) $(TST_LIB_OBJ) $(UNIT_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(TEST_CFLAGS) $(BANNED) $(shell $(PKG_CONFIG) --cflags $(TEST_PKG)) $< \
		$(UNIT_SUPPORT_OBJ) $(TST_LIB_OBJ) $(TEST_LDFLAGS) $(LDLIBS) $(shell $(PKG_CONFIG) --libs $(TEST_PKG)) -o $@

# The trivial forwarder (bench/forwarder.c): the machine's ceiling in
# `make bench`, and a deliberately faulty broker for the bench's own tests.
build/release/forwarder: bench/forwarder.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(RELEASE_CFLAGS) $(BANNED) $< $(LDLIBS) -o $@

build/test/forwarder: bench/forwarder.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(TEST_CFLAGS) $(BANNED) $< $(TEST_LDFLAGS) $(LDLIBS) -o $@

# The rules engine's core alone, optimised: evaluations per second on one
# core (issue 16 asks for 200,000 of a rule that republishes every message).
RULES_BENCH_OBJ := $(filter build/release/obj/rules/% build/release/obj/base/% \
	build/release/obj/mqtt/%,$(REL_OBJ))

build/release/rules_bench: bench/rules_bench.c $(RULES_BENCH_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(RELEASE_CFLAGS) $(BANNED) $< $(RULES_BENCH_OBJ) $(LDLIBS) -o $@

# The same rules at work through the broker core (server/rules_service.h):
# their cost per message beside the broker's cost per delivery.
REL_LIB_OBJ := $(filter-out build/release/obj/cli/%,$(REL_OBJ))
build/release/rules_service_bench: bench/rules_service_bench.c $(REL_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(RELEASE_CFLAGS) $(BANNED) $< $(REL_LIB_OBJ) $(LDLIBS) -o $@

bench-rules: build/release/rules_bench build/release/rules_service_bench
	build/release/rules_bench
	build/release/rules_service_bench

build-test: build/test/agora build/test/forwarder $(UNIT_BIN)

run: deps
	@$(MAKE) --no-print-directory -j2 build
	exec build/release/agora serve

test: test-deps
	@$(MAKE) --no-print-directory -j2 build-test
	@AGORA_BIN=$(CURDIR)/build/test/agora PYTHON=$(PYTHON) sh tests/run.sh $(UNIT_BIN)

unit: build-test
	@for t in $(UNIT_BIN); do $$t || exit 1; done

integration: build/test/agora build/test/forwarder
	AGORA_BIN=$(CURDIR)/build/test/agora $(PYTHON) -m pytest -q tests/integration

# `make bench`: Agora vs Mosquitto vs the trivial forwarder, pinned to
# separate cores and repeated; writes docs/PERFORMANCE.md (about 19 minutes: the persistence
# scenario, 3-4 of them, alone with BENCH_ARGS="--only persistence"; the TLS scenarios, about
# 1 of them, with BENCH_ARGS="--only tls", which adds their plain-TCP twins: about 4).
# BENCH_ARGS=--quick for a smoke run (report in build/bench/ instead).
BENCH_ARGS ?=
bench:
	@sh scripts/install-deps.sh bench
	@$(MAKE) --no-print-directory -j2 build build/release/forwarder
	$(PYTHON) bench/compare.py $(BENCH_ARGS)

# Fuzzing (clang's libFuzzer): `make fuzz FUZZ_SECONDS=60` runs each target.
FUZZ_SECONDS ?= 30
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -DAGORA_VERSION='"$(VERSION)"' -Isrc -g -O1 \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined

build/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(ASSETS_C)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(BANNED) $(shell $(PKG_CONFIG) --cflags $(LIBS_PKG)) $< $(LIB_SRC) \
		$(ASSETS_C) $(LDLIBS) -o $@

fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do \
		mkdir -p build/fuzz/corpus-$$(basename $$f); \
		echo "== $$f ($(FUZZ_SECONDS) s)"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -print_final_stats=1 \
			build/fuzz/corpus-$$(basename $$f) || exit 1; \
	done

format:
	clang-format -i $(SRC) $(wildcard src/*/*.h) $(UNIT_SRC)

clean:
	rm -rf build

-include $(REL_OBJ:.o=.d) $(TST_OBJ:.o=.d)
