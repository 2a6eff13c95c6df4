"""Operator benchmark: N TrainingJobRuns of one TrainingJob against the emulator's simulated runs.

For N = 10, 50, 200 (or --sizes) it measures the time from `kubectl apply` of N runs until all are
Succeeded, the OCI calls the operator made per run over the runs' whole life (its
`ocids_oci_calls_total` metric, by operation), the OCI requests the emulator answered per run (its
own count from /_emulator/stats, a server-side cross-check: SDK retries show up there as extra
requests), and the operator's RSS. The point: OCI calls per run stay small and flat as N grows,
because one poller per compartment lists runs instead of each run polling on its own.

    make bench-operator            # or: .venv/bin/python bench/operator_bench.py --sizes 10,50

Each size gets a fresh namespace, emulator and operator, so the figures do not leak into each other.
The control plane is the bundled one (started here) or OCIDS_TEST_KUBECONFIG's cluster.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "integration" / "operator"))

from ocids_controlplane import Cluster, ControlPlane, ExternalCluster  # noqa: E402
from ocids_controlplane.cluster import _tool  # noqa: E402
from ocids_controlplane.waiting import wait_until  # noqa: E402
from operator_harness import (  # noqa: E402
    JOBS,
    RUNS,
    Kube,
    OciTarget,
    OperatorProcess,
)
from operator_manifests import training_job, training_job_run  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

SIMULATED_RUN_SECONDS = 5.0
SCRIPT = "print('simulated: never executed')\n"


@dataclass
class Result:
    runs: int
    apply_s: float
    all_succeeded_s: float
    oci_calls: float
    calls_by_operation: dict[str, float]
    server_requests: float
    server_by_operation: dict[str, float]
    rss_mb: float
    peak_rss_mb: float


@contextlib.contextmanager
def cluster_for_bench(workdir: Path) -> Iterator[Cluster]:
    external = os.environ.get("OCIDS_TEST_KUBECONFIG")
    if external:
        yield ExternalCluster(Path(external), workdir)
        return
    plane = ControlPlane.start(workdir)
    try:
        yield plane
    finally:
        plane.stop()


def oci_calls(op: OperatorProcess) -> dict[str, float]:
    """ocids_oci_calls_total by operation, from the operator's /metrics."""
    calls: dict[str, float] = {}
    for family in text_string_to_metric_families(op.metrics_text()):
        if family.name != "ocids_oci_calls":
            continue
        for sample in family.samples:
            if sample.name == "ocids_oci_calls_total":
                name = sample.labels.get("operation", "?")
                calls[name] = calls.get(name, 0.0) + float(sample.value)
    return calls


def poll_cycles(op: OperatorProcess) -> float:
    """ocids_poll_cycles_total (every outcome), from the operator's /metrics."""
    return sum(
        float(sample.value)
        for family in text_string_to_metric_families(op.metrics_text())
        if family.name == "ocids_poll_cycles"
        for sample in family.samples
        if sample.name == "ocids_poll_cycles_total"
    )


def server_requests(stats: dict[str, Any]) -> dict[str, float]:
    """OCI requests the emulator answered, by operation (any status), from /_emulator/stats."""
    return {op: float(entry["total"]) for op, entry in stats["operations"].items()}


def peak_rss_bytes(op: OperatorProcess) -> int:
    assert op.proc is not None
    for line in Path(f"/proc/{op.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def bench_size(kube: Kube, n: int, work: Path, run_seconds: float) -> Result:
    from ocids_emulator.testing import running_emulator

    namespace = f"bench-{n}-{int(time.time())}"
    kube.kubectl("create", "namespace", namespace)
    op: OperatorProcess | None = None
    try:
        with running_emulator(work / f"emulator-{n}", simulated=f"{run_seconds}:0") as emu:
            ids = {str(k): str(v) for k, v in dict(emu.ids).items()}
            kube.grant_compartments(namespace, ids["COMPARTMENT_ID"])  # as the namespace's admin would
            target = OciTarget(str(emu.endpoint), Path(emu.config_file), str(emu.profile), ids["REGION"])
            op = OperatorProcess(kube.kubeconfig, target, [namespace], work / f"operator-{n}.log")
            op.start()
            wait_until(lambda: op is not None and op.metrics_text(), timeout=60, message="operator metrics")
            kube.apply(
                training_job(
                    "bench",
                    namespace,
                    compartment_id=ids["COMPARTMENT_ID"],
                    project_id=ids["PROJECT_ID"],
                    script=SCRIPT,
                    logging={"enabled": False},
                )
            )
            wait_until(
                lambda: kube.status(JOBS, "bench", namespace).get("phase") == "Active",
                timeout=120,
                message="TrainingJob Active",
            )
            before = oci_calls(op)
            served_before = server_requests(emu.admin.stats())

            start = time.monotonic()
            runs = [training_job_run(f"run-{i:04d}", namespace, "bench") for i in range(n)]
            for chunk in range(0, n, 50):
                kube.apply(*runs[chunk : chunk + 50])
            applied = time.monotonic() - start

            def all_succeeded() -> bool:
                items = kube.list_objects(RUNS, namespace)
                phases = [(i.get("status") or {}).get("phase") for i in items]
                failed = [p for p in phases if p in ("Failed", "Canceled", "NeedsAttention", "Deleted")]
                if failed:
                    raise SystemExit(f"{len(failed)} runs ended {set(failed)}; see {op and op.log_path}")
                return len(items) == n and all(p == "Succeeded" for p in phases)

            wait_until(all_succeeded, timeout=600, interval=1.0, message=f"{n} runs Succeeded")
            elapsed = time.monotonic() - start
            after = oci_calls(op)
            served_after = server_requests(emu.admin.stats())
            by_op = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
            served = {k: served_after.get(k, 0.0) - served_before.get(k, 0.0) for k in served_after}
            return Result(
                runs=n,
                apply_s=applied,
                all_succeeded_s=elapsed,
                oci_calls=sum(by_op.values()),
                calls_by_operation={k: v for k, v in sorted(by_op.items()) if v},
                server_requests=sum(served.values()),
                server_by_operation={k: v for k, v in sorted(served.items()) if v},
                rss_mb=op.rss_bytes() / 2**20,
                peak_rss_mb=peak_rss_bytes(op) / 2**20,
            )
    except BaseException:
        # The work folder is removed on exit: show why here.
        if op is not None:
            print(f"--- operator log (last 60 lines) for N={n}:", file=sys.stderr)
            print("\n".join(op.log_text().splitlines()[-60:]), file=sys.stderr)
        raise
    finally:
        if op is not None:
            op.stop()
        kube.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def print_table(results: list[Result], run_seconds: float) -> None:
    print(f"\nOperator benchmark: simulated runs of {run_seconds:g} s, poll interval 1 s, one TrainingJob")
    ops = ("create_job_run", "get_job_run", "list_job_runs")
    header = (
        f"{'runs':>5} {'apply s':>8} {'all Succeeded s':>16} {'OCI calls':>10} {'calls/run':>10} "
        f"{'emulator req/run':>17} "
        + " ".join(f"{op + '/run':>18}" for op in ops)
        + f" {'RSS MB':>7} {'peak RSS MB':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        per_op = " ".join(f"{r.calls_by_operation.get(op, 0.0) / r.runs:>18.2f}" for op in ops)
        print(
            f"{r.runs:>5} {r.apply_s:>8.1f} {r.all_succeeded_s:>16.1f} {r.oci_calls:>10.0f} "
            f"{r.oci_calls / r.runs:>10.2f} {r.server_requests / r.runs:>17.2f} {per_op} "
            f"{r.rss_mb:>7.1f} {r.peak_rss_mb:>12.1f}"
        )
    print("\nOCI calls by operation over the runs' whole life (from ocids_oci_calls_total):")
    for r in results:
        detail = ", ".join(f"{k}={v:.0f}" for k, v in r.calls_by_operation.items())
        print(f"  N={r.runs:<4} {detail}")
    print("\nOCI requests the emulator answered, by operation (from /_emulator/stats; retries included):")
    for r in results:
        detail = ", ".join(f"{k}={v:.0f}" for k, v in r.server_by_operation.items())
        print(f"  N={r.runs:<4} {detail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10,50,200", help="comma-separated numbers of runs")
    parser.add_argument("--run-seconds", type=float, default=SIMULATED_RUN_SECONDS)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    with tempfile.TemporaryDirectory(prefix="ocids-bench-") as tmp:
        work = Path(tmp)
        with cluster_for_bench(work / "cluster") as cluster:
            kube = Kube(cluster.kubeconfig, _tool("kubectl"), env=cluster.env())
            kube.install_crds()
            results = []
            for n in sizes:
                print(f"... {n} runs", flush=True)
                results.append(bench_size(kube, n, work, args.run_seconds))
            print_table(results, args.run_seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
