"""The three background pieces of the demo: a cluster, the OCI emulator and the operator.

Each `ensure_*` reuses what a previous `up` left running when it still answers, and otherwise
starts it afresh, so `make demo` can be run again at any time (also from another shell).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ocids_controlplane import Cluster, ControlPlane, ControlPlaneStartError, ExternalCluster, wait_until
from ocids_controlplane.controlplane import MARKER
from ocids_controlplane.ports import free_ports
from ocids_controlplane.processes import log_tail, same_process, stop_group
from ocids_controlplane.waiting import WaitTimeout

from . import state

BIN = Path(sys.executable).parent
CRD_DIR = state.REPO / "crds"
CRDS = ("trainingjobs.ocids.io", "trainingjobruns.ocids.io")


class DemoError(RuntimeError):
    """A step failed; the message says what and where to look."""


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


EXITED = "exited"  # what a readiness check returns when the process it waits for died


def _wait(check: Callable[[], str | None], timeout: float, what: str, log: Path) -> str:
    """wait_until, but a process that died fails at once, with the tail of its log."""
    try:
        result = wait_until(check, timeout=timeout, message=what)
    except WaitTimeout as exc:
        raise DemoError(f"{exc}; last lines of {log}:\n{log_tail(log, 30)}") from None
    if result == EXITED:
        raise DemoError(
            f"gave up waiting for {what}: the process exited; last lines of {log}:\n{log_tail(log, 30)}"
        )
    return str(result)


def _spawn(argv: list[str], log: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Start a process in its own session, outliving this one; returns its identity record."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
            cwd=log.parent, start_new_session=True,
        )  # fmt: skip

    def recorded() -> dict[str, Any] | None:
        if proc.poll() is not None:  # died at once: never alive, the caller's wait shows its log
            return {"pid": proc.pid, "cmdline": [], "start": ""}
        # Right after exec, /proc/<pid>/cmdline can still read empty: wait until it shows our
        # arguments (a script with a shebang runs as `interpreter script args`: compare the tail).
        record = state.identity(proc.pid)
        return record if record["cmdline"][-len(argv) + 1 :] == argv[1:] else None

    found = wait_until(recorded, timeout=10, interval=0.02, message=f"pid {proc.pid} in /proc")
    return {**(found or {}), "log": str(log)}  # wait_until returns only a truthy value


# -- cluster -------------------------------------------------------------------------------------


def _bundled_state(cp_dir: Path) -> dict[str, Any]:
    return state.load(cp_dir)  # ocids_controlplane's own state.json: `python -m ocids_controlplane`


def _bundled_running(cp_dir: Path) -> bool:
    procs = _bundled_state(cp_dir).get("processes") or []
    return bool(procs) and all(same_process(int(p["pid"]), str(p["exe"])) for p in procs)


def stop_bundled(cp_dir: Path) -> list[str]:
    stopped = []
    for proc in reversed(_bundled_state(cp_dir).get("processes") or []):
        if same_process(int(proc["pid"]), str(proc["exe"])):
            stop_group(int(proc["pid"]))
            stopped.append(f"{proc['name']} (pid {proc['pid']})")
    state.state_file(cp_dir).unlink(missing_ok=True)
    return stopped


def ensure_bundled_cluster(directory: Path) -> tuple[Cluster, bool]:
    """The demo's own control plane; True when it was (re)started, i.e. it is empty."""
    cp_dir = directory / "cluster"
    if _bundled_running(cp_dir):
        cluster = ExternalCluster(cp_dir / "kubeconfig", directory / "kube")
        if cluster.kubectl("get", "--raw", "/readyz", check=False, timeout=10).returncode == 0:
            return cluster, False
    stop_bundled(cp_dir)
    if cp_dir.exists() and (cp_dir / MARKER).exists():
        shutil.rmtree(cp_dir)  # only ever a folder a previous start created
    try:
        plane = ControlPlane.start(cp_dir, detached=True)
    except ControlPlaneStartError as exc:
        raise DemoError(f"the control plane did not start: {exc}") from None
    state.save(cp_dir, plane.state())
    return ExternalCluster(plane.kubeconfig, directory / "kube"), True


def server_of(cluster: Cluster) -> str:
    out = cluster.kubectl("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}")
    return out.stdout.strip()


def install_crds(cluster: Cluster) -> None:
    result = cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=ocids-demo", "-f", str(CRD_DIR),
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise DemoError(f"installing the CRDs failed:\n{result.stderr.strip()}")

    def established() -> bool:
        out = cluster.kubectl(
            "get", "crd", *CRDS, "-o",
            'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Established")].status}{"\\n"}{end}',
        )  # fmt: skip
        return out.stdout.split() == ["True", "True"]

    try:
        wait_until(established, timeout=60, message="the CRDs to be Established")
    except WaitTimeout as exc:
        raise DemoError(str(exc)) from None


# -- emulator ------------------------------------------------------------------------------------


def read_ids(data_dir: Path) -> dict[str, str]:
    ids = {}
    for line in (data_dir / "ids.env").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            ids[key.strip()] = value.strip()
    return ids


def stop_emulator(record: dict[str, Any] | None, data_dir: Path) -> bool:
    from ocids_emulator.execution.orphans import kill_orphans

    stopped = state.stop(record)
    # Training scripts run in sessions of their own; a crashed emulator could leave one behind.
    kill_orphans(data_dir / "runs")
    return stopped


def ensure_emulator(directory: Path, saved: dict[str, Any], fresh: bool) -> dict[str, Any]:
    """Start (or reuse) `ocids-emulator serve` on a free loopback port; `fresh` wipes its tenancy."""
    data_dir = directory / "emulator"
    record = saved.get("emulator") or {}
    if not fresh and state.alive(record) and _http_ok(f"{record.get('endpoint')}/_emulator/health"):
        return dict(record)
    stop_emulator(record, data_dir)
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    emulator = str(BIN / "ocids-emulator")
    init = subprocess.run(
        [emulator, "init", "--data-dir", str(data_dir), "--if-missing"], capture_output=True, text=True
    )
    if init.returncode != 0:
        raise DemoError(f"`ocids-emulator init` failed:\n{init.stderr.strip()}")
    endpoint_file = data_dir / "endpoint"
    endpoint_file.unlink(missing_ok=True)  # a crashed server leaves its last endpoint behind
    log = directory / "logs" / "emulator.log"
    record = _spawn([emulator, "serve", "--data-dir", str(data_dir), "--port", "0"], log)

    def answering() -> str | None:
        if not state.alive(record):
            return EXITED
        endpoint = endpoint_file.read_text().strip() if endpoint_file.exists() else ""
        return endpoint if endpoint and _http_ok(f"{endpoint}/_emulator/health") else None

    endpoint = _wait(answering, 30, "the emulator to answer", log)
    record.update(endpoint=endpoint, data_dir=str(data_dir))
    return record


# -- operator ------------------------------------------------------------------------------------


def operator_env(kubeconfig: str, emulator: dict[str, Any], ports: tuple[int, int]) -> dict[str, str]:
    data_dir = Path(emulator["data_dir"])
    endpoint = emulator["endpoint"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCIDS_", "KUBECONFIG"))}
    env.update(
        KUBECONFIG=kubeconfig,
        OCIDS_AUTH="api_key",
        OCIDS_OCI_CONFIG_FILE=str(data_dir / "config"),
        OCIDS_OCI_PROFILE="DEFAULT",
        OCIDS_REGION=read_ids(data_dir).get("REGION", "us-ashburn-1"),
        OCIDS_DATASCIENCE_ENDPOINT=endpoint,
        OCIDS_LOGGING_ENDPOINT=endpoint,
        OCIDS_OBJECT_STORAGE_ENDPOINT=endpoint,
        OCIDS_NETWORK_ENDPOINT=endpoint,
        OCIDS_NAMESPACES=state.NAMESPACE,
        # The emulator's runs take seconds: poll every second instead of the production 10.
        OCIDS_POLL_INTERVAL_SECONDS="1",
        OCIDS_RESYNC_INTERVAL_SECONDS="30",
        OCIDS_RETRY_BASE_SECONDS="1",
        OCIDS_RETRY_MAX_SECONDS="15",
        OCIDS_CLUSTER_NAME="demo",
        OCIDS_BIND_ADDRESS="127.0.0.1",
        OCIDS_HEALTH_PORT=str(ports[0]),
        OCIDS_METRICS_PORT=str(ports[1]),
        PYTHONUNBUFFERED="1",
    )
    return env


def ensure_operator(
    directory: Path, saved: dict[str, Any], kubeconfig: str, emulator: dict[str, Any]
) -> dict[str, Any]:
    """Start (or reuse) `python -m ocids_operator`; restarted whenever what it points at changed."""
    inputs = {"kubeconfig": kubeconfig, "endpoint": emulator["endpoint"], "namespace": state.NAMESPACE}
    record = saved.get("operator") or {}
    if (
        state.alive(record)
        and record.get("inputs") == inputs
        and _http_ok(f"http://127.0.0.1:{record.get('health_port')}/healthz")
    ):
        return dict(record)
    state.stop(record)
    health, metrics = free_ports(2)
    log = directory / "logs" / "operator.log"
    with contextlib.suppress(OSError), open(log, "a") as out:
        out.write(f"\n===== demo: operator starting, watching namespace {state.NAMESPACE}\n")
    record = _spawn(
        [sys.executable, "-m", "ocids_operator"], log, operator_env(kubeconfig, emulator, (health, metrics))
    )
    record.update(inputs=inputs, health_port=health, metrics_port=metrics)

    def ready() -> str | None:
        if not state.alive(record):
            return EXITED
        return "ready" if _http_ok(f"http://127.0.0.1:{health}/healthz") else None

    _wait(ready, 60, "the operator's /healthz", log)
    return record
