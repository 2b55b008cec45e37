# Offload — make help lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/offload
PKG   := ./handler
DIST  := dist
ZIP   := offload-functionapp.zip
GOFLAGS_BUILD := -trimpath -ldflags="-s -w"
TESTFLAGS ?= -race

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: node_modules/.package-lock.json ## install Azurite (npm ci) and Go modules
	$(GO) mod download

build: ## build bin/offload from handler/
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN) $(PKG)

# The dashboard's browser test needs Chromium: Debian's package, installed
# here when missing (as root, as CI runs; elsewhere the test says it skipped).
browser: ## install Debian's chromium for the dashboard's browser test, if missing
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
		echo "make browser: chromium is not installed and cannot be installed here: the dashboard's browser test will skip"; }

test: deps browser ## vet, unit and integration tests (Azurite + embedded SQLite, Chromium for the dashboard), under the race detector (TESTFLAGS= without)
	$(GO) vet ./...
	$(GO) test $(TESTFLAGS) -count=1 -timeout 45m ./...

test-mssql: deps ## every T-SQL suite (tests named *OnTSQL) against MSSQL_TEST_DSN; says what it skipped without one
	scripts/test-mssql.sh

run: deps build ## the whole local job: Azurite + demo catalog when nothing is configured
	@test -f local.settings.json || { cp local.settings.json.example local.settings.json && echo "wrote local.settings.json from the example (the commands read it, as func start does)"; }
	$(BIN) run $(RUN_ARGS)

bench: deps ## benchmarks as a table of medians of BENCH_COUNT (3) runs (OFFLOAD_BENCH_SCALE=full for the issue sizes)
	$(GO) run ./tools/benchtable -count $${BENCH_COUNT:-3}

chaos: deps ## long reliability runs (full demo set, 24 SIGKILLs, 10% faults; catalog faults and a 30s outage on T-SQL with MSSQL_TEST_DSN; 60s load); rewrite docs/RELIABILITY.md
	OFFLOAD_CHAOS=long OFFLOAD_CHAOS_REPORT=docs/RELIABILITY.md $(GO) test -count=1 -v -timeout 120m -run '^(TestChaos|TestChaosOnTSQL|TestChaosCatalogOutageOnTSQL)$$' ./tests/chaos/
	OFFLOAD_LOAD_DURATION=$${OFFLOAD_LOAD_DURATION:-60s} OFFLOAD_LOAD_REPORT=docs/RELIABILITY.md $(GO) test -count=1 -v -timeout 30m -run '^TestFilesLoad$$' ./tests/load/

chaos-short: deps ## the short chaos and load runs that make test includes, with their reports
	$(GO) test -count=1 -v -run '^(TestChaos|TestFilesLoad)$$' ./tests/chaos/ ./tests/load/

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	scripts/fuzz.sh $${FUZZTIME:-30s}

package: ## lay out dist/ (host.json, functions, linux/amd64 offload) and zip it
	rm -rf $(DIST) && mkdir -p $(DIST)
	GOOS=linux GOARCH=amd64 CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(DIST)/offload $(PKG)
	cp host.json $(DIST)/
	for f in functions/*/function.json; do d=$$(dirname $$f); mkdir -p $(DIST)/$$(basename $$d) && cp $$f $(DIST)/$$(basename $$d)/; done
	cp local.settings.json.example $(DIST)/
	rm -f $(ZIP) && $(GO) run ./tools/zipdir -o $(abspath $(ZIP)) $(DIST)
	@echo "wrote $(ZIP) ($$(du -h $(ZIP) | cut -f1)); deploy with: func azure functionapp publish <APP> (from $(DIST)/)"
	@echo "app settings the triggers resolve (the host indexes a function only when they are set): $$($(MAKE) -s trigger-settings | tr '\n' ' ')"

trigger-settings: ## list the %SETTING%s the triggers in functions/*/function.json resolve
	@grep -ho '%[A-Za-z0-9_]*%' functions/*/function.json | tr -d % | sort -u

start: package ## func start in dist/ (needs Azure Functions Core Tools)
	@command -v func >/dev/null 2>&1 || { echo "Azure Functions Core Tools (func) are not installed: see https://learn.microsoft.com/azure/azure-functions/functions-run-local"; exit 1; }
	@test -f $(DIST)/local.settings.json || cp local.settings.json.example $(DIST)/local.settings.json
	cd $(DIST) && func start

azurite: deps ## run Azurite in the foreground on the default ports (10000/10001), data in .offload/azurite
	mkdir -p .offload/azurite
	node_modules/.bin/azurite --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 \
		--location .offload/azurite --skipApiVersionCheck --disableTelemetry --loose

clean: ## remove build outputs and local state
	rm -rf bin $(DIST) $(ZIP) .offload

.PHONY: help deps browser build test test-mssql run bench chaos chaos-short fuzz package trigger-settings start azurite clean
