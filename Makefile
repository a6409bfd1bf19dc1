# The two commands of the README:
#   make demo   set up a virtual environment and run the demo on the shipped CTCF peaks
#   make test   set up the same environment (with test extras) and run the whole test suite
#
# torch is installed first, pinned (TORCH=...), because an open range would pull a
# multi-GB CUDA build on a CPU machine; the package itself accepts torch >= 2.3.

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
PYTEST_ARGS ?=

.PHONY: demo test test-fast venv browser clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e ".[test,pipeline,bench]"
	$(PIP) install -q --no-deps "zennit==0.5.1"
	# bpnet-lite for the [bpnet] extra's tests, without its training tool chain (MACS3, modisco, bam2bw):
	# importing it needs h5py (core) and tangermeme, pandas (from [bench])
	$(PIP) install -q --no-deps "bpnet-lite==1.1.0"
	# compile memelite's TOMTOM once (numba caches it in the venv), so the first demo is not slowed
	$(PY) -c "from sparselrp.motifs.jaspar import precompile; precompile()"
	touch $@

venv: $(VENV)/.installed

# Headless Chromium renders the HTML report in one test (Debian's package).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found: the report-rendering test will be skipped"; fi; }

demo: venv
	$(VENV)/bin/sparselrp demo -o sparselrp_demo

test: venv browser
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

# Skip the slow end-to-end runs while developing.
test-fast: venv
	$(PY) -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) sparselrp_demo .pytest_cache
