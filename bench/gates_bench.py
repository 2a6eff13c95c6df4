"""Gates benchmark (issue 18): what the admission gates cost a run when nothing is held.

    make bench BENCH_ARGS=--gates N=100       # or: .venv/bin/python bench/gates_bench.py --n 100

The same N runs (bench/scale_bench.py's bench_mode: the emulator's simulated runs, the operator as a
process, the shipped settings) one mode after the other, each in its own namespace:

- none:  no gate in force (the price table is there and the jobs have maximumRuntimeInMinutes, as
         in every mode: the gates are the only difference);
- gates: a TrainingBudget whose limit is far above the runs' worst case, the namespace annotation
         ocids.io/max-active-runs and OCIDS_MAX_ACTIVE_RUNS both at 2N: every gate looks, none holds;
- kueue: the gates, plus every run labelled kueue.x-k8s.io/queue-name for a LocalQueue whose
         ClusterQueue has ample cpu and memory quota, against a real Kueue (tools/kueue/, started
         for this mode only; --no-kueue skips it).

Per run and per mode: OCI calls (the emulator's count), Kubernetes writes (status patches and the
rest, Workloads and budgets included) and Events, and the start delay (creationTimestamp ->
status.createAttemptedAt, p50/p95), then each mode's difference from `none`. The Kueue mode also
splits its start delay: run created -> Workload created (the operator's gate), -> Admitted (Kueue),
-> createAttemptedAt (the operator's wake-up).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO_ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import gates_report  # noqa: E402
import scale_bench  # noqa: E402  (puts the operator harness on sys.path)
import scale_stats as stats  # noqa: E402
from ocids_controlplane.cluster import _tool  # noqa: E402
from operator_bench import cluster_for_bench  # noqa: E402
from operator_harness import Kube  # noqa: E402
from scale_bench import Variant  # noqa: E402

PRICES_NAMESPACE = "bench-prices"
PRICES = REPO_ROOT / "charts" / "ocids-operator" / "prices" / "prices.yaml"  # the chart's own table
MAX_RUNTIME_MINUTES = 60
BUDGET_LIMIT = 1_000_000.0  # USD: a run of the bench's shape costs about 0.05 an hour
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
KUEUE = "kueue.x-k8s.io/v1beta2"
QUEUE, CLUSTER_QUEUE, FLAVOR = "bench", "bench-gates", "bench-gates"


def price_table() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "prices", "namespace": PRICES_NAMESPACE},
        "data": {"prices.yaml": PRICES.read_text()},
    }


def budget(namespace: str) -> dict[str, Any]:
    """Covers every TrainingJob of the namespace (no selector), Hold: generous, never crossed."""
    return {
        "apiVersion": "ocids.io/v1alpha1",
        "kind": "TrainingBudget",
        "metadata": {"name": "bench", "namespace": namespace},
        "spec": {"limit": {"amount": BUDGET_LIMIT, "currency": "USD"}, "period": "Monthly", "action": "Hold"},
    }


def kueue_objects(namespace: str, n: int) -> list[dict[str, Any]]:
    """A ResourceFlavor, a ClusterQueue with quota for 10N runs' cpu and memory, a LocalQueue."""
    quota = [
        {"name": "cpu", "nominalQuota": 10 * n},
        {"name": "memory", "nominalQuota": f"{160 * n}Gi"},
    ]
    return [
        {"apiVersion": KUEUE, "kind": "ResourceFlavor", "metadata": {"name": FLAVOR}},
        {
            "apiVersion": KUEUE,
            "kind": "ClusterQueue",
            "metadata": {"name": CLUSTER_QUEUE},
            "spec": {
                "namespaceSelector": {},
                "resourceGroups": [
                    {"coveredResources": ["cpu", "memory"], "flavors": [{"name": FLAVOR, "resources": quota}]}
                ],
            },
        },
        {
            "apiVersion": KUEUE,
            "kind": "LocalQueue",
            "metadata": {"name": QUEUE, "namespace": namespace},
            "spec": {"clusterQueue": CLUSTER_QUEUE},
        },
    ]


def variants(n: int, with_kueue: bool) -> list[Variant]:
    common_env = {"OCIDS_PRICE_TABLE": f"{PRICES_NAMESPACE}/prices"}
    job_spec = {"maximumRuntimeInMinutes": MAX_RUNTIME_MINUTES}
    cap = str(2 * n)

    def gates(kube: Kube, namespace: str, ids: dict[str, str]) -> None:
        kube.kubectl("annotate", "namespace", namespace, f"ocids.io/max-active-runs={cap}")
        kube.apply(budget(namespace))

    def gates_and_kueue(kube: Kube, namespace: str, ids: dict[str, str]) -> None:
        gates(kube, namespace, ids)
        kube.apply(*kueue_objects(namespace, n))

    def kueue_steps(kube: Kube, namespace: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
        workloads = kube.list_objects("workloads.kueue.x-k8s.io", namespace)
        out: dict[str, Any] = {}
        for step, delays in stats.workload_steps(runs, workloads).items():
            summary = stats.lag_summary(delays)
            out[f"kueue_{step}_p50_s"], out[f"kueue_{step}_p95_s"] = summary["p50"], summary["p95"]
        return out

    gated_env = {**common_env, "OCIDS_MAX_ACTIVE_RUNS": cap}
    out = [
        Variant("none", env=common_env, job_spec=job_spec),
        Variant("gates", env=gated_env, job_spec=job_spec, prepare=gates),
    ]
    if with_kueue:
        out.append(
            Variant(
                "kueue",
                env=gated_env,
                job_spec=job_spec,
                run_labels={QUEUE_LABEL: QUEUE},
                prepare=gates_and_kueue,
                measure=kueue_steps,
            )
        )
    return out


@contextlib.contextmanager
def running_kueue(kube: Kube, work: Path) -> Iterator[None]:
    """The Kueue integration tests' own fixture process (tests/integration/kueue/kueue_process.py);
    on the way out its CRDs and webhooks go too, so a later mode sees a cluster without Kueue."""
    sys.path.insert(0, str(REPO_ROOT / "tests" / "integration" / "kueue"))
    from kueue_process import KueueProcess

    process = KueueProcess(kubectl=kube, work_dir=work)
    try:
        process.start()
        yield
    finally:
        process.stop()


def remove_kueue_objects(kube: Kube) -> None:
    """The bench's cluster-scoped queue and flavor (its LocalQueue goes with its namespace)."""
    for kind, name in (
        ("clusterqueues.kueue.x-k8s.io", CLUSTER_QUEUE),
        ("resourceflavors.kueue.x-k8s.io", FLAVOR),
    ):
        kube.kubectl("delete", kind, name, "--ignore-not-found", "--wait=false", check=False)


def run_modes(
    kube: Kube,
    args: argparse.Namespace,
    work: Path,
    kueue: Callable[[Kube, Path], contextlib.AbstractContextManager[Any]] = running_kueue,
) -> dict[str, dict[str, Any]]:
    """Each mode's figures (scale_bench.bench_mode's), by mode. `kueue`: what runs Kueue for its mode
    (a test passes its session's Kueue)."""
    kube.kubectl("create", "namespace", PRICES_NAMESPACE, check=False)
    kube.apply(price_table())
    results: dict[str, dict[str, Any]] = {}
    for variant in variants(args.n, not args.no_kueue):
        if variant.name != "kueue":
            results[variant.name] = scale_bench.bench_mode(kube, "list", args, work, variant)
            continue
        with kueue(kube, work / "kueue"):
            try:
                results[variant.name] = scale_bench.bench_mode(kube, "list", args, work, variant)
            finally:
                remove_kueue_objects(kube)
    return results


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100, help="TrainingJobRuns per mode, applied at once")
    parser.add_argument("--jobs", type=int, default=10, help="TrainingJobs the runs are spread over")
    parser.add_argument("--run-seconds", type=float, default=30.0, help="simulated run length")
    parser.add_argument(
        "--poll-interval", type=float, default=scale_bench.DEFAULT_POLL, help="operator poll interval"
    )
    parser.add_argument("--no-kueue", action="store_true", help="skip the Kueue mode")
    parser.add_argument("--timeout", type=float, default=None, help="per mode; default run-seconds + 600")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("BENCH_OUT", "bench/out/gates.json")))
    return settings(parser.parse_args(argv))


def settings(args: argparse.Namespace) -> argparse.Namespace:
    args.timeout = args.timeout or args.run_seconds + 600
    # What scale_bench.bench_mode reads that this bench keeps at the shipped values.
    args.sweeps, args.metrics, args.memray, args.profile, args.log_tail_lines = 0, False, False, 0, 0
    args.logs = args.out.resolve().parent / "logs"
    args.logs.mkdir(parents=True, exist_ok=True)
    args.plane_pids = {}  # the API server's and etcd's, when the bench started them (main)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="ocids-gates-") as tmp:
        work = Path(tmp)
        with cluster_for_bench(work / "cluster") as cluster:
            kube = Kube(cluster.kubeconfig, _tool("kubectl"), env=cluster.env())
            kube.install_crds()
            args.plane_pids = {
                p.name: p.popen.pid
                for p in getattr(cluster, "processes", [])
                if p.name in ("etcd", "kube-apiserver")
            }
            results = run_modes(kube, args, work)
    meta = {
        "jobs": args.jobs,
        "run_seconds": args.run_seconds,
        "cpus": os.cpu_count(),
        "kueue": "skipped (--no-kueue)" if args.no_kueue else "v0.17.0, built from source",
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    doc = gates_report.document(results, meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print()
    print(gates_report.table(doc))
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
