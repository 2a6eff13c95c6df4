# ocids-operator: every developer and CI entry point.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
# Parallel integration workers: each starts its own control plane, so keep it to the core count.
XDIST_WORKERS ?= 2

export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help install lint typecheck unit integration test controlplane cluster-up cluster-down \
        crds crds-check emulator bench bench-emulator bench-operator clean \
        image image-base test-image kstatus kueue builds demo demo-down chaos

help: ## list targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv with the package (editable) and dev tools

lint: $(STAMP) ## ruff
	$(BIN)/ruff check operator emulator tools tests bench
	$(BIN)/ruff format --check operator emulator tools tests bench

typecheck: $(STAMP) ## mypy
	$(BIN)/mypy operator/src/ocids_operator emulator/src/ocids_emulator tools/controlplane/ocids_controlplane \
		tools/codegen/ocids_codegen tools/demo/ocids_demo

unit: $(STAMP) ## fast tests, no cluster, no emulator process (and every test module still imports)
	$(BIN)/pytest tests/unit -q -n $(XDIST_WORKERS)
	@# Integration and image tests run late and long: an import they broke should fail here, in seconds.
	@# (Without CI=true: under CI the oci CLI contract tests insist at import that `make ocicli` ran.)
	env -u CI $(BIN)/pytest tests/integration tests/image --collect-only -q -p no:cacheprovider > /dev/null

controlplane: ## build (or reuse) kube-apiserver, kube-controller-manager, kubectl, etcd, helm (needs Go >= 1.26)
	bash tools/controlplane/build.sh

# The two long Go builds side by side (cold CI: the control plane's and Kueue's would otherwise add
# up); each script reuses its cached binaries, and either failing fails the target.
builds: ## build (or reuse) the control plane and Kueue at once
	@bash tools/controlplane/build.sh & cp=$$!; bash tools/kueue/build.sh & kq=$$!; \
	  wait $$cp; cp_rc=$$?; wait $$kq; kq_rc=$$?; \
	  if [ $$cp_rc -ne 0 ] || [ $$kq_rc -ne 0 ]; then \
	    echo "builds: control plane exit $$cp_rc, kueue exit $$kq_rc" >&2; exit 1; fi

integration: $(STAMP) builds ocicli kstatus ## tests against a real API server and the emulator
	$(BIN)/pytest tests/integration -q -n $(XDIST_WORKERS) --dist loadgroup

test: lint typecheck crds-check unit integration test-image ## everything CI runs

# The operator image. With a Docker engine: docker build. Without one (these machines): buildah,
# FROM a local python:3.11-slim stand-in built from Debian's packages (cached; see tools/image/).
IMAGE ?= localhost/ocids-operator:dev
image: ## build the operator image ($(IMAGE)) with docker, else buildah
	IMAGE=$(IMAGE) bash tools/image/build.sh

test-image: $(STAMP) controlplane image ## start the built image exactly as the chart does, against the control plane + emulator
	IMAGE=$(IMAGE) $(BIN)/pytest tests/image -q -p no:cacheprovider

# kstatus (sigs.k8s.io/cli-utils, what Flux's health checks run), built from the module proxy.
kstatus: ## build (or reuse) the kstatus checker the GitOps tests use
	bash tools/kstatus/build.sh

# Kueue's manager (sigs.k8s.io/kueue/cmd/kueue), built from the module proxy: the Kueue tests run it
# against the test API server, webhooks included. Cold: about 4-5 minutes on 2 cores; then cached.
kueue: ## build (or reuse) the Kueue manager the Kueue integration tests run
	bash tools/kueue/build.sh

# The first build of the control plane is long: say so before it starts rather than go quiet.
demo: $(STAMP) ## the quick start: control plane (or your KUBECONFIG), emulator, operator, two training runs
	@bash tools/controlplane/build.sh --print >/dev/null 2>&1 || { \
	  echo "First run: building kube-apiserver, kube-controller-manager, kubectl, etcd and helm from source."; \
	  echo "This usually takes about 10 minutes and ~2.6 GB of memory on 2 cores (plus ~6 GB of Go caches);"; \
	  echo "the binaries are cached in $${OCIDS_BIN_CACHE:-~/.cache/ocids-operator/bin}, so later runs skip this."; \
	  bash tools/controlplane/build.sh; }
	@$(PY) tools/demo/demo.py up

demo-down: ## stop everything `make demo` started (never a KUBECONFIG cluster of yours)
	@if [ -x $(PY) ]; then $(PY) tools/demo/demo.py down; else echo "nothing to stop (no .venv)"; fi

cluster-up: $(STAMP) controlplane ## start a local control plane in the background
	$(PY) -m ocids_controlplane up

cluster-down: $(STAMP) ## stop the local control plane
	$(PY) -m ocids_controlplane down

crds: $(STAMP) ## regenerate crds/ and the chart's CRDs from the pydantic models
	$(PY) -m ocids_codegen.crdgen write

crds-check: $(STAMP) ## fail when crds/ or the chart's CRDs are stale
	$(PY) -m ocids_codegen.crdgen check

emulator: $(STAMP) ## run a local OCI Data Science + Logging emulator
	$(BIN)/ocids-emulator init --data-dir .emulator --if-missing
	$(BIN)/ocids-emulator serve --data-dir .emulator --port $${PORT:-12000}

# The scale benchmark (not part of `make test`): N runs over 10 TrainingJobs, the compartment poller
# against the naive per-run baseline in the same run. Figures as JSON in $(BENCH_OUT). Run lengths are
# drawn at random (--run-seconds 120:240, --seed; one number: fixed); the status lag is reported as
# p50/p95/max and a 1 s histogram next to the ideal polling lag (half the interval that applies).
# BENCH_ARGS='--events --compartments 20': run status pushed by OCI Events through a stream (polling
# falls back to --fallback-poll-interval, 120 s), the TrainingJobs spread over 20 compartments.
# BENCH_ARGS=--gates: the gates benchmark instead (bench/gates_bench.py): the same N runs with no gate,
# with a budget and both caps that hold nothing, and under Kueue; what each adds per run.
N ?= 1000
BENCH_OUT ?= bench/out/latest.json
BENCH_ARGS ?=
bench: $(STAMP) controlplane ## scale benchmark: make bench N=1000 [BENCH_ARGS='--events --compartments 20'] (table + JSON in $$BENCH_OUT)
	BENCH_OUT=$(BENCH_OUT) $(PY) bench/scale_bench.py --n $(N) $(BENCH_ARGS)

# The reliability suite at full scale (the fast cases of the same tests run in `make test`).
chaos: $(STAMP) controlplane ## crash safety (100+ SIGKILLs), flaky cloud, restarts, bad input, secrets, failover, events lost/duplicated/forged/stream out; prints figures
	OCIDS_CHAOS=full $(BIN)/pytest tests/integration/chaos tests/integration/ha -q -s -p no:xdist -p no:cacheprovider

bench-emulator: $(STAMP) ## emulator throughput
	$(PY) bench/emulator_bench.py

# The real oci CLI pins versions that clash with .venv, so it lives in its own venv.
OCICLI_VENV ?= .venv-ocicli
.PHONY: ocicli
ocicli: $(OCICLI_VENV)/.installed ## install the real oci CLI (3.95.1) for the emulator contract tests

$(OCICLI_VENV)/.installed:
	$(PYTHON) -m venv $(OCICLI_VENV)
	$(OCICLI_VENV)/bin/pip install --quiet oci-cli==3.95.1
	touch $@

bench-operator: $(STAMP) controlplane ## operator: time and OCI calls per run for 10/50/200 simulated runs
	$(PY) bench/operator_bench.py

clean: ## remove the venv and caches (not the Go-built binaries)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
