# The benchmarks: PMemStream against libpmemlog and the libpmem2 ceiling, in one run (Docs/Performance.md).
#
#   make bench      (this file is included by the top-level Makefile, which defines `install-missing`)
#
# installs libpmemlog-dev and the library's system packages when missing, builds the Benchmarks package in
# release mode, runs the standard matrix on /dev/shm with PMEM2_FORCE_GRANULARITY=CACHE_LINE and with the
# default page granularity, appends once more to regions recovered after a reopen, counts heap allocations per
# append, and writes everything to Benchmarks/results/.

BENCH_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
BENCH_APT_PACKAGES := libpmemlog-dev $(APT_PACKAGES)
BENCH_RESULTS := $(BENCH_DIR)/results
BENCH_BINARY := $(BENCH_DIR)/.build/release/pmemstream-bench
# The file every iteration creates and deletes; /dev/shm is emulated persistent memory.
BENCH_PATH ?= /dev/shm/pmemstream-bench-make
# The standard matrix: 8 B … 64 KiB, 1 thread, 2 threads with a region each, 2 threads on one region.
BENCH_MATRIX ?= --threads 1,2 --layouts per-thread,one-region --count 20000 --iterations 11
# PMemStream in regions recovered by reopening the stream, as after a restart, with libpmemlog beside it.
BENCH_RECOVERED ?= --recovered-regions --threads 1 --count 20000 --iterations 11 \
	--engines pmemlog,pmemstream-sync,pmemstream-sync-isolated,pmemstream-async,pmemstream-batch
BENCH_CACHE_LINE_ENV := PMEM2_FORCE_GRANULARITY=CACHE_LINE PMEM_IS_PMEM_FORCE=1
BENCH_PAGE_ENV := env -u PMEM2_FORCE_GRANULARITY PMEM_IS_PMEM_FORCE=0

.PHONY: bench bench-deps bench-build bench-matrix bench-recovered bench-allocations bench-smoke bench-clean

## Everything: the matrix at both granularities, recovered regions, then the allocation counts — one after
## another even under `make -j`, since each would time the others and they share BENCH_PATH.
bench:
	$(MAKE) -f $(firstword $(MAKEFILE_LIST)) bench-matrix
	$(MAKE) -f $(firstword $(MAKEFILE_LIST)) bench-recovered
	$(MAKE) -f $(firstword $(MAKEFILE_LIST)) bench-allocations
	@echo "Results in $(BENCH_RESULTS)/"

## Install the apt packages the benchmarks link against, when any is missing.
bench-deps:
	$(call install-missing,$(BENCH_APT_PACKAGES))

## Build pmemstream-bench in release mode.
bench-build: bench-deps
	$(SWIFT) build --package-path $(BENCH_DIR) -c release --product pmemstream-bench

## The standard matrix, with cache-line flushes and with page granularity (msync).
bench-matrix: bench-build
	@mkdir -p $(BENCH_RESULTS)
	$(BENCH_CACHE_LINE_ENV) $(BENCH_BINARY) $(BENCH_MATRIX) --path $(BENCH_PATH) \
		--json-output $(BENCH_RESULTS)/cache-line.json > $(BENCH_RESULTS)/cache-line.md
	$(BENCH_PAGE_ENV) $(BENCH_BINARY) $(BENCH_MATRIX) --path $(BENCH_PATH) \
		--json-output $(BENCH_RESULTS)/page.json > $(BENCH_RESULTS)/page.md
	@sed -n '/^## Against/,$$p' $(BENCH_RESULTS)/cache-line.md

## One thread appending to regions recovered after a reopen, with cache-line flushes.
bench-recovered: bench-build
	@mkdir -p $(BENCH_RESULTS)
	$(BENCH_CACHE_LINE_ENV) $(BENCH_BINARY) $(BENCH_RECOVERED) --path $(BENCH_PATH) \
		--json-output $(BENCH_RESULTS)/cache-line-recovered.json > $(BENCH_RESULTS)/cache-line-recovered.md
	@sed -n '/^## 1 thread/,/^## Against/p' $(BENCH_RESULTS)/cache-line-recovered.md

## Heap allocations per append in steady state (package-benchmark's malloc interposer).
bench-allocations: bench-deps
	@mkdir -p $(BENCH_RESULTS)
	$(BENCH_CACHE_LINE_ENV) $(SWIFT) package --package-path $(BENCH_DIR) --allow-writing-to-package-directory \
		benchmark --target AppendAllocations --format markdown --no-progress > $(BENCH_RESULTS)/allocations.md
	@grep -E '^### |Malloc' $(BENCH_RESULTS)/allocations.md

## A few seconds of every engine, for a quick check that everything runs.
bench-smoke: bench-build
	$(BENCH_CACHE_LINE_ENV) $(BENCH_BINARY) --sizes 64,4096 --count 500 --iterations 2 --threads 1,2 \
		--layouts per-thread,one-region --path $(BENCH_PATH)

bench-clean:
	rm -rf $(BENCH_DIR)/.build $(BENCH_RESULTS)
