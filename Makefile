# Every target creates the virtualenv it runs in and installs what it needs, so a fresh
# clone works.  A stamp file per install set (core, bench, dev) records what a venv holds;
# it goes stale when pyproject.toml, the version or the engine pin changes.
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
PIP = $(BIN)/python -m pip install --quiet
# the transitions release the dev venv gets: the newest the project allows, unless pinned
# (test-min pins the lowest, read from pyproject.toml so it is written down once)
ENGINE ?= transitions
TRANSITIONS_MIN := $(shell sed -n 's/^ *"transitions>=\([0-9.]*\),.*/\1/p' pyproject.toml)
# the CPythons test-all looks for besides $(PY): pyenv's newest patch release, else PATH
PYTHONS ?= 3.10 3.11 3.12 3.13
PYENV_ROOT ?= $(HOME)/.pyenv
HASH := $(shell { cat pyproject.toml; grep '^__version__' journeyfsm/__init__.py; echo '$(ENGINE)'; } | cksum | cut -d' ' -f1)
CORE := $(VENV)/.installed-core-$(HASH)
BENCH := $(VENV)/.installed-bench-$(HASH)
DEV := $(VENV)/.installed-dev-$(HASH)
CHECKED := journeyfsm tests examples benchmarks .ci docs

.PHONY: test test-all test-min pytest lint typecheck generate demo bench bench-check clean chromium java docs

$(BIN)/python:
	$(PY) -m venv $(VENV)
	echo '*' > $(VENV)/.gitignore
	$(BIN)/python -m pip install --quiet --upgrade pip

# core: the library alone, as `pip install journeyfsm` gives it (all the demo needs)
$(CORE): $(BIN)/python
	$(PIP) -e .
	rm -f $(VENV)/.installed-core-*
	touch $@

# bench: the library and the contenders it is measured against
$(BENCH): $(BIN)/python
	$(PIP) -e '.[bench]'
	rm -f $(VENV)/.installed-bench-*
	touch $@

# dev: the project's own tools and everything its suite uses ([dev] holds [test,bench]);
# --upgrade $(ENGINE): the newest transitions allowed, or exactly the pinned one
$(DEV): $(BIN)/python
	$(PIP) --upgrade -e '.[dev]' '$(ENGINE)'
	rm -f $(VENV)/.installed-*
	touch $@ $(CORE) $(BENCH)

lint: $(DEV)
	$(BIN)/ruff check $(CHECKED)
	$(BIN)/ruff format --check $(CHECKED)

typecheck: $(DEV)
	$(BIN)/mypy --strict journeyfsm

# the sync twins written from their async sources (STYLE 15): service/_sync.py from
# _async.py, _tick.py from _tick_async.py, _store.py from _store_async.py;
# tests/test_generated.py fails while one is stale
generate: $(DEV)
	$(BIN)/python .ci/async_to_sync.py

# the HTML report's browser test (tests/test_report_browser.py) drives Debian's chromium
# through Playwright, which never downloads a browser of its own: install the package when
# /usr/bin/chromium is missing (as root, or through sudo)
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium: $(CHROMIUM)
$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || \
		{ $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# docs/replay.md's Spark recipe (tests/test_replay_spark.py) runs on a local Spark, which
# needs a Java runtime: install Debian's when there is no `java` (as root, or through sudo)
JAVA := $(or $(shell command -v java 2>/dev/null),/usr/bin/java)
java: $(JAVA)
$(JAVA):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y default-jre-headless || \
		{ $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y default-jre-headless; }

# the test suite alone, in $(VENV) with $(PY)
pytest: $(DEV) $(CHROMIUM) $(JAVA)
	$(BIN)/python -m pytest -n 2

# what a developer runs: lint, types and the suite, on the main interpreter
test: lint typecheck pytest

# the suite on the lowest transitions allowed (`test` runs it on the newest)
test-min:
	JOURNEYFSM_EXPECT_TRANSITIONS=$(TRANSITIONS_MIN) $(MAKE) --no-print-directory pytest \
		VENV=.venv-min ENGINE=transitions==$(TRANSITIONS_MIN)

# what CI runs: `test` and `test-min` on $(PY), then the suite under every other supported
# CPython present here, each in its own venv (.venv-3.12, ...); a missing one is reported
test-all: test test-min
	@main=$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])') || exit 1; \
	for v in $(PYTHONS); do \
		if [ "$$v" = "$$main" ]; then echo "test-all: Python $$v is $(PY): done above"; continue; fi; \
		py=$$(ls -d $(PYENV_ROOT)/versions/$$v.*/bin/python 2>/dev/null | sort -V | tail -n 1); \
		if [ -z "$$py" ] || ! "$$py" -c '' 2>/dev/null; then py=python$$v; fi; \
		if ! "$$py" -c '' 2>/dev/null; then echo "test-all: no Python $$v on this machine: skipped"; continue; fi; \
		echo "test-all: Python $$v ($$py)"; \
		$(MAKE) --no-print-directory pytest PY="$$py" VENV=.venv-$$v || exit 1; \
	done

# the documentation site (Sphinx + MyST + furo) into docs/_build/html: warnings are errors
# (a broken reference, a public name without a docstring), nothing is fetched;
# tests/test_docs.py runs the same build into a temporary directory
DOCS_OUT ?= docs/_build/html
docs: $(DEV)
	$(BIN)/python -m sphinx -b html -W --keep-going -n -q docs $(DOCS_OUT)

demo: $(CORE)
	$(BIN)/journeyfsm demo --report demo-report.html

bench: $(BENCH)
	$(BIN)/python benchmarks/run.py

# CI-safe benchmark smoke (~15 s): the issue-16 goals as ratios against the peers in one
# run, each gated at its goal relaxed by 1.5x; exits non-zero naming a missed ratio.
# Not part of `test`: the suite never asserts timing.
bench-check: $(BENCH)
	$(BIN)/python benchmarks/check.py

clean:
	rm -rf $(VENV) .venv-* build dist docs/_build .mypy_cache .pytest_cache .ruff_cache
