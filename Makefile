# Two commands take a fresh Debian + Python machine to a working checkout:
#   make demo   plan the bundled KWS model at 1.25x the baseline latency, emulate both, write the firmware
#   make test   the whole test suite (what CI runs)
# Both install what is missing first and are safe to rerun.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.stamp-deps
APT_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi qemu-system-arm cmake
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: demo test test-fast deps toolchain clean

# Python dependencies, pinned in pyproject.toml, into .venv/ (reinstalled when pyproject changes).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

deps: $(STAMP)

# Debian's Cortex-M toolchain, QEMU and CMake (the firmware projects), only when absent.
toolchain:
	@if ! command -v arm-none-eabi-gcc >/dev/null || ! command -v qemu-system-arm >/dev/null \
	    || ! command -v cmake >/dev/null \
	    || [ ! -d /usr/lib/arm-none-eabi/newlib ]; then \
	  echo "installing $(APT_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	fi

demo: deps toolchain
	$(VENV)/bin/stm32dvfs evaluate tvm_stm32dvfs/models/kws_dscnn_int8.onnx --qos 1.25 --project out/demo

test: deps toolchain
	$(PY) -m pytest -n $(JOBS) --dist loadgroup tests

test-fast: deps
	$(PY) -m pytest -n $(JOBS) -m "not slow and not emulator" tests

clean:
	rm -rf out build dist
