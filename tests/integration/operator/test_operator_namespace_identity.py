"""Issue 14: each namespace works in OCI as its own principal, so OCI IAM decides what a team may do.

Workload identity: the operator mints a token of the team's ServiceAccount (TokenRequest, against the
real API server) and exchanges it at the emulator's proxymux, which reviews it with a TokenReview;
OCI's policies then see the team's namespace and ServiceAccount. api_key: an admin maps a namespace
to an OCI config Secret in the operator's namespace (two Secrets = two emulator users). And with
OCIDS_REQUIRE_NAMESPACE_IDENTITY, a namespace without an identity of its own gets nothing from OCI.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from ocids_emulator.config import fingerprint
from ocids_emulator.testing import PROXYMUX_PORT, free_loopback_host
from operator_harness import JOBS, RUNS, Scenario, condition, wait_for

pytestmark = pytest.mark.integration

HELLO = "print('hello from a team')\n"
TEAM_SA = "trainer"
OPERATOR_SA = "ocids-operator"
# Run logs, subnets and the like: principals other than users and workloads keep what init grants.
NOT_USERS_OR_WORKLOADS = (
    "Allow any-user to manage all-resources in tenancy where all "
    "{request.principal.type != 'user', request.principal.type != 'workload'}"
)


@pytest.fixture
def emulator(tmp_path: Path, cluster: Any) -> Iterator[Any]:
    """The emulator with OKE workload identity's proxymux, reviewing tokens against the API server."""
    from ocids_emulator.testing import running_emulator

    with running_emulator(
        tmp_path / "emulator",
        proxymux=f"{free_loopback_host()}:{PROXYMUX_PORT}",
        kubeconfig=cluster.kubeconfig,
    ) as emu:
        yield emu


@pytest.fixture
def other(world: Scenario, cluster: Any) -> Iterator[Scenario]:
    """A second team's namespace, granted the same compartment, in the same world."""
    name = f"{world.namespace[:50]}-b"
    cluster.kubectl("create", "namespace", name)
    world.kube.grant_compartments(name, world.compartment_id)
    yield dataclasses.replace(world, namespace=name)
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


# Both teams may read the shared project and log group (the operator checks their compartments with
# the team's own identity); what each may create is its own policy's business.
SHARED_READS = tuple(
    f"Allow {subject} to read {family} in tenancy{where}"
    for subject, where in (("any-user", " where request.principal.type='workload'"), ("any-group", ""))
    for family in ("data-science-projects", "log-groups")
)


def _admin_policies(world: Scenario, *statements: str, groups: dict[str, list[str]] | None = None) -> None:
    """The tenancy's own statements, minus init's trust in every keyless principal (and what an earlier
    call added), plus `statements`."""
    current = world.admin.policies()
    kept = [
        s
        for s in current["policies"]
        if "request.principal.type" not in s and "group team-" not in s and s not in SHARED_READS
    ]
    world.admin.set_policies(
        [*kept, NOT_USERS_OR_WORKLOADS, *SHARED_READS, *statements], groups=groups or current["groups"]
    )


def _workload_may(namespace: str) -> str:
    return (
        "Allow any-user to manage all-resources in tenancy where all {request.principal.type='workload', "
        f"request.principal.namespace='{namespace}', request.principal.service_account='{TEAM_SA}'}}"
    )


def _not_authorized(world: Scenario, name: str, timeout: float = 60) -> dict[str, Any]:
    def stalled() -> dict[str, Any] | None:
        job = world.get_job(name)
        found = condition(job, "Stalled") if job else None
        return job if found and found.get("reason") == "NotAuthorized" else None

    return dict(wait_for(stalled, timeout=timeout, message=f"{world.namespace}/{name} NotAuthorized"))


def _stalled_reason(
    world: Scenario, kind: str, name: str, reason: str, timeout: float = 60
) -> dict[str, Any]:
    def stalled() -> dict[str, Any] | None:
        obj = world.kube.get(kind, name, world.namespace)
        found = condition(obj, "Stalled") if obj else None
        return obj if found and found.get("reason") == reason else None

    return dict(wait_for(stalled, timeout=timeout, message=f"{kind} {name} Stalled {reason}"))


def _workload_env(world: Scenario, emulator: Any, other: Scenario, tmp_path: Path) -> dict[str, str]:
    """The operator's own identity: a ServiceAccount no policy grants anything."""
    world.kube.kubectl("create", "serviceaccount", OPERATOR_SA, "-n", world.namespace)
    token = world.kube.kubectl("create", "token", OPERATOR_SA, "-n", world.namespace).stdout.strip()
    token_file = tmp_path / "operator-token"
    token_file.write_text(token)
    return {
        "OCIDS_OCI_CONFIG_FILE": "",
        "OCIDS_OCI_PROFILE": "",
        "OCI_CONFIG_FILE": "",
        **emulator.workload_identity_env,
        "OCIDS_AUTH": "oke_workload_identity",
        "OCIDS_SERVICE_ACCOUNT_TOKEN_FILE": str(token_file),
        "OCIDS_NAMESPACES": f"{world.namespace},{other.namespace}",
        "OCIDS_RETRY_MAX_SECONDS": "3",
    }


def test_two_namespaces_with_their_own_service_accounts_are_each_refused_where_only_the_others_policy_allows(
    world: Scenario, other: Scenario, emulator: Any, tmp_path: Path, start_operator: Callable[..., Any]
) -> None:
    team_a, team_b = world, other
    for team in (team_a, team_b):
        team.kube.kubectl("create", "serviceaccount", TEAM_SA, "-n", team.namespace)
    # Team A's admin names its ServiceAccount on the namespace; team B's TrainingJobs name theirs.
    team_a.kube.kubectl(
        "annotate", "namespace", team_a.namespace, f"ocids.io/service-account={TEAM_SA}", "--overwrite"
    )
    _admin_policies(world, _workload_may(team_a.namespace))
    start_operator(env=_workload_env(world, emulator, other, tmp_path))

    team_a.apply(team_a.job("a", HELLO))
    team_b.apply(team_b.job("b", HELLO, serviceAccountName=TEAM_SA))
    team_a.wait_job_active("a")
    refused = _not_authorized(team_b, "b")["status"]["message"]
    assert (
        f"request.principal.namespace='{team_b.namespace}', request.principal.service_account='{TEAM_SA}'"
    ) in refused, refused
    # A run of team A is created and followed to its end with team A's identity: the operator's own
    # has no policy at all, so its lists would be refused.
    team_a.apply(team_a.run("a-1", "a"))
    run = team_a.wait_run("a-1", "Succeeded", timeout=120)
    assert run["status"]["jobRunId"].startswith("ocid1.datasciencejobrun.")
    assert len(team_b.oci_jobs()) == 1  # only team A's job exists in OCI

    # Now only team B's policy: B heals on its own (re-checked), and A is refused.
    _admin_policies(world, _workload_may(team_b.namespace))
    team_b.wait_job_active("b", timeout=90)
    # Team B's run uses its TrainingJob's ServiceAccount, recorded on the run for its own deletion.
    team_b.apply(team_b.run("b-1", "b"))
    run_b = team_b.wait_run("b-1", "Succeeded", timeout=120)
    assert run_b["metadata"]["annotations"]["ocids.io/job-service-account"] == TEAM_SA
    team_a.apply(team_a.job("a2", HELLO))
    refused = _not_authorized(team_a, "a2")["status"]["message"]
    assert f"request.principal.namespace='{team_a.namespace}'" in refused, refused
    # Deleting uses the identity the object was created with: team A's job cannot be deleted by
    # team B's (or the operator's) principal, so its deletion waits, naming team A's ServiceAccount.
    job_a = team_a.get_job("a")
    assert job_a is not None
    team_a.kube.delete(JOBS, "a", team_a.namespace, wait=False)
    blocked = team_a.wait_event("a", "DeletionBlocked", timeout=60)
    assert f"OKE workload identity {team_a.namespace}/{TEAM_SA}" in blocked["message"], blocked
    assert job_a["status"]["jobId"] in {
        job.id for job in team_a.oci_jobs() if job.lifecycle_state == "ACTIVE"
    }
    # Team B's own deletions go through with its own identity: the run's after its TrainingJob's.
    team_b.kube.delete(JOBS, "b", team_b.namespace, timeout=90)
    wait_for(lambda: team_b.get_run("b-1") is None, timeout=60, message="run b-1 deleted")
    assert not [
        job
        for job in team_b.oci_jobs()
        if job.id == run_b["status"]["jobId"] and job.lifecycle_state == "ACTIVE"
    ]


def test_a_missing_service_account_is_stalled_naming_it_and_heals_once_created(
    world: Scenario, other: Scenario, emulator: Any, tmp_path: Path, start_operator: Callable[..., Any]
) -> None:
    _admin_policies(world, _workload_may(world.namespace))
    start_operator(env=_workload_env(world, emulator, other, tmp_path))
    world.admin.reset_stats()
    world.apply(world.job("a", HELLO, serviceAccountName=TEAM_SA))
    job = _stalled_reason(world, JOBS, "a", "ServiceAccountNotFound")
    assert f"ServiceAccount {world.namespace}/{TEAM_SA} does not exist" in job["status"]["message"]
    assert world.admin.stats()["total"] == 0, world.admin.stats()
    world.kube.kubectl("create", "serviceaccount", TEAM_SA, "-n", world.namespace)
    world.wait_job_active("a", timeout=90)


def test_required_namespace_identity_refuses_a_namespace_without_one_with_zero_oci_calls(
    world: Scenario, start_operator: Callable[..., Any]
) -> None:
    start_operator(env={"OCIDS_REQUIRE_NAMESPACE_IDENTITY": "true", "OCIDS_RETRY_MAX_SECONDS": "3"})
    world.admin.reset_stats()
    world.apply(world.job("a", HELLO), world.run("a-1", "a"))
    job = _stalled_reason(world, JOBS, "a", "NamespaceIdentityRequired")
    assert "ocids.io/oci-config-secret" in job["status"]["message"], job["status"]
    run = _stalled_reason(world, RUNS, "a-1", "NamespaceIdentityRequired")
    assert f"namespace {world.namespace}" in run["status"]["message"]
    assert world.admin.stats()["total"] == 0, world.admin.stats()
    # Nothing reached OCI, so nothing holds their deletion.
    world.kube.delete(RUNS, "a-1", world.namespace, timeout=30)
    world.kube.delete(JOBS, "a", world.namespace, timeout=30)
    assert world.admin.stats()["total"] == 0, world.admin.stats()


# api_key: a namespace mapped to its own OCI config Secret ------------------------------------------
def _new_user(emulator: Any, world: Scenario, name: str, secret_namespace: str) -> str:
    """A new emulator user with its own API key, and its OCI config in a Secret; returns its OCID."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    user = f"ocid1.user.oc1..{name}{world.namespace[-8:]}"
    tenancy_file = Path(emulator.data_dir) / "tenancy.json"
    tenancy = json.loads(tenancy_file.read_text())
    tenancy.setdefault("users", []).append({"id": user, "apiKeys": [{"publicKey": public.decode()}]})
    tenancy_file.write_text(json.dumps(tenancy, indent=2))
    config = (
        f"[DEFAULT]\nuser={user}\nfingerprint={fingerprint(public)}\ntenancy={world.ids['TENANCY_ID']}\n"
        f"region={world.region}\nkey_file=/etc/oci/{name}.pem\n"
    )
    world.kube.kubectl(
        "create", "secret", "generic", f"{name}-oci", "-n", secret_namespace,
        f"--from-literal=config={config}", f"--from-literal={name}.pem={private}",
    )  # fmt: skip
    return user


def test_api_key_namespaces_mapped_to_their_own_config_secrets_are_refused_where_only_the_other_is_allowed(
    world: Scenario, other: Scenario, emulator: Any, cluster: Any, start_operator: Callable[..., Any]
) -> None:
    operator_namespace = f"{world.namespace[:50]}-ops"
    cluster.kubectl("create", "namespace", operator_namespace)
    try:
        user_a = _new_user(emulator, world, "team-a", operator_namespace)
        user_b = _new_user(emulator, world, "team-b", operator_namespace)
        emulator.restart()  # reads the new users
        for team, secret in ((world, "team-a-oci"), (other, "team-b-oci")):
            team.kube.kubectl(
                "annotate", "namespace", team.namespace, f"ocids.io/oci-config-secret={secret}", "--overwrite"
            )
        groups = {**world.admin.policies()["groups"], "team-a": [user_a], "team-b": [user_b]}
        _admin_policies(world, "Allow group team-a to manage all-resources in tenancy", groups=groups)
        start_operator(
            env={
                "OCIDS_OCI_CONFIG_SECRET_NAMESPACE": operator_namespace,
                "OCIDS_NAMESPACES": f"{world.namespace},{other.namespace}",
                "OCIDS_RETRY_MAX_SECONDS": "3",
            }
        )
        world.apply(world.job("a", HELLO))
        other.apply(other.job("b", HELLO))
        world.wait_job_active("a")
        refused = _not_authorized(other, "b")["status"]["message"]
        assert f"user {user_b} (api_key, Secret {operator_namespace}/team-b-oci)" in refused, refused
        world.apply(world.run("a-1", "a"))
        world.wait_run("a-1", "Succeeded", timeout=120)

        _admin_policies(world, "Allow group team-b to manage all-resources in tenancy", groups=groups)
        other.wait_job_active("b", timeout=90)
        world.apply(world.job("a2", HELLO))
        refused = _not_authorized(world, "a2")["status"]["message"]
        assert f"user {user_a} (api_key, Secret {operator_namespace}/team-a-oci)" in refused, refused
    finally:
        cluster.kubectl("delete", "namespace", operator_namespace, "--wait=false", check=False)
