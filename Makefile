# Two commands do all set-up on a fresh Debian machine:
#   make run    install missing apt packages, build release, run the default experiment
#   make test   the same set-up, then the test suite
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)

APT_PACKAGES := libopenblas-dev liblapack-dev liblapacke-dev zlib1g-dev pkg-config dataset-fashion-mnist librsvg2-bin
SPEC ?= experiments/lenet300-fmnist.yaml
RUN_ARGS ?=

.PHONY: all deps test-deps build run test bench quick clean

all: build

# The test suite also starts a real single-node Slurm cluster (the `topiary slurm` test).
TEST_APT_PACKAGES := slurmctld slurmd slurm-client munge

# Installs only what is missing (apt-get update runs only then). sudo when not root.
define install_missing
	@missing=""; \
	for package in $(1); do \
	  dpkg-query -W -f='$${Status}\n' "$$package" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing Debian packages:$$missing"; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	fi
endef

deps:
	$(call install_missing,$(APT_PACKAGES))

test-deps:
	$(call install_missing,$(APT_PACKAGES) $(TEST_APT_PACKAGES))

build: deps
	swift build -c release

run: build
	.build/release/topiary run $(SPEC) $(RUN_ARGS)

quick: build
	.build/release/topiary run $(SPEC) --quick $(RUN_ARGS)

# Line-buffered so a CI log shows the test that was running; a hang fails after 40 min
# instead of using up CI's whole budget.
test: test-deps
	swift build --build-tests
	stdbuf -oL -eL timeout --kill-after=30 2400 swift test --skip-build --disable-xctest \
	  || { status=$$?; [ $$status -ne 124 ] || echo "make test: the suite did not finish within 40 minutes (the last test started above hung)"; exit $$status; }

# A benchmark, not a test: sgemm GFLOP/s per BLAS core, W1 dense and masked epoch seconds.
bench: build
	.build/release/topiary bench

clean:
	rm -rf .build
