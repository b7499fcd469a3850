# rtfit — two commands on a fresh machine: `make run` (the main job) and `make test`.
# Both create .venv and install the project on first use (and again when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test lint catalog demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job: validate the bundled catalog, then start the service on SQLite with that catalog, a
# clearly labelled demo inventory (nodes demo-*) and this machine registered as its agent sees it.
run: $(STAMP)
	$(BIN)/rtfit catalog validate
	$(BIN)/rtfit serve --demo --host 127.0.0.1 --port $${RTFIT_PORT:-8000}

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest

demo: $(STAMP)
	examples/mnist-lite/run.sh

catalog: $(STAMP)
	$(BIN)/rtfit catalog validate

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
