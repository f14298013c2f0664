# Two commands do all the set-up: `make chat` (the main job) and `make test` (the test suite).
# Both create or reuse the virtual environment in .venv and install what they need. `make test` also
# type-checks charbot/ (mypy) and builds the docs site (mkdocs, into build/site).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: chat test bench install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

chat: $(STAMP)
	@$(BIN)/charbot chat

test: $(STAMP)
	$(BIN)/mypy  # the type check (settings in pyproject.toml)
	$(BIN)/mkdocs build --strict --quiet  # the docs site: a broken link or anchor fails
	$(BIN)/python -m pytest -q -n auto --dist loadfile --no-loadscope-reorder  # a worker per core (pytest-xdist); a file stays in one, so module fixtures are built once; longest files first (tests/conftest.py)

bench: $(STAMP)
	$(BIN)/python bench/generate_speed.py
	$(BIN)/python bench/train_speed.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/litert_chunk.py

clean:
	rm -rf $(VENV) build dist *.egg-info
