# The two quickstart commands:
#   make run    install missing Debian packages, build, start the hub on embedded defaults
#   make test   install missing Debian packages, build (RelWithDebInfo, ASan+UBSan, and
#               compile-only gcc Release and clang builds), run every test
#               (and a 20 s libFuzzer smoke run per fuzz harness, tools/fuzz.sh)
#   make fuzz-long   fuzz each harness for 30 minutes (FUZZ_SECONDS=...), growing
#               tests/fuzz/corpus; see tools/fuzz.sh
#   make test-long   the bad-link tests at full size (about 25 minutes)
# Binaries: build/bin/tunduk (office), build/bin/tundukd (hub, once it exists).

JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: run demo test test-long build build-asan build-release build-clang deps bench bench-ui clean fuzz fuzz-long

deps:
	@tools/deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@$(MAKE) --no-print-directory -C build -j$(JOBS)

# A packager's build (gcc, CMAKE_BUILD_TYPE=Release: -O3, other warnings than -O2's); make test
# compiles it too, so a configuration CI does not run still has to build.
build-release: deps
	@cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
	@$(MAKE) --no-print-directory -C build-release -j$(JOBS)

# clang, compiled and not run: its warnings are not gcc's (-Wall -Wextra -Werror in both).
build-clang: deps
	@CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@$(MAKE) --no-print-directory -C build-clang -j$(JOBS)

build-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTK_SANITIZE=ON >/dev/null
	@$(MAKE) --no-print-directory -C build-asan -j$(JOBS)

run: build
	@tools/hub.sh build/bin

demo: build
	@tools/demo.sh build/bin

FUZZ_SECONDS ?= 1800

# The sanitized suite first, the fuzz smoke run, then the release suite; ctest's last
# line is the count.
test: build build-asan build-release build-clang
	@tools/check-format.sh
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j$(JOBS)
	@JOBS=$(JOBS) tools/fuzz.sh 20
	cd build && ctest --output-on-failure -j$(JOBS)

# The bad-link tests at full size (TK_BAD_LINK_FULL=1): 1,000 records pushed and pulled at
# 600 ms / 32 kbit/s (about 10 minutes each way; the suite moves 60), and a 1,000-record pull
# cut every 5 s (the suite: 300); too long for make test.
test-long: build
	TK_SOURCE_DIR=$(CURDIR) TK_BIN_DIR=$(CURDIR)/build/bin TK_BAD_LINK_FULL=1 \
	  bash tests/integration/bad_link.sh
	TK_SOURCE_DIR=$(CURDIR) TK_BIN_DIR=$(CURDIR)/build/bin TK_BAD_LINK_FULL=1 \
	  bash tests/integration/bad_link_cuts.sh

# Fuzzing alone: the smoke run, or the long run that grows tests/fuzz/corpus.
fuzz: deps
	@JOBS=$(JOBS) tools/fuzz.sh 20

fuzz-long: deps
	@JOBS=$(JOBS) tools/fuzz.sh --long $(FUZZ_SECONDS)

# One table of results (tests/bench/run.sh): BENCH_ARGS="--quick" for smaller N,
# "--peer" to run the PouchDB peer benchmark alongside (needs node and npm).
bench: build
	@tests/bench/run.sh build/bin $(BENCH_ARGS)

# The web UI on 10,000 records in headless Chromium: opening and searching the list, the
# API's timings (tests/bench/ui_list.py; UI_BENCH_ARGS="--count N --runs R --size S").
bench-ui: build
	@TK_SOURCE_DIR=$(CURDIR) TK_BIN_DIR=$(CURDIR)/build/bin /usr/bin/python3 tests/bench/ui_list.py $(UI_BENCH_ARGS)

clean:
	rm -rf build build-asan build-release build-clang build-fuzz
