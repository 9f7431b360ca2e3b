# Timebridge — build and test entry points (GNU make, bash).
#
#   make test        vet + race-enabled tests, integration tests against kumo
#   make kumo        (re)build the local AWS emulator bin/kumo
#   make help        list targets
#
# Integration tests start and stop kumo themselves (shared/kumotest); with
# AWS_ENDPOINT_URL set they use that emulator (e.g. LocalStack) instead.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
.SUFFIXES:
MAKEFLAGS += --no-builtin-rules

GO          ?= go
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
test: $(KUMO_BIN) vet ## go vet, then all tests with -race; integration tests must not skip
	TIMEBRIDGE_REQUIRE_KUMO=1 TIMEBRIDGE_KUMO_BIN=$(CURDIR)/$(KUMO_BIN) \
		$(GO) test -race -count=1 $(GOTESTFLAGS) ./...

.PHONY: vet
vet: ## go vet ./...
	$(GO) vet ./...

.PHONY: bench
bench: $(KUMO_BIN) ## 10,000-entry sync benchmark (10 ms latency) and the other benchmarks
	TIMEBRIDGE_REQUIRE_KUMO=1 TIMEBRIDGE_KUMO_BIN=$(CURDIR)/$(KUMO_BIN) \
		$(GO) test -run '^$$' -bench 'BenchmarkSync10k/latency=10ms' -benchtime=1x -benchmem ./shared/engine/

.PHONY: fmt
fmt: ## gofmt -s -w all Go files
	$(GOFMT) -s -w $(GO_FILES)

.PHONY: fmt-check
fmt-check: ## fail if any Go file is not gofmt'ed
	@out="$$($(GOFMT) -s -l $(GO_FILES))"; \
	if [[ -n "$$out" ]]; then echo "not gofmt'ed (run make fmt):"; echo "$$out"; exit 1; fi

.PHONY: tidy-check
tidy-check: ## fail if go.mod/go.sum of the app or of infra/kumo are not tidy
	$(GO) mod tidy -diff
	cd $(KUMO_MOD) && GOWORK=off $(GO) mod tidy -diff

# ---- housekeeping -------------------------------------------------------------

.PHONY: clean
clean: ## remove build outputs (bin/, .local/, coverage files)
	rm -rf $(BIN_DIR) .local
	rm -f coverage.out coverage.html cover.out *.coverprofile

# Later: `make dev` (local stack) and per-function `build-<LogicalId>`
# targets (SAM's makefile builder) go below.
