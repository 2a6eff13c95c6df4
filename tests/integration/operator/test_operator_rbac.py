"""The operator works with exactly the RBAC the shipped manifests grant (not the admin identity)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import operator_scripts as scripts
import pytest
import yaml
from operator_harness import GC_TIMEOUT, JOBS, REPO_ROOT, OperatorProcess, Scenario, wait_for

pytestmark = pytest.mark.integration
RBAC_KINDS = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def _rbac_documents() -> list[dict[str, Any]]:
    """The RBAC objects of the kustomize install (`kubectl apply -k manifests/`)."""
    kustomization = yaml.safe_load((REPO_ROOT / "manifests" / "kustomization.yaml").read_text())
    files = [REPO_ROOT / "manifests" / name for name in kustomization["resources"] if name.endswith(".yaml")]
    docs = [d for path in files for d in yaml.safe_load_all(path.read_text())]
    return [d for d in docs if d and d.get("kind") in RBAC_KINDS]


def test_operator_runs_with_the_manifests_service_account(
    world: Scenario, cluster: Any, start_operator: Callable[..., OperatorProcess]
) -> None:
    docs = _rbac_documents()
    world.kube.apply(*docs)
    account = next(d for d in docs if d["kind"] == "ServiceAccount")["metadata"]
    kubeconfig = cluster.kubeconfig_for_service_account(account["namespace"], account["name"])
    world.operator = start_operator(kubeconfig=kubeconfig)

    value_env = [
        {"name": "FROM_CONFIG", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}}
    ]
    world.kube.kubectl("create", "configmap", "settings", "-n", world.namespace, "--from-literal=mode=rbac")
    world.apply(world.job("rbac", scripts.TRAIN, env={"EPOCHS": "1"}, extra_env=value_env))
    job_id = world.wait_job_active("rbac")["status"]["jobId"]
    world.apply(world.run("rbac-1", "rbac"))
    world.wait_run("rbac-1", "Succeeded")
    world.wait_event("rbac-1", "Succeeded")

    # Finalizers work too: deleting the job cleans up OCI and the owned run.
    world.kube.delete(JOBS, "rbac", world.namespace, timeout=60)
    wait_for(
        lambda: world.get_run("rbac-1") is None, timeout=GC_TIMEOUT, message="run collected with its job"
    )
    oci_job = world.oci.get_job(job_id)
    assert oci_job is None or oci_job.lifecycle_state in ("DELETED", "DELETING"), oci_job
    assert world.operator is not None
    log = world.operator.log_text()
    # A status code, not any "403" (the emulator's random port can hold one, e.g. 44037).
    assert not re.search(r"\b403\b", log) and "Forbidden" not in log, log[-3000:]
