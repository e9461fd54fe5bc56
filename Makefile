# confapplet — developer targets. `make test` is the README's test command.
GO      ?= go
MODULES := pkg svc-edge svc-conference svc-callback deploy deploy/bench
PKGS    := $(addprefix ./,$(addsuffix /...,$(MODULES)))

.PHONY: test vet fmt-check fuzz-seed lint run
test: fmt-check vet
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

run:
	$(GO) run ./deploy/local
