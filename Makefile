# qredge. Every target works on a fresh machine with Go installed.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME  ?= 60s
SMOKETIME ?= 3s
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
# promtool, pinned; go run caches the built binary (the first run builds
# it: about 5 minutes on 2 cores).
PROMTOOL  ?= $(GO) run github.com/prometheus/prometheus/cmd/promtool@v0.316.0
# The packages whose code reads the clock (retention, pruning, key expiry,
# schedules, rate limits), run once more with the test clock moved.
TIME_PKGS ?= ./analytics/... ./api/... ./store/... ./redirect/... ./internal/...
CLOCK_OFFSET ?= -400d
# make test's targets, longest first; .ci/test-run.sh runs TEST_JOBS of
# them at once.
TEST_TARGETS ?= race fuzz-smoke gomaxprocs1 clock-offset deploy-test alerts-test lint
TEST_JOBS ?= 3

# package:FuzzTarget for every fuzz target, found in the test files, so a
# new one cannot be forgotten (the deploy module has none).
FUZZ_TARGETS = $(shell grep -r --include='*_test.go' --exclude-dir=deploy -o '^func Fuzz[A-Za-z0-9_]*' . | sed -E 's#^(.*)/[^/]*_test.go:func #\1:#' | sort)

.PHONY: build test test-deps vet race gomaxprocs1 clock-offset fuzz-smoke fuzz bench bench-compare bench-scale console-screenshots idle-cpu chaos lint clean alerts-test dashboard-check deploy-test docker-check

# qredge, and qredge-prescale (the only binary with a Kubernetes client),
# which 'qredge prescale' runs from beside it.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/qredge ./cmd/qredge
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/qredge-prescale ./cmd/qredge-prescale

# Every target runs, side by side, even after one fails; the summary
# names every failing target.
test: test-deps
	@TEST_JOBS=$(TEST_JOBS) MAKE="$(MAKE)" bash .ci/test-run.sh $(TEST_TARGETS)

# What the tests need besides Go (redis-server, redis-cli, kcat,
# zbarimg, curl): installed with apt-get when missing, after a message
# saying so, or a stop with the exact command to run.
test-deps:
	@bash .ci/test-deps.sh
	@# Built before the tests start, not beside them (the first time it
	@# takes minutes; go run caches the binary).
	@$(PROMTOOL) --version >/dev/null
	@$(GO) run $(STATICCHECK) -version >/dev/null

vet:
	$(GO) vet ./...
	cd deploy && $(GO) vet ./...

race:
	$(GO) test -race -count=1 ./...

# Once more on one core: scheduling bugs hide on many.
gomaxprocs1:
	GOMAXPROCS=1 $(GO) test -count=1 -short ./...

# Once more with every test date moved more than a year back: what a run
# a year after the tests were written looks like. A test that fixes a
# date on its data while the code compares it with the real clock (Redis
# key expiry, bbolt pruning) fails here, not on the day the date passes
# (internal/testclock).
clock-offset:
	QREDGE_TEST_CLOCK_OFFSET=$(CLOCK_OFFSET) $(GO) test -count=1 -short $(TIME_PKGS)

# A run that fails without writing a failing input to testdata/fuzz is Go's
# fuzz coordinator stopping at -fuzztime (golang/go#75804, fixed in Go
# 1.27: "context deadline exceeded"): it is run once more. A run that
# writes an input fails at once.
fuzz-smoke:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name for $(SMOKETIME)"; \
		before=$$(ls $$pkg/testdata/fuzz/$$name 2>/dev/null | wc -l); \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(SMOKETIME) $$pkg && continue; \
		[ "$$(ls $$pkg/testdata/fuzz/$$name 2>/dev/null | wc -l)" = "$$before" ] || exit 1; \
		echo "fuzz $$name failed without a failing input (golang/go#75804): once more"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(SMOKETIME) $$pkg || exit 1; \
	done

fuzz:
	@$(MAKE) --no-print-directory fuzz-smoke SMOKETIME=$(FUZZTIME)

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./...

# The alert rules: syntax, the compose stack's Prometheus config, and the
# promtool unit tests (deploy/prometheus/alerts_test.yml).
alerts-test:
	$(PROMTOOL) check rules deploy/prometheus/alerts.yml
	@tmp=$$(mktemp -d) && sed 's#/etc/prometheus/alerts.yml#$(CURDIR)/deploy/prometheus/alerts.yml#' deploy/prometheus/prometheus.yml >$$tmp/prometheus.yml && \
		$(PROMTOOL) check config $$tmp/prometheus.yml; rc=$$?; rm -rf $$tmp; exit $$rc
	$(PROMTOOL) test rules deploy/prometheus/alerts_test.yml

# Every dashboard query and alert signal against a real Prometheus scraping
# real qredge processes (about 45 s; see the script). Not part of make test.
dashboard-check:
	bash deploy/prometheus/dashboard-check.sh

# qredge against nginx under wrk, same codes, same run (installs nginx and
# wrk when missing); see docs/benchmarks.md. Not part of make test.
bench-compare:
	bash loadtest/bench-compare.sh

# Start-up at 1M and 3M links (TEN_M=1: and 10M): ready time, CPU, Redis
# CPU and RSS of an edge from Redis, from the shared and the local
# snapshot, and of qredge serve. Several minutes; not part of test.
bench-scale:
	bash loadtest/bench-scale.sh

# The screenshots of docs/console.md, taken by the console's browser test
# in headless Chromium.
console-screenshots:
	mkdir -p docs/img
	QREDGE_SCREENSHOTS=$(CURDIR)/docs/img $(GO) test -count=1 -run 'TestConsoleCampaign$$' ./cmd/qredge/

# CPU of an idle serve and an idle edge over 60 s (SECONDS_IDLE).
idle-cpu:
	bash loadtest/idle-cpu.sh

# Faults under steady load against real processes (redis-server, a kfake
# broker, two edges, analytics, api) with invariant checks and a JSON
# report (chaos-report.json); about 12 minutes for the eleven scenarios, see
# docs/reliability.md. Not part of make test.
# make chaos CHAOSFLAGS='-scenarios edge-sigkill,redis-restart'
chaos:
	$(GO) run ./loadtest/chaos $(CHAOSFLAGS)

# The deployment files (deploy/ is a module of its own, so ./... above
# skips it): the Dockerfile and a static make build, the kustomize overlays
# rendered and decoded strictly into Kubernetes types, the compose stack.
deploy-test:
	cd deploy && $(GO) test -count=1 ./...

# Only the Dockerfile's checks and the static binary of make build (no
# Docker engine needed).
docker-check:
	cd deploy && $(GO) test -count=1 -run '^(TestDockerfile|TestDockerfileProblems|TestDockerignore|TestMakeBuildStatic)$$' ./...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd deploy && $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clean:
	rm -rf bin
