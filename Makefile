# The two commands of the README. Both build .venv from the pinned locks on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint migrate schema clean vendor

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

# Tortoise caches each model's SQL for the first database dialect a process uses, so each
# pass is a process of its own: the PostgreSQL race tests, the suite on SQLite, then (when
# TEST_POSTGRES_URL is set) the same suite with each test on a fresh PostgreSQL database,
# less the tests that use SQLite itself (marker sqlite_only).
test: $(BIN)/.test
	$(call pytest,-m postgres)
	TEST_DATABASE=sqlite $(call pytest,-m "not postgres")
	@if [ -z "$$TEST_POSTGRES_URL" ]; then \
		echo "TEST_POSTGRES_URL is not set: the suite's PostgreSQL pass is skipped"; exit 0; \
	fi; \
	echo "The suite on PostgreSQL (TEST_DATABASE=postgres)"; \
	TEST_DATABASE=postgres $(call pytest,-m "not postgres and not sqlite_only")

# Style, types (mypy strict on every module outside tests/, as pyproject says) and the one
# direction of imports (import-linter's contracts in pyproject.toml).
lint: $(BIN)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Rewrite schema.graphql from the code (tests/test_contract.py fails when they differ).
schema: $(BIN)/.runtime
	$(BIN)/python -c "from schema.build import build_schema; print(build_schema().as_str())" > schema.graphql

clean:
	rm -rf $(VENV)

# Protocol conformance: the npm graphql-http audits and the graphql-ws client against a real
# server on a free port with a temporary SQLite database (conformance/run.py).
conformance/node_modules/.package-lock.json: conformance/package-lock.json
	cd conformance && npm ci --no-audit --no-fund

.PHONY: conformance
conformance: $(BIN)/.test conformance/node_modules/.package-lock.json
	$(BIN)/python conformance/run.py

# The web client's trusted documents (TRUSTED_DOCUMENTS): rewrite the manifest of every operation
# it sends after changing one; `make conformance` fails while the manifest lacks one.
.PHONY: webclient-manifest
webclient-manifest: conformance/node_modules/.package-lock.json
	cd conformance && node manifest.mjs --write

# --- Web client and GraphiQL ---
# Rebuild webclient/static/vendor/ (GraphiQL, React, graphql-ws and their licences) from
# webclient/package-lock.json; commit the result. tests/test_graphiql_browser.py checks it matches.
vendor:
	cd webclient && npm ci --no-audit --no-fund && node vendor.mjs

# --- Fuzzing: schemathesis against a real server with a session, then the property tests of
# request shapes with more examples. schemathesis sends JSON only, so it cannot put a file in
# an Upload field (nor a file where a value goes): tests/test_input_shapes.py does, with
# multipart requests of any shape, and both WebSocket protocols' messages. Both fail on a
# 5xx, a masked error or a traceback in the server's log. About 2 minutes: 90 s of
# schemathesis (on SQLite, or half of it on a scratch PostgreSQL database when
# TEST_POSTGRES_URL is set), then the shapes.
FUZZ_SHAPES_EXAMPLES ?= 300
.PHONY: fuzz
fuzz: $(BIN)/.test
	@if [ -z "$$TEST_POSTGRES_URL" ]; then \
		$(BIN)/python tests/fuzz/schemathesis_run.py --budget 90; \
	else \
		$(BIN)/python tests/fuzz/schemathesis_run.py --budget 45 && \
		$(BIN)/python tests/fuzz/schemathesis_run.py --budget 45 --postgres "$$TEST_POSTGRES_URL"; \
	fi
	INPUT_SHAPES_EXAMPLES=$(FUZZ_SHAPES_EXAMPLES) TEST_DATABASE=sqlite \
		$(call pytest,-q -p no:cacheprovider tests/test_input_shapes.py -k "any_")

# --- Mutation testing of the security services (docs/mutation-testing.md): mutmut mutates the
# modules of pyproject's [tool.mutmut] in mutants/ and runs, for each mutant, the tests that
# call its function; then tests/mutation_report.py prints per module what was caught and fails
# under 95 % or on a survivor docs/mutation-equivalents.md does not list. Tens of minutes on 2
# cores, so it is in neither `make test` nor .ci/run. One module or a few:
#   make mutation MODULES="services/totp.py services/throttle.py"
# Every mutant of the modules is run again (mutmut would otherwise keep its last verdicts,
# even for survivors that a new test kills).
MODULES ?=
MUTATION_JOBS ?= 2
MUTANT_GLOBS = $(if $(strip $(MODULES)),$(patsubst %.py,%.*,$(subst /,.,$(MODULES))),services.*)
.PHONY: mutation
mutation: $(BIN)/.test
	TEST_DATABASE=sqlite VERROU_TEMPLATE_CACHE=$(CURDIR)/mutants/.template-cache \
		nice -n 10 $(BIN)/mutmut run --max-children $(MUTATION_JOBS) \
		$(foreach glob,$(MUTANT_GLOBS),'$(glob)')
	$(BIN)/python tests/mutation_report.py $(MODULES)
