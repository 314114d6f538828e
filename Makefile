# The two commands of the README: `make verify` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install verify test test-fast lint bench clean

install: $(STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install only when the declared dependencies change.
$(STAMP): setup.cfg pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e ".[all]"
	touch $(STAMP)

verify: install
	$(BIN)/metalora verify --profile quick

test: install lint
	$(BIN)/python -m pytest -q -p no:cacheprovider --hypothesis-profile=ci

lint: install
	$(BIN)/ruff check .

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" --hypothesis-profile=ci

bench: install
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) results build *.egg-info
