# Thin wrapper over CMake. `make run` and `make test` are the two commands a newcomer needs.
JOBS      ?= $(shell nproc)
BUILD     ?= build
ASAN      ?= build-asan
DATA      ?= ./data
LISTEN    ?= 127.0.0.1:8443

.PHONY: all build deps run test unit e2e asan tsan clean format fuzz bench

# The unit tests of the modules that share state across threads, run under TSan.
TSAN_TESTS = test_store_jobs test_worker test_store test_store_client test_ratelimit test_metrics test_dcv test_work_pool test_log test_store_pack_positions test_store_snapshot test_store_pack_cache test_store_batch test_client_ca test_pki_leaf test_rand_pool

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target tlsward

# Builds, initialises $(DATA) once, prints the token and a curl line, and serves.
run: build
	@scripts/run.sh $(BUILD)/tlsward $(DATA) $(LISTEN)

# The test build: AddressSanitizer + UndefinedBehaviorSanitizer, both suites under it.
asan: deps
	@cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DTLSWARD_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN) -j $(JOBS)

unit: asan
	@cd $(ASAN) && ctest --output-on-failure -j $(JOBS)

e2e: asan
	@cd tests/e2e && TLSWARD_BIN=$(CURDIR)/$(ASAN)/tlsward node --test --test-concurrency=2 --test-reporter=spec *.test.mjs

# ThreadSanitizer over the worker, job queue, group commit, rate limiter and metrics.
tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DTLSWARD_TSAN=ON >/dev/null
	@cmake --build build-tsan -j $(JOBS) --target $(TSAN_TESTS)
	@cd build-tsan && ctest --output-on-failure -R '^($(subst $(eval) ,|,$(TSAN_TESTS)))$$'

test: unit tsan e2e

# Release-build benchmarks (wrk load), each figure beside its anchor measured in the same
# run: GET pack against nginx, lists at 10k/100k packs, RSS, durable orders against SQLite's
# one-insert-per-transaction rate, signing against `openssl speed`, order->active, start and
# exit; ends with one summary line (bench/README.md; BENCH_SECTIONS=acme/pg for the others).
bench: build
	@bench/run.sh

format:
	@clang-format -i $$(git ls-files 'src/*.[ch]' 'tests/unit/*.[ch]' 'fuzz/*.c')

fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DTLSWARD_FUZZ=ON -DTLSWARD_SANITIZE=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS)

clean:
	@rm -rf $(BUILD) $(ASAN) build-tsan build-fuzz
