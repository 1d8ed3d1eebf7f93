# idem: thin wrapper over CMake. `make demo` and `make test` are the two commands in README.md.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = fuzz_envelope fuzz_canonical fuzz_history fuzz_bus_records fuzz_json fuzz_nats_headers
JOBS       ?= 2
CMAKE_ARGS ?=

.PHONY: all setup build demo test test-fast test-asan test-fuzz fuzz fuzz-build bench format format-check tidy clean

all: build

setup:
	@scripts/setup.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

build: setup $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

demo: build
	$(BUILD)/bin/idem demo bank $(DEMO_ARGS)

# The formatting check, every test, then every test again under AddressSanitizer +
# UndefinedBehaviorSanitizer, then each fuzz target for 20 s.
test: format-check test-fast test-asan test-fuzz

# Tests run one at a time: many of them start processes that race leases and kill -9 each other,
# and two such suites at once on two cores make timing worse than any deployment would see.
test-fast: build
	cd $(BUILD) && ctest --output-on-failure

test-asan: setup
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DIDEM_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure

# libFuzzer targets (docs/fuzzing.md): clang, ASan+UBSan, only what fuzz/ needs. Each runs on a
# scratch copy of its fuzz/corpus/<target>/ (scripts/fuzz.sh), so the repository never changes.
fuzz-build: setup
	CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_BUILD) -DIDEM_FUZZ=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target $(FUZZ_TARGETS)

test-fuzz: fuzz-build
	scripts/fuzz.sh $(FUZZ_BUILD) 20 $(FUZZ_TARGETS)

fuzz: fuzz-build
	scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

bench: build
	$(BUILD)/bin/idem-bench $(BENCH_ARGS)

format:
	find include store framework handlers samples tools tests bench fuzz -name '*.h' -o -name '*.cpp' | xargs clang-format -i

format-check: setup
	find include store framework handlers samples tools tests bench fuzz -name '*.h' -o -name '*.cpp' | xargs clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
