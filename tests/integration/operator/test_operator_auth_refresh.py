"""Issue 9: a session-token refresh that fails mid-life (OKE workload identity, 3 s tokens).

The exchange is refused for real: deleting the ServiceAccount makes the API server's TokenReview
refuse its token, so the emulator's proxymux answers 401 and the SDK's refresh fails inside an
ordinary call. Recreating the ServiceAccount and writing a new token into the token file (what the
kubelet does for a projected token) lets the same operator process recover.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ocids_emulator.testing import free_loopback_host
from operator_harness import RUNS, Scenario, condition, wait_for
from test_operator_auth_modes import HELLO, SA, _workload_env, emulator

pytestmark = pytest.mark.integration
__all__ = ["emulator"]  # the fixture (3 s session tokens through indirect parametrisation)


def _stalled_reason(obj: dict[str, Any] | None) -> str | None:
    stalled = condition(obj, "Stalled") if obj else None
    return str(stalled.get("reason")) if stalled and stalled.get("status") == "True" else None


@pytest.mark.parametrize("emulator", [3], indirect=True)
def test_a_refused_refresh_mid_life_shows_not_authorized_and_recovers_by_itself(
    world: Scenario, emulator: Any, cluster: Any, tmp_path: Path, start_operator: Callable[..., Any]
) -> None:
    env = {"OCIDS_RETRY_MAX_SECONDS": "3", **_workload_env(emulator, cluster, world.namespace, tmp_path)}
    op = start_operator(env=env)
    world.apply(world.job("refresh", HELLO))
    world.wait_job_active("refresh")

    # Revoke the workload's ServiceAccount: once the API server's token cache lets go (~10 s) and
    # the 3 s session token runs out, the job's resync meets a refused refresh.
    cluster.kubectl("delete", "serviceaccount", SA, "-n", world.namespace)

    def job_refused() -> dict[str, Any] | None:
        job = world.get_job("refresh")
        return job if _stalled_reason(job) == "NotAuthorized" else None

    job = wait_for(job_refused, timeout=90, message="NotAuthorized on the TrainingJob")
    _check_refused_message(str(job["status"]["message"]), world.namespace)
    print(f"refused refresh: {job['status']['message']}")
    assert world.wait_event("refresh", "NotAuthorized")["type"] == "Warning"

    # A run created now waits for its job (no OCI call of its own until the job is back).
    world.apply(world.run("refresh-1", "refresh"))

    # Retried slowly (every OCIDS_RETRY_MAX_SECONDS), never a hot loop, never a crash.
    before = op.log_text().count("token exchange for")
    time.sleep(12)
    attempts = op.log_text().count("token exchange for") - before
    print(f"failed exchanges logged in 12 s (retried every 3 s): {attempts}")
    run = world.get_run("refresh-1")
    print(f"the run meanwhile: {(run or {}).get('status', {}).get('message')}")
    assert 1 <= attempts <= 30, attempts
    assert op.proc is not None and op.proc.poll() is None  # no crash

    # The exchange works again (a new ServiceAccount and token, as the kubelet rotates a projected
    # token): the same process recovers, the run goes on to Succeeded and the job back to Ready.
    cluster.kubectl("create", "serviceaccount", SA, "-n", world.namespace)
    token = str(cluster.kubectl("create", "token", SA, "-n", world.namespace).stdout.strip())
    Path(env["OCIDS_SERVICE_ACCOUNT_TOKEN_FILE"]).write_text(token)
    world.kube.wait_condition(RUNS, "refresh-1", world.namespace, "Succeeded", timeout=120)
    run = world.get_run("refresh-1")
    assert run is not None and run["status"]["phase"] == "Succeeded", run
    assert _stalled_reason(run) is None, run["status"]

    def job_ready() -> dict[str, Any] | None:
        job = world.get_job("refresh")
        ready = condition(job, "Ready") if job else None
        return job if ready and ready.get("status") == "True" and _stalled_reason(job) is None else None

    wait_for(job_ready, timeout=60, message="the TrainingJob Ready again")
    assert op.log_text().count("===== operator start") == 1  # no restart


def _check_refused_message(message: str, namespace: str) -> None:
    assert "OCI refused the oke_workload_identity token exchange" in message, message
    assert f"OKE workload identity {namespace}/{SA}" in message, message
    assert f"ServiceAccount {SA} exists in namespace {namespace}" in message, message
    assert "cluster type is enhanced" in message, message
    assert "Allow any-user to manage data-science-family" in message, message


def test_an_unreachable_exchange_is_retried_saying_the_token_exchange_failed(
    world: Scenario, emulator: Any, cluster: Any, tmp_path: Path, start_operator: Callable[..., Any]
) -> None:
    env = {
        **_workload_env(emulator, cluster, world.namespace, tmp_path),
        "KUBERNETES_SERVICE_HOST": free_loopback_host(),
        "OCIDS_OCI_MAX_ELAPSED_SECONDS": "2",
        "OCIDS_RETRY_MAX_SECONDS": "3",
    }
    start_operator(env=env)
    world.apply(world.job("unreachable", HELLO))

    def failed() -> dict[str, Any] | None:
        job = world.get_job("unreachable")
        message = str((job or {}).get("status", {}).get("message", ""))
        return job if "token exchange for" in message else None

    job = wait_for(failed, timeout=90, message="TokenExchangeFailed message")
    message = job["status"]["message"]
    print(f"unreachable exchange: {message}")
    assert message.startswith("the oke_workload_identity token exchange for OKE workload identity"), message
    assert _stalled_reason(job) != "NotAuthorized", job["status"]
    assert world.wait_event("unreachable", "TokenExchangeFailed")["type"] == "Warning"
