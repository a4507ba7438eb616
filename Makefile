# hermes-reconcile: build, test, demo. `make test` installs what the tests
# need (Debian packages) and runs everything CI runs.
GO       ?= go
BIN      := bin/hermes-reconcile
KUBEBIN  := bin/hermes-reconcile-kube
# What each job needs from Debian: the demo only the supervisor; the tests
# also execline (s6-overlay's run scripts), shellcheck, systemd-analyze,
# bash-completion (the completion script's spec loads it), promtool
# (package prometheus: the alerts' unit tests, the scrapes' lint), and skopeo
# and umoci (the image check reads and unpacks the image archive).
DEMO_PKGS := s6
TEST_PKGS := s6 execline shellcheck systemd bash-completion prometheus skopeo umoci
# The controller's image: an OCI archive built without a daemon
# (deploy/image), tagged with the version.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
IMAGE    := bin/hermes-reconcile-kube.oci.tar
LDFLAGS  := -s -w -X github.com/hermes-reconcile/hermes-reconcile/cmd/internal/cli.Version=$(VERSION)
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export GINKGO_NO_COLOR := TRUE

.PHONY: all build test unit lint deps demo-deps apt demo bench clean fuzz image image-check

all: build

# Two binaries, one per deployment unit: hermes-reconcile for Hermes images
# and hosts (no Kubernetes package linked), hermes-reconcile-kube for the
# controller's image (Linux). Static, without cgo: no libc to load at every
# boot and health check (os/user reads /etc/passwd itself), and one binary
# for any image.
build:
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -o $(BIN) ./cmd/hermes-reconcile
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -o $(KUBEBIN) ./cmd/hermes-reconcile-kube

# image builds the controller's image archive: the kube binary, static, in
# one layer run as uid 65532 with no shell (deploy/image). Push it with
# skopeo copy oci-archive:$(IMAGE):$(VERSION) docker://REGISTRY/hermes-reconcile-kube:$(VERSION).
image:
	CGO_ENABLED=0 GOOS=linux $(GO) build -buildvcs=auto -trimpath -ldflags "$(LDFLAGS)" -o bin/image/hermes-reconcile-kube ./cmd/hermes-reconcile-kube
	$(GO) run ./deploy/image -binary bin/image/hermes-reconcile-kube -tag $(VERSION) -o $(IMAGE)

# image-check reads the archive back with skopeo and umoci: its user,
# entrypoint and one layer, and its binary's --version from the unpacked root.
image-check: image
	bash deploy/image/check.sh $(IMAGE) $(VERSION)

# deps installs what the tests need, demo-deps what the demo needs, each
# only when a program (or file) of it is missing.
deps:
	@$(MAKE) --no-print-directory apt PROGS="s6-svscan execlineb shellcheck systemd-analyze /usr/share/bash-completion/bash_completion promtool skopeo umoci" APT="$(TEST_PKGS)"

demo-deps:
	@$(MAKE) --no-print-directory apt PROGS="s6-svscan" APT="$(DEMO_PKGS)"

apt:
	@missing=; for p in $(PROGS); do [ -e "$$p" ] || command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "missing$$missing: installing $(APT) with apt-get"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT); \
	fi

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin GOARCH=arm64 $(GO) vet ./...
	GOOS=windows GOARCH=amd64 $(GO) vet ./...
	GOOS=darwin GOARCH=arm64 $(GO) build ./...
	GOOS=windows GOARCH=amd64 $(GO) build ./...
	shellcheck -s bash test/envtest/assets.sh test/cluster/assets.sh deploy/image/check.sh
	shellcheck -s sh test/fake-gateway test/hermes-cli test/demo.sh test/host/standins/* $$(find deploy -type f -name run -o -type f -path '*cont-init.d*' 2>/dev/null)
	promtool check rules deploy/prometheus/hermes-reconcile.rules.yaml
	promtool test rules deploy/prometheus/hermes-reconcile.rules.test.yaml

# The soak suite (test/soak) mostly waits through minutes of watch mode, so
# it runs beside the other packages rather than after them. The envtest
# suite (test/envtest) needs a real kube-apiserver and etcd, the cluster
# suite (test/cluster) kube-controller-manager, kube-scheduler and kwok beside
# them: test/cluster/assets.sh builds all five from the Go module proxy
# (~10-15 min cold on 2 cores, beside lint) and caches them in
# ~/.cache/hermes-reconcile/cluster; a KUBEBUILDER_ASSETS already set is used
# instead.
test: deps
	@alog=$$(mktemp); \
	if [ -z "$${KUBEBUILDER_ASSETS:-}" ]; then bash test/cluster/assets.sh >"$$alog.out" 2>"$$alog" & apid=$$!; fi; \
	{ $(MAKE) --no-print-directory lint && $(MAKE) --no-print-directory image-check; } || { [ -n "$${apid:-}" ] && kill "$$apid"; exit 1; }; \
	if [ -n "$${apid:-}" ]; then \
		if ! wait "$$apid"; then cat "$$alog"; exit 1; fi; \
		KUBEBUILDER_ASSETS=$$(tail -n 1 "$$alog.out"); export KUBEBUILDER_ASSETS; \
	fi; \
	rm -f "$$alog" "$$alog.out"; \
	soak=$$(mktemp); \
	$(GO) test -count=1 -timeout 25m ./test/soak/ >"$$soak" 2>&1 & pid=$$!; \
	rc=0; $(GO) test -count=1 -timeout 25m $$($(GO) list ./... | grep -v '/test/soak$$') || rc=$$?; \
	src=0; wait $$pid || src=$$?; cat "$$soak"; rm -f "$$soak"; \
	[ $$rc = 0 ] && [ $$src = 0 ]
	@$(MAKE) --no-print-directory fuzz

# fuzz runs every fuzz target of hostile input (config.yaml, gateway_state.json, .env,
# profile names, rendering) for FUZZTIME each, from the seed corpora in
# <package>/testdata/fuzz; a failure leaves its input there. Longer:
# make fuzz FUZZTIME=10m.
FUZZTIME ?= 5s
FUZZ     := desired:FuzzParseConfig desired:FuzzParseIntent desired:FuzzIntentFastPath desired:FuzzScanValid desired:FuzzParseDotEnv desired:FuzzValidName backends/s6:FuzzRender backends/s6:FuzzRenderSettings
fuzz:
	@for pt in $(FUZZ); do \
		pkg=$${pt%%:*}; t=$${pt#*:}; \
		echo "fuzz $$t ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) ./$$pkg/ || exit 1; \
	done

demo: demo-deps
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -o $(BIN) ./cmd/hermes-reconcile
	sh test/demo.sh $(BIN)

# The envtest benchmarks reach 10,000 profiles at the shipped 50 requests/s:
# about an hour on 2 cores.
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./test/bench/
	$(GO) test -run '^$$' -bench Poll ./desired/
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 150m ./test/envtest/

clean:
	rm -rf bin
