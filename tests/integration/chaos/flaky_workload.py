"""One pass of the flaky-cloud workload: its own namespace, emulator (simulated runs) and operator.

A pass applies `jobs` TrainingJobs and `runs` TrainingJobRuns spread over them, waits until every job
is Active and every run Succeeded while sampling the emulator's request count once a second, then
keeps watching for an idle period, and returns what it saw. The fault-free and the flaky pass run the
same code, so their figures compare like for like.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocids_emulator.testing import running_emulator
from operator_harness import JOBS, RUNS, Kube, OciTarget, OciView, OperatorProcess, wait_for
from operator_manifests import training_job, training_job_run
from prometheus_client.parser import text_string_to_metric_families

SCRIPT = "print('simulated: never executed')\n"
FAILED_RUN_PHASES = {"Failed", "Canceled", "NeedsAttention", "Deleted"}


@dataclass
class PassResult:
    converged_s: float
    # Requests the emulator answered until convergence, failed ones included: what the operator tried.
    requests: int
    requests_by_status: dict[str, int]
    requests_by_operation: dict[str, dict[str, int]]
    # The operator's own count (ocids_oci_calls_total): calls after the SDK's retries.
    operator_calls: float
    faults_injected: int
    peak_requests_per_s: float
    idle_s: float
    idle_requests: int
    operator_exits: int
    tracebacks: int
    # What exists in OCI at the end (deleted ones too): more than asked for means duplicates.
    oci_jobs: int
    oci_runs: int
    log: str = field(repr=False)

    @property
    def totals_by_operation(self) -> dict[str, int]:
        return {op: sum(statuses.values()) for op, statuses in self.requests_by_operation.items()}

    @property
    def idle_rate(self) -> float:
        return self.idle_requests / self.idle_s


def operator_calls(op: OperatorProcess) -> float:
    total = 0.0
    for family in text_string_to_metric_families(op.metrics_text()):
        for sample in family.samples:
            if sample.name == "ocids_oci_calls_total":
                total += float(sample.value)
    return total


def by_operation(stats: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {op: dict(entry.get("byStatus", {})) for op, entry in sorted(stats["operations"].items())}


def _by_status(stats: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in stats["operations"].values():
        for status, n in entry.get("byStatus", {}).items():
            counts[status] = counts.get(status, 0) + int(n)
    return counts


def run_pass(
    kube: Kube,
    work: Path,
    *,
    label: str,
    jobs: int,
    runs: int,
    faults: dict[str, Any] | None,
    idle_s: float,
    timeout: float,
    run_seconds: float = 3.0,
    operator_env: dict[str, str] | None = None,
) -> PassResult:
    namespace = f"flaky-{label}-{secrets.token_hex(3)}"
    kube.kubectl("create", "namespace", namespace)
    op: OperatorProcess | None = None
    try:
        with running_emulator(work / f"emulator-{label}", simulated=f"{run_seconds}:0") as emu:
            ids = {str(k): str(v) for k, v in dict(emu.ids).items()}
            kube.grant_compartments(namespace, ids["COMPARTMENT_ID"])  # as the namespace's admin would
            target = OciTarget(str(emu.endpoint), Path(emu.config_file), str(emu.profile), ids["REGION"])
            op = OperatorProcess(
                kube.kubeconfig,
                target,
                [namespace],
                work / f"operator-{label}.log",
                extra_env=dict(operator_env or {}),
            )
            op.start()
            wait_for(lambda: op is not None and op.metrics_text(), timeout=60, message="operator metrics")
            if faults:
                emu.admin.set_faults(faults)
            emu.admin.reset_stats()
            calls_before = operator_calls(op)

            start = time.monotonic()
            names = [f"job-{j}" for j in range(jobs)]
            kube.apply(
                *[
                    training_job(
                        name,
                        namespace,
                        compartment_id=ids["COMPARTMENT_ID"],
                        project_id=ids["PROJECT_ID"],
                        script=SCRIPT,
                        logging={"enabled": False},
                    )
                    for name in names
                ]
            )
            manifests = [training_job_run(f"run-{i}", namespace, names[i % jobs]) for i in range(runs)]
            for chunk in range(0, runs, 25):
                kube.apply(*manifests[chunk : chunk + 25])

            samples: list[tuple[float, int]] = [(start, 0)]

            def converged() -> bool:
                samples.append((time.monotonic(), int(emu.admin.stats()["total"])))
                if not op or not op.running:
                    raise AssertionError(f"operator exited:\n{op and op.log_text()[-3000:]}")
                job_phases = [
                    (o.get("status") or {}).get("phase") for o in kube.list_objects(JOBS, namespace)
                ]
                run_phases = [
                    (o.get("status") or {}).get("phase") for o in kube.list_objects(RUNS, namespace)
                ]
                bad = [p for p in run_phases if p in FAILED_RUN_PHASES]
                if bad:
                    raise AssertionError(f"runs ended {bad}; see {op.log_path}")
                return job_phases.count("Active") == jobs and run_phases.count("Succeeded") == runs

            wait_for(
                converged,
                timeout=timeout,
                interval=1.0,
                message=f"{label}: {jobs} jobs Active, {runs} runs Succeeded",
            )
            converged_s = time.monotonic() - start
            stats = emu.admin.stats()
            calls_after = operator_calls(op)
            injected = int(emu.admin.get_faults()["injected"])

            # Nothing left to do: what the operator asks now is its steady poll/resync, not a loop.
            idle_start = time.monotonic()
            time.sleep(idle_s)  # a fixed observation window: the figure is what happens during it
            idle_requests = int(emu.admin.stats()["total"]) - int(stats["total"])
            idle_elapsed = time.monotonic() - idle_start
            exits = 0 if op.running else 1
            log = op.log_text()
            # The test's own reads must neither fail nor count: faults off, after the last figure.
            emu.admin.clear_faults()
            oci = OciView(target)
            oci_jobs = oci.jobs(ids["COMPARTMENT_ID"], include_deleted=True)
            oci_runs = oci.job_runs(ids["COMPARTMENT_ID"], include_deleted=True)
            rates = [(n1 - n0) / max(t1 - t0, 1.0) for (t0, n0), (t1, n1) in itertools.pairwise(samples)]
            return PassResult(
                converged_s=converged_s,
                requests=int(stats["total"]),
                requests_by_status=_by_status(stats),
                requests_by_operation=by_operation(stats),
                operator_calls=calls_after - calls_before,
                faults_injected=injected,
                peak_requests_per_s=max(rates, default=0.0),
                idle_s=idle_elapsed,
                idle_requests=idle_requests,
                operator_exits=exits + max(0, op.starts - 1),
                tracebacks=log.count("Traceback"),
                oci_jobs=len(oci_jobs),
                oci_runs=len(oci_runs),
                log=log,
            )
    except BaseException:
        if op is not None:
            print(
                f"--- operator log ({label}), last 80 lines:\n" + "\n".join(op.log_text().splitlines()[-80:])
            )
        raise
    finally:
        if op is not None:
            op.stop()
        kube.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
