"""Issue 9, continued: every keyless mode end to end under real IAM policies, not the emulator's default.

Each test replaces the emulator's `allow every keyless principal` statement with exactly the
statements `charts/ocids-operator/README.md` lists for the mode (data-science-family, log-content,
logging-family, objects), so what is proved is that those statements are enough: an
`oci://bucket@namespace/path` artifact, a run to Succeeded with log links, and a deletion with
deletionPolicy Delete. With the data-science statement removed a new TrainingJob stalls
`NotAuthorized` naming the mode's principal and the statement; restoring it heals the job.

The chart's `where target.bucket.name='<bucket>'` on the objects statement is left out here; it is
tested with every other statement of docs/iam.md in
tests/integration/emulator/test_emulator_iam_statements.py.
Job runs push their logs as themselves, so their dynamic group's `use log-content` is added.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ocids_emulator.testing import PROXYMUX_PORT, free_loopback_host
from operator_harness import JOBS, RUNS, Scenario, condition, wait_for
from test_operator_auth_modes import (
    HELLO,
    SA,
    _instance_env,
    _resource_env,
    _workload_env,
)

pytestmark = pytest.mark.integration

MODES = ["oke_workload_identity", "instance_principal", "resource_principal"]
KIND = {
    "oke_workload_identity": "workload",
    "instance_principal": "instance",
    "resource_principal": "resource",
}
OBJECT = "keyless/train.zip"
NODES = "ocids-operator-nodes"
JOB_RUNS_GROUP = "ocids-job-runs"
ADMINS = "Allow group Administrators to manage all-resources in tenancy"


@pytest.fixture
def emulator(tmp_path: Path, cluster: Any) -> Iterator[Any]:
    """The emulator with OKE workload identity's proxymux (as in test_operator_auth_modes)."""
    from ocids_emulator.testing import running_emulator

    with running_emulator(
        tmp_path / "emulator",
        proxymux=f"{free_loopback_host()}:{PROXYMUX_PORT}",
        kubeconfig=cluster.kubeconfig,
    ) as emu:
        yield emu


@dataclass
class Mode:
    """A keyless mode: the operator's environment and the policy subject the chart README gives it."""

    env: dict[str, str]
    subject: str
    where: str = ""
    dynamic_groups: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Job runs push their logs as themselves (docs/iam.md): their own dynamic group.
        self.dynamic_groups.setdefault(JOB_RUNS_GROUP, "ALL {resource.type = 'datasciencejobrun'}")

    def statements(self, compartment: str, data_science: bool = True) -> list[str]:
        where = f" where {self.where}" if self.where else ""
        needs = ["use log-content", "manage logging-family", "read objects"]
        if data_science:
            needs.insert(0, "manage data-science-family")
        runs = f"Allow dynamic-group {JOB_RUNS_GROUP} to use log-content in compartment id {compartment}"
        return [
            *(f"Allow {self.subject} to {need} in compartment id {compartment}{where}" for need in needs),
            runs,
        ]


def _jwt_claims(path: str) -> dict[str, Any]:
    payload = Path(path).read_text().strip().split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _mode(mode: str, world: Scenario, emu: Any, cluster: Any, tmp_path: Path) -> Mode:
    compartment = world.compartment_id
    if mode == "oke_workload_identity":
        from ocids_emulator.api.identity.proxymux import cluster_id

        server = world.kube.kubectl(
            "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"
        ).stdout.strip()
        where = (
            "all {request.principal.type='workload', "
            f"request.principal.namespace='{world.namespace}', request.principal.service_account='{SA}', "
            f"request.principal.cluster_id='{cluster_id(server.rstrip('/'), world.region)}'}}"
        )
        return Mode(_workload_env(emu, cluster, world.namespace, tmp_path), "any-user", where)
    if mode == "instance_principal":
        rule = f"ALL {{instance.compartment.id = '{compartment}'}}"
        return Mode(_instance_env(emu), f"dynamic-group {NODES}", dynamic_groups={NODES: rule})
    env = _resource_env(emu, tmp_path)
    claims = _jwt_claims(env["OCI_RESOURCE_PRINCIPAL_RPST"])
    where = (
        f"all {{request.principal.type='{claims['res_type']}', request.principal.id='{claims['res_id']}'}}"
    )
    return Mode(env, "any-user", where)


def _zip(message: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("train/main.py", f"print({message!r}, flush=True)\n")
    return buffer.getvalue()


@pytest.mark.parametrize("mode", MODES)
def test_oci_artifact_run_and_deletion_under_only_the_readme_policies(
    mode: str,
    world: Scenario,
    emulator: Any,
    cluster: Any,
    tmp_path: Path,
    start_operator: Callable[..., Any],
) -> None:
    namespace, bucket = emulator.ids["OBJECT_STORAGE_NAMESPACE"], emulator.ids["OBJECT_STORAGE_BUCKET"]
    url = f"oci://{bucket}@{namespace}/{OBJECT}"
    message = f"hello from {mode} via object storage"
    emulator.object_storage_client(retries=False).put_object(namespace, bucket, OBJECT, _zip(message))
    spec = _mode(mode, world, emulator, cluster, tmp_path)
    # Only the mode's statements: the config user (and so this test's SDK view) may do nothing now.
    emulator.admin.set_policies(spec.statements(world.compartment_id), dynamic_groups=spec.dynamic_groups)
    emulator.admin.reset_stats()
    start_operator(env=spec.env)

    job = world.job("stored", "unused", entrypoint="main.py", deletion_policy="Delete")
    job["spec"]["artifact"] = {"url": url}
    world.apply(job)
    status = world.wait_job_active("stored")["status"]
    job_id = status["jobId"]
    assert status["artifact"]["source"] == "url" and status["artifact"]["url"] == url, status
    world.apply(world.run("stored-1", "stored"))
    world.kube.wait_condition(RUNS, "stored-1", world.namespace, "Succeeded", timeout=60)
    run = world.get_run("stored-1")
    assert run is not None and run["status"]["phase"] == "Succeeded", run
    assert run["status"]["logs"]["url"].startswith("https://cloud.oracle.com/logging/search?searchQuery=")

    stats = emulator.admin.stats()
    # The object read and every other call were signed by the mode's principal and allowed by the
    # README's statements alone (no user request, no policy refusal).
    assert stats["operations"]["get_object"]["byStatus"] == {"200": 1}, stats["operations"]
    assert set(stats["principals"]) == {KIND[mode]}, stats["principals"]
    assert not stats.get("policyDenials"), stats["policyDenials"]

    # The test's own (API-key) view back, to read the log and the job's OCI state.
    emulator.admin.set_policies(
        [*spec.statements(world.compartment_id), ADMINS], dynamic_groups=spec.dynamic_groups
    )
    assert any(message in line for line in world.run_log(run, message))
    world.kube.delete(JOBS, "stored", world.namespace, timeout=60)
    assert world.get_job("stored") is None
    wait_for(
        lambda: (j := world.oci.get_job(job_id)) is not None and j.lifecycle_state in ("DELETED", "DELETING"),
        timeout=30,
        message="OCI job deleted by the operator's principal",
    )
    assert emulator.admin.stats()["operations"]["delete_job"]["byStatus"].get("202") == 1


@pytest.mark.parametrize("mode", MODES)
def test_without_the_data_science_statement_a_job_is_not_authorized_naming_the_mode(
    mode: str,
    world: Scenario,
    emulator: Any,
    cluster: Any,
    tmp_path: Path,
    start_operator: Callable[..., Any],
) -> None:
    compartment = world.compartment_id
    spec = _mode(mode, world, emulator, cluster, tmp_path)
    emulator.admin.set_policies(
        spec.statements(compartment, data_science=False), dynamic_groups=spec.dynamic_groups
    )
    start_operator(env={"OCIDS_RETRY_MAX_SECONDS": "3", **spec.env})
    world.apply(world.job("refused", HELLO))

    def not_authorized() -> dict[str, Any] | None:
        job = world.get_job("refused")
        stalled = condition(job, "Stalled") if job else None
        return job if stalled and stalled.get("reason") == "NotAuthorized" else None

    message = wait_for(not_authorized, timeout=30, message="NotAuthorized condition")["status"]["message"]
    assert "404 NotAuthorizedOrNotFound" in message, message
    needed = f"manage data-science-family in compartment id {compartment}"
    if mode == "oke_workload_identity":
        assert f"OKE workload identity {world.namespace}/{SA}" in message, message
        # The operator's suggestion is the statement that was removed, cluster_id included.
        assert f"'Allow any-user to {needed} where {spec.where}'" in message, message
    elif mode == "instance_principal":
        assert f"instance principal of {world.ids['TENANCY_ID']}" in message, message
        assert f"'Allow dynamic-group <a dynamic group matching this instance> to {needed}'" in message, (
            message
        )
    else:
        rid = _jwt_claims(spec.env["OCI_RESOURCE_PRINCIPAL_RPST"])["res_id"]
        assert f"resource principal {rid}" in message, message
        assert f"'Allow any-user to {needed} where {spec.where}'" in message, message
    denials = emulator.admin.stats().get("policyDenials") or {}
    assert denials.get(KIND[mode], 0) > 0 and set(denials) == {KIND[mode]}, denials

    emulator.admin.set_policies(spec.statements(compartment), dynamic_groups=spec.dynamic_groups)
    assert world.wait_job_active("refused", timeout=30)["status"]["jobId"].startswith("ocid1.datasciencejob.")
