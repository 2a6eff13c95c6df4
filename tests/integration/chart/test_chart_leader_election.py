"""The chart's high-availability values: leader election on by default (two replicas, a Lease Role
in the release namespace, a PodDisruptionBudget, spread over nodes), and a plain single replica
without any of it when switched off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chart_helm import CHART, by_kind, helm, render

LEASE_RULES = [
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}
]


def env_items(deploy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_by_default_a_leader_and_a_standby_elect_on_a_lease_in_the_release_namespace(tmp_path: Path) -> None:
    docs = render(tmp_path, namespace="ops")
    (deploy,) = by_kind(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 2
    assert deploy["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    env = env_items(deploy)
    assert env["OCIDS_LEADER_ELECTION"]["value"] == "true"
    assert env["OCIDS_LEADER_ELECTION_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    assert env["OCIDS_LEADER_ELECTION_IDENTITY"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert [
        env[f"OCIDS_LEADER_ELECTION_{k}_SECONDS"]["value"]
        for k in ("LEASE_DURATION", "RENEW_DEADLINE", "RETRY_PERIOD")
    ] == ["12", "8", "2"]

    (role,) = by_kind(docs, "Role")
    assert role["metadata"] == {
        **role["metadata"],
        "name": "ocids-operator-leader-election",
        "namespace": "ops",
    }
    assert role["rules"] == LEASE_RULES
    (binding,) = by_kind(docs, "RoleBinding")
    assert (
        binding["roleRef"]["name"] == role["metadata"]["name"] and binding["metadata"]["namespace"] == "ops"
    )
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ocids-operator", "namespace": "ops"}]
    (cluster_role,) = by_kind(docs, "ClusterRole")
    assert all("leases" not in rule["resources"] for rule in cluster_role["rules"])

    (pdb,) = by_kind(docs, "PodDisruptionBudget")
    pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    spread = deploy["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    (term,) = spread["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= pod_labels.items()


def test_without_leader_election_one_replica_runs_without_lease_role_or_pdb(tmp_path: Path) -> None:
    docs = render(tmp_path, "--set", "leaderElection.enabled=false")
    (deploy,) = by_kind(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 1
    assert deploy["spec"]["strategy"] == {"type": "Recreate"}
    assert not [name for name in env_items(deploy) if name.startswith("OCIDS_LEADER_ELECTION")]
    assert not by_kind(docs, "Role") and not by_kind(docs, "PodDisruptionBudget")
    assert "affinity" not in deploy["spec"]["template"]["spec"]


def test_replica_count_wins_and_a_single_replica_needs_no_pdb(tmp_path: Path) -> None:
    docs = render(tmp_path, "--set", "replicaCount=3")
    (deploy,) = by_kind(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 3 and by_kind(docs, "PodDisruptionBudget")

    docs = render(tmp_path, "--set", "replicaCount=1")
    (deploy,) = by_kind(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 1
    assert not by_kind(docs, "PodDisruptionBudget") and "affinity" not in deploy["spec"]["template"]["spec"]
    assert env_items(deploy)["OCIDS_LEADER_ELECTION"]["value"] == "true"  # still elects: a rollout overlaps

    docs = render(tmp_path, "--set", "podDisruptionBudget.enabled=false")
    assert not by_kind(docs, "PodDisruptionBudget")


def test_an_affinity_of_ones_own_replaces_the_spreading(tmp_path: Path) -> None:
    term = "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
    docs = render(
        tmp_path,
        "--set", f"{term}.matchExpressions[0].key=pool",
        "--set", f"{term}.matchExpressions[0].operator=Exists",
    )  # fmt: skip
    (deploy,) = by_kind(docs, "Deployment")
    assert list(deploy["spec"]["template"]["spec"]["affinity"]) == ["nodeAffinity"]


def test_several_replicas_without_leader_election_are_refused_with_the_reason(tmp_path: Path) -> None:
    result = helm(tmp_path, "template", "x", str(CHART), "--set", "leaderElection.enabled=false",
                  "--set", "replicaCount=2", check=False)  # fmt: skip
    assert result.returncode != 0
    assert "replicaCount=2 needs leaderElection.enabled=true" in result.stderr, result.stderr
