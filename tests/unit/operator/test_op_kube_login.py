"""In a Pod the operator dials the API server the kubelet names, not a DNS name it may not resolve."""

from __future__ import annotations

from pathlib import Path

import kopf
from ocids_operator.adapters.kube_login import in_cluster


def account(tmp_path: Path) -> Path:
    (tmp_path / "token").write_text("tok-1\n")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "namespace").write_text("ocids-system")
    return tmp_path


def test_the_kubelets_service_address_is_the_server(tmp_path: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    info = in_cluster(kopf.OperatorSettings(), account(tmp_path), env)
    assert info is not None
    assert info.server == "https://10.96.0.1:443"
    assert info.token == "tok-1" and info.default_namespace == "ocids-system"
    assert info.ca_path == str(tmp_path / "ca.crt")


def test_an_ipv6_service_address_is_bracketed(tmp_path: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"}
    info = in_cluster(kopf.OperatorSettings(), account(tmp_path), env)
    assert info is not None and info.server == "https://[fd00::1]:6443"


def test_a_rotated_token_is_read_again_on_the_next_login(tmp_path: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    directory = account(tmp_path)
    (directory / "token").write_text("tok-2")
    info = in_cluster(kopf.OperatorSettings(), directory, env)
    assert info is not None and info.token == "tok-2"


def test_outside_a_pod_it_steps_aside(tmp_path: Path) -> None:
    assert in_cluster(kopf.OperatorSettings(), account(tmp_path), {}) is None
    assert in_cluster(kopf.OperatorSettings(), tmp_path / "none", {"KUBERNETES_SERVICE_HOST": "h"}) is None
