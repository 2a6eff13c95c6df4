"""Fixtures for every integration test: a real Kubernetes API server and a namespace per test.

`cluster` (session scope) starts one bundled control plane (etcd + kube-apiserver +
kube-controller-manager, built by `make controlplane`) per xdist worker, lazily: tests that do not
request it never pay for it. With OCIDS_TEST_KUBECONFIG=/path/to/kubeconfig the tests use that
existing cluster (kind, OKE, `make cluster-up`) instead and start nothing. A plain KUBECONFIG is
deliberately ignored so a test run never lands on whatever cluster the shell happens to point at.

Polling helper for tests: `from ocids_controlplane.waiting import wait_until`.

The operator harness (`operator/harness_*.py`) and its fixtures (`kube`, `emulator`, `oci_target`,
`start_operator`, `world`, `e2e`) serve every integration test folder: the operator flow, the
image, the chart and GitOps tests all drive the same real processes.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ocids_controlplane import Cluster, ControlPlane, ExternalCluster, MissingBinaryError

sys.path.insert(0, str(Path(__file__).parent / "operator"))

from operator_fixtures import (  # needs the harness folder on sys.path, set just above
    e2e,
    emulator,
    kube,
    oci_target,
    pytest_runtest_makereport,
    start_operator,
    world,
)

__all__ = ["e2e", "emulator", "kube", "oci_target", "pytest_runtest_makereport", "start_operator", "world"]

EXTERNAL_ENV = "OCIDS_TEST_KUBECONFIG"
NAMESPACE_LABEL = "ocids-test/namespace"
ALLOWED_COMPARTMENTS = "ocids.io/allowed-compartments"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("cluster")
    external = os.environ.get(EXTERNAL_ENV)
    if external:
        if not Path(external).is_file():
            pytest.fail(f"{EXTERNAL_ENV}={external} is not a file")
        yield ExternalCluster(Path(external), workdir)
        return
    try:
        plane = ControlPlane.start(workdir)
    except MissingBinaryError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def bundled_cluster(cluster: Cluster) -> ControlPlane:
    """The bundled control plane itself, for tests about it; skipped against an external cluster."""
    if not isinstance(cluster, ControlPlane):
        pytest.skip(f"tests the bundled control plane; {EXTERNAL_ENV} points at an external cluster")
    return cluster


def _namespace_name(test_name: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")[:48].rstrip("-")
    return f"{base or 't'}-{secrets.token_hex(3)}"


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test; deleted afterwards without waiting for finalizers."""
    name = _namespace_name(request.node.name)
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, f"{NAMESPACE_LABEL}=true")
    if "emulator" in request.fixturenames:
        # As a cluster admin would: the operator (OCIDS_COMPARTMENT_POLICY=annotated, the default)
        # serves a namespace only in the compartments granted to it, here the test's emulator's.
        compartment = request.getfixturevalue("emulator").ids["COMPARTMENT_ID"]
        cluster.kubectl("annotate", "namespace", name, f"{ALLOWED_COMPARTMENTS}={compartment}")
    yield name
    # --wait=false: objects with finalizers of an operator the test already stopped must not
    # block the run; the namespace goes once they are released (or with the throwaway cluster).
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
