# idem: thin wrapper over CMake. `make demo` and `make test` are the two commands in README.md.
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = fuzz_envelope fuzz_canonical fuzz_history fuzz_bus_records fuzz_json fuzz_nats_headers
JOBS       ?= 2
SOAK_KILLS ?= 10000
# ccache (installed by setup.sh) keyed on paths relative to this checkout, so another clone of
# the repository on the same machine reuses what was compiled.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1
# Looked up when a recipe runs (not when make starts): on a fresh machine setup.sh installs it
# first, and the first configure already uses it.
CCACHE      = $(shell command -v ccache 2>/dev/null)
CMAKE_ARGS ?= $(if $(CCACHE),-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)


.PHONY: all setup build demo test test-fast test-install test-subdirectory test-asan test-tsan \
	test-fuzz test-cluster fuzz fuzz-build bench bench-http soak explore format format-check tidy clean

all: build

setup:
	@scripts/setup.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

build: setup $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

demo: build
	$(BUILD)/bin/idem demo bank $(DEMO_ARGS)

# The formatting check, every test, idem installed and used by another project, then every test
# again under AddressSanitizer + UndefinedBehaviorSanitizer (but the heavy ones: the model check,
# the exhaustive exploration and the 200-kill soak, run once), the tests that run threads under
# ThreadSanitizer, then each fuzz target for 20 s.
test: format-check test-fast test-install test-asan test-tsan test-fuzz

# Tests run one at a time: many of them start processes that race leases and kill -9 each other,
# and two such suites at once on two cores make timing worse than any deployment would see.
test-fast: build
	cd $(BUILD) && ctest --output-on-failure

# idem as another project uses it: installed into a scratch prefix; examples/hello (its own
# CMake project) configured with find_package(CapnProto) then find_package(idem), built, its
# tests run, its main run twice (the second run's greetings are all duplicates); its handler
# module served twice by the installed `idem run --handlers`, fed by `idem send` (the second
# run's greetings all duplicates again, nothing new reaching the guestbook); the same main built
# from pkg-config's flags alone; the installed tool's --version.
INSTALL_TEST := $(abspath $(BUILD))/test-install
HELLO_MODULE_RUN = scripts/hello_module_run.sh $(INSTALL_TEST)/prefix/bin/idem \
  $(INSTALL_TEST)/hello/libhello_module.so $(INSTALL_TEST)/run-module ada grace
PKG_CONFIG_IDEM = PKG_CONFIG_PATH=$(INSTALL_TEST)/prefix/lib/pkgconfig pkg-config
test-install: build
	rm -rf $(INSTALL_TEST)
	cmake --install $(BUILD) --prefix $(INSTALL_TEST)/prefix > $(INSTALL_TEST).log
	cmake -S examples/hello -B $(INSTALL_TEST)/hello -DCMAKE_PREFIX_PATH=$(INSTALL_TEST)/prefix \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >> $(INSTALL_TEST).log
	cmake --build $(INSTALL_TEST)/hello -j$(JOBS)
	cd $(INSTALL_TEST)/hello && ctest --output-on-failure
	$(INSTALL_TEST)/hello/hello $(INSTALL_TEST)/run ada grace | tee $(INSTALL_TEST)/first.txt
	grep -qx 'guestbook: 2 new, 0 duplicates, 0 failed' $(INSTALL_TEST)/first.txt
	$(INSTALL_TEST)/hello/hello $(INSTALL_TEST)/run ada grace | tee $(INSTALL_TEST)/second.txt
	grep -qx 'greeter: 0 new, 2 duplicates, 0 failed' $(INSTALL_TEST)/second.txt
	$(HELLO_MODULE_RUN) | tee $(INSTALL_TEST)/module-first.txt
	grep -qx 'greeter: 2 new, 0 duplicates, 0 failed' $(INSTALL_TEST)/module-first.txt
	grep -qx 'guestbook: 2 new, 0 duplicates, 0 failed' $(INSTALL_TEST)/module-first.txt
	$(HELLO_MODULE_RUN) | tee $(INSTALL_TEST)/module-second.txt
	grep -qx 'greeter: 0 new, 2 duplicates, 0 failed' $(INSTALL_TEST)/module-second.txt
	grep -qx 'guestbook: 0 new, 0 duplicates, 0 failed' $(INSTALL_TEST)/module-second.txt
	mkdir -p $(INSTALL_TEST)/pc
	capnp compile -oc++:$(INSTALL_TEST)/pc --src-prefix=examples/hello examples/hello/hello.capnp
	$(CCACHE) c++ -std=c++20 -O1 -Iexamples/hello -I$(INSTALL_TEST)/pc examples/hello/main.cpp \
	  examples/hello/greeter.cpp examples/hello/guestbook.cpp $(INSTALL_TEST)/pc/hello.capnp.c++ \
	  -o $(INSTALL_TEST)/pc/hello $$($(PKG_CONFIG_IDEM) --cflags --libs idem)
	$(INSTALL_TEST)/pc/hello $(INSTALL_TEST)/run-pc ada | \
	  grep -qx 'greeter: 1 new, 0 duplicates, 0 failed'
	$(INSTALL_TEST)/prefix/bin/idem --version

# The same example with idem's source tree built inside it (add_subdirectory): only the libraries,
# without idem's tests, tools or samples. Not part of `make test`: it compiles idem once more.
test-subdirectory: setup
	rm -rf $(BUILD)/test-subdirectory
	cmake -S examples/hello -B $(BUILD)/test-subdirectory -DHELLO_IDEM_SOURCE_DIR=$(CURDIR) \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)
	cmake --build $(BUILD)/test-subdirectory -j$(JOBS)
	cd $(BUILD)/test-subdirectory && ctest --output-on-failure

test-asan: setup
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DIDEM_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -LE heavy

# Host, doorbell, endpoints on threads, NATS callbacks on nats.c's threads: 0 reports, or it fails.
test-tsan: setup
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIDEM_TSAN=ON $(CMAKE_ARGS)
	cmake --build $(TSAN_BUILD) -j$(JOBS) --target idem_tests
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	  $(TSAN_BUILD)/bin/idem_tests "[threads],[nats]~[process]"

# The 3-node nats-server cluster test (docs/nats.md "Tests"): a node SIGKILLed mid-run under
# fenced partition groups. Not part of `make test` (see tests/CMakeLists.txt).
test-cluster: build
	cd $(BUILD)/tests && ../bin/idem_tests "[.cluster]"

# The kill soak: the demos under a SIGKILL every 100-500 ms until SOAK_KILLS kills (hours at
# the default 10000); report in $(BUILD)/soak/report.json.
soak: build
	IDEM=$(BUILD)/bin/idem SOAK_DIR=$(BUILD)/soak scripts/soak.sh $(SOAK_KILLS)

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

# The HTTP rows (http-ingress-vs-alo, http-replay) with wrk against real processes, about 90 s.
bench-http: build
	bench/http_bench.sh $(BUILD)

# Exhaustive exploration past make test's bounds (docs/exploration.md): the chain A -> B with
# two duplicates and a crash, two consumers with batches of two. Minutes, not seconds.
explore: build
	$(BUILD)/bin/idem-explore --scenario chain --duplicates 2 --crashes 1 $(EXPLORE_ARGS)
	$(BUILD)/bin/idem-explore --scenario consumers --batch 2 --duplicates 2 --crashes 1 $(EXPLORE_ARGS)

format:
	find include store framework handlers calls testing samples examples tools admin http tests bench fuzz -name '*.h' -o -name '*.cpp' | xargs clang-format -i

format-check: setup
	find include store framework handlers calls testing samples examples tools admin http tests bench fuzz -name '*.h' -o -name '*.cpp' | xargs clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
