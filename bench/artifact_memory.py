"""Operator memory with large `https://` artifacts: N TrainingJobs, each a 60 MiB artifact URL.

Before the artifact fetch was streamed, every reconcile and resync held the whole artifact in memory
(one 60 MiB artifact: 214 MiB RSS; four: 528 MiB, over the chart's 512 Mi limit, and all of them
are fetched again together at start-up). This starts a real operator (`python -m ocids_operator`)
against the emulator, serves the artifacts from a local https server on 127.0.0.1 (a throwaway CA
the operator trusts through SSL_CERT_FILE; loopback allowed by OCIDS_ARTIFACT_URL_ALLOW_LOOPBACK),
waits until every job is Active, then restarts the operator (start-up: every job reconciled at
once) and reports the peak RSS (VmHWM) of both processes.

    .venv/bin/python bench/artifact_memory.py --counts 1,4 --mib 60
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "integration" / "operator"))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from ocids_controlplane.cluster import _tool  # noqa: E402
from ocids_controlplane.waiting import wait_until  # noqa: E402
from operator_bench import cluster_for_bench, peak_rss_bytes  # noqa: E402
from operator_harness import JOBS, Kube, OciTarget, OperatorProcess  # noqa: E402
from operator_manifests import training_job  # noqa: E402
from test_operator_artifact_defects import ArtifactHost, operator_env, serve  # noqa: E402


def bench_count(kube: Kube, n: int, artifact: Path, work: Path) -> tuple[float, float, float]:
    """(peak RSS MiB while creating, peak RSS MiB after a restart, seconds until all Active)."""
    from ocids_emulator.testing import running_emulator

    namespace = f"artifacts-{n}-{int(time.time())}"
    kube.kubectl("create", "namespace", namespace)
    host = ArtifactHost()
    op: OperatorProcess | None = None
    try:
        with running_emulator(work / f"emulator-{n}") as emu, serve(host, work) as (https, _):
            ids = {str(k): str(v) for k, v in dict(emu.ids).items()}
            kube.grant_compartments(namespace, ids["COMPARTMENT_ID"])  # as the namespace's admin would
            target = OciTarget(str(emu.endpoint), Path(emu.config_file), str(emu.profile), ids["REGION"])
            env = {**operator_env(host), "OCIDS_RESYNC_INTERVAL_SECONDS": "300"}
            op = OperatorProcess(kube.kubeconfig, target, [namespace], work / f"operator-{n}.log", env)
            op.start()
            wait_until(lambda: op is not None and op.metrics_text(), timeout=60, message="operator metrics")
            jobs = []
            for i in range(n):
                host.files[f"/job-{i}/train.zip"] = artifact
                job = training_job(
                    f"big-{i}",
                    namespace,
                    compartment_id=ids["COMPARTMENT_ID"],
                    project_id=ids["PROJECT_ID"],
                    script="unused",
                    logging={"enabled": False},
                )
                job["spec"]["artifact"] = {"url": f"{https}/job-{i}/train.zip"}
                jobs.append(job)
            start = time.monotonic()
            kube.apply(*jobs)

            def all_active() -> bool:
                return all(
                    kube.status(JOBS, f"big-{i}", namespace).get("phase") == "Active" for i in range(n)
                )

            wait_until(all_active, timeout=600, interval=1.0, message=f"{n} TrainingJobs Active")
            elapsed = time.monotonic() - start
            first_peak = peak_rss_bytes(op) / 2**20

            # Start-up: every TrainingJob is resumed (and its artifact fetched again) at once.
            op.restart()
            wait_until(
                lambda: all(host.downloads.get(f"/job-{i}/train.zip", 0) >= 2 for i in range(n)),
                timeout=600,
                interval=1.0,
                message="every artifact fetched again after the restart",
            )
            wait_until(all_active, timeout=600, interval=1.0, message="still Active after the restart")
            return first_peak, peak_rss_bytes(op) / 2**20, elapsed
    except BaseException:
        if op is not None:
            print("\n".join(op.log_text().splitlines()[-60:]), file=sys.stderr)
        raise
    finally:
        if op is not None:
            op.stop()
        kube.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", default="1,4", help="comma-separated numbers of TrainingJobs")
    parser.add_argument("--mib", type=int, default=60, help="artifact size in MiB (limit: 64)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ocids-artifact-bench-") as tmp:
        work = Path(tmp)
        artifact = work / "artifact.zip"
        with open(artifact, "wb") as fh:
            for _ in range(args.mib):
                fh.write(os.urandom(1 << 20))
        rows = []
        with cluster_for_bench(work / "cluster") as cluster:
            kube = Kube(cluster.kubeconfig, _tool("kubectl"), env=cluster.env())
            kube.install_crds()
            for n in (int(c) for c in args.counts.split(",") if c):
                print(f"... {n} x {args.mib} MiB", flush=True)
                rows.append((n, *bench_count(kube, n, artifact, work)))
        print(f"{'jobs':>5} {'peak RSS, create':>17} {'peak RSS, restart':>18} {'all Active':>11}")
        for n, first, restart, elapsed in rows:
            print(f"{n:>5} {first:>14.0f} MiB {restart:>15.0f} MiB {elapsed:>9.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
