"""`up` and `down`: bring the demo up step by step, show what it did, and take it all down again."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from ocids_controlplane import Cluster, CommandError, ExternalCluster, binary, wait_until
from ocids_controlplane.waiting import WaitTimeout

from . import quickstart, report, stack, state
from .cli import shown
from .progress import Progress
from .stack import DemoError


def _kubeconfig_from_env(directory: Path) -> str | None:
    """The user's cluster, if KUBECONFIG names one; not when it is the demo's own (after `eval`)."""
    value = os.environ.get("KUBECONFIG", "").strip()
    paths = [str(Path(p).resolve()) for p in value.split(os.pathsep) if p]
    if not paths or paths == [str(directory / "cluster" / "kubeconfig")]:
        return None
    return os.pathsep.join(paths)


def _client(directory: Path, kubeconfig: str) -> Cluster:
    return ExternalCluster(Path(kubeconfig), directory / "kube")


def up(directory: Path) -> int:
    started = time.monotonic()
    print(f"ocids-operator demo (state and logs in {shown(directory)}/)")
    try:
        with state.locked(directory):
            outcome = _up(directory)
    except DemoError as exc:
        print(f"\nerror: {exc}\n")
        print("What did start keeps running so you can look at it; `make demo-down` stops it.")
        return 1
    except CommandError as exc:
        print(f"\nerror: {exc}\n\n`make demo-down` stops what did start.")
        return 1
    return report.show(directory, *outcome, elapsed=time.monotonic() - started)


def _up(directory: Path) -> tuple[Cluster, dict[str, Any]]:
    progress = Progress()
    saved = state.load(directory)
    external = _kubeconfig_from_env(directory)
    previous = saved.get("cluster") or {}
    wanted = ("external", external) if external else ("bundled", None)
    had = (previous.get("mode"), previous.get("kubeconfig") if previous.get("mode") == "external" else None)
    if previous and had != wanted:
        print(f"  the previous demo used another cluster ({previous.get('server')}): stopping it first")
        _down(directory, saved)
        saved = {}

    with progress.step("cluster") as step:
        if external:
            cluster = _client(directory, external)
            probe = cluster.kubectl("version", "-o", "json", check=False, timeout=30)
            if probe.returncode != 0:
                raise DemoError(
                    f"the cluster of KUBECONFIG={external} does not answer:\n{probe.stderr.strip()}"
                )
            fresh = not saved
            server = stack.server_of(cluster)
            step.result = f"using KUBECONFIG={external} ({server}); `make demo-down` never stops it"
        else:
            cluster, fresh = stack.ensure_bundled_cluster(directory)
            server = stack.server_of(cluster)
            verb = "started" if fresh else "reusing"
            step.result = (
                f"{verb} the local control plane at {server} (logs: {shown(directory / 'cluster/logs')}/)"
            )
        mode = "external" if external else "bundled"
        saved["cluster"] = {"mode": mode, "kubeconfig": str(cluster.kubeconfig), "server": server}
        saved["kubectl"] = str(binary("kubectl"))
        state.save(directory, saved)

    with progress.step("CRDs") as step:
        stack.install_crds(cluster)
        step.result = f"kubectl apply --server-side -f crds/: {', '.join(stack.CRDS)} Established"

    with progress.step("OCI emulator") as step:
        saved["emulator"] = emulator = stack.ensure_emulator(directory, saved, fresh)
        state.save(directory, saved)
        step.result = (
            f"{emulator['endpoint']} (pid {emulator['pid']}, tenancy in {shown(emulator['data_dir'])}/)"
        )

    with progress.step("operator") as step:
        saved["operator"] = operator = stack.ensure_operator(
            directory, saved, str(cluster.kubeconfig), emulator
        )
        state.save(directory, saved)
        step.result = f"python -m ocids_operator, pid {operator['pid']}, watching namespace {state.NAMESPACE}"

    with progress.step("quickstart") as step:
        ids = stack.read_ids(Path(emulator["data_dir"]))
        manifest = quickstart.render(cluster, ids, directory / "quickstart.yaml")
        applied = quickstart.apply(cluster, manifest)
        step.result = (
            f"{shown(quickstart.EXAMPLE)}/ with the emulator's OCIDs: kubectl apply -f {shown(manifest)}"
        )
    for line in applied:
        print(f"       {line}")

    with progress.step(f"waiting for TrainingJob {quickstart.JOB} to be Active") as step:
        job = quickstart.wait_job_active(cluster, step)
        step.result = f"OCI job {job['status'].get('jobId')}"

    with progress.step("waiting for runs to finish") as step:
        runs = quickstart.wait_runs_final(cluster, step)
        step.result = ", ".join(f"{r['metadata']['name']}: {quickstart.phase(r)}" for r in runs)
    return cluster, emulator


# -- down ----------------------------------------------------------------------------------------


def down(directory: Path) -> int:
    with state.locked(directory):
        saved = state.load(directory)
        if not saved and not state.state_file(directory / "cluster").exists():
            print(f"nothing to stop: no demo state in {shown(directory)}/")
            return 0
        leftovers = _down(directory, saved)
    if leftovers:
        print(f"error: still running after stopping: {', '.join(leftovers)}")
        return 1
    print(
        "demo stopped: none of its processes is running any more"
        f" (logs and emulator data kept in {shown(directory)}/; the next `make demo` starts afresh)"
    )
    return 0


def _down(directory: Path, saved: dict[str, Any]) -> list[str]:
    """Stops everything `up` recorded; returns what is still running afterwards."""
    cluster_info = saved.get("cluster") or {}
    operator, emulator = saved.get("operator") or {}, saved.get("emulator") or {}
    if cluster_info.get("mode") == "external":
        _clean_external(_client(directory, cluster_info["kubeconfig"]), state.alive(operator))
    records = [("operator", operator), ("emulator", emulator)]
    control_plane = (state.load(directory / "cluster").get("processes")) or []
    if state.stop(operator):
        print(f"stopped the operator (pid {operator['pid']})")
    if stack.stop_emulator(emulator, Path(emulator.get("data_dir") or directory / "emulator")):
        print(f"stopped the emulator (pid {emulator['pid']})")
    for what in stack.stop_bundled(directory / "cluster"):
        print(f"stopped {what}")
    if cluster_info.get("mode") == "external":
        print(
            f"left the cluster of KUBECONFIG={cluster_info['kubeconfig']} running (the demo did not start it)"
        )
    left = [
        f"{name} (pid {rec['pid']})"
        for name, rec in records
        if rec.get("pid") and (state.alive(rec) or state.group_members(int(rec["pid"])))
    ]
    left += [f"{p['name']} (pid {p['pid']})" for p in control_plane if state.group_members(int(p["pid"]))]
    if not left:  # otherwise keep the records, so that another `down` can try again
        state.state_file(directory).unlink(missing_ok=True)
    return left


def _clean_external(cluster: Cluster, operator_running: bool) -> None:
    """Remove the demo's namespace from a cluster the user owns, while the operator can still
    release its finalizers (it deletes the OCI side in the emulator, which goes away next)."""
    ns = state.NAMESPACE
    if cluster.kubectl("get", "namespace", ns, check=False, timeout=30).returncode != 0:
        return
    if not operator_running:
        _drop_finalizers(cluster)
    cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
    gone = lambda: cluster.kubectl("get", "namespace", ns, check=False).returncode != 0  # noqa: E731
    try:
        wait_until(gone, timeout=90, interval=0.5, message=f"namespace {ns} to be deleted")
    except WaitTimeout:
        _drop_finalizers(cluster)  # the operator could not finish in time: the emulator goes anyway
        try:
            wait_until(gone, timeout=60, interval=0.5, message=f"namespace {ns} to be deleted")
        except WaitTimeout:
            print(f"warning: namespace {ns} is still terminating; check `kubectl get ns {ns} -o yaml`")
            return
    print(f"deleted namespace {ns} from the KUBECONFIG cluster")


def _drop_finalizers(cluster: Cluster) -> None:
    names = cluster.kubectl("get", "tj,tjr", "-n", state.NAMESPACE, "-o", "name", check=False).stdout.split()
    for name in names:
        cluster.kubectl(
            "patch", name, "-n", state.NAMESPACE, "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
            check=False,
        )  # fmt: skip


# -- logs ----------------------------------------------------------------------------------------


def logs(directory: Path, name: str) -> int:
    saved = state.load(directory)
    emulator, cluster_info = saved.get("emulator") or {}, saved.get("cluster") or {}
    if not state.alive(emulator):
        print("no demo is up; run `make demo` first")
        return 1
    cluster = _client(directory, cluster_info["kubeconfig"])
    run = cluster.kubectl_json("get", "trainingjobrun", name, "-n", state.NAMESPACE)
    query = report.log_query(run)
    if query is None:
        print(f"{name} has no log link in its status yet (phase {quickstart.phase(run)})")
        return 1
    print(f"# {query}")
    for line in report.search_logs(emulator["endpoint"], Path(emulator["data_dir"]) / "config", query):
        print(line)
    return 0
