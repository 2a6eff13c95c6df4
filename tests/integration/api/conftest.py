"""The generated CRDs installed once per control plane, for the API tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from ocids_controlplane import Cluster

REPO = Path(__file__).resolve().parents[3]
CRD_NAMES = ("trainingjobs.ocids.io", "trainingjobruns.ocids.io")


@pytest.fixture(scope="session")
def api_crds(cluster: Cluster) -> Cluster:
    """Apply crds/*.yaml (server-side, like the operator tests) and wait until they are Established."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    for name in CRD_NAMES:
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")
    return cluster
