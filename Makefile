# qredge. Every target works on a fresh machine with Go installed.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME  ?= 60s
SMOKETIME ?= 3s
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

# package:FuzzTarget for every fuzz target.
FUZZ_TARGETS := ./store:FuzzCheckCode ./store:FuzzCheckURL ./redirect:FuzzAppendForwarded ./redirect:FuzzClassify ./redirect:FuzzDecide ./api:FuzzWriteLink ./analytics:FuzzDecode ./analytics:FuzzSegment ./analytics/localagg:FuzzReadRecords ./analytics/localagg:FuzzDecodeCounts ./loadtest:FuzzParseSchedule ./store/linkcsv:FuzzReadCSV ./qr:FuzzParseColor ./api:FuzzQRQuery

.PHONY: build test vet race gomaxprocs1 fuzz-smoke fuzz bench bench-compare lint clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/qredge ./cmd/qredge

test: vet race gomaxprocs1 fuzz-smoke

vet:
	$(GO) vet ./...

race:
	$(GO) test -race -count=1 ./...

# Once more on one core: scheduling bugs hide on many.
gomaxprocs1:
	GOMAXPROCS=1 $(GO) test -count=1 -short ./...

fuzz-smoke:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name for $(SMOKETIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(SMOKETIME) $$pkg || exit 1; \
	done

fuzz:
	@$(MAKE) --no-print-directory fuzz-smoke SMOKETIME=$(FUZZTIME)

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./...

# qredge against nginx under wrk, same codes, same run (installs nginx and
# wrk when missing); see docs/benchmarks.md. Not part of make test.
bench-compare:
	bash loadtest/bench-compare.sh

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clean:
	rm -rf bin
