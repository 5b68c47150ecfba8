# oa-capacity-operator. Everything here needs Go and make, and kubectl, which renders
# config/ for the chart and dist/install.yaml (make test builds both), and curl and bash
# for the walkthrough make test runs; everything else, tools and the envtest control
# plane, is built from source through the Go module proxy.

IMG ?= oa-capacity-operator:latest
LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
BENCHSTAT ?= $(LOCALBIN)/benchstat
OCIIMAGE ?= $(LOCALBIN)/ociimage
CHARTGEN ?= $(LOCALBIN)/chartgen
DASHBOARD ?= $(LOCALBIN)/dashboard
HELM ?= $(LOCALBIN)/helm
PROMTOOL ?= $(LOCALBIN)/promtool
# The image tarball `make image` writes; test/image checks it.
IMAGE_TAR ?= $(LOCALBIN)/oa-capacity-operator.tar
# The host's CA bundle, copied into the image (Fedora/RHEL: /etc/pki/tls/certs/ca-bundle.crt).
CA_CERTS ?= /etc/ssl/certs/ca-certificates.crt
KUBECTL ?= kubectl
# The kustomization make build-installer renders, e.g. config/overlays/callback-tls.
KUSTOMIZE_DIR ?= config/default
# How long each fuzz target runs in `make test`: a count of executions (a few seconds
# each here), not a duration. Go 1.26's coordinator can fail a duration-bounded run
# with a spurious "context deadline exceeded" at the deadline (golang/go#75804, fixed
# in Go 1.27); a count has no deadline to race.
FUZZTIME ?= 60000x
# Go packages with fuzz targets, as package:FuzzName.
FUZZ_TARGETS ?= webhookserver/callback:FuzzParseCallback internal/chatapi:FuzzVerifyUserSig internal/chatapi:FuzzParseAnswer internal/notify:FuzzAnswer

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen chartgen dashboard ## Generate the CRD and RBAC manifests and the Grafana dashboard under config/, then the Helm chart from config/.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	$(DASHBOARD) --out config/grafana/oa-capacity-operator.json
	$(CHARTGEN) --config config --out charts/oa-capacity-operator --kubectl $(KUBECTL)

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods of the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: verify-generated
verify-generated: controller-gen ## Fail when committed generated files are out of date.
	CONTROLLER_GEN=$(CONTROLLER_GEN) hack/verify-generated.sh

.PHONY: fmt
fmt: ## Format the Go sources.
	gofmt -w $$(git ls-files '*.go')

.PHONY: verify-fmt
verify-fmt: ## Fail when a Go source is not gofmt-formatted.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed (run make fmt):"; echo "$$out"; exit 1; fi

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: ## Run golangci-lint (pinned in hack/tools/golangci-lint; cached outside the clone) with .golangci.yml.
	"$$(hack/golangci-lint.sh)" run ./...

.PHONY: test
# test/rules runs in the one go test run, beside the packages that mostly wait on a
# control plane, rather than before it (make test-rules runs it alone). -p: one more
# test binary at a time than there are cores, because those packages mostly wait; the
# default (GOMAXPROCS) left a core idle for half the run.
test: verify-generated verify-fmt vet lint envtest build image build-installer helm promtool promqlcheck ## Run every test (envtest, race detector, fuzz smoke, the walkthrough, the image, dist/install.yaml, the chart and the alert rules).
	OAC_IMAGE_TAR="$(IMAGE_TAR)" OAC_IMAGE_TAG="$(IMG)" OAC_HELM="$(HELM)" OAC_PROMTOOL="$(PROMTOOL)" KUBEBUILDER_ASSETS="$$(hack/envtest.sh path)" go test -race -count=1 -p $$(( $$(getconf _NPROCESSORS_ONLN) + 1 )) ./...
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t, -fuzztime=$(FUZZTIME)"; \
		go test -run='^$$' -fuzz="^$${t#*:}$$" -fuzztime=$(FUZZTIME) "./$${t%%:*}"; \
	done

.PHONY: test-rules
test-rules: promtool promqlcheck ## Run promtool's unit tests of the alert rules (config/prometheus/tests), show that each alert, broken, fails them, and check every PromQL query of the rules and the dashboard.
	OAC_PROMTOOL="$(PROMTOOL)" go test -count=1 ./test/rules/

.PHONY: promqlcheck
promqlcheck: ## Parse every PromQL query of the rules and the dashboard; check each metric it names is registered.
	cd hack/promqlcheck && go test -count=1 ./...

.PHONY: test-e2e
test-e2e: envtest build ## Run the end-to-end reliability suite (test/e2e) with its slow variants and a 10-minute soak.
	OAC_E2E_SLOW=1 OAC_SOAK=10m KUBEBUILDER_ASSETS="$$(hack/envtest.sh path)" go test -count=1 -timeout 30m ./test/e2e/

.PHONY: loadtest
loadtest: build ## Load the real manager on a local control plane against a bare baseline in the same run (docs/performance.md); flags in LOADTEST_ARGS.
	$(GOBUILD) -o $(LOCALBIN)/loadtest ./hack/loadtest
	$(LOCALBIN)/loadtest --manager $(LOCALBIN)/manager $(LOADTEST_ARGS)

.PHONY: bench
bench: benchstat ## Run the benchmarks 10 times; compare runs with bin/benchstat.
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh path)" go test -run='^$$' -bench=. -benchmem -count=10 ./... | tee bench.txt
	$(BENCHSTAT) bench.txt

##@ Build

# One set of build flags for every binary, so they share the Go build cache: static,
# as the image needs.
GOBUILD ?= CGO_ENABLED=0 go build -trimpath
.PHONY: build
build: ## Build the static manager, the callback tool and make run's local mode into bin/.
	$(GOBUILD) -o $(LOCALBIN)/manager .
	$(GOBUILD) -o $(LOCALBIN)/send-callback ./hack/send-callback
	$(GOBUILD) -o $(LOCALBIN)/localrun ./hack/localrun

.PHONY: image
image: build ociimage ## Write the manager image (IMG) as bin/oa-capacity-operator.tar, no Docker daemon needed; `docker load -i bin/oa-capacity-operator.tar` loads it.
	$(OCIIMAGE) --binary $(LOCALBIN)/manager --arch "$$(go env GOARCH)" --ca-certs $(CA_CERTS) --tag $(IMG) --out $(IMAGE_TAR)

.PHONY: run
run: manifests generate build ## Run the manager: against the configured cluster, else a local control plane, fake Chat and sink with the sample.
	hack/run.sh $(ARGS)

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the current cluster.
	$(KUBECTL) apply -k config/crd

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs from the current cluster.
	$(KUBECTL) delete --ignore-not-found -k config/crd

.PHONY: build-installer
build-installer: manifests ## Write dist/install.yaml: KUSTOMIZE_DIR (config/default) with the image IMG.
	@mkdir -p dist
	$(KUBECTL) kustomize $(KUSTOMIZE_DIR) | sed 's|image: oa-capacity-operator:latest$$|image: $(IMG)|' > dist/install.yaml.tmp
	@grep -qF 'image: $(IMG)' dist/install.yaml.tmp || { echo "build-installer: the manager image in $(KUSTOMIZE_DIR) is not oa-capacity-operator:latest, so IMG was not set" >&2; rm -f dist/install.yaml.tmp; exit 1; }
	@mv dist/install.yaml.tmp dist/install.yaml
	@echo "wrote dist/install.yaml (image $(IMG))"

.PHONY: deploy
deploy: build-installer ## Deploy dist/install.yaml (CRDs, RBAC, manager; image IMG) into the current cluster.
	$(KUBECTL) apply -f dist/install.yaml

.PHONY: chart
chart: manifests helm ## Lint the Helm chart (charts/oa-capacity-operator) and package it into dist/, for a chart repository or OCI registry.
	$(HELM) lint --strict charts/oa-capacity-operator
	$(HELM) package charts/oa-capacity-operator --destination dist

.PHONY: undeploy
undeploy: ## Remove the manager from the current cluster.
	$(KUBECTL) delete --ignore-not-found -k config/default

##@ Dependencies

.PHONY: envtest
envtest: ## Build kube-apiserver and etcd for envtest (cached outside the clone).
	@hack/envtest.sh path >/dev/null

.PHONY: envtest-path
envtest-path: ## Print the directory holding the envtest kube-apiserver and etcd.
	@hack/envtest.sh path

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Build controller-gen into bin/.
$(CONTROLLER_GEN): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && go build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

.PHONY: benchstat
benchstat: $(BENCHSTAT) ## Build benchstat into bin/.
$(BENCHSTAT): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && go build -o $(BENCHSTAT) golang.org/x/perf/cmd/benchstat

.PHONY: chartgen
chartgen: ## Build the chart generator (hack/chartgen) into bin/.
	$(GOBUILD) -o $(CHARTGEN) ./hack/chartgen

.PHONY: dashboard
dashboard: ## Build the Grafana dashboard generator (hack/dashboard, a module of its own) into bin/.
	cd hack/dashboard && $(GOBUILD) -o $(DASHBOARD) .

.PHONY: helm
helm: ## Build Helm (pinned in hack/tools/helm; cached outside the clone) and link it as bin/helm.
	@mkdir -p $(LOCALBIN)
	@ln -sf "$$(hack/helm.sh)" $(HELM)

.PHONY: promtool
promtool: ## Build Prometheus' promtool (pinned in hack/tools/promtool; cached outside the clone) and link it as bin/promtool.
	@mkdir -p $(LOCALBIN)
	@ln -sf "$$(hack/promtool.sh)" $(PROMTOOL)

.PHONY: ociimage
ociimage: $(OCIIMAGE) ## Build the image tarball writer into bin/.
$(OCIIMAGE): hack/tools/go.mod hack/tools/go.sum $(wildcard hack/tools/ociimage/*.go)
	cd hack/tools && go build -o $(OCIIMAGE) ./ociimage
