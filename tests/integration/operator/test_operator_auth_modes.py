"""Issue 9: the operator under every keyless auth mode, end to end against the emulator.

OKE workload identity uses a real ServiceAccount token (`kubectl create token`) that the emulator's
proxymux checks with a TokenReview; instance principals use the emulator's metadata service and
X.509 federation; resource principals v2.2 its token files. The operator's own Kubernetes login
stays the kubeconfig's (it reads KUBERNETES_SERVICE_HOST only when the Pod's token file exists).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ocids_emulator.testing import PROXYMUX_PORT, free_loopback_host
from operator_harness import JOBS, RUNS, Scenario, condition, wait_for

pytestmark = pytest.mark.integration

SA = "ocids-operator"
HELLO = "print('hello from a keyless operator')\n"
# Runs ~10 s: longer than a 3 s session token, so the operator's calls meet an expired token.
SLOW = "import time\nfor i in range(10):\n    print('tick', i, flush=True)\n    time.sleep(1)\n"


@pytest.fixture
def emulator(request: pytest.FixtureRequest, tmp_path: Path, cluster: Any) -> Iterator[Any]:
    """The emulator with OKE workload identity's proxymux; `session_token_seconds` via indirect params."""
    from ocids_emulator.testing import running_emulator

    seconds = getattr(request, "param", None)
    with running_emulator(
        tmp_path / "emulator",
        proxymux=f"{free_loopback_host()}:{PROXYMUX_PORT}",
        kubeconfig=cluster.kubeconfig,
        session_token_seconds=seconds,
    ) as emu:
        yield emu


def _no_api_key() -> dict[str, str]:
    return {"OCIDS_OCI_CONFIG_FILE": "", "OCIDS_OCI_PROFILE": "", "OCI_CONFIG_FILE": ""}


def _workload_env(emu: Any, cluster: Any, namespace: str, tmp_path: Path) -> dict[str, str]:
    cluster.kubectl("create", "serviceaccount", SA, "-n", namespace)
    token = str(cluster.kubectl("create", "token", SA, "-n", namespace).stdout.strip())
    token_file = tmp_path / "sa-token"
    token_file.write_text(token)
    return {
        **_no_api_key(),
        **emu.workload_identity_env,
        "OCIDS_AUTH": "oke_workload_identity",
        "OCIDS_SERVICE_ACCOUNT_TOKEN_FILE": str(token_file),
    }


def _instance_env(emu: Any) -> dict[str, str]:
    return {
        **_no_api_key(),
        "OCIDS_AUTH": "instance_principal",
        "OCI_METADATA_BASE_URL": f"{emu.endpoint}/opc/v2",
        "OCIDS_FEDERATION_ENDPOINT": f"{emu.endpoint}/v1/x509",
    }


def _resource_env(emu: Any, tmp_path: Path) -> dict[str, str]:
    return {**_no_api_key(), **emu.resource_principal(tmp_path / "rp"), "OCIDS_AUTH": "resource_principal"}


def _run_to_succeeded(world: Scenario, name: str, script: str = HELLO) -> dict[str, Any]:
    world.apply(world.job(name, script))
    job = world.wait_job_active(name)
    assert job["status"]["jobId"].startswith("ocid1.datasciencejob."), job["status"]
    world.apply(world.run(f"{name}-1", name))
    world.kube.wait_condition(RUNS, f"{name}-1", world.namespace, "Succeeded", timeout=120)
    run = world.get_run(f"{name}-1")
    assert run is not None
    status = run["status"]
    assert status["phase"] == "Succeeded", status
    assert status["logs"]["url"].startswith("https://cloud.oracle.com/logging/search?searchQuery="), status
    assert status["jobRunId"] in status["consoleUrl"]
    return run


def _principals(world: Scenario) -> dict[str, int]:
    return dict(world.admin.stats().get("principals") or {})


@pytest.mark.parametrize("mode", ["oke_workload_identity", "instance_principal", "resource_principal"])
def test_each_keyless_mode_runs_a_job_to_succeeded_with_log_links(
    mode: str,
    world: Scenario,
    emulator: Any,
    cluster: Any,
    tmp_path: Path,
    start_operator: Callable[..., Any],
) -> None:
    env = {
        "oke_workload_identity": lambda: _workload_env(emulator, cluster, world.namespace, tmp_path),
        "instance_principal": lambda: _instance_env(emulator),
        "resource_principal": lambda: _resource_env(emulator, tmp_path),
    }[mode]()
    started = time.monotonic()
    op = start_operator(env=env)
    ready = time.monotonic() - started
    _run_to_succeeded(world, "keyless")
    kinds = _principals(world)
    expected = {"oke_workload_identity": "workload", "instance_principal": "instance"}.get(mode, "resource")
    # Every call the operator made was signed with the principal's session token, none with a key.
    assert kinds.get(expected, 0) > 0 and set(kinds) <= {expected, "user"}, kinds
    log = op.log_text()
    assert f"auth={mode}" in log
    if mode == "oke_workload_identity":
        assert f"{world.namespace}/{SA}" in log, log[-2000:]
    print(f"{mode}: operator ready in {ready:.1f}s, principals {kinds}")


@pytest.mark.parametrize("emulator", [3], indirect=True)
def test_workload_identity_token_expiring_mid_run_is_refreshed_silently(
    world: Scenario, emulator: Any, cluster: Any, tmp_path: Path, start_operator: Callable[..., Any]
) -> None:
    start_operator(env=_workload_env(emulator, cluster, world.namespace, tmp_path))
    run = _run_to_succeeded(world, "slow", SLOW)
    job = world.get_job("slow")
    assert job is not None
    for obj in (job, run):
        for cond_ in obj["status"].get("conditions") or []:
            assert cond_["reason"] not in ("NotAuthorized", "CredentialsRejected", "CredentialsInvalid"), (
                cond_
            )
    events = world.kube.kubectl(
        "get", "events", "-n", world.namespace, "-o", "jsonpath={range .items[*]}{.type} {.reason}\n{end}"
    ).stdout
    assert "Warning" not in events, events
    stats = world.admin.stats()
    refused = sum(int(op["byStatus"].get("401", 0)) for op in stats["operations"].values())
    print(f"stats after a 3 s token over a ~10 s run: 401s={refused} principals={stats['principals']}")
    # The run outlived several tokens; each 401 was answered by a new exchange and a retry.
    assert stats["principals"].get("workload", 0) > 0
    assert refused > 0, stats


@pytest.mark.parametrize("mode", ["api_key", "oke_workload_identity"])
def test_a_denied_create_says_not_authorized_naming_the_principal_and_policy(
    mode: str,
    world: Scenario,
    emulator: Any,
    cluster: Any,
    tmp_path: Path,
    start_operator: Callable[..., Any],
) -> None:
    env = {"OCIDS_RETRY_MAX_SECONDS": "3"}
    if mode == "oke_workload_identity":
        env |= _workload_env(emulator, cluster, world.namespace, tmp_path)
    start_operator(env=env)
    compartment = world.compartment_id
    world.admin.deny("create_job", resource_ids=[compartment], count=None)
    world.apply(world.job("denied", HELLO))

    def not_authorized() -> dict[str, Any] | None:
        job = world.get_job("denied")
        stalled = condition(job, "Stalled") if job else None
        return job if stalled and stalled.get("reason") == "NotAuthorized" else None

    job = wait_for(not_authorized, timeout=60, message="NotAuthorized condition")
    message = job["status"]["message"]
    assert "404 NotAuthorizedOrNotFound" in message, message
    assert f"compartment id {compartment}" in message, message
    if mode == "api_key":
        assert "the operator runs as user ocid1.user." in message, message
    else:
        assert (
            "Allow any-user to manage data-science-family in compartment id "
            f"{compartment} where all {{request.principal.type='workload', "
            f"request.principal.namespace='{world.namespace}', request.principal.service_account='{SA}'"
        ) in message, message
    assert world.wait_event("denied", "NotAuthorized")["type"] == "Warning"
    # Retried slowly (a policy gets fixed outside the spec), and it heals once allowed.
    wait_for(
        lambda: int(world.admin.stats()["operations"].get("create_job", {}).get("total", 0)) >= 2,
        timeout=60,
        message="create_job retried",
    )
    world.admin.clear_faults()
    healed = world.wait_job_active("denied", timeout=120)
    assert len(world.oci_jobs()) == 1, healed["status"]


def test_a_denied_delete_in_workload_mode_blocks_the_finalizer_and_names_the_policy(
    world: Scenario, emulator: Any, cluster: Any, tmp_path: Path, start_operator: Callable[..., Any]
) -> None:
    env = {"OCIDS_RETRY_MAX_SECONDS": "3", **_workload_env(emulator, cluster, world.namespace, tmp_path)}
    start_operator(env=env)
    world.apply(world.job("kept", HELLO))
    job_id = world.wait_job_active("kept")["status"]["jobId"]
    world.admin.deny("delete_job", resource_ids=[job_id], count=None)
    world.kube.delete(JOBS, "kept", world.namespace, wait=False)
    event = world.wait_event("kept", "DeletionBlocked", timeout=60)
    assert f"request.principal.service_account='{SA}'" in event["message"], event
    assert world.get_job("kept") is not None  # the finalizer holds: nothing is orphaned in OCI
    world.admin.clear_faults()
    wait_for(lambda: world.get_job("kept") is None, timeout=90, message="deleted once allowed")
