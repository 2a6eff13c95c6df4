"""Starting and stopping: `ocids-controlplane up/status/down` leaves nothing behind."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from ocids_controlplane import ControlPlane, ControlPlaneStartError, ExternalCluster, binary
from ocids_controlplane.processes import pid_alive
from ocids_controlplane.waiting import wait_until

pytestmark = pytest.mark.integration


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ocids_controlplane", *args], capture_output=True, text=True, timeout=180
    )


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_cli_up_status_down_leaves_no_process(bundled_cluster: ControlPlane, tmp_path: Path) -> None:
    state_dir = tmp_path / "cluster"
    foreign = tmp_path / "not-a-cluster"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    refused = _cli("up", "--dir", str(foreign))
    assert refused.returncode == 2 and "not created by ocids-controlplane" in refused.stderr
    assert (foreign / "precious.txt").read_text() == "keep me"

    up = _cli("up", "--dir", str(state_dir))
    assert up.returncode == 0, up.stderr
    kubeconfig = state_dir / "kubeconfig"
    assert up.stdout.strip() == f"export KUBECONFIG={kubeconfig}"
    state = json.loads((state_dir / "state.json").read_text())
    pids = [p["pid"] for p in state["processes"]]
    assert [p["name"] for p in state["processes"]] == ["etcd", "kube-apiserver", "kube-controller-manager"]
    try:
        # The detached cluster outlives the `up` process and serves requests.
        external = ExternalCluster(kubeconfig, tmp_path / "client")
        assert external.kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"
        again = _cli("up", "--dir", str(state_dir))
        assert again.returncode == 0 and "already running" in again.stderr
        status = _cli("status", "--dir", str(state_dir))
        assert status.returncode == 0 and status.stdout.count(" running") == 3, status.stdout
    finally:
        down = _cli("down", "--dir", str(state_dir))
    assert down.returncode == 0, down.stderr
    assert all(not pid_alive(pid) for pid in pids)
    api_port = int(state["server"].rsplit(":", 1)[1])
    wait_until(lambda: _port_free(api_port), timeout=10, message="the API server port to be released")
    assert _cli("status", "--dir", str(state_dir)).returncode == 3


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if text.encode() in (proc / "cmdline").read_bytes() and pid_alive(int(proc.name)):
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def test_instances_run_side_by_side_and_stop_cleanly(bundled_cluster: ControlPlane, tmp_path: Path) -> None:
    with ControlPlane.start(tmp_path / "second") as plane:
        assert plane.server != bundled_cluster.server
        assert plane.kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"
        pids = [p.pid for p in plane.processes]
        assert len(pids) == 3
    assert all(not pid_alive(pid) for pid in pids)
    assert _processes_mentioning(str(tmp_path / "second")) == []


def test_failed_start_reports_the_component_log_and_stops_the_rest(
    bundled_cluster: ControlPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    for name in ("etcd", "kube-controller-manager", "kubectl"):
        (assets / name).symlink_to(binary(name))
    fake = assets / "kube-apiserver"
    fake.write_text("#!/bin/sh\necho 'E1128 fake failure: cannot load the serving key' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(assets))
    workdir = tmp_path / "broken"
    with pytest.raises(
        ControlPlaneStartError, match=r"(?s)kube-apiserver exited with 3.*cannot load the serving key"
    ):
        ControlPlane.start(workdir)
    assert _processes_mentioning(str(workdir)) == []  # the etcd it had started is gone too
