# Thin wrapper over CMake for the README's commands. Everything real is in CMakeLists.txt.
BUILD    ?= build
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all deps configure build install test test-fast sanitize sanitize-build soak soak-short fuzz \
        fuzz-smoke fuzz-long demo bench clean

all: build

deps:
	@tools/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# Headers, libkvant.a, libkvant.so, kvant.pc and the kvant command under PREFIX
# (default /usr/local); DESTDIR=/some/root stages them there instead.
PREFIX ?= /usr/local
install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

# Unit, golden and integration tests; then the same unit tests under ASan/UBSan,
# a one-minute soak of the ASan server, and a short libFuzzer run of every harness.
test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory sanitize
	$(MAKE) --no-print-directory soak-short
	$(MAKE) --no-print-directory fuzz-smoke

test-fast: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

sanitize-build: deps
	@cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DKV_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD)-asan -j $(JOBS)

sanitize: sanitize-build
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(BUILD)-asan --output-on-failure -j $(JOBS) -L unit

# kvant serve (the ASan build) under mixed, cancelled and streaming requests for
# SOAK_SECONDS, with its RSS over time; fails on a crash, a sanitizer report, a
# failed request or RSS growth (tests/soak/soak.sh). Not part of `make test`,
# which runs the one-minute soak-short.
SOAK_SECONDS ?= 600
soak: sanitize-build
	@tests/soak/soak.sh $(SOAK_SECONDS) $(BUILD)-asan/kvant || [ $$? = 77 ]

soak-short: sanitize-build
	@tests/soak/soak.sh 60 $(BUILD)-asan/kvant || [ $$? = 77 ]

fuzz: deps
	@cmake -S . -B $(BUILD)-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DKV_FUZZ=ON >/dev/null
	@cmake --build $(BUILD)-fuzz -j $(JOBS)

# Each harness runs for FUZZ_SECONDS (default 12: about 2-3 minutes in all) over
# its seed corpus.
fuzz-smoke: fuzz
	@tests/fuzz/run.sh $(BUILD)-fuzz $(or $(FUZZ_SECONDS),12)

# For a maintainer, hours: each harness (or those in FUZZ_ONLY) for FUZZ_SECONDS
# (default 3600), merging new coverage into tests/fuzz/corpus/ (-merge=1) to commit.
fuzz-long: fuzz
	@FUZZ_ONLY="$(FUZZ_ONLY)" tests/fuzz/long.sh $(BUILD)-fuzz $(or $(FUZZ_SECONDS),3600)

demo: build
	@tools/demo.sh $(BUILD)/kvant

bench: build
	@bench/run.sh $(BUILD)/kvant

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz
