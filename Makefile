# `make demo` and `make test` work on a fresh machine: each creates .venv when it is
# missing and installs the project into it first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint format bench clean docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,docs,real-models]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/localglobal demo

# pytest exits 5 when it collected no tests; make would report that as a plain
# error 2, so it is named here.
test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	@status=0; $(BIN)/python -m pytest -q || status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; fi; \
	exit $$status

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks

bench: $(STAMP)
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache runs

# The documentation site under site/, built offline; the API pages come from the
# docstrings (mkdocstrings), the configuration keys from the configuration's model.
docs: $(STAMP)
	$(BIN)/python -c 'import mkdocs, mkdocstrings' 2>/dev/null || \
		$(BIN)/python -m pip install --quiet -e '.[docs]'
	$(BIN)/mkdocs build --strict
