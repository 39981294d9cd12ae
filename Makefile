# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# l4split build. `make` builds build/l4split (BPF objects embedded via a skeleton).
# `make test` runs every test, `make demo` the canary demo, `make bench` benchmarks.

BUILD    ?= build
CC       ?= cc
CLANG    ?= clang
BPFTOOL  ?= bpftool
PREFIX   ?= /usr/local
MANDIR   ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
# The commit this build is made from: "unknown" outside a git checkout of l4split (a
# tarball, or a copy inside some other repository).
COMMIT   := $(shell [ -z "$$(git rev-parse --show-prefix 2>/dev/null)" ] && \
	git rev-parse --short HEAD 2>/dev/null || echo unknown)
MARCH    := $(shell uname -m)
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wextra -Werror \
	-Ivmlinux -Iinclude -Ibpf -I/usr/include/$(MARCH)-linux-gnu
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-missing-field-initializers -Wno-stringop-truncation \
	-Iinclude -Iuser/core -Iuser/kube -Iuser/cli -I$(BUILD) -DL4S_VERSION=\"$(VERSION)\"
LDLIBS   := -lbpf -lelf -lz -ljansson -lyajl -lyaml -ldl -lpthread -lm

# libFuzzer build (make fuzz): clang, the library instrumented for coverage.
ifeq ($(SANITIZE),fuzz)
CFLAGS   += -Wno-unknown-warning-option -fsanitize=fuzzer-no-link,address,undefined \
	-fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif

ifeq ($(SANITIZE),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif

BPF_SRC  := bpf/l4split.bpf.c
BPF_HDRS := $(wildcard bpf/*.h) $(wildcard include/*.h)
LIB_SRC  := $(filter-out user/cli/main.c,$(wildcard user/*/*.c))
LIB_OBJ  := $(patsubst user/%.c,$(BUILD)/user/%.o,$(LIB_SRC))
USER_HDRS := $(wildcard user/*/*.h) $(wildcard include/*.h) $(BUILD)/l4split.skel.h

.PHONY: all clean install man test unit datapath e2e demo bench deps vmlinux asan fuzz fuzz-build test-kernels
all: $(BUILD)/l4split

$(BUILD)/l4split.bpf.o: $(BPF_SRC) $(BPF_HDRS) | $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $(BUILD)/l4split.tmp.bpf.o
	$(BPFTOOL) gen object $@ $(BUILD)/l4split.tmp.bpf.o

$(BUILD)/l4split.skel.h: $(BUILD)/l4split.bpf.o
	$(BPFTOOL) gen skeleton $< name l4split_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/user/%.o: user/%.c $(USER_HDRS) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The commit, in a header rewritten only when it changes: a new commit rebuilds the two
# objects that print it (l4split -V, l4split_build_info), nothing else.
$(BUILD)/build-info.h: FORCE | $(BUILD)
	@echo '#define L4S_COMMIT "$(COMMIT)"' >$@.tmp && \
		{ cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@; }
$(BUILD)/user/cli/main.o $(BUILD)/user/kube/metrics.o: $(BUILD)/build-info.h
FORCE:

$(BUILD)/libl4split.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

$(BUILD)/l4split: $(BUILD)/user/cli/main.o $(BUILD)/libl4split.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD):
	mkdir -p $(BUILD)

# l4split(8): docs/l4split.h2m around `l4split help` and `l4split help OBJECT` (help2man).
man: $(BUILD)/l4split.8
$(BUILD)/l4split.8: $(BUILD)/l4split docs/l4split.h2m docs/gen-man.sh
	docs/gen-man.sh $(BUILD)/l4split docs/l4split.h2m $@

# Tests -----------------------------------------------------------------------
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
TOOLS    := $(BUILD)/tests/l4s-traffic $(BUILD)/tests/l4s-route $(BUILD)/tests/l4s-spray \
	    $(BUILD)/tests/l4s-flood

$(BUILD)/tests/test_%: tests/unit/test_%.c $(BUILD)/libl4split.a $(USER_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libl4split.a $(LDLIBS) -lcmocka

TEST_LIB := tests/lib/pkt.c tests/lib/cli.c
TEST_LIB_HDRS := tests/lib/pkt.h tests/lib/cli.h tests/lib/fuzzpkt.h

$(BUILD)/tests/datapath: tests/datapath/datapath.c $(TEST_LIB) $(TEST_LIB_HDRS) $(BUILD)/libl4split.a $(USER_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/lib $(LDFLAGS) -o $@ tests/datapath/datapath.c $(TEST_LIB) \
		$(BUILD)/libl4split.a $(LDLIBS) -lcmocka

$(BUILD)/tests/dp-explain: tests/datapath/explain.c $(TEST_LIB) $(TEST_LIB_HDRS) $(BUILD)/libl4split.a $(USER_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/lib $(LDFLAGS) -o $@ tests/datapath/explain.c $(TEST_LIB) \
		$(BUILD)/libl4split.a $(LDLIBS) -lcmocka

$(BUILD)/tests/dp-capacity: tests/datapath/capacity.c $(TEST_LIB) $(TEST_LIB_HDRS) $(BUILD)/libl4split.a $(USER_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/lib $(LDFLAGS) -o $@ tests/datapath/capacity.c $(TEST_LIB) \
		$(BUILD)/libl4split.a $(LDLIBS) -lcmocka

$(BUILD)/tests/dp-snat: tests/datapath/snat.c $(TEST_LIB) $(TEST_LIB_HDRS) $(BUILD)/libl4split.a $(USER_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/lib $(LDFLAGS) -o $@ tests/datapath/snat.c $(TEST_LIB) \
		$(BUILD)/libl4split.a $(LDLIBS) -lcmocka

$(BUILD)/tests/dpfuzz: tests/datapath/dpfuzz.c tests/lib/fuzzpkt.c $(TEST_LIB) $(TEST_LIB_HDRS) $(BUILD)/libl4split.a $(USER_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/lib $(LDFLAGS) -o $@ tests/datapath/dpfuzz.c tests/lib/fuzzpkt.c \
		$(TEST_LIB) $(BUILD)/libl4split.a $(LDLIBS)

$(BUILD)/tests/l4s-route: tests/tools/l4s-route.c tests/lib/pkt.c tests/lib/pkt.h $(BUILD)/libl4split.a $(USER_HDRS)
	$(CC) $(CFLAGS) -Itests/lib $(LDFLAGS) -o $@ tests/tools/l4s-route.c tests/lib/pkt.c \
		$(BUILD)/libl4split.a $(LDLIBS)

$(BUILD)/tests/floor.bpf.o: tests/bench/floor.bpf.c $(BPF_HDRS) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/tests/ref_lb.bpf.o: tests/bench/ref_lb.bpf.c tests/bench/ref_lb.h | $(BUILD)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -Itests/bench -c $< -o $@

$(BUILD)/tests/bench-dp: tests/bench/bench_dp.c tests/bench/ref_lb.h tests/lib/pkt.c tests/lib/pkt.h $(BUILD)/libl4split.a $(USER_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/lib $(LDFLAGS) -o $@ tests/bench/bench_dp.c tests/lib/pkt.c \
		$(BUILD)/libl4split.a $(LDLIBS)

$(BUILD)/tests/xgen.bpf.o: tests/bench/xgen.bpf.c | $(BUILD)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/tests/l4s-xgen: tests/bench/l4s-xgen.c tests/lib/pkt.c tests/lib/pkt.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/lib $(LDFLAGS) -o $@ tests/bench/l4s-xgen.c tests/lib/pkt.c -lbpf

$(BUILD)/tests/bench-table: tests/bench/bench_table.c $(BUILD)/libl4split.a $(USER_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ tests/bench/bench_table.c $(BUILD)/libl4split.a $(LDLIBS)

$(BUILD)/tests/l4s-flood: tests/tools/l4s-flood.c tests/lib/pkt.c tests/lib/pkt.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/lib $(LDFLAGS) -o $@ tests/tools/l4s-flood.c tests/lib/pkt.c

$(BUILD)/tests/l4s-spray: tests/tools/l4s-spray.c tests/lib/fuzzpkt.c tests/lib/pkt.c tests/lib/fuzzpkt.h tests/lib/pkt.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/lib $(LDFLAGS) -o $@ tests/tools/l4s-spray.c tests/lib/fuzzpkt.c tests/lib/pkt.c

$(BUILD)/tests/l4s-traffic: tests/tools/l4s-traffic.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -lm

test: deps all man $(UNIT_BIN) $(BUILD)/tests/datapath $(BUILD)/tests/dp-explain $(BUILD)/tests/dp-snat $(BUILD)/tests/dp-capacity $(BUILD)/tests/dpfuzz $(TOOLS) asan fuzz-build
	@tests/run.sh

# The node path on other kernels (L4S_KERNELS, default "6.1 5.10": Debian's packages,
# fetched and cached, never installed), each booted under qemu: load checks, datapath
# tests, seed scenario (scripts/test-kernels.sh).
test-kernels: deps all $(BUILD)/tests/datapath $(BUILD)/tests/dp-snat $(TOOLS)
	@scripts/test-kernels.sh

# libFuzzer targets for the parsers of untrusted input (tests/fuzz/), in build-fuzz/.
FUZZ_TARGETS := k8s annotations parse
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c build-fuzz/libl4split.a
	$(CC) $(CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< build-fuzz/libl4split.a $(LDLIBS)

fuzz-build:
	@$(MAKE) --no-print-directory CC=clang SANITIZE=fuzz BUILD=build-fuzz \
		$(patsubst %,build-fuzz/fuzz_%,$(FUZZ_TARGETS)) >/dev/null

# Long fuzzing: FUZZ_SECONDS for the datapath and for each libFuzzer target.
FUZZ_SECONDS ?= 600
fuzz: deps all $(BUILD)/tests/dpfuzz fuzz-build
	scripts/fuzz.sh $(FUZZ_SECONDS)

# The same code under ASan + UBSan, run by tests/run.sh as its own groups.
asan:
	@$(MAKE) --no-print-directory SANITIZE=1 BUILD=build-asan build-asan/l4split \
		$(patsubst $(BUILD)/%,build-asan/%,$(UNIT_BIN)) build-asan/tests/datapath \
		build-asan/tests/dp-explain >/dev/null

unit: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do $$t || exit 1; done

datapath: $(BUILD)/tests/datapath
	$(BUILD)/tests/datapath

demo: deps all $(TOOLS)
	scripts/demo.sh

bench: deps all $(TOOLS) $(BUILD)/tests/bench-dp $(BUILD)/tests/bench-table $(BUILD)/tests/floor.bpf.o \
	$(BUILD)/tests/ref_lb.bpf.o \
	$(BUILD)/tests/xgen.bpf.o $(BUILD)/tests/l4s-xgen
	scripts/deps.sh bench
	BUILD=$(BUILD) tests/bench/xgen_check.sh
	scripts/bench.sh

deps:
	@scripts/deps.sh

vmlinux:
	scripts/gen-vmlinux.sh

install: $(BUILD)/l4split $(BUILD)/l4split.8
	install -D -m 0755 $(BUILD)/l4split $(DESTDIR)$(PREFIX)/sbin/l4split
	install -D -m 0644 $(BUILD)/l4split.8 $(DESTDIR)$(MANDIR)/man8/l4split.8
	install -D -m 0644 scripts/completion/l4split.bash $(DESTDIR)$(BASHCOMPDIR)/l4split

clean:
	rm -rf $(BUILD) build-asan build-fuzz
