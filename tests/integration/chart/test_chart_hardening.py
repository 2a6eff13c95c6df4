"""The chart's hardening: a NetworkPolicy keeping the operator away from the instance metadata service
(where the auth mode allows it), a bounded /tmp, an ephemeral-storage request and limit, and the
artifact and endpoint settings. The NetworkPolicy and the Deployment are accepted by a real API server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from chart_helm import CHART, by_kind, env_of, helm, render
from ocids_controlplane import Cluster

GiB = 1 << 30


def _tmp_volume(deploy: Any) -> Any:
    return next(v for v in deploy["spec"]["template"]["spec"]["volumes"] if v["name"] == "tmp")


def _quantity(text: str) -> int:
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(text[: -len(suffix)]) * factor
    return int(text)


def test_default_render_bounds_tmp_and_denies_the_metadata_range(tmp_path: Path) -> None:
    docs = render(tmp_path)
    (deploy,) = by_kind(docs, "Deployment")
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    limit = _quantity(_tmp_volume(deploy)["emptyDir"]["sizeLimit"])
    resources = container["resources"]
    assert limit == GiB
    assert _quantity(resources["requests"]["ephemeral-storage"]) > 0
    assert _quantity(resources["limits"]["ephemeral-storage"]) > limit  # /tmp plus the logs
    env = env_of(deploy)
    # The spool budget stays below the emptyDir's limit, so a full spool refuses a download
    # (retried) instead of the kubelet evicting the pod.
    assert 64 << 20 <= int(env["OCIDS_ARTIFACT_SPOOL_MAX_BYTES"]) < limit
    assert "OCIDS_ARTIFACT_URL_ALLOWED_HOSTS" not in env and "OCIDS_ALLOW_INSECURE_ENDPOINTS" not in env

    (policy,) = by_kind(docs, "NetworkPolicy")
    pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["policyTypes"] == ["Egress"]  # ingress (probes, metrics) untouched
    peers = [peer for rule in policy["spec"]["egress"] for peer in rule["to"]]
    blocks = [peer["ipBlock"] for peer in peers if "ipBlock" in peer]
    v4 = next(b for b in blocks if b["cidr"] == "0.0.0.0/0")
    v6 = next(b for b in blocks if b["cidr"] == "::/0")
    assert "169.254.0.0/16" in v4["except"]
    assert {"fd00:c1::/64", "fe80::/10"} <= set(v6["except"])


@pytest.mark.parametrize(
    ("values", "policy"),
    [
        (["--set", "oci.auth=oke_workload_identity", "--set", "oci.region=us-ashburn-1"], True),
        # The instance principal reads the node's certificate from the metadata service.
        (["--set", "oci.auth=instance_principal"], False),
        (["--set", "oci.auth=resource_principal"], False),
        (["--set", "networkPolicy.enabled=false"], False),
    ],
)
def test_the_network_policy_follows_the_auth_mode_and_its_toggle(
    tmp_path: Path, values: list[str], policy: bool
) -> None:
    assert bool(by_kind(render(tmp_path, *values), "NetworkPolicy")) is policy


def test_artifact_and_endpoint_values_reach_the_operator(tmp_path: Path) -> None:
    docs = render(
        tmp_path,
        "--set", "artifacts.allowedHosts={*.objectstorage.us-ashburn-1.oci.customer-oci.com,10.0.0.0/8}",
        "--set", "artifacts.spoolMaxBytes=268435456",
        "--set", "tmpSizeLimit=512Mi",
        "--set", "oci.endpoints.dataScience=http://emulator:12000",
        "--set", "oci.allowInsecureEndpoints=true",
    )  # fmt: skip
    (deploy,) = by_kind(docs, "Deployment")
    env = env_of(deploy)
    assert env["OCIDS_ARTIFACT_URL_ALLOWED_HOSTS"] == (
        "*.objectstorage.us-ashburn-1.oci.customer-oci.com,10.0.0.0/8"
    )
    assert env["OCIDS_ARTIFACT_SPOOL_MAX_BYTES"] == "268435456"
    assert env["OCIDS_ALLOW_INSECURE_ENDPOINTS"] == "true"
    assert _tmp_volume(deploy)["emptyDir"]["sizeLimit"] == "512Mi"


def test_a_spool_smaller_than_one_artifact_is_refused_by_the_schema(tmp_path: Path) -> None:
    result = helm(
        tmp_path, "template", "x", str(CHART), "--set", "artifacts.spoolMaxBytes=1000", check=False,
    )  # fmt: skip
    assert result.returncode != 0 and "spoolMaxBytes" in result.stderr


def test_the_api_server_accepts_the_policy_and_the_bounded_pod(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    docs = render(tmp_path, release=f"np-{namespace[-6:]}", namespace=namespace)
    objects = by_kind(docs, "NetworkPolicy") + by_kind(docs, "Deployment")
    text = "\n---\n".join(json.dumps(d) for d in objects)
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=text)
    assert "networkpolicy.networking.k8s.io" in result.stdout and "deployment.apps" in result.stdout
