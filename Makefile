# PMemStream — one-command set-up. `make demo` runs the tour, `make test` runs every test.
# Both install the system libraries first when they are missing (Debian/Ubuntu, apt).

SWIFT ?= swift
APT_PACKAGES := libpmem2-dev libnuma-dev libisal-dev pkg-config
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
FORMATTED := Sources Tests IntegrationTests Examples Package.swift Benchmarks/Sources Benchmarks/Benchmarks Benchmarks/Package.swift

.PHONY: all deps build demo test tsan docs lint format clean

all: build

# Installs with apt those of the Debian packages in $(1) that are missing (through sudo when not root).
define install-missing
	@missing=""; for package in $(1); do \
		dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "Installing:$$missing"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
endef

## Install the apt packages PMemStream links against, when any is missing.
deps:
	$(call install-missing,$(APT_PACKAGES))

## Build everything, treating warnings as errors.
build: deps
	$(SWIFT) build -Xswiftc -warnings-as-errors --explicit-target-dependency-import-check error

## The main job: a short tour of PMemStream through its command-line tool, on a stream it creates.
demo: deps
	$(SWIFT) build --product pmemstream
	$(SWIFT) run pmemstream demo

## Every test: unit and property tests, integration tests, and the format check; warnings are errors here too.
## A crash prints the top of the crashed thread's stack last, where the end of a CI log shows it.
CRASH_REPORT := SWIFT_BACKTRACE=enable=yes,threads=crashed,registers=none,images=none,limit=12,top=12
test: build lint
	$(CRASH_REPORT) $(SWIFT) test -Xswiftc -warnings-as-errors --explicit-target-dependency-import-check error

## The unit and property tests under ThreadSanitizer, in a build folder of their own; any report fails.
## (The process-level tests, which kill and spawn processes or cap the address space that ThreadSanitizer's
## shadow memory fills, run in `make test`.)
tsan: deps
	TSAN_OPTIONS="halt_on_error=1 abort_on_error=1" $(SWIFT) test --sanitize=thread --scratch-path .build-tsan \
		--skip 'KillTests|CommandLineTests|ResourceLimitTests'

## The DocC catalog of the library, built with warnings as errors (the DocC plugin is resolved only here).
docs: deps
	PMEMSTREAM_DOCC=1 $(SWIFT) package --scratch-path .build-docs generate-documentation --target PMemStream \
		--warnings-as-errors

## Check the formatting of every Swift file.
lint:
	$(SWIFT) format lint --strict --recursive $(FORMATTED)

## Rewrite every Swift file in the house format.
format:
	$(SWIFT) format --in-place --recursive $(FORMATTED)

clean:
	rm -rf .build .build-* Benchmarks/.build

# `make bench`: PMemStream against libpmemlog and the libpmem2 ceiling, in one run (Docs/Performance.md).
include Benchmarks/bench.mk
