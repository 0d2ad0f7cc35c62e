# orthanc-runtime: `make demo` runs Orthanc with the recipes, `make test` runs every test.
# Both install what they need on a fresh Debian 12 machine (as root): the Debian
# packages below, then a virtual environment in .venv with the project built in it.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# orthanc-python is the official plugin, which the benchmark compares with; python3-pil and
# python3-pydicom are what the seed's samples import in its interpreter (Debian's python);
# wrk drives the benchmark's real-workload scenario (thumbnails of large images); dcmtk's
# findscu, movescu and storescu drive the DICOM services' tests; the DICOMweb plugin is for
# tests/integration/test_official_api_scripts.py (a script's route over the plugin's).
# debootstrap and zstd make and cache the Debian 13 and unstable roots (tests/debian_root.py).
# postgresql and orthanc-postgresql: several Orthancs on one PostgreSQL index
# (tests/reliability/test_cluster_postgresql.py and benchmark P14 start a cluster of their own).
# chromium and chromium-driver: the operator page's browser test (tests/integration/
# test_operator_page.py), driven by selenium through /usr/bin/chromedriver.
DEBIAN_PACKAGES := orthanc orthanc-dev libboost1.81-dev nlohmann-json3-dev orthanc-python wrk dcmtk \
  python3-pil python3-pydicom python3-numpy orthanc-dicomweb debootstrap zstd python3.11-dev python3.11-venv \
  postgresql orthanc-postgresql chromium chromium-driver
NATIVE_SOURCES := $(wildcard orthanc_native/src/*) $(wildcard orthanc_native/codegen/*.py) CMakeLists.txt pyproject.toml config.schema.json

.PHONY: wheel install system demo demo-dask test lint docs soak bench clean codegen roots test-roots

install: $(STAMP)

system:
	@dpkg -s $(DEBIAN_PACKAGES) >/dev/null 2>&1 || { \
	  echo "Installing Debian packages: $(DEBIAN_PACKAGES)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_PACKAGES); }

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The build requirements come from pyproject.toml; the build runs without
# isolation so that the plugin embeds this venv's python.
$(STAMP): $(NATIVE_SOURCES) | system $(PY)
	$(PY) -m pip install -q $$($(PY) -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires']))")
	$(PY) -m pip install -q --no-build-isolation -e '.[test,dev,dask,docs,otel]'
	@touch $(STAMP)

# Regenerates the SDK layer from OrthancCPlugin.h (see orthanc_native/codegen): the
# bindings, runtime/sdk/calls.py and catalog.py, runtime/enums.py, the stubs; then the coverage
# table docs/compat.md (runtime.devkit.coverage: it imports the runtime, the generator does not).
codegen: install
	$(PY) -m pip install -q $$($(PY) -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['codegen']))")
	$(PY) -m orthanc_native.codegen
	$(PY) -m runtime.devkit.coverage

lint: install
	$(VENV)/bin/ruff check runtime pool recipes orthanc_native tests examples benchmarks docs
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

# The documentation site, in strict mode (a broken link or a page left out of the nav fails):
# mkdocs.yml, docs/; the site is build/site. Offline: no font or asset from the internet.
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir build/site

# Four test files at a time: most of a test waits for Orthanc servers, not for a core. Then
# the same project built and tested in the Debian 13 and unstable roots (test-roots), and the
# Debian 13 root's cp313 wheel tested in a copy of that root without build tools; the
# roots are made first, as a test of the main suite reads sid's SDK header.
test: install lint docs roots
	$(PY) -m pytest -q -n 4 --dist loadfile
	$(MAKE) --no-print-directory test-roots

# build/roots/<suite>: Debian roots made by debootstrap, cached as tarballs in
# $$ORTHANC_RUNTIME_ROOTS (default /var/cache/orthanc-runtime/roots) and rebuilt when the
# package list changes or after 3 days. `make test-roots SUITES=sid` tests one of them.
SUITES ?= trixie sid
roots: | system
	$(PYTHON) -m tests.debian_root make $(SUITES)

test-roots: roots
	$(PYTHON) -m tests.debian_root test $(SUITES)

# 20,000 mixed requests from 32 clients against a real Orthanc (a few minutes).
soak: install
	$(PY) -m pytest -q -s -m soak tests/reliability/test_soak.py

# Benchmarks side by side with the official Python plugin: about 12 minutes; prints the
# table and writes benchmarks/results/<date>_<time>.md and .json. BENCH_ARGS=--quick: a tiny run.
BENCH_ARGS ?=
bench: install
	$(PY) -m benchmarks.run $(BENCH_ARGS)

# Ctrl-C stops Orthanc cleanly: the CLI runs it in a session of its own and stops it with one
# signal. DEMO_ARGS: more arguments of `orthanc-runtime run` (--http-port 8043 --dicom-port 4243;
# 0 picks a free port): the CLI says before starting Orthanc when 8042 or 4242 is taken.
DEMO_ARGS ?=
demo: install
	$(VENV)/bin/orthanc-runtime run examples/demo.py --storage ./orthanc-data --config examples/demo.json $(DEMO_ARGS)

# The same demo with every offloaded handler on a Dask cluster: a scheduler and two workers
# started here on loopback (logs in orthanc-data/dask/), stopped with Orthanc (Ctrl-C). They run
# in sessions of their own (setsid), so that a Ctrl-C reaches the CLI only: the cluster stops
# once Orthanc has stopped (the trap), not under it.
DASK_PORT ?= 8786
DASK_DEMO := orthanc-data/dask
demo-dask: install
	@mkdir -p $(DASK_DEMO)
	@printf '{"PythonRuntime": {"Pool": {"Backend": "dask", "Dask": {"Scheduler": "tcp://127.0.0.1:%s"}}}}\n' \
	  $(DASK_PORT) > $(DASK_DEMO)/config.json
	@export DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION=1.0; \
	setsid $(VENV)/bin/dask scheduler --host 127.0.0.1 --port $(DASK_PORT) --no-dashboard --no-show \
	  > $(DASK_DEMO)/scheduler.log 2>&1 & pids=$$!; \
	for i in 1 2; do \
	  setsid $(VENV)/bin/dask worker tcp://127.0.0.1:$(DASK_PORT) --nthreads 1 --no-dashboard \
	    --local-directory $(DASK_DEMO) --name demo-$$i > $(DASK_DEMO)/worker$$i.log 2>&1 & pids="$$pids $$!"; \
	done; \
	trap 'kill $$pids 2>/dev/null; wait' EXIT INT TERM; \
	echo "Dask scheduler tcp://127.0.0.1:$(DASK_PORT) and 2 workers (pids $$pids); logs in $(DASK_DEMO)/"; \
	$(VENV)/bin/orthanc-runtime run examples/demo.py --storage ./orthanc-data --config $(DASK_DEMO)/config.json $(DEMO_ARGS)

# The portable wheels in dist/ (tests/wheel_build.py): cp311 for Debian 12's python3.11, built
# here; cp313 for Debian 13's python3, built in the trixie root (made first if missing:
# tests/debian_root.py). `make wheel WHEELS=cp313` builds one of them.
WHEELS ?= cp311 cp313
wheel: | system
	$(if $(filter cp311,$(WHEELS)),$(PYTHON) -m tests.wheel_build --python /usr/bin/python3.11 --out dist)
	$(if $(filter cp313,$(WHEELS)),$(PYTHON) -m tests.debian_root wheel trixie --out dist)

clean:
	rm -rf build $(VENV) orthanc-data
