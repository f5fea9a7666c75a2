# `make demo` and `make test` work on a fresh machine: they create .venv and install loopviz.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint format bench bench-all stdlib clean

$(BIN)/loopviz: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

demo: $(BIN)/loopviz
	$(BIN)/loopviz step -o demo.lvtrace examples/hello.py

# Lint once, then the suite (and CPython's asyncio tests under the recorder) on every
# Python 3.11+ that pyenv provides (or python3 alone where there is no pyenv), and on 3.14 and
# 3.15 from ../shared/tools/sid-python once its root is set up (.ci/run does that); a table at
# the end says how each went. Each test has a time limit, and so does each Python's whole run.
test: $(BIN)/loopviz
	$(BIN)/ruff check visualizer tests benchmarks scripts examples
	$(BIN)/ruff format --check visualizer tests benchmarks scripts examples
	bash scripts/test-all-pythons.sh

lint: $(BIN)/loopviz
	$(BIN)/ruff check visualizer tests benchmarks scripts examples

format: $(BIN)/loopviz
	$(BIN)/ruff format visualizer tests benchmarks scripts examples
	$(BIN)/ruff check --fix visualizer tests benchmarks scripts examples

bench: $(BIN)/loopviz
	$(BIN)/python benchmarks/sleep0.py
	$(BIN)/python benchmarks/echo.py
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/reader.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/open.py
	$(BIN)/python benchmarks/table.py
	$(BIN)/python benchmarks/tasks_view.py
	$(BIN)/python benchmarks/timeline.py
	$(BIN)/python benchmarks/live.py

# The recorder's budgets (storm, echo, start-up: wall and callgrind instruction ratios) on every
# Python here, 3.14/3.15 in the sid root included; one table at the end (about 10 min a Python).
bench-all: $(BIN)/loopviz
	bash benchmarks/all_pythons.sh

stdlib: $(BIN)/loopviz
	$(BIN)/python scripts/stdlib_asyncio.py

clean:
	rm -rf $(VENV) .venvs .pytest_cache .ruff_cache .hypothesis demo.lvtrace
