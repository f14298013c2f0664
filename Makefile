# Two commands do all the set-up: `make chat` (the main job) and `make test` (the test suite).
# Both create or reuse the virtual environment in .venv and install what they need: `make chat` the light
# install (the chat runs on LiteRT, without TensorFlow), `make test` everything (`.[train,test]`). `make test`
# also type-checks charbot/ (mypy) and builds the docs site (mkdocs, into build/site).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CKSUM := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
LIGHT := $(VENV)/.light-$(CKSUM)
FULL := $(VENV)/.full-$(CKSUM)

.PHONY: chat test bench install clean

$(LIGHT): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -f $(FULL) || $(BIN)/python -m pip install --quiet --no-compile -e .  # --no-compile: a module is compiled when first imported, and the chat imports few
	@rm -f $(VENV)/.light-*
	@touch $@

$(FULL): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[train,test]'
	@rm -f $(VENV)/.light-* $(VENV)/.full-* $(VENV)/.installed-*
	@touch $@ $(LIGHT)

install: $(FULL)

chat: $(LIGHT)
	@$(BIN)/charbot chat

test: $(FULL)
	$(BIN)/mypy  # the type check (settings in pyproject.toml)
	$(BIN)/mkdocs build --strict --quiet  # the docs site: a broken link or anchor fails
	$(BIN)/python -m pytest -q -n auto --dist loadfile --no-loadscope-reorder  # a worker per core (pytest-xdist); a file stays in one, so module fixtures are built once; longest files first (tests/conftest.py)

bench: $(FULL)
	$(BIN)/python bench/generate_speed.py
	$(BIN)/python bench/train_speed.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/litert_chunk.py

clean:
	rm -rf $(VENV) build dist *.egg-info
