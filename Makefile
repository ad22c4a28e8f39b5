# Quick start: `make dev` runs everything locally; `make test` runs the whole test suite.
# Both create the local virtualenv (.venv) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test install lint bytecode

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The project's modules compiled ahead (skipped when up to date): processes then load them
# even where PYTHONDONTWRITEBYTECODE is set, and each workflow's sandbox, which imports its
# workflow module anew, does not compile it from source again.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q -j 0 -x '/\.(venv|data|git)/' .

dev: bytecode
	$(BIN)/agora-flow dev

test: bytecode
	scripts/ensure-system-packages
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
