"""In a Pod the operator dials the API server the kubelet names, not a DNS name it may not resolve.

One rule (adapters/kube_login.py), the client-go one, for kopf's login handler, the operator's own
Kubernetes client and leader election's `kubernetes` client alike.
"""

from __future__ import annotations

import json
from pathlib import Path

import kopf
import pytest
from ocids_operator import handlers
from ocids_operator.adapters import kube_login, leader_election
from ocids_operator.adapters.kube import KubeClient
from ocids_operator.adapters.kube_login import in_cluster
from ocids_operator.settings import OperatorSettings

POD_ENV = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def account(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "token").write_text("tok-1\n")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "namespace").write_text("ocids-system")
    return tmp_path


@pytest.fixture
def pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process as a Pod sees itself: the kubelet's variables, a token volume, no kubeconfig."""
    directory = account(tmp_path / "serviceaccount")
    monkeypatch.setattr(kube_login, "SERVICE_ACCOUNT_DIR", directory)
    for name, value in POD_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.kube/config either
    return directory


def login_handlers(registry: kopf.OperatorRegistry) -> list[kopf.ActivityHandler]:
    # Every activity handler, not kopf's lookup: that one stops looking at the first login handler.
    return [h for h in registry._activities.get_all_handlers() if h.activity == "authentication"]


def test_the_kubelets_service_address_is_the_server(tmp_path: Path) -> None:
    info = in_cluster(kopf.OperatorSettings(), account(tmp_path), POD_ENV)
    assert info is not None
    assert info.server == "https://10.96.0.1:443"
    assert info.token == "tok-1" and info.default_namespace == "ocids-system"
    assert info.ca_path == str(tmp_path / "ca.crt")


def test_an_ipv6_service_address_is_bracketed(tmp_path: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"}
    info = in_cluster(kopf.OperatorSettings(), account(tmp_path), env)
    assert info is not None and info.server == "https://[fd00::1]:6443"


def test_a_rotated_token_is_read_again_on_the_next_login(tmp_path: Path) -> None:
    directory = account(tmp_path)
    (directory / "token").write_text("tok-2")
    info = in_cluster(kopf.OperatorSettings(), directory, POD_ENV)
    assert info is not None and info.token == "tok-2"


def test_outside_a_pod_it_steps_aside(tmp_path: Path) -> None:
    assert in_cluster(kopf.OperatorSettings(), account(tmp_path), {}) is None
    assert in_cluster(kopf.OperatorSettings(), tmp_path / "none", {"KUBERNETES_SERVICE_HOST": "h"}) is None


def test_exactly_one_login_handler_is_registered() -> None:
    """kopf picks at random among login handlers of one priority: a second one (kopf's own
    service-account login dials kubernetes.default.svc) made half the starts fail without DNS."""
    registry = kopf.OperatorRegistry()
    handlers.register(registry, OperatorSettings())
    (login,) = login_handlers(registry)
    assert login.id == "login"


def test_kopf_the_operators_client_and_leader_election_dial_the_same_address(pod: Path) -> None:
    registry = kopf.OperatorRegistry()
    handlers.register(registry, OperatorSettings())
    (handler,) = login_handlers(registry)
    kopf_info = handler.fn(settings=kopf.OperatorSettings())
    client_info = KubeClient(kube_login.login())._login_again()
    election = leader_election.api_client().configuration

    assert kopf_info.server == client_info.server == election.host == "https://10.96.0.1:443"
    assert kopf_info.ca_path == client_info.ca_path == election.ssl_ca_cert == str(pod / "ca.crt")
    # Verified against the address dialed, as client-go does: no other name to resolve or check.
    assert election.tls_server_name is None
    assert election.get_api_key_with_prefix("BearerToken") == "Bearer tok-1"


def test_leader_election_reads_a_rotated_token_for_its_next_request(pod: Path) -> None:
    election = leader_election.api_client().configuration
    (pod / "token").write_text("tok-2\n")
    assert election.get_api_key_with_prefix("BearerToken") == "Bearer tok-2"


def test_a_token_without_the_kubelets_variables_is_not_taken_for_a_pod(
    pod: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """client-go's rule: without KUBERNETES_SERVICE_HOST/PORT it is not in a cluster, and the
    kubeconfig is next; kopf's own login would have dialed kubernetes.default.svc with the token."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "u", "user": {"token": "kubeconfig-token"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert kube_login.login().server == "https://127.0.0.1:6443"
    assert leader_election.api_client().configuration.host == "https://127.0.0.1:6443"


def test_no_pod_and_no_kubeconfig_is_a_login_error_naming_both(
    pod: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT")
    with pytest.raises(kopf.LoginError, match=r"KUBERNETES_SERVICE_HOST/PORT.*KUBECONFIG"):
        kube_login.login()
