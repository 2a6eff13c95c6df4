"""The Helm chart: lints, renders with default and non-default values, and its RBAC is exactly enough.

RBAC is checked the way the operator will meet it: the rendered ServiceAccount and roles are applied
to a real API server and every question is asked with that ServiceAccount's own token.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chart_helm import CHART, REPO, by_kind, env_of, helm, render
from ocids_controlplane import Cluster

NON_DEFAULT = [
    "--set", "oci.auth=instance_principal",
    "--set", "oci.region=us-ashburn-1",
    "--set", "oci.endpoints.dataScience=http://emulator:12000",
    "--set", "oci.endpoints.logging=http://emulator:12000",
    "--set", "watchNamespaces={ml,research}",
    "--set", "metrics.service.enabled=false",
    "--set", "image.tag=dev",
    "--set", "clusterName=prod-east",
    "--set", "tenancy.compartmentPolicy=open",
    "--set", "tenancy.defaultAllowedCompartments={ocid1.compartment.oc1..ml,ocid1.compartment.oc1..shared}",
    "--set", "oci.endpoints.network=http://emulator:12000",
]  # fmt: skip


def test_helm_lint_is_clean(tmp_path: Path) -> None:
    result = helm(tmp_path, "lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in result.stdout
    helm(tmp_path, "lint", "--strict", str(CHART), *NON_DEFAULT)


def test_default_render(tmp_path: Path) -> None:
    docs = render(tmp_path)
    assert sorted(d["kind"] for d in docs) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]
    (deploy,) = by_kind(docs, "Deployment")
    # Leader election is on by default: a leader and a standby, rolled one at a time.
    assert deploy["spec"]["replicas"] == 2
    assert deploy["spec"]["strategy"]["type"] == "RollingUpdate"
    pod = deploy["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/ocids/ocids-operator:0.1.0"
    assert container["command"] == ["ocids-operator"] and "args" not in container
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"metrics": 9090, "health": 8080}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    env = env_of(deploy)
    assert env["OCIDS_AUTH"] == "api_key"
    assert env["OCIDS_OCI_CONFIG_FILE"] == "/etc/oci/config"
    assert env["OCIDS_HEALTH_PORT"] == "8080" and env["OCIDS_METRICS_PORT"] == "9090"
    assert "OCIDS_NAMESPACES" not in env
    # Tenancy isolation is on: a namespace uses only the compartments its annotation grants.
    assert env["OCIDS_COMPARTMENT_POLICY"] == "annotated" and "OCIDS_DEFAULT_ALLOWED_COMPARTMENTS" not in env
    secret_volume = next(v for v in pod["volumes"] if "secret" in v)
    assert secret_volume["secret"]["secretName"] == "oci-config"
    assert {i["key"] for i in secret_volume["secret"]["items"]} == {"config", "oci_api_key.pem"}
    for doc in docs:
        assert doc["metadata"]["labels"]["helm.sh/chart"] == "ocids-operator-0.1.0", doc["kind"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm", doc["kind"]
    (service,) = by_kind(docs, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"


def test_non_default_render(tmp_path: Path) -> None:
    docs = render(tmp_path, *NON_DEFAULT)
    assert not by_kind(docs, "Service")
    own = ("-leader-election", "-price-table")  # the release namespace's own Roles
    watched = [r for r in by_kind(docs, "Role") if not r["metadata"]["name"].endswith(own)]
    assert sorted(r["metadata"]["namespace"] for r in watched) == ["ml", "research"]
    bindings = [b for b in by_kind(docs, "RoleBinding") if b["metadata"]["name"] == "ocids-operator"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["ml", "research"]
    # The price table lives in the release namespace, which is not watched: read through its own Role ...
    (prices,) = by_kind(docs, "ConfigMap")
    (price_role,) = [r for r in by_kind(docs, "Role") if r["metadata"]["name"].endswith("-price-table")]
    assert price_role["metadata"]["namespace"] == prices["metadata"]["namespace"]
    # ... and the events' status ConfigMap (`<lease>-events`) is made and replaced there.
    assert price_role["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "update"]}
    ]
    (cluster_role,) = by_kind(docs, "ClusterRole")
    resources = sorted(r for rule in cluster_role["rules"] for r in rule["resources"])
    # Cluster-scoped: what the CRDs and namespaces are; Kueue's priority classes (labelled runs).
    assert resources == ["customresourcedefinitions", "namespaces", "workloadpriorityclasses"]
    (deploy,) = by_kind(docs, "Deployment")
    env = env_of(deploy)
    assert env["OCIDS_AUTH"] == "instance_principal"
    assert env["OCIDS_NAMESPACES"] == "ml,research"
    assert env["OCIDS_DATASCIENCE_ENDPOINT"] == "http://emulator:12000"
    assert env["OCIDS_REGION"] == "us-ashburn-1"
    assert env["OCIDS_CLUSTER_NAME"] == "prod-east"
    assert env["OCIDS_COMPARTMENT_POLICY"] == "open"
    allowed = env["OCIDS_DEFAULT_ALLOWED_COMPARTMENTS"]
    assert allowed == "ocid1.compartment.oc1..ml,ocid1.compartment.oc1..shared"
    assert env["OCIDS_NETWORK_ENDPOINT"] == "http://emulator:12000"
    assert "OCIDS_OCI_CONFIG_FILE" not in env
    pod = deploy["spec"]["template"]["spec"]
    assert all("secret" not in v for v in pod["volumes"])
    assert pod["containers"][0]["image"].endswith(":dev")


# What the operator must be able to do (the module contract), and what it must not.
KINDS = (
    "trainingjobs.ocids.io",
    "trainingjobruns.ocids.io",
    "trainingjobsweeps.ocids.io",
    "trainingjobschedules.ocids.io",
)
ALLOWED = [
    *[(verb, r) for r in KINDS for verb in ("get", "list", "watch", "patch", "update")],
    *[(verb, f"{r}/status") for r in KINDS for verb in ("get", "patch", "update")],
    *[("update", f"{r}/finalizers") for r in KINDS],
    # Sweeps and schedules make their runs, and they and history limits delete them.
    ("create", "trainingjobruns.ocids.io"),
    ("delete", "trainingjobruns.ocids.io"),
    # The archive of pruned runs.
    ("create", "configmaps"),
    ("update", "configmaps"),
    ("create", "events"),
    ("patch", "events"),
    ("create", "events.events.k8s.io"),
    ("patch", "events.events.k8s.io"),
    ("get", "secrets"),
    ("get", "configmaps"),
]  # fmt: skip
# Leader election: its Lease, in the release namespace only.
LEASE_ALLOWED = [("get", "leases.coordination.k8s.io"), ("create", "leases.coordination.k8s.io"),
                 ("update", "leases.coordination.k8s.io")]  # fmt: skip
LEASE_DENIED = [("delete", "leases.coordination.k8s.io"), ("list", "leases.coordination.k8s.io"),
                ("patch", "leases.coordination.k8s.io")]  # fmt: skip
CLUSTER_ALLOWED = [
    ("get", "namespaces"),  # a namespace's annotations: its allowed compartments
    ("list", "namespaces"),
    ("watch", "namespaces"),
    ("list", "customresourcedefinitions.apiextensions.k8s.io"),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
]
DENIED = [
    ("delete", "secrets"),
    ("list", "secrets"),
    ("create", "secrets"),
    ("delete", "trainingjobs.ocids.io"),
    ("create", "trainingjobsweeps.ocids.io"),
    ("delete", "trainingjobschedules.ocids.io"),
    ("update", "secrets"),
    ("patch", "configmaps"),
    ("delete", "configmaps"),
    ("list", "configmaps"),
    ("create", "pods"),
    ("delete", "events"),
]
CLUSTER_DENIED = [("delete", "namespaces"), ("create", "customresourcedefinitions.apiextensions.k8s.io")]


def can_i(cluster: Cluster, kubeconfig: Path, verb: str, resource: str, namespace: str | None) -> bool:
    resource, _, sub = resource.partition("/")
    args = ["--kubeconfig", str(kubeconfig), "auth", "can-i", verb, resource]
    if sub:
        args.append(f"--subresource={sub}")
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    result = cluster.kubectl(*args, check=False)
    answer = result.stdout.strip()
    assert answer in ("yes", "no"), result.stderr
    return answer == "yes"


def install_rbac(cluster: Cluster, tmp_path: Path, namespace: str, *values: str) -> tuple[Path, list[Any]]:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    # Cluster-scoped names come from the release name: unique per test (helm caps it at 53 chars).
    docs = render(tmp_path, *values, release=f"rbac-{namespace[-6:]}", namespace=namespace)
    rbac = [
        d
        for d in docs
        if d["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
    ]
    cluster.kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(d) for d in rbac))
    (account,) = by_kind(docs, "ServiceAccount")
    return cluster.kubeconfig_for_service_account(namespace, account["metadata"]["name"]), rbac


def remove_cluster_scoped(cluster: Cluster, rbac: list[Any]) -> None:
    for doc in rbac:
        if doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            cluster.kubectl(
                "delete", doc["kind"].lower(), doc["metadata"]["name"], "--ignore-not-found", check=False
            )


def test_cluster_wide_rbac_is_sufficient_and_no_more(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    kubeconfig, rbac = install_rbac(cluster, tmp_path, namespace)
    try:
        for verb, resource in ALLOWED:
            assert can_i(cluster, kubeconfig, verb, resource, namespace), f"cannot {verb} {resource}"
            assert can_i(cluster, kubeconfig, verb, resource, None), f"cannot {verb} {resource} cluster-wide"
        for verb, resource in CLUSTER_ALLOWED:
            assert can_i(cluster, kubeconfig, verb, resource, None), f"cannot {verb} {resource}"
        for verb, resource in DENIED + LEASE_DENIED:
            assert not can_i(cluster, kubeconfig, verb, resource, namespace), f"may {verb} {resource}"
        for verb, resource in LEASE_ALLOWED:
            assert can_i(cluster, kubeconfig, verb, resource, namespace), f"cannot {verb} {resource}"
            assert not can_i(cluster, kubeconfig, verb, resource, "default"), f"may {verb} {resource} there"
        for verb, resource in CLUSTER_DENIED:
            assert not can_i(cluster, kubeconfig, verb, resource, None), f"may {verb} {resource}"
        # And real requests with the token, not just the review API.
        cluster.kubectl("--kubeconfig", str(kubeconfig), "get", "trainingjobs", "-A")
        denied = cluster.kubectl(
            "--kubeconfig", str(kubeconfig), "get", "secrets", "-n", namespace, check=False
        )
        assert denied.returncode != 0 and "forbidden" in denied.stderr
    finally:
        remove_cluster_scoped(cluster, rbac)


def test_namespaced_rbac_stays_in_its_namespaces(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    kubeconfig, rbac = install_rbac(cluster, tmp_path, namespace, "--set", f"watchNamespaces={{{namespace}}}")
    try:
        assert by_kind(rbac, "Role") and by_kind(rbac, "RoleBinding")
        for verb, resource in ALLOWED:
            assert can_i(cluster, kubeconfig, verb, resource, namespace), f"cannot {verb} {resource}"
        for verb, resource in CLUSTER_ALLOWED:
            assert can_i(cluster, kubeconfig, verb, resource, None), f"cannot {verb} {resource}"
        assert not can_i(cluster, kubeconfig, "get", "trainingjobs.ocids.io", "default")
        assert not can_i(cluster, kubeconfig, "get", "secrets", "kube-system")
    finally:
        remove_cluster_scoped(cluster, rbac)


def test_keyless_modes_render_without_any_secret(tmp_path: Path) -> None:
    for mode in ("oke_workload_identity", "instance_principal", "resource_principal"):
        docs = render(tmp_path, "--set", f"oci.auth={mode}", "--set", "oci.region=us-ashburn-1")
        (deploy,) = by_kind(docs, "Deployment")
        pod = deploy["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = env_of(deploy)
        assert env["OCIDS_AUTH"] == mode
        assert env["OCIDS_REGION"] == "us-ashburn-1"
        assert "OCIDS_OCI_CONFIG_FILE" not in env and "OCIDS_OCI_PROFILE" not in env, mode
        assert not [v for v in pod["volumes"] if "secret" in v], mode
        assert [m["mountPath"] for m in container["volumeMounts"]] == ["/tmp"], mode
        # The Pod's ServiceAccount token (workload identity's and the operator's own login) stays on.
        assert pod.get("automountServiceAccountToken", True) is True
        assert "OCIDS_FEDERATION_ENDPOINT" not in env


def test_instance_principal_federation_endpoint_and_workload_identity_needs_a_region(tmp_path: Path) -> None:
    docs = render(
        tmp_path,
        "--set", "oci.auth=instance_principal",
        "--set", "oci.federationEndpoint=https://auth.us-ashburn-1.oraclecloud.com/v1/x509",
    )  # fmt: skip
    (deploy,) = by_kind(docs, "Deployment")
    assert env_of(deploy)["OCIDS_FEDERATION_ENDPOINT"] == "https://auth.us-ashburn-1.oraclecloud.com/v1/x509"
    # Only instance principals federate: the value is not passed to other modes.
    docs = render(
        tmp_path,
        "--set",
        "oci.federationEndpoint=https://auth.example/v1/x509",
        "--set",
        "oci.configSecret.name=x",
    )
    (deploy,) = by_kind(docs, "Deployment")
    assert "OCIDS_FEDERATION_ENDPOINT" not in env_of(deploy)
    bad = helm(tmp_path, "template", "x", str(CHART), "--set", "oci.federationEndpoint=ftp://x", check=False)
    assert bad.returncode != 0 and "federationEndpoint" in bad.stderr, bad.stderr
    missing = helm(
        tmp_path, "template", "x", str(CHART), "--set", "oci.auth=oke_workload_identity", check=False
    )
    assert missing.returncode != 0 and "oci.region is required" in missing.stderr, missing.stderr
