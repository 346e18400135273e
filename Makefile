# The two commands of the README. Both build .venv from the pinned locks on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint migrate schema clean

$(BIN)/.runtime: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	touch $@

$(BIN)/.test: requirements-test.lock $(BIN)/.runtime
	$(BIN)/pip install --quiet -r requirements-test.lock
	touch $@

# `serve` applies the migrations before it listens.
run: $(BIN)/.runtime
	$(BIN)/python server.py serve

migrate: $(BIN)/.runtime
	$(BIN)/python server.py migrate

# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
define pytest
	$(BIN)/python -m pytest $(1); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; \
	exit $$status
endef

# Tortoise caches each model's SQL for the first database dialect a process uses, so the
# PostgreSQL tests run in a process of their own.
test: $(BIN)/.test
	$(call pytest,-m postgres)
	$(call pytest,-m "not postgres")

lint: $(BIN)/.test
	$(BIN)/ruff check .
	$(BIN)/mypy services models

# Rewrite schema.graphql from the code (tests/test_contract.py fails when they differ).
schema: $(BIN)/.runtime
	$(BIN)/python -c "from schema.build import build_schema; print(build_schema().as_str())" > schema.graphql

clean:
	rm -rf $(VENV)
