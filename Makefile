# tcpwhy — make demo runs the main job on a bundled capture, make test runs the tests.
GO ?= go
PCAP_H := $(shell for d in /usr/include /usr/local/include; do [ -f $$d/pcap.h ] || [ -f $$d/pcap/pcap.h ] && echo yes; done | head -1)
DEMO ?= testdata/pcaps/demo.pcap

.PHONY: all build deps demo test lab bench pgo fuzz vet clean

all: build

# deps installs libpcap's headers (for BPF filters and live capture) when missing.
deps:
ifeq ($(PCAP_H),)
	@echo "installing libpcap-dev (needed for filters and live capture)"
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libpcap-dev >/dev/null
endif

build: deps
	$(GO) build -o bin/tcpwhy ./cmd/tcpwhy

demo: build
	./bin/tcpwhy -r $(DEMO)

vet:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(GO) vet ./...

# test also runs the analysis's pipeline (classify: reading, the flow
# table and classification in three goroutines) under the race detector,
# builds without cgo, and vets the code for macOS and Windows, where the
# lab (Linux network namespaces) is left out.
test: deps vet
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -race -count=1 -timeout 10m ./classify/
	CGO_ENABLED=0 $(GO) build ./...
	GOOS=darwin CGO_ENABLED=0 $(GO) vet ./...
	GOOS=windows CGO_ENABLED=0 $(GO) vet ./...

lab: build
	$(GO) run ./internal/lab/cmd/lab -out testdata/pcaps/lab

bench: build
	bash scripts/bench.sh

# pgo regenerates cmd/tcpwhy/default.pgo, the profile go build optimizes with.
pgo:
	bash scripts/pgo.sh

clean:
	rm -rf bin

# fuzz runs every fuzz target for FUZZTIME each (default 30s).
fuzz:
	bash scripts/fuzz.sh
