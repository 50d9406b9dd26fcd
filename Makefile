# Makefile - builds libtraceq.so (the preload shim), the `traceq` command, the tests and benchmarks.
# Newcomers: `make demo` (the main job end to end) and `make test` (the whole suite). Both install what is missing.

# TESTING=1 compiles the test hooks (-DTQ_TESTING: options such as `run --kill-worker` that only the tests use) and
# the test suite; such a build goes to build-test/ (`make test`) or build-asan/ (`make asan`), never to build/.
TESTING ?=
BUILD   ?= $(if $(filter 1,$(TESTING)),build-test,build)
CC      ?= cc
VERSION := 0.1.0
OPT     ?= -O2
WERROR  ?= -Werror
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=gnu11 -Wall -Wextra $(WERROR) -fPIC -pthread -DTQ_VERSION='"$(VERSION)"' -MMD -MP
CFLAGS  += $(if $(filter 1,$(TESTING)),-DTQ_TESTING)
PKGS    := libzstd gsl fftw3 fftw3f jansson inih cairo libunwind libxxhash
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LIBS    := $(PKG_LIBS) -lsegyio -lfftw3_threads -lfftw3f_threads -ldw -lelf -liberty -lm -ldl -pthread

# Debian packages the build, tests, demo and benchmarks use; `make deps` installs the missing ones.
DEB_PKGS := build-essential pkg-config libunwind-dev libzstd-dev zstd libgsl-dev libfftw3-dev libcriterion-dev \
            libsegyio-dev python3-segyio libjansson-dev libinih-dev libcairo2-dev libdw-dev libxxhash-dev \
            libiberty-dev python3-scipy python3-numpy valgrind heaptrack sqlite3 clang libopenmpi-dev openmpi-bin \
            bc git xz-utils time
# What only `make bench` needs: real Dask, the peer of the chunking experiment (experiment/dask_peer.py), and perl and
# coreutils (sort) for the real-program table (tools/bench_programs.sh; sqlite3, xz, git, heaptrack, valgrind are in DEB_PKGS).
BENCH_PKGS := python3-dask python3-distributed perl coreutils

# The rooms of the pipeline, lowest first (ARCHITECTURE.md); a room includes headers only from rooms before it.
# tests/check_layout.sh enforces it. The shim (preload/) is built apart; tools/ is the command line.
ROOMS      := common traces preload report export plot record operators model runner compare experiment tools
CORE_ROOMS := $(filter-out preload tools,$(ROOMS))
MPI_SRC    := runner/mpi_run.c
CORE_SRC   := $(filter-out $(MPI_SRC),$(foreach r,$(CORE_ROOMS),$(wildcard $(r)/*.c)))
SHIM_SRC  := $(wildcard preload/*.c traces/*.c)
TOOL_SRC  := $(wildcard tools/*.c)
TEST_SRC  := $(wildcard tests/test_*.c) tests/helpers.c
PROG_SRC  := $(wildcard tests/progs/*.c)
PROG_CXX_SRC := $(wildcard tests/progs/*.cc)
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCH_CXX_SRC := $(wildcard tests/bench/*.cc)

CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
SHIM_OBJ  := $(SHIM_SRC:%.c=$(BUILD)/shim/%.o)
TOOL_OBJ  := $(TOOL_SRC:%.c=$(BUILD)/obj/%.o)
TEST_OBJ  := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)
PROGS     := $(PROG_SRC:tests/progs/%.c=$(BUILD)/progs/%) $(PROG_CXX_SRC:tests/progs/%.cc=$(BUILD)/progs/%)
BENCHES   := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%) $(BENCH_CXX_SRC:tests/bench/%.cc=$(BUILD)/bench/%)
EXAMPLES  := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))

.PHONY: all deps demo test bench asan clean install
all: $(BUILD)/libtraceq.so $(BUILD)/traceq $(PROGS) $(BENCHES) $(EXAMPLES)
ifeq ($(TESTING),1)
all: $(BUILD)/tests/tq_tests $(BUILD)/tests/cli_probe $(BUILD)/tests/cli_probe_user
endif

# tools/ and the shim (one switch: TQ_TESTING_HEAP_FOREIGN) read TQ_TESTING: rebuild them when TESTING changes for
# this build folder. A user build drops the test programs an earlier test build left there (they would test a traceq without its test hooks).
TESTING_STAMP := $(BUILD)/testing-$(if $(filter 1,$(TESTING)),on,off)
$(TESTING_STAMP):
	@mkdir -p $(BUILD)
	@rm -f $(BUILD)/testing-on $(BUILD)/testing-off $(if $(filter 1,$(TESTING)),,$(BUILD)/tests/tq_tests \
	    $(BUILD)/tests/cli_probe $(BUILD)/tests/cli_probe_user)
	@touch $@
$(TOOL_OBJ): $(TESTING_STAMP)

deps:
	@tools/deps.sh $(DEB_PKGS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

# The shim is built apart: no sanitizers, only what a profiled process must carry (zstd, libunwind). zstd's
# compressor is linked in from libzstd.a (PIC in Debian), its symbols hidden (--exclude-libs: a program's own libzstd
# is not interposed): no libzstd.so mapped beside the shim in every profiled process (tests/test_shim_footprint.c);
# preload/shim_layout.ld puts the zstd code the shim never runs after the code it runs.
$(BUILD)/shim/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) -c $< -o $@
# The hot path (malloc/free hooks) is a few thread-local adds: no PLT hop to glibc (-fno-plt), and no SSE packing
# of two 64-bit counters, which takes more instructions than it saves (-fno-tree-vectorize; tools/bench_storm.sh).
SHIM_CFLAGS = -std=gnu11 -O2 -g -Wall -Wextra $(WERROR) -fPIC -pthread -fvisibility=hidden \
              -ftls-model=initial-exec -fno-plt -fno-tree-vectorize -DTQ_SHIM -MMD -MP \
              $(if $(filter 1,$(TESTING)),-DTQ_TESTING)
$(SHIM_OBJ): $(TESTING_STAMP)

$(BUILD)/libtraceq.so: $(SHIM_OBJ) preload/shim_layout.ld
	$(CC) -shared -o $@ $(SHIM_OBJ) -Wl,--gc-sections,--exclude-libs,ALL,-T,preload/shim_layout.ld -l:libzstd.a -lunwind -ldl -lm -pthread

$(BUILD)/libtqcore.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

# MPI (`traceq run --mpi`): runner/mpi_run.c is built and linked only where mpicc exists (`make deps` installs OpenMPI).
MPICC := $(shell command -v mpicc 2>/dev/null)
ifneq ($(MPICC),)
MPI_OBJ    := $(MPI_SRC:%.c=$(BUILD)/mpi/%.o)
MPI_CFLAGS := $(shell mpicc --showme:compile)
MPI_LIBS   := $(shell mpicc --showme:link)
$(BUILD)/obj/tools/cmd_run.o: CFLAGS += -DTQ_HAVE_MPI
$(BUILD)/mpi/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(MPI_CFLAGS) -c $< -o $@
endif

$(BUILD)/traceq: $(TOOL_OBJ) $(MPI_OBJ) $(BUILD)/libtqcore.a $(BUILD)/libtraceq.so
	$(CC) $(CFLAGS) -o $@ $(TOOL_OBJ) $(MPI_OBJ) $(BUILD)/libtqcore.a $(LIBS) $(MPI_LIBS)

$(BUILD)/tests/tq_tests: $(TEST_OBJ) $(BUILD)/libtqcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libtqcore.a $(LIBS) -lcriterion

# The option parser (tools/cli_options.c) around a small table with a test hook, as a test build compiles it and as
# a user build does (no -DTQ_TESTING): test_cli_options checks the hook is an unknown option in the second.
CLI_PROBE_SRC := tests/cli_probe.c tools/cli_options.c tools/cli.c
$(BUILD)/tests/cli_probe: $(CLI_PROBE_SRC) tools/cli.h $(BUILD)/libtqcore.a
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(PKG_CFLAGS) -o $@ $(CLI_PROBE_SRC) $(BUILD)/libtqcore.a $(LIBS)
$(BUILD)/tests/cli_probe_user: $(CLI_PROBE_SRC) tools/cli.h $(BUILD)/libtqcore.a
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -MMD -MP -DTQ_TESTING,$(CFLAGS)) $(PKG_CFLAGS) -o $@ $(CLI_PROBE_SRC) $(BUILD)/libtqcore.a $(LIBS)

$(BUILD)/progs/%: tests/progs/%.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu11 -Wall -Wextra $(WERROR) -pthread $(PROG_EXTRA) -o $@ $< -lm
# C++ programs (the demangling tests); g++ comes with build-essential.
$(BUILD)/progs/%: tests/progs/%.cc
	@mkdir -p $(dir $@)
	$(CXX) -O2 -g -std=gnu++17 -Wall -Wextra $(WERROR) -pthread $(PROG_EXTRA) -o $@ $<
# Known call paths for the --stacks tests: every function keeps its own frame.
$(BUILD)/progs/stack_paths $(BUILD)/progs/leaks_temps $(BUILD)/progs/two_paths $(BUILD)/progs/cxx_alloc \
    $(BUILD)/progs/oom_grow $(BUILD)/progs/snap_grow $(BUILD)/progs/many_stacks $(BUILD)/progs/repeat_stacks \
    $(BUILD)/progs/realloc_race: \
    PROG_EXTRA := -O0 -fno-inline -fno-omit-frame-pointer

# examples/: users' own block operators (examples/README.md); plain C, no traceq library.
$(BUILD)/examples/%: examples/%.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu11 -Wall -Wextra $(WERROR) -o $@ $<

$(BUILD)/bench/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu11 -Wall -Wextra $(WERROR) -pthread -o $@ $< -lm

$(BUILD)/bench/%: tests/bench/%.cc
	@mkdir -p $(dir $@)
	$(CXX) -O2 -g -std=gnu++17 -Wall -Wextra $(WERROR) -pthread -o $@ $<

# op_kernel times an operator's compute() alone, so it links the library.
$(BUILD)/bench/op_kernel: tests/bench/op_kernel.c $(BUILD)/libtqcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libtqcore.a $(LIBS)

# The suite runs on a build with the test hooks, in its own folder. Tests find the build through these variables
# (see tests/helpers.h).
TEST_BUILD := build-test
TEST_ENV = TQ_BUILD=$(abspath $(TEST_BUILD)) TQ_SRC=$(CURDIR) TQ_PYTHON=/usr/bin/python3

test: deps
	@tests/check_layout.sh $(ROOMS)
	@$(MAKE) --no-print-directory BUILD=$(TEST_BUILD) TESTING=1 all
	@$(if $(HAVE_CLANG),$(MAKE) --no-print-directory fuzz-smoke,echo "fuzz smoke skipped: clang not found")
	cd $(TEST_BUILD) && $(TEST_ENV) ./tests/tq_tests --jobs=2

demo: deps
	@$(MAKE) --no-print-directory all
	@tools/demo.sh $(abspath $(BUILD))

bench: deps
	@tools/deps.sh $(BENCH_PKGS)
	@$(MAKE) --no-print-directory all
	@tools/bench.sh $(abspath $(BUILD))

# Everything but the shim's interposed symbols under AddressSanitizer + UBSan, then the suite. The programs the tests
# run under the shim (tests/progs/) stay unsanitized: ASan insists on being first in the link order, which a preloaded
# libtraceq.so is not, and the shim itself replaces malloc. LeakSanitizer checks each test process and every program
# it runs (criterion's runner is exempt: tests/helpers.c); a test process's leak does not fail its test in criterion,
# so a leak report anywhere in the output fails the target.
asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan TESTING=1 OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined" \
	    build-asan/traceq build-asan/tests/tq_tests build-asan/libtraceq.so $(PROGS:$(BUILD)/%=build-asan/%) \
	    $(STATIC_PROGS:$(BUILD)/%=build-asan/%) $(EXAMPLES:$(BUILD)/%=build-asan/%) build-asan/tests/cli_probe \
	    build-asan/tests/cli_probe_user
	cd build-asan && { ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    TQ_BUILD=$(abspath build-asan) TQ_SRC=$(CURDIR) TQ_PYTHON=/usr/bin/python3 ./tests/tq_tests --jobs=2 2>&1; \
	    echo $$? > tq_tests.status; } | tee tq_tests.log; \
	    if grep -q 'ERROR: LeakSanitizer' tq_tests.log; then \
	        echo "make asan: LeakSanitizer reported leaks (build-asan/tq_tests.log)"; exit 1; fi; \
	    exit "$$(cat tq_tests.status)"

clean:
	rm -rf $(BUILD) build-test build-asan

# `make install [PREFIX=/usr/local] [DESTDIR=]`: the binary and the shim side by side in PREFIX/lib/traceq (traceq
# finds libtraceq.so beside its own executable), PREFIX/bin/traceq a link to it, and the Python package
# (python/traceq) where Debian's python3 looks under PREFIX (/usr/local/lib/python3.X/dist-packages).
PREFIX    ?= /usr/local
PYVER     := $(shell /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3)
PYTHONDIR ?= $(PREFIX)/lib/python$(PYVER)/dist-packages
install: $(BUILD)/traceq $(BUILD)/libtraceq.so
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/traceq $(DESTDIR)$(PYTHONDIR)/traceq
	install -m 755 $(BUILD)/traceq $(DESTDIR)$(PREFIX)/lib/traceq/traceq
	install -m 644 $(BUILD)/libtraceq.so $(DESTDIR)$(PREFIX)/lib/traceq/libtraceq.so
	ln -sfn ../lib/traceq/traceq $(DESTDIR)$(PREFIX)/bin/traceq
	install -m 644 python/traceq/__init__.py $(DESTDIR)$(PYTHONDIR)/traceq/__init__.py

-include $(CORE_OBJ:.o=.d) $(SHIM_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(MPI_OBJ:.o=.d)

# ---- Fuzzing (tests/fuzz/, libFuzzer; needs clang). `make fuzz SECONDS=600` runs every target that long;
# `make fuzz-smoke` (part of `make test` when clang is present) runs each for FUZZ_SMOKE seconds, two at a time.
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_BUILD := build-fuzz
FUZZ_OPT   := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
SECONDS    ?= 600
FUZZ_SMOKE ?= 10
HAVE_CLANG := $(shell command -v clang 2>/dev/null)
.PHONY: fuzz fuzz-build fuzz-smoke fuzz-corpus

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/*.h $(BUILD)/libtqcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -D_GNU_SOURCE -fsanitize=fuzzer -o $@ $< $(BUILD)/libtqcore.a $(LIBS)

$(BUILD)/fuzz/gen_seeds: tests/fuzz/gen_seeds.c $(BUILD)/libtqcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(BUILD)/libtqcore.a $(LIBS)

fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang OPT="$(FUZZ_OPT)" \
	    $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz/fuzz_%)

fuzz: deps fuzz-build
	tests/fuzz/run.sh $(abspath $(FUZZ_BUILD)) $(SECONDS) 1 $(FUZZ_NAMES)

fuzz-smoke: fuzz-build
	@tests/fuzz/run.sh $(abspath $(FUZZ_BUILD)) $(FUZZ_SMOKE) 2 $(FUZZ_NAMES)

fuzz-corpus: $(BUILD)/fuzz/gen_seeds
	tests/fuzz/make_corpus.sh $(abspath $(BUILD))

# ---- Statically linked test programs (tests/progs/static/): what the shim cannot reach, for test_transparency.
STATIC_PROGS := $(patsubst tests/progs/static/%.c,$(BUILD)/progs/%,$(wildcard tests/progs/static/*.c))
all: $(STATIC_PROGS)
$(BUILD)/progs/static_%: tests/progs/static/static_%.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -std=gnu11 -Wall -Wextra $(WERROR) -static -o $@ $<

# tests/progs/linked/: programs linked against libtraceq.so itself (not preloaded); test_security builds them
# at run time beside a copy of the shim, so that another user can load both.
