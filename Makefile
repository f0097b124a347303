# llmwb — the LLM workbench.  `make run` opens the TUI, `make test` runs every test.
# Layout: src/ builds libllmwb.a (the engine), ui/ + src/cli.c link into one binary `llmwb`.

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc

PKGS    := ncursesw openblas yaml-0.1 libcjson libpcre2-8 libpng
ENGINE_PKGS := openblas yaml-0.1 libcjson libpcre2-8 libpng
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
ENGINE_LIBS := $(shell pkg-config --libs $(ENGINE_PKGS) 2>/dev/null)
UI_LIBS := $(shell pkg-config --libs ncursesw 2>/dev/null)
TEST_LIBS := $(shell pkg-config --libs criterion 2>/dev/null)

WARN    := -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wundef -Wvla -Wno-unused-parameter
OPT     ?= -O2
CFLAGS  ?=
CFLAGS  += -std=c11 $(OPT) -g $(WARN) -D_GNU_SOURCE -pthread $(PKG_CFLAGS) -Isrc -DLLMWB_SHARE=\"$(PREFIX)/share/llmwb\"
ifeq ($(WERROR),1)
CFLAGS  += -Werror
endif
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
BUILD   := build-asan
endif
# FUZZ=1: the libFuzzer build (clang, ASan+UBSan, coverage) into build-fuzz/; `make fuzz` uses it.
ifeq ($(FUZZ),1)
CC      := clang
CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
BUILD   := build-fuzz
endif
LDLIBS  := $(ENGINE_LIBS) -lm -pthread
# MPI (data-parallel training, src/dist.c, docs/distributed.md): built in when OpenMPI's pkg-config file is found
# (libopenmpi-dev); MPI=0 builds without it (then `llmwb --version` says so).
MPI     ?= $(shell pkg-config --exists ompi-c 2>/dev/null && echo 1 || echo 0)
ifeq ($(MPI),1)
CFLAGS  += -DLLMWB_MPI $(patsubst -I%,-isystem %,$(shell pkg-config --cflags ompi-c))
LDLIBS  += $(shell pkg-config --libs ompi-c)
endif

SRC_C   := $(filter-out src/cli.c,$(wildcard src/*.c))
UI_C    := $(wildcard ui/*.c)
TEST_C  := $(wildcard tests/*.c)
BENCH_C := $(wildcard bench/*.c)
SRC_O   := $(SRC_C:%.c=$(BUILD)/%.o)
UI_O    := $(UI_C:%.c=$(BUILD)/%.o)
TEST_O  := $(TEST_C:%.c=$(BUILD)/%.o)
BENCH_O := $(BENCH_C:%.c=$(BUILD)/%.o)
LIB     := $(BUILD)/libllmwb.a
BIN     := $(BUILD)/llmwb
TESTBIN := $(BUILD)/llmwb-tests
BENCHBIN:= $(BUILD)/llmwb-bench

.PHONY: all run test bench deps install uninstall asan clean check-layers docs fuzz fuzz-build
all: $(BIN) llmwb

llmwb: $(BIN)
	@ln -sf $(BIN) llmwb

$(BUILD)/%.o: %.c $(wildcard src/*.h ui/*.h tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(TEST_O): CFLAGS += -Iui

# libFuzzer targets: tests/fuzz/fuzz_NAME.c -> build-fuzz/fuzz/NAME (seed corpora in tests/fuzz/corpus/NAME/).
FUZZ_C    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_C:tests/fuzz/fuzz_%.c=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 60
$(FUZZ_C:%.c=$(BUILD)/%.o): CFLAGS += -Iui -Itests/fuzz
$(FUZZ_C:%.c=$(BUILD)/%.o): $(wildcard tests/fuzz/*.h)
$(BUILD)/libui.a: $(UI_O)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/libui.a $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(UI_LIBS) $(LDLIBS)

$(LIB): $(SRC_O)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/src/cli.o $(UI_O) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(BUILD)/src/cli.o $(UI_O) $(LIB) $(UI_LIBS) $(LDLIBS)

$(TESTBIN): $(TEST_O) $(filter-out $(BUILD)/ui/main.o,$(UI_O)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(UI_LIBS) $(TEST_LIBS) $(LDLIBS)

$(BENCHBIN): $(BENCH_O) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@sh scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	./$(BIN) tui --train

# The layering rule: the engine never includes curses; the UI reaches the engine only through its public headers.
check-layers:
	@sh scripts/check-layers.sh

test: deps
	@$(MAKE) --no-print-directory all $(TESTBIN)
	@$(MAKE) --no-print-directory check-layers
	@# One BLAS core choice (blas.h) for the whole run: a private cache, settled once before the tests run in parallel.
	XDG_CACHE_HOME=$(abspath $(BUILD))/cache ./$(BIN) --version
	XDG_CACHE_HOME=$(abspath $(BUILD))/cache LLMWB_BIN=$(abspath $(BIN)) LLMWB_ROOT=$(CURDIR) ./$(TESTBIN) $(TESTFLAGS)

asan:
	@LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 $(MAKE) --no-print-directory SAN=1 OPT=-O1 test

# Each fuzz target for FUZZ_SECONDS (default 60) from its seed corpus; fails on any finding (crash, sanitizer
# report, leak, timeout, OOM) and prints executions per target (also in build-fuzz/fuzz-summary.txt).
fuzz:
	@sh scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory FUZZ=1 OPT=-O1 fuzz-build
	sh tests/fuzz/run.sh $(FUZZ_SECONDS)

fuzz-build: $(FUZZ_BINS)

bench: deps
	@$(MAKE) --no-print-directory all $(BENCHBIN)
	sh bench/run.sh $(abspath $(BENCHBIN))

docs: $(BIN)
	./$(BIN) config --docs > docs/config.md

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/llmwb $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/llmwb
	cp -r configs corpora $(DESTDIR)$(PREFIX)/share/llmwb/
	cp -r docs/lessons $(DESTDIR)$(PREFIX)/share/llmwb/lessons
	install -m 644 docs/llmwb.1 $(DESTDIR)$(PREFIX)/share/man/man1/llmwb.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/llmwb $(DESTDIR)$(PREFIX)/share/man/man1/llmwb.1
	rm -rf $(DESTDIR)$(PREFIX)/share/llmwb

clean:
	rm -rf build build-asan build-fuzz llmwb
