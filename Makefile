# Locksmith build. `make demo` runs the main job on the embedded default
# (the file backend); `make test` runs every test with the race detector.
GO       ?= go
BIN      := bin
PLUGINS  := file redis consul audit rbac crypto cache
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
TOOLS    := $(CURDIR)/.cache/bin

.PHONY: all build test vet demo proto bench chaos clean consul example

all: build

build:
	$(GO) build -o $(BIN)/locksmith ./cmd/locksmith
	$(GO) build -o $(BIN)/locksmith-exec ./cmd/locksmith-exec
	@for p in $(PLUGINS); do \
		echo "$(GO) build -o $(BIN)/locksmith-plugin-$$p ./plugins/$$p/cmd/locksmith-plugin-$$p"; \
		$(GO) build -o $(BIN)/locksmith-plugin-$$p ./plugins/$$p/cmd/locksmith-plugin-$$p || exit 1; \
	done

vet:
	@test -z "$$(gofmt -l . | grep -v '^.cache/')" || { echo "gofmt needed:"; gofmt -l . | grep -v '^.cache/'; exit 1; }
	$(GO) vet ./...

test: build vet example
	$(GO) test -race -count=1 -timeout 30m ./...

# The third-party backend example is a module of its own (it requires this
# one through a local replace): built, vetted and tested from its directory,
# as its vendor would.
example:
	cd examples/custom-backend && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 20m ./...

demo: build
	$(BIN)/locksmith demo

# The chaos test (also part of `make test`, 10s per backend) run longer:
# holders' execs, plugins and commands SIGKILLed at random for CHAOS_TIME
# on each backend.
CHAOS_TIME ?= 60s
chaos: build
	LOCKSMITH_CHAOS_DURATION=$(CHAOS_TIME) $(GO) test -race -count=1 -timeout 30m -run TestChaosExecKills -v ./cmd/locksmith/

# Benchmarks print each measurement beside its raw baseline from the same run:
# latencies (flock, a bare round trip, go-redis, redsync beside each backend),
# scale (10³–10⁵ held locks: acquire, Tree, memory per lock, renewals), and
# the 8 × 25 exec loop beside flock(1), with and without a local server.
BENCH_SCALE ?= 1000,10000,100000
bench: build consul
	$(GO) test -run '^$$' -bench 'RawFlock|GRPCRoundTrip|PluginReady|Backend|OneHost|RedisBaselines' -benchtime 1000x ./host/
	LOCKSMITH_BENCH_SCALE=$(BENCH_SCALE) $(GO) test -run '^$$' -bench Scale -benchtime 1x -timeout 30m ./host/
	$(GO) test -run '^$$' -bench LockBatch -benchtime 1x -timeout 30m ./host/
	bench/exec.sh 2
	$(GO) test -run '^$$' -bench Consul -benchtime 1000x ./plugins/consul/
	$(GO) test -run '^$$' -bench Exec -benchtime 200x ./plugins/consul/

# bin/consul, for the Consul tests and benchmarks: built from the Go module
# proxy (tools/consul pins the version); ~3.5 min the first time.
consul: $(BIN)/consul

$(BIN)/consul: tools/consul/go.mod tools/consul/go.sum
	cd tools/consul && $(GO) build -trimpath -o ../../$(BIN)/consul github.com/hashicorp/consul

proto:
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler"; exit 1; }
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	PATH=$(TOOLS):$$PATH protoc -I sdk/internal/pb \
		--go_out=paths=source_relative:sdk/internal/pb \
		--go-grpc_out=paths=source_relative:sdk/internal/pb \
		sdk/internal/pb/locksmith.proto

clean:
	rm -rf $(BIN)
