# GPI Sandbox: `make demo` sets up and runs the demo, `make test` sets up and runs every check.
# Both create a local virtual environment in .venv (Python 3.11+) on first use.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Headless unless a screen is present: SDL's offscreen driver with Mesa EGL.
HEADLESS_ENV := $(if $(DISPLAY)$(WAYLAND_DISPLAY),,SDL_VIDEODRIVER=offscreen PYOPENGL_PLATFORM=egl)

.PHONY: demo test test-repeat lint typecheck pytest build sysdeps clean bench

$(STAMP): pyproject.toml setup.py $(wildcard gpi/cython_ext/*.pyx)
	@$(MAKE) --no-print-directory sysdeps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

build: $(STAMP)
	$(PY) setup.py --quiet build_ext --inplace

demo: $(STAMP)
	$(HEADLESS_ENV) $(VENV)/bin/gpi demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# In file order (-p no:randomly): a red `make test` reruns in the same order.
pytest: $(STAMP)
	SDL_VIDEODRIVER=offscreen PYOPENGL_PLATFORM=egl $(PY) -m pytest -q -p no:randomly

test: lint typecheck pytest

# The whole pytest suite three times in a row, each in a new shuffled order (pytest-randomly,
# a fresh seed per run, printed so a failing order can be rerun with --randomly-seed=N).
test-repeat: $(STAMP)
	@for i in 1 2 3; do \
	  seed=$$(od -An -N4 -tu4 /dev/urandom | tr -d ' '); start=$$(date +%s); \
	  echo "== test-repeat run $$i/3: --randomly-seed=$$seed"; \
	  SDL_VIDEODRIVER=offscreen PYOPENGL_PLATFORM=egl $(PY) -m pytest -q --randomly-seed=$$seed \
	    || { echo "== test-repeat run $$i/3 FAILED (--randomly-seed=$$seed)"; exit 1; }; \
	  echo "== test-repeat run $$i/3 passed in $$(( $$(date +%s) - start )) s (--randomly-seed=$$seed)"; \
	done

bench: $(STAMP)
	for b in benchmarks/*_bench.py; do $(PY) $$b --quick || exit 1; done

# System libraries the runtime loads: Mesa EGL/GL for headless OpenGL, libseccomp for the sandbox.
# Installed only when missing and only when we are root (CI and fresh machines).
sysdeps:
	@if ! ldconfig -p | grep -q libEGL_mesa || ! ldconfig -p | grep -q libseccomp.so.2 || ! ldconfig -p | grep -q 'libGL.so.1 '; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      libegl-mesa0 libegl1 libgl1 libgl1-mesa-dri libseccomp2 >/dev/null; \
	  else echo "missing Mesa EGL/GL or libseccomp: install libegl-mesa0 libgl1-mesa-dri libseccomp2"; fi; \
	fi
	@if ! command -v gcc >/dev/null 2>&1 || ! command -v cmake >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc cmake >/dev/null; \
	  else echo "missing gcc or cmake (native plugins and their tests need them): install gcc cmake"; fi; \
	fi

clean:
	rm -rf build $(VENV) *.egg-info gpi/cython_ext/*.c gpi/cython_ext/*.so
