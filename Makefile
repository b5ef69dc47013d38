# robotd: the two newcomer commands are `make demo` and `make test`; both set up first.
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
OUT ?= out

.PHONY: setup demo test bench vet

setup:
	@scripts/setup.sh

demo: setup
	$(GO) run ./cmd/robotd demo --out $(OUT)/demo
	$(GO) run ./cmd/robotd run --launch launch/sim.yaml --summary-json $(OUT)/run.json

test: setup
	$(GO) vet ./...
	$(GO) test -count=1 ./...

bench:
	@scripts/setup.sh bench
	scripts/bench.sh
