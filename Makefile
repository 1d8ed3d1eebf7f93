# idem: thin wrapper over CMake. `make demo` and `make test` are the two commands in README.md.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= 2
CMAKE_ARGS ?=

.PHONY: all setup build demo test test-fast test-asan bench explore format format-check tidy clean

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
# UndefinedBehaviorSanitizer.
test: format-check test-fast test-asan

# Tests run one at a time: many of them start processes that race leases and kill -9 each other,
# and two such suites at once on two cores make timing worse than any deployment would see.
test-fast: build
	cd $(BUILD) && ctest --output-on-failure

test-asan: setup
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DIDEM_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure

bench: build
	$(BUILD)/bin/idem-bench $(BENCH_ARGS)

# Exhaustive exploration past make test's bounds (docs/exploration.md): the chain A -> B with
# two duplicates and a crash, two consumers with batches of two. Minutes, not seconds.
explore: build
	$(BUILD)/bin/idem-explore --scenario chain --duplicates 2 --crashes 1 $(EXPLORE_ARGS)
	$(BUILD)/bin/idem-explore --scenario consumers --batch 2 --duplicates 2 --crashes 1 $(EXPLORE_ARGS)

format:
	find include store framework handlers samples tools tests bench -name '*.h' -o -name '*.cpp' | xargs clang-format -i

format-check: setup
	find include store framework handlers samples tools tests bench -name '*.h' -o -name '*.cpp' | xargs clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
