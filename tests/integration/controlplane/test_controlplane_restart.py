"""Restarting the bundled API server (what the reliability suite does mid-run) keeps the cluster."""

from __future__ import annotations

import secrets

import pytest
from ocids_controlplane import ControlPlane
from ocids_controlplane.processes import pid_alive

pytestmark = pytest.mark.integration


def _apiserver_pid(plane: ControlPlane) -> int:
    return next(p.pid for p in plane.processes if p.name == "kube-apiserver")


@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "sigkill"])
def test_restart_apiserver_keeps_address_and_objects(bundled_cluster: ControlPlane, hard: bool) -> None:
    name = f"survivor-{secrets.token_hex(3)}"
    bundled_cluster.kubectl("create", "configmap", name, "-n", "default", "--from-literal=kept=yes")
    server, old_pid = bundled_cluster.server, _apiserver_pid(bundled_cluster)
    try:
        seconds = bundled_cluster.restart_apiserver(hard=hard)

        assert 0 < seconds < 60
        assert not pid_alive(old_pid) and _apiserver_pid(bundled_cluster) != old_pid
        # Same address and credentials: existing kubeconfigs keep working, etcd kept the data.
        assert bundled_cluster.server == server
        got = bundled_cluster.kubectl_json("get", "configmap", name, "-n", "default")
        assert got["data"] == {"kept": "yes"}
        assert bundled_cluster.kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"
    finally:
        bundled_cluster.kubectl("delete", "configmap", name, "-n", "default", "--ignore-not-found")
