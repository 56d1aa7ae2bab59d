# Sanad: `make run` opens the console chat over the seed articles; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint eval bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/sanad chat

test: $(VENV)/.installed-test
	$(BIN)/ruff check bot retrieval tests bench
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-test
	$(BIN)/ruff check bot retrieval tests bench

eval: $(VENV)/.installed
	$(BIN)/sanad eval ../shared/eval/arcd-train.json

bench: $(VENV)/.installed
	$(BIN)/python bench/benchmark.py

clean:
	rm -rf $(VENV) data .pytest_cache .hypothesis
