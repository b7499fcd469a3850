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

run: $(STAMP)
	$(BIN)/rtfit catalog validate
	$(BIN)/rtfit catalog matrix --kind drivers
	$(BIN)/rtfit catalog matrix --kind builds --framework pytorch --latest 6

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest

demo: $(STAMP)
	examples/mnist-lite/run.sh

catalog: $(STAMP)
	$(BIN)/rtfit catalog validate

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
