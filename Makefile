# Every target creates .venv and installs what it needs, so a fresh clone works.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: test demo bench lint typecheck clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check journeyfsm tests examples benchmarks
	$(BIN)/ruff format --check journeyfsm tests examples benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict journeyfsm

test: lint typecheck
	$(BIN)/python -m pytest -n 2

demo: $(STAMP)
	$(BIN)/journeyfsm demo

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache
