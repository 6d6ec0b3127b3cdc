# The single entry point for people and CI: `make serve`, `make test`, `make build`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.13
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# sam build finds python3.13 (and the layer's Makefile finds python3) in the venv first.
export PATH := $(abspath $(BIN)):$(PATH)
export SAM_CLI_TELEMETRY := 0

PYTEST_ARGS ?=
# make train: the model's cut-off (default: training's DEFAULT_THRESHOLD, the seed's); metadata.json records it and
# make publish pins it, so the deployed function applies it (docs/model.md).
THRESHOLD ?=
# make serve: ports and artifacts can be overridden, e.g. `make serve API_PORT=3001`.
API_PORT ?= 3000
ENDPOINT_PORT ?= 8080
S3_PORT ?= 5000
ARTIFACTS ?= artifacts
# Optional for make serve: API_KEY (requires x-api-key), CORS_ORIGIN (one allowed browser origin),
# NO_SWAGGER=1 and THROTTLE=1 (enforce the template's stage throttling).
API_KEY ?=
CORS_ORIGIN ?=
NO_SWAGGER ?=
THROTTLE ?=
# Optional fault injection for make serve (see `python -m churn_local.stack.serve --help`): e.g. ENDPOINT_FAULT=hang.
ENDPOINT_FAULT ?=
S3_FAULT ?=
# Function environments for make serve: two processes side by side, as Lambda runs concurrent requests (over 500
# requests/s at 32 connections when both CPUs are free; see make bench-local); ENVIRONMENTS=1 runs the handler in
# the stack's own process.
ENVIRONMENTS ?= 2
# make bench-local: the commit the local stack is compared with.
BASELINE ?= main
NODE_STAMP := node_modules/.installed-stamp
# checkov lives in its own venv: it pins boto3 and other packages far from constraints.txt (see requirements-checkov.txt).
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-stamp
MINISTACK_VENV := .venv-ministack
MINISTACK_STAMP := $(MINISTACK_VENV)/.installed-stamp
# make publish / make deploy: BUCKET is required for publish. Publish saves the parameters for samconfig.toml's
# SAMCONFIG_ENV environment in .churn-api/deploy.toml (per user, git-ignored), which make deploy checks against
# artifacts/ and deploys with that environment's settings; DRY_RUN=1 prints the sam commands instead.
BUCKET ?=
PREFIX ?= churn-api
ENDPOINT_NAME ?= churn-xgboost
SAMCONFIG_ENV ?= default
DRY_RUN ?=

.PHONY: checkov publish deploy images score bench-bulk drift
.PHONY: sam-local lambda-image dockerd dockerd-stop bench-sam-local ministack deploy-emulated undeploy-emulated e2e
.PHONY: help venv node lint format test test-unit test-functional test-template test-integration build validate train serve postman openapi bench bench-local load clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.txt constraints.txt src/requirements.txt layer/requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 13) else "churn-api needs Python 3.13 (the Lambda runtime); set PYTHON=/path/to/python3.13")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

venv: $(STAMP) ## Create .venv (Python 3.13) and install everything

# newman, pinned by package-lock.json, runs the Postman collection; without npm those tests skip (and fail in CI).
$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the Postman (newman) tests will be skipped (apt-get install nodejs npm)"; fi

node: $(NODE_STAMP) ## Install newman (npm ci) for the Postman collection tests

$(CHECKOV_STAMP): requirements-checkov.txt constraints-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt -c constraints-checkov.txt
	touch $@

checkov: $(CHECKOV_STAMP) ## Install checkov into its own venv (.venv-checkov) for the template tests

# MiniStack lives in its own venv too: it pins botocore far from constraints.txt (see requirements-ministack.txt).
$(MINISTACK_STAMP): requirements-ministack.txt constraints-ministack.txt
	test -x $(MINISTACK_VENV)/bin/python || $(PYTHON) -m venv $(MINISTACK_VENV)
	$(MINISTACK_VENV)/bin/python -m pip install --quiet -r requirements-ministack.txt -c constraints-ministack.txt
	touch $@

ministack: $(MINISTACK_STAMP) ## Install MiniStack, the AWS emulator, into its own venv (.venv-ministack)

lint: $(STAMP) ## Ruff (lint + format check), mypy (strict) and cfn-lint: what pre-commit and CI run
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint $(NODE_STAMP) $(CHECKOV_STAMP) $(MINISTACK_STAMP) ## Lint, then every test: unit ... end-to-end (emulated deploy)
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: $(STAMP) ## Unit tests only (no I/O)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-functional: $(STAMP) ## Functional tests (AWS faked with moto / Stubber)
	$(BIN)/pytest tests/functional $(PYTEST_ARGS)

test-template: $(STAMP) $(CHECKOV_STAMP) ## Template tests (sam validate --lint, offline expansion, sam build size)
	$(BIN)/pytest tests/template $(PYTEST_ARGS)

test-integration: $(STAMP) $(NODE_STAMP) ## Integration tests against the local stack over real HTTP
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

serve: $(STAMP) ## Run the whole stack locally (trains first if artifacts/ is missing); Ctrl-C stops it
	$(if $(API_KEY),CHURN_API_KEY=$(API_KEY)) $(BIN)/python -m churn_local.stack.serve --artifacts $(ARTIFACTS) \
	  --api-port $(API_PORT) --endpoint-port $(ENDPOINT_PORT) --s3-port $(S3_PORT) \
	  $(if $(CORS_ORIGIN),--cors-origin $(CORS_ORIGIN)) $(if $(NO_SWAGGER),--no-swagger) $(if $(THROTTLE),--throttle) \
	  $(if $(ENDPOINT_FAULT),--endpoint-fault $(ENDPOINT_FAULT)) $(if $(S3_FAULT),--s3-fault $(S3_FAULT)) \
	  $(if $(ENVIRONMENTS),--environments $(ENVIRONMENTS))

postman: $(NODE_STAMP) ## Run the Postman collection against `make serve API_KEY=local-dev-key-churn-api CORS_ORIGIN=http://localhost:5173`
	node_modules/.bin/newman run postman/churn-api.postman_collection.json -e postman/local.postman_environment.json \
	  --env-var baseUrl=http://127.0.0.1:$(API_PORT)

train: $(STAMP) ## Train the model on data/churn.txt into artifacts/ (THRESHOLD=0.5: the cut-off that travels with it)
	$(BIN)/python -m churn_local.training.train --out $(ARTIFACTS) $(if $(THRESHOLD),--threshold $(THRESHOLD))

openapi: $(STAMP) ## Regenerate docs/openapi.json from the handler and the model in artifacts/ (trained if missing)
	$(BIN)/python -m churn_local.openapi --artifacts $(ARTIFACTS)

bench: $(STAMP) ## Benchmarks side by side: warm path, cold start, layer size, local stack (docs/performance.md)
	$(BIN)/python -m benchmarks --environments $(or $(ENVIRONMENTS),1) $(if $(RECORD),--record)

load: $(STAMP) ## Load test (locust, 32 clients, 30 s) against a running `make serve`; every score checked
	$(BIN)/python -m benchmarks.load --api http://127.0.0.1:$(API_PORT) --artifacts $(ARTIFACTS)

bench-local: $(STAMP) ## The local stack over HTTP (32 connections, a batch of 1,000), side by side with BASELINE
	$(BIN)/python -m benchmarks.stack_versus --baseline $(BASELINE) --environments $(or $(ENVIRONMENTS),1)

# make score: IN and OUT are required; FROM_ENV=1 scores with the function's variables from the environment (a deployed
# model) instead of the stack `make serve` runs on S3_PORT and ENDPOINT_PORT.
IN ?=
OUT ?=
FROM_ENV ?=
score: $(STAMP) ## Score a whole CSV or JSON Lines file (IN=path OUT=path) as /predict/batch would; rerun to resume
	@test -n "$(IN)" -a -n "$(OUT)" || { echo "usage: make score IN=customers.csv OUT=scored.csv [FROM_ENV=1]"; exit 2; }
	$(BIN)/python -m churn_local.bulk.score "$(IN)" "$(OUT)" \
	  $(if $(FROM_ENV),--from-environment,--artifacts $(ARTIFACTS) --s3-url http://127.0.0.1:$(S3_PORT) --endpoint-url http://127.0.0.1:$(ENDPOINT_PORT))

# make drift: IN is required (customers, or make score's output); DRIFT_PSI is the PSI over which it exits 1.
DRIFT_PSI ?= 0.2
drift: $(STAMP) ## Compare IN=customers.csv (or make score's output) with the model's baseline: PSI table, PNG report
	@test -n "$(IN)" || { echo "usage: make drift IN=customers.csv [ARTIFACTS=artifacts] [DRIFT_PSI=0.2]"; exit 2; }
	$(BIN)/python -m churn_local.drift.check "$(IN)" --artifacts $(ARTIFACTS) --alarm-psi $(DRIFT_PSI)

bench-bulk: $(STAMP) ## Bulk scoring's rows/s and peak memory on the local stack: 5,000 rows and a generated 1,000,000 (ROWS=...)
	$(BIN)/python -m benchmarks.bulk --rows $(or $(ROWS),1000000)

validate: $(STAMP) ## sam validate --lint (no credentials needed)
	$(BIN)/sam validate --lint --region us-east-1

build: $(STAMP) ## sam build: the function and the scikit-learn layer into .aws-sam/
	$(BIN)/sam build

images: $(STAMP) ## Regenerate template.yaml's XGBoost image mapping from data/reference
	$(BIN)/python -m churn_local.template.images --write

publish: $(STAMP) ## Upload artifacts/ to s3://BUCKET/PREFIX/<sha256>/ (never overwrites) and print the deploy parameters
	@test -n "$(BUCKET)" || { echo "usage: make publish BUCKET=my-bucket [PREFIX=churn-api] [SAMCONFIG_ENV=default]"; exit 2; }
	$(BIN)/python -m churn_local.release.publish --artifacts $(ARTIFACTS) --bucket $(BUCKET) --prefix $(PREFIX) \
	  --endpoint-name $(ENDPOINT_NAME) --config-env $(SAMCONFIG_ENV)

deploy: $(STAMP) ## Check the published pins against artifacts/ and S3, then sam build + sam deploy (SAMCONFIG_ENV)
	$(BIN)/python -m churn_local.release.deploy --config-env $(SAMCONFIG_ENV) --artifacts $(ARTIFACTS) \
	  $(if $(DRY_RUN),--dry-run)

# make sam-local: sam local start-api's port (0 = a free one, printed).
SAM_LOCAL_PORT ?= 0

dockerd: $(STAMP) ## Start this machine's dockerd for sam local unless one answers (no NAT, no forwarding); as root
	$(BIN)/python -m churn_local.containers.dockerd start

dockerd-stop: $(STAMP) ## Stop the dockerd that make dockerd started (never another)
	$(BIN)/python -m churn_local.containers.dockerd stop

lambda-image: dockerd ## Build the Lambda python3.13 image for sam local from Debian and PyPI, unless its tag exists
	$(BIN)/python -m churn_local.containers.lambda_image

sam-local: lambda-image ## sam build, then sam local start-api in containers in front of the local stack
	$(BIN)/sam build
	$(BIN)/python -m churn_local.containers.sam_local --port $(SAM_LOCAL_PORT) --artifacts $(ARTIFACTS)

# make deploy-emulated: the engine's port, the stack's name and extra template parameters (PARAMETERS="A=1 B=2").
EMULATOR_PORT ?= 4566
STACK ?=
PARAMETERS ?=
# make e2e: STACK (a deployed stack, AWS_SAM_STACK_NAME) or URL (make serve, make sam-local); EMULATED=1 reaches
# the stack in the engine make deploy-emulated started.
URL ?=
EMULATED ?=

deploy-emulated: lambda-image ministack ## sam deploy into MiniStack on this machine (STACK, PARAMETERS); prints the URL
	@test -f $(ARTIFACTS)/metadata.json || $(MAKE) --no-print-directory train
	$(BIN)/python -m churn_local.emulator.deploy up --port $(EMULATOR_PORT) --artifacts $(ARTIFACTS) \
	  $(if $(STACK),--stack $(STACK)) $(foreach p,$(PARAMETERS),--parameter $(p))

undeploy-emulated: $(STAMP) ## sam delete what deploy-emulated deployed, then stop the engine and the endpoint (by pid)
	$(BIN)/python -m churn_local.emulator.deploy down

e2e: $(STAMP) ## End-to-end tests against a deployed stack (STACK=name [EMULATED=1]) or a running API (URL=...)
	@test -n "$(STACK)$(URL)" || { echo "usage: make e2e STACK=churn-api [EMULATED=1] | make e2e URL=http://127.0.0.1:3000"; exit 2; }
	$(if $(EMULATED),$(BIN)/python -m churn_local.emulator.deploy exec --) env \
	  $(if $(STACK),AWS_SAM_STACK_NAME=$(STACK)) $(if $(URL),CHURN_E2E_URL=$(URL)) $(BIN)/pytest tests/e2e $(PYTEST_ARGS)

bench-sam-local: lambda-image ## make serve and make sam-local side by side: time to first answer, requests/s
	$(BIN)/python -m benchmarks.sam_local

clean: ## Remove build output and caches (keeps .venv and artifacts/)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
