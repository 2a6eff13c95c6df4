"""The image, started like the chart with `oci.auth=oke_workload_identity`, runs on the token of the
chart's ServiceAccount alone, under exactly the IAM policies the chart README asks for.

As in OKE, the workload-identity exchange (the emulator's proxymux) listens on the `kubernetes`
Service's address, port 12250, and the container finds it through KUBERNETES_SERVICE_HOST (here the
ServiceProxy's loopback address, port 443, as a kubelet sets it). The chart mounts no extra files,
so the proxymux's CA goes into the Pod's `ca.crt` next to the API server's: a real cluster's CA signs
both, and the SDK checks the proxymux against that file when OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH
is unset (the chart leaves it unset).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import oci
import operator_scripts as scripts
import pytest
from chart_pod import ChartPod
from ocids_emulator.testing import PROXYMUX_PORT, free_loopback_host
from operator_harness import JOBS, RUNS, Scenario, condition, wait_for
from test_image_starts_like_the_chart import (
    FIRST_RECONCILE,
    alive,
    logs_on_failure,
    resolvable_service_names,
    wait_phase,
)
from test_image_starts_like_the_chart import chart as chart_fixture

chart = chart_fixture  # the same `chart` fixture (render + install), here with this module's emulator


@pytest.fixture
def service_ip() -> str:
    return free_loopback_host(443, PROXYMUX_PORT)


@pytest.fixture
def emulator(request: pytest.FixtureRequest, tmp_path: Path, cluster: Any, service_ip: str) -> Iterator[Any]:
    """The emulator with its proxymux on the Service's address; TokenReviews go to the test cluster."""
    from ocids_emulator.testing import running_emulator

    with running_emulator(
        tmp_path / "emulator", proxymux=f"{service_ip}:{PROXYMUX_PORT}", kubeconfig=cluster.kubeconfig
    ) as emu:
        yield emu


def readme_policies(compartment: str, namespace: str, account: str) -> dict[str, str]:
    """The chart README's statements for oke_workload_identity (its subject: any-user + where)."""
    where = (
        "where all {request.principal.type='workload', "
        f"request.principal.namespace='{namespace}', request.principal.service_account='{account}'}}"
    )
    location = f"in compartment id {compartment} {where}"
    return {
        "data-science": f"Allow any-user to manage data-science-family {location}",
        "log-content": f"Allow any-user to use log-content {location}",
        "logging": f"Allow any-user to manage logging-family {location}",
    }


def workload_client(emu: Any, token: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test's own view of OCI, as the same workload (the policies grant users nothing)."""
    for key, value in emu.workload_identity_env.items():
        monkeypatch.setenv(key, value)
    signer = oci.auth.signers.get_oke_workload_identity_resource_principal_signer(service_account_token=token)
    return oci.data_science.DataScienceClient(
        {"region": emu.ids["REGION"]}, signer=signer, service_endpoint=emu.endpoint
    )


def test_image_runs_on_workload_identity_and_names_the_missing_policy(
    chart: Callable[..., ChartPod],
    world: Scenario,
    emulator: Any,
    service_ip: str,
    cluster: Any,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pod = chart(
        "--set", "oci.auth=oke_workload_identity", "--set", "pollIntervalSeconds=1",
        # Denials are retried up to this often (default 300 s), so a restored policy shows quickly.
        "--set", "extraEnv[0].name=OCIDS_RETRY_MAX_SECONDS", "--set-string", "extraEnv[0].value=3",
    )  # fmt: skip
    env = {e["name"]: e.get("value") for e in pod.container_spec["env"]}
    assert env["OCIDS_AUTH"] == "oke_workload_identity"
    volumes = pod.deployment["spec"]["template"]["spec"].get("volumes") or []
    assert not [v for v in volumes if "secret" in v], "this mode mounts no Secret"
    account = pod.deployment["spec"]["template"]["spec"]["serviceAccountName"]
    pod.service_ip = service_ip
    pod.extra_ca_certs = Path(emulator.proxymux_ca_file).read_bytes()

    compartment, ns = world.compartment_id, world.namespace
    statements = readme_policies(compartment, ns, account)
    # Exactly the README's statements: no group Administrators, no allow-all for keyless principals.
    world.admin.set_policies(list(statements.values()))
    assert world.admin.policies()["policies"] == list(statements.values())

    world.apply(
        world.job("attrition", scripts.TRAIN, env={"EPOCHS": "2"}), world.run("attrition-1", "attrition")
    )
    container, command = pod.start()
    with logs_on_failure(request, container, command):
        assert resolvable_service_names(container) == []  # KUBERNETES_SERVICE_HOST is the only way
        run = wait_phase(world, container, RUNS, "attrition-1", "Succeeded", timeout=180)
        assert run["status"]["exitCode"] == 0
        job = world.wait_job_active("attrition", timeout=30)
        job_id = job["status"]["jobId"]
        assert job_id == run["status"]["jobId"]
        stats = world.admin.stats()
        # Every call the container made was signed with the workload's session token.
        assert set(stats.get("principals") or {}) == {"workload"}, stats
        assert not any((stats.get("policyDenials") or {}).values()), stats

        lines = container.timed_log_lines()
        started = container.started_at()
        first_reconcile = next(t for t, line in lines if FIRST_RECONCILE.search(line))
        print(
            f"\nworkload identity cold start: first log line {(lines[0][0] - started).total_seconds():.2f}s, "
            f"first reconcile {(first_reconcile - started).total_seconds():.2f}s after the process started; "
            f"principals {stats['principals']}"
        )
        assert "auth=oke_workload_identity" in container.logs()

        # The data-science statement goes: a new TrainingJob is refused and says what is missing.
        world.admin.set_policies([statements["log-content"], statements["logging"]])
        world.apply(world.job("denied", scripts.TRAIN))

        def not_authorized() -> dict[str, Any] | None:
            alive(container)
            obj = world.get_job("denied")
            stalled = condition(obj, "Stalled") if obj else None
            return obj if stalled and stalled.get("reason") == "NotAuthorized" else None

        denied = wait_for(not_authorized, timeout=90, message="NotAuthorized condition")
        message = denied["status"]["message"]
        assert f"OKE workload identity {ns}/{account} (namespace/service account)" in message, message
        assert (
            "Allow any-user to manage data-science-family in compartment id "
            f"{compartment} where all {{request.principal.type='workload', "
            f"request.principal.namespace='{ns}', request.principal.service_account='{account}'"
        ) in message, message
        assert (world.admin.stats().get("policyDenials") or {}).get("workload", 0) > 0

        # Deleting while denied keeps the finalizer: nothing is orphaned in OCI.
        world.kube.delete(JOBS, "attrition", ns, wait=False)
        event = world.wait_event("attrition", "DeletionBlocked", timeout=90)
        assert f"request.principal.service_account='{account}'" in event["message"], event
        kept = world.get_job("attrition")
        assert kept is not None and kept["metadata"].get("finalizers"), kept

        world.admin.set_policies(list(statements.values()))
        wait_for(lambda: world.get_job("attrition") is None, timeout=120, message="deleted once allowed")
        world.wait_job_active("denied", timeout=120)
        state = workload_client(emulator, pod.node().token, monkeypatch).get_job(job_id).data.lifecycle_state
        assert state in ("DELETED", "DELETING"), state
        alive(container)
        assert container.inspect()["RestartCount"] == 0
        assert "Traceback" not in container.logs()
