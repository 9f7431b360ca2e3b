# Timebridge — build and test entry points (GNU make, bash).
#
#   make test        vet + race-enabled tests, integration tests against kumo
#   make kumo        (re)build the local AWS emulator bin/kumo
#   make help        list targets
#
# Integration tests start and stop kumo themselves (shared/testkit/kumotest); with
# AWS_ENDPOINT_URL set they use that emulator (e.g. LocalStack) instead.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
.SUFFIXES:
MAKEFLAGS += --no-builtin-rules

GO          ?= go
# The Go toolchain every build and test uses: the go command fetches it from
# the Go module proxy on first use (~76 MB, ~10 s). go1.27.3 because
# govulncheck finds 11 vulnerabilities in go1.26.8's net/http, crypto/tls,
# crypto/x509 and net/textproto that the functions reach (make vulncheck).
# go.mod's toolchain line says the same for machines with GOTOOLCHAIN=auto.
GOTOOLCHAIN ?= go1.27.3
export GOTOOLCHAIN
GOFMT       ?= gofmt
# Extra flags for go test, e.g. make test GOTESTFLAGS='-run TestLinks -v'.
GOTESTFLAGS ?=

BIN_DIR  := bin
KUMO_BIN := $(BIN_DIR)/kumo
KUMO_MOD := infra/kumo
KUMO_PKG := github.com/sivchari/kumo/cmd/kumo

# Go sources of the application module (not node_modules, not infra/kumo).
GO_FILES = $(shell find . -name '*.go' -not -path './web/*' -not -path './.local/*' -not -path './$(KUMO_MOD)/*')

.PHONY: help
help: ## list targets
	@grep -hE '^[a-zA-Z0-9_%-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

# ---- local AWS emulator ------------------------------------------------------

# kumo is pinned in infra/kumo (its own module, kumo as a tool dependency).
# Its go.sum is committed and complete, so the build needs no checksum-database
# lookups (two of kumo's dependencies are missing from sum.golang.org) and no
# GONOSUMDB. -mod=readonly makes a missing go.sum entry an error instead of a
# silent lookup.
define build_kumo
	@mkdir -p $(BIN_DIR)
	cd $(KUMO_MOD) && GOWORK=off $(GO) build -mod=readonly -o $(CURDIR)/$(KUMO_BIN) $(KUMO_PKG)
endef

.PHONY: kumo
kumo: ## (re)build bin/kumo from infra/kumo (cold: ~2-3 min)
	$(build_kumo)

# Built when missing or when the pin changes.
$(KUMO_BIN): $(KUMO_MOD)/go.mod $(KUMO_MOD)/go.sum
	$(build_kumo)

# ---- checks -------------------------------------------------------------------

.PHONY: test
test: $(KUMO_BIN) check web-test e2e ## the static checks (make check), the console's tests, the browser tests, then all Go tests with -race
	TIMEBRIDGE_REQUIRE_KUMO=1 TIMEBRIDGE_KUMO_BIN=$(CURDIR)/$(KUMO_BIN) \
		$(GO) test -race -count=1 $(GOTESTFLAGS) ./...

# LocalStack already running (kumo is neither built nor started), e.g.
#   docker run -d -p 4566:4566 localstack/localstack:4.14.0 && make test-localstack
# 4.14.0 is the last LocalStack release that starts without an auth token;
# newer images need LOCALSTACK_AUTH_TOKEN (docker run -e LOCALSTACK_AUTH_TOKEN=…).
# The tests wait for /_localstack/health (kumotest), so the container may
# still be starting. GOTESTFLAGS works as for make test.
LOCALSTACK_ENDPOINT ?= http://127.0.0.1:4566

.PHONY: test-localstack
test-localstack: ## all Go tests with -race against LocalStack already running at $(LOCALSTACK_ENDPOINT); tests that need kumo itself skip
	AWS_ENDPOINT_URL=$(LOCALSTACK_ENDPOINT) TIMEBRIDGE_REQUIRE_KUMO=1 TIMEBRIDGE_EMULATOR=localstack \
		$(GO) test -race -count=1 -timeout 30m $(GOTESTFLAGS) ./...

.PHONY: vet
vet: ## go vet ./...
	$(GO) vet ./...

.PHONY: bench
bench: $(KUMO_BIN) ## sync (10,000 entries), Kimai capacity, backfills, API list and summary latency, webhook ack, bootstrap start-up, load through the local stack
	TIMEBRIDGE_REQUIRE_KUMO=1 TIMEBRIDGE_KUMO_BIN=$(CURDIR)/$(KUMO_BIN) \
		$(GO) test -run '^$$' -bench 'BenchmarkSync10k/latency=10ms|BenchmarkBackfill20k|BenchmarkCapacity' -benchtime=1x -benchmem ./shared/engine/
	TIMEBRIDGE_REQUIRE_KUMO=1 TIMEBRIDGE_KUMO_BIN=$(CURDIR)/$(KUMO_BIN) \
		$(GO) test -run '^$$' -bench BenchmarkBackfill -benchtime 1x -timeout 60m ./shared/testkit/devstack/
	TIMEBRIDGE_REQUIRE_KUMO=1 TIMEBRIDGE_KUMO_BIN=$(CURDIR)/$(KUMO_BIN) \
		$(GO) test -run '^$$' -bench 'BenchmarkListLatency|BenchmarkSummaryLatency' -benchtime 500x ./shared/api/
	TIMEBRIDGE_REQUIRE_KUMO=1 TIMEBRIDGE_KUMO_BIN=$(CURDIR)/$(KUMO_BIN) \
		$(GO) test -run '^$$' -bench BenchmarkWebhook -benchtime 500x -benchmem ./shared/webhook/
	TIMEBRIDGE_REQUIRE_KUMO=1 TIMEBRIDGE_KUMO_BIN=$(CURDIR)/$(KUMO_BIN) \
		$(GO) test -run '^$$' -bench BenchmarkBootstrapStartup -benchtime 10x ./shared/testkit/devstack/
	TIMEBRIDGE_REQUIRE_KUMO=1 TIMEBRIDGE_KUMO_BIN=$(CURDIR)/$(KUMO_BIN) \
		$(GO) test -run '^$$' -bench BenchmarkLoad -benchtime 1x -timeout 30m ./shared/testkit/devstack/

# The check tools are pinned in infra/tools (its own module, each a tool
# dependency): staticcheck, govulncheck, and the vulnerability database,
# which is built from the OSV files of the golang.org/x/vulndb module that
# the Go module proxy serves, so govulncheck needs no access to vuln.go.dev
# and gives the same answer on every machine until the pin moves. Refresh it
# with
#   cd infra/tools && GOWORK=off go get golang.org/x/vulndb@latest && GOWORK=off go mod tidy
TOOLS_MOD := infra/tools
VULN_DB   := .local/vulndb
TOOLS     := $(BIN_DIR)/staticcheck $(BIN_DIR)/govulncheck $(BIN_DIR)/indexdb $(BIN_DIR)/actionlint

$(TOOLS) &: $(TOOLS_MOD)/go.mod $(TOOLS_MOD)/go.sum
	@mkdir -p $(BIN_DIR)
	cd $(TOOLS_MOD) && GOWORK=off $(GO) build -mod=readonly -o $(CURDIR)/$(BIN_DIR)/ \
		honnef.co/go/tools/cmd/staticcheck golang.org/x/vuln/cmd/govulncheck golang.org/x/vulndb/cmd/indexdb \
		github.com/rhysd/actionlint/cmd/actionlint

$(VULN_DB)/index/db.json: $(BIN_DIR)/indexdb $(TOOLS_MOD)/go.mod
	rm -rf $(VULN_DB)
	osv="$$(cd $(TOOLS_MOD) && GOWORK=off $(GO) list -mod=readonly -m -f '{{.Dir}}' golang.org/x/vulndb)/data/osv"; \
		$(BIN_DIR)/indexdb -vulns "$$osv" -out $(VULN_DB)

.PHONY: vulncheck
vulncheck: $(TOOLS) $(VULN_DB)/index/db.json ## govulncheck ./... against the pinned database (fails on a reachable vulnerability)
	@echo "govulncheck: database golang.org/x/vulndb $$(cd $(TOOLS_MOD) && GOWORK=off $(GO) list -mod=readonly -m -f '{{.Version}}' golang.org/x/vulndb), $$($(GO) env GOVERSION)"
	$(BIN_DIR)/govulncheck -db file://$(CURDIR)/$(VULN_DB) ./...

.PHONY: actionlint staticcheck
actionlint: $(TOOLS) ## actionlint of .github/workflows (pinned in infra/tools; shellcheck of run: scripts where shellcheck is installed)
	$(BIN_DIR)/actionlint

staticcheck: $(TOOLS) ## staticcheck ./... (pinned in infra/tools)
	$(BIN_DIR)/staticcheck ./...

.PHONY: check
check: fmt-check tidy-check vet staticcheck vulncheck actionlint web-audit ## every static check: gofmt, go mod tidy, go vet, staticcheck, govulncheck, actionlint, npm audit

.PHONY: web-audit
web-audit: web/node_modules/.package-lock.json ## npm audit --omit=dev --audit-level=high of the console (skipped, loudly, where the registry has no audit endpoint)
	cd web && node scripts/audit.mjs

.PHONY: fmt
fmt: ## gofmt -s -w all Go files
	$(GOFMT) -s -w $(GO_FILES)

.PHONY: fmt-check
fmt-check: ## fail if any Go file is not gofmt'ed
	@out="$$($(GOFMT) -s -l $(GO_FILES))"; \
	if [[ -n "$$out" ]]; then echo "not gofmt'ed (run make fmt):"; echo "$$out"; exit 1; fi

.PHONY: tidy-check
tidy-check: ## fail if go.mod/go.sum of the app, infra/kumo or infra/tools are not tidy
	$(GO) mod tidy -diff
	cd $(KUMO_MOD) && GOWORK=off $(GO) mod tidy -diff
	cd $(TOOLS_MOD) && GOWORK=off $(GO) mod tidy -diff

# ---- housekeeping -------------------------------------------------------------

.PHONY: clean
clean: ## remove build outputs (bin/, .local/, coverage files)
	rm -rf $(BIN_DIR) .local
	rm -f coverage.out coverage.html cover.out *.coverprofile

# ---- Lambda functions -----------------------------------------------------------

# functions/<dir> for each function of template.yaml (logical id
# <Dir>Function; infra/samtemplate's test keeps the two in step).
FUNCTIONS     := api webhook scheduler reconcile
FUNCTIONS_BIN := $(BIN_DIR)/functions
# lambda.norpc drops aws-lambda-go's legacy RPC entry point, which the
# provided.al2023 runtime never uses; -trimpath and -s -w make smaller,
# reproducible binaries. CGO_ENABLED=0: static, no libc dependency.
LAMBDA_BUILD  = CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w'

# SAM's makefile builder (template.yaml: BuildMethod makefile, CodeUri .)
# runs `make build-<LogicalId>` with ARTIFACTS_DIR set and zips
# $(ARTIFACTS_DIR)/bootstrap; linux/arm64 matches the template's
# Architectures.
define sam_build
	@test -n "$(ARTIFACTS_DIR)" || { echo "$@: ARTIFACTS_DIR is not set (sam build sets it)" >&2; exit 1; }
	GOOS=linux GOARCH=arm64 $(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/$(1)
endef

.PHONY: build-ApiFunction build-WebhookFunction build-SchedulerFunction build-ReconcileFunction
build-ApiFunction:
	$(call sam_build,api)
build-WebhookFunction:
	$(call sam_build,webhook)
build-SchedulerFunction:
	$(call sam_build,scheduler)
build-ReconcileFunction:
	$(call sam_build,reconcile)

# Always handed to go build, whose cache decides what is stale.
.PHONY: FORCE
FORCE:

$(FUNCTIONS_BIN)/%/bootstrap: FORCE
	$(LAMBDA_BUILD) -o $@ ./functions/$*

.PHONY: build
build: $(foreach f,$(FUNCTIONS),$(FUNCTIONS_BIN)/$(f)/bootstrap) ## build the four function binaries for this machine into bin/functions/<name>/bootstrap
	@echo "built for $$($(GO) env GOOS)/$$($(GO) env GOARCH) (sam build makes linux/arm64):"
	@for f in $(FUNCTIONS); do \
		bytes=$$(wc -c < $(FUNCTIONS_BIN)/$$f/bootstrap); \
		awk -v f="$$f" -v b="$$bytes" -v p="$(FUNCTIONS_BIN)/$$f/bootstrap" 'BEGIN { printf "  %-10s %5.1f MiB  %s\n", f, b / 1048576, p }'; \
	done

# ---- deploy ----------------------------------------------------------------------

# ENV names a samconfig.toml environment: default (stack timebridge-dev) or
# prod (timebridge-prod). ADMIN_PASSWORD=... sets the admin password: it is
# hashed here (bcrypt, shared/auth) and only the hash goes to CloudFormation;
# without it the first deploy generates a password into the admin secret and
# later deploys keep whatever is there (sam deploy reuses the previous
# AdminPasswordHash). make passes command-line variables to recipes in the
# environment, so the password never appears in a command line.
ENV ?= default

# $(call samconfig,<command>,<key>): a string value of [$(ENV).<command>.parameters].
samconfig = $(shell awk -v sect='[$(ENV).$(1).parameters]' -v key='$(2)' \
	'/^\[/ { in_sect = ($$0 == sect); next } \
	 in_sect && $$1 == key && $$2 == "=" { sub(/^[^=]*=[ \t]*"/, ""); sub(/"[ \t]*$$/, ""); print; exit }' samconfig.toml)

STACK_NAME = $(call samconfig,global,stack_name)

# Reads one output of the deployed stack.
stack_output = aws cloudformation describe-stacks --stack-name '$(STACK_NAME)' \
	--query "Stacks[0].Outputs[?OutputKey=='$(1)'].OutputValue" --output text

.PHONY: deploy
# SAM_DEPLOY_FLAGS are passed to sam deploy (the deploy workflow passes
# --no-confirm-changeset: its approval is the GitHub environment's reviewers).
SAM_DEPLOY_FLAGS ?=

.PHONY: stack-name
stack-name: ## print the stack name of ENV (default|prod) from samconfig.toml
	@test -n "$(STACK_NAME)" || { echo "ENV=$(ENV) is not an environment of samconfig.toml" >&2; exit 1; }
	@echo "$(STACK_NAME)"

deploy: ## sam build + sam deploy --config-env $(ENV) (default|prod), upload web/dist, invalidate CloudFront
	@command -v sam >/dev/null 2>&1 || { echo "make deploy: the AWS SAM CLI (sam) is not installed: https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html" >&2; exit 1; }
	@command -v aws >/dev/null 2>&1 || { echo "make deploy: the AWS CLI (aws) is not installed: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html" >&2; exit 1; }
	@test -n "$(STACK_NAME)" || { echo "make deploy: ENV=$(ENV) is not an environment of samconfig.toml (use ENV=default or ENV=prod)" >&2; exit 1; }
	sam build --config-env $(ENV)
	@if [[ -n "$${ADMIN_PASSWORD:-}" ]]; then \
		hash="$$($(GO) run ./infra/samtemplate/adminhash)"; \
		echo "sam deploy --config-env $(ENV) (with a new admin password hash)"; \
		sam deploy --config-env $(ENV) $(SAM_DEPLOY_FLAGS) --parameter-overrides $(call samconfig,deploy,parameter_overrides) "AdminPasswordHash=$$hash"; \
	else \
		echo "sam deploy --config-env $(ENV) $(SAM_DEPLOY_FLAGS)"; \
		sam deploy --config-env $(ENV) $(SAM_DEPLOY_FLAGS); \
	fi
	@bucket="$$($(call stack_output,SpaBucketName))"; dist="$$($(call stack_output,DistributionId))"; \
	if [[ -f web/dist/index.html ]]; then \
		aws s3 sync web/dist "s3://$$bucket" --delete --only-show-errors && \
		aws cloudfront create-invalidation --distribution-id "$$dist" --paths '/*' --query Invalidation.Id --output text >/dev/null && \
		echo "uploaded web/dist to s3://$$bucket, invalidated CloudFront $$dist"; \
	else \
		echo "make deploy: web/dist/index.html not found: the admin UI was not uploaded (build web/ first, then run make deploy again)" >&2; \
	fi
	@echo; echo "Timebridge ($(STACK_NAME)): $$($(call stack_output,AppUrl))"; \
	echo "Zammad webhook: $$($(call stack_output,WebhookUrlPattern))"; \
	echo "First login: user $$($(call stack_output,AdminUsername)); unless you deployed with ADMIN_PASSWORD=..., the generated password is in"; \
	echo "  aws secretsmanager get-secret-value --secret-id '$$($(call stack_output,AdminSecretArn))' --query SecretString --output text"

# ---- web console (web/) and its browser tests (web/e2e/) -------------------------

# Debian's chromium, which playwright-core drives (never a downloaded browser).
CHROMIUM ?= /usr/bin/chromium

# npm ci runs once per change of the lockfile, not once per target.
web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund

.PHONY: web-build
web-build: web/node_modules/.package-lock.json ## production build of the console into web/dist
	cd web && npm run build

.PHONY: web-test
web-test: web/node_modules/.package-lock.json ## the console's unit/component tests (Vitest) and API drift check
	cd web && npm test

.PHONY: chromium
chromium: ## install Debian's chromium (apt, as root) when $(CHROMIUM) is missing; not root: says so and skips
	@if [[ -x "$(CHROMIUM)" ]]; then echo "chromium: $$($(CHROMIUM) --version 2>/dev/null | head -1)"; \
	elif [[ "$$(id -u)" == 0 ]]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	else echo "make chromium: $(CHROMIUM) is missing; not root, so the install is skipped (sudo apt-get update && sudo apt-get install -y chromium); the browser tests will report it" >&2; fi

.PHONY: e2e
e2e: $(KUMO_BIN) chromium web-build ## browser tests: the admin scenario in chromium against the local stack (screenshots in web/e2e/artifacts)
	cd web/e2e && npm ci --no-audit --no-fund && CHROMIUM_PATH=$(CHROMIUM) npm test

# ---- local stack ----------------------------------------------------------------

.PHONY: dev
dev: $(KUMO_BIN) web-build ## the whole product on 127.0.0.1:8080 (kumo, the four functions, demo Zammad and Kimai); Ctrl-C stops it
	$(GO) run ./infra/dev -root . -data .local/kumo

.PHONY: dev-reset
dev-reset: ## forget the local stack's state (kumo data in .local/kumo)
	rm -rf .local/kumo
