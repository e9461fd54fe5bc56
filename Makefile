# confapplet — developer targets. `make test` is the README's test command.
GO      ?= go
MODULES := pkg svc-edge svc-conference svc-callback deploy deploy/bench
PKGS    := $(addprefix ./,$(addsuffix /...,$(MODULES)))

.PHONY: test unit-test js-test cluster-test bench-smoke bench-floor bench-rpc bench-fanout bench-idle vet fmt-check run \
	images images-save compose-plugin test-docker docker-clean
# Everything: formatting, vet, every module's tests with -race (the browser test,
# the compose check and the load tool's smoke included), the JavaScript client's
# tests, the multi-process fault test, the load tool's smoke, and the compose
# stack in containers (skipped with a message where no Docker Engine runs,
# except in CI).
test: fmt-check vet unit-test js-test cluster-test bench-smoke test-docker

# js-test runs TestJSClient on its own, so unit-test leaves it out.
unit-test:
	$(GO) test -race -count=1 -timeout 15m -skip '^TestJSClient$$' $(PKGS)

# The JavaScript client package's tests (node --test in svc-edge/web/client-js/test)
# against the local stack, which the Go harness TestJSClient starts and stops.
js-test:
	$(GO) test -race -count=1 -timeout 5m -run '^TestJSClient$$' -v ./deploy/local/

# Real processes: a 3-node NATS cluster, 2 conference, 1 callback, 2 edges, the
# simulator and HAProxy; kills and restarts them under load (docs/operations.md).
cluster-test:
	$(GO) test -tags cluster -count=1 -timeout 15m -v ./deploy/clustertest/

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

run:
	$(GO) run ./deploy/local

# The load tool (deploy/bench, docs/benchmarks.md). bench-smoke runs every
# scenario for 10 s so the tool does not rot; the others are the full runs.
bench-smoke:
	$(GO) run ./deploy/bench all -duration 10s -floor-conc 1 -rates 1000 -invite-rates 50 \
		-sim-latency 50ms -confs 100 -rate 200 -n 2000 -hold 10s -out artifacts/bench/smoke.json
bench-floor:
	$(GO) run ./deploy/bench floor
bench-rpc:
	$(GO) run ./deploy/bench rpc
bench-fanout:
	$(GO) run ./deploy/bench fanout
bench-idle:
	$(GO) run ./deploy/bench idle -n 5000,19900 -hold 60s

# Every image docker-compose.yml uses, with or without a container registry:
# missing base images get faithful stand-ins (docs/operations.md, "Images").
images:
	deploy/images/images.sh build
# One tarball of what compose runs, for an air-gapped host (docker load -i).
images-save: images
	deploy/images/images.sh save
# `docker compose` v2 (up --wait), built from its Go module where missing.
compose-plugin:
	deploy/images/compose-plugin.sh

# docker-compose.yml in containers (needs a Docker Engine): the page in Chromium
# through the load balancer, then the container fault test. Test stacks are
# removed afterwards even when a test failed or timed out.
test-docker:
	@if ! docker info >/dev/null 2>&1; then \
		if [ "$$CI" = true ]; then echo "test-docker: no Docker Engine answers (docker info)" >&2; exit 1; fi; \
		echo "test-docker: SKIPPED, no Docker Engine answers (docker info); the compose tests need one"; exit 0; \
	fi; \
	$(MAKE) --no-print-directory compose-plugin images || exit 1; \
	rc=0; $(GO) test -tags docker -count=1 -p 1 -timeout 25m -v -run 'TestBrowserCompose|TestComposeFaults' \
		./deploy/local/ ./deploy/clustertest/ || rc=$$?; deploy/dockerstack/clean.sh; exit $$rc
docker-clean:
	deploy/dockerstack/clean.sh
