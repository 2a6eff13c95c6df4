"""Secrets: no Secret value, API-key pass phrase, piece of the key or PAR token ever appears in the
operator's log (at DEBUG), an Event or a status: in a calm pass, then again with OCI failing 30 % of
calls and refusals whose messages quote the request (OCI's 400s, a NotAuthorized, a PAR gone).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chaos_figures import report
from flaky_secrets import Secrets, encrypted_key_target, exposures, leaks
from operator_harness import OperatorProcess, Scenario, condition, wait_for
from test_operator_artifact_defects import ArtifactHost, operator_env, serve

pytestmark = pytest.mark.integration
FAULTS = {
    "errors": [{"operation": "*", "statuses": [429, 500, 503], "rate": 0.3}],
    "latencyMs": {"*": 20},
    "seed": 1202,
}
SECRET = "train-creds"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.py", "print('hello', flush=True)\n")
    return buffer.getvalue()


def _secret_env(name: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": SECRET, "key": key}}}


def _workload(world: Scenario, prefix: str, par_url: str, gone_url: str) -> None:
    """Jobs and runs that hand the operator every secret, some of them bound to fail."""
    env = [_secret_env("API_TOKEN", "job-token")]
    par_job = world.job(f"{prefix}-par", "unused", entrypoint="main.py", extra_env=env)
    par_job["spec"]["artifact"] = {"url": par_url}
    gone_job = world.job(f"{prefix}-par-gone", "unused", entrypoint="main.py")
    gone_job["spec"]["artifact"] = {"url": gone_url}
    refused = world.job(f"{prefix}-refused", "print(1)\n", extra_env=env, maximumRuntimeInMinutes=50_000)
    world.apply(par_job, gone_job, refused)
    job_id = world.wait_job_active(f"{prefix}-par", timeout=120)["status"]["jobId"]
    runs = {name: world.run(name, f"{prefix}-par") for name in (f"{prefix}-run", f"{prefix}-denied")}
    for run in runs.values():
        run["spec"]["env"] = [_secret_env("RUN_TOKEN", "run-token")]
    # IAM refuses the first run (404 NotAuthorizedOrNotFound: a message naming what was asked for;
    # the run ends NotAuthorized with OCI's words). Then the other run goes through.
    world.admin.deny("create_job_run", resource_ids=[job_id])
    world.apply(runs[f"{prefix}-denied"])
    for name in (f"{prefix}-par-gone", f"{prefix}-refused"):
        wait_for(
            lambda name=name: (c := condition(world.get_job(name), "Stalled")) and c["status"] == "True",
            timeout=90,
            message=f"{name} Stalled",
        )
    wait_for(
        lambda: (c := condition(world.get_run(f"{prefix}-denied"), "Ready")) and "NotAuthorized" in str(c),
        timeout=90,
        message=f"{prefix}-denied refused by IAM",
    )
    world.admin.patch_faults({"denials": []})
    world.apply(runs[f"{prefix}-run"])
    world.wait_run(f"{prefix}-run", "Succeeded", timeout=120)


def test_no_secret_reaches_a_log_line_event_or_status_even_under_faults(
    world: Scenario, start_operator: Callable[..., OperatorProcess], tmp_path: Path
) -> None:
    hidden = Secrets.fresh()
    target, hidden = encrypted_key_target(world.oci.target, tmp_path, hidden)
    host = ArtifactHost()
    with serve(host, tmp_path) as (https, _):
        par = f"/p/{hidden.par_token}/n/ns1/b/bucket/o/jobs/train.zip"
        host.files[par] = _zip()
        gone = f"{https}/p/{hidden.par_token}/n/ns1/b/bucket/o/jobs/gone.zip"
        world.kube.kubectl(
            "create",
            "secret",
            "generic",
            SECRET,
            "-n",
            world.namespace,
            f"--from-literal=job-token={hidden.job_token}",
            f"--from-literal=run-token={hidden.run_token}",
        )
        world.admin.set_simulated("1:0")
        op = start_operator(target=target, env={**operator_env(host), "OCIDS_LOG_LEVEL": "DEBUG"})
        world.operator = op

        _workload(world, "calm", f"{https}{par}", gone)
        calm_places = exposures(world, op.log_text())

        world.admin.patch_faults(FAULTS)
        _workload(world, "flaky", f"{https}{par}", gone)
        injected = world.admin.get_faults()["injected"]
        places = exposures(world, op.log_text())

    assert " DEBUG " in "\n".join(places["log lines"]), "the operator did not log at DEBUG"
    assert hidden.par_token not in "\n".join(places["statuses"]) and "/p/***/n/" in "\n".join(
        places["statuses"]
    )
    found = leaks(places, hidden)
    report(
        "secrets",
        values_hidden=len(hidden.values()),
        log_lines=len(places["log lines"]),
        events=len(places["events"]),
        statuses=len(places["statuses"]),
        calm_log_lines=len(calm_places["log lines"]),
        faults_injected=injected,
        leaks=len(found),
    )
    assert not found, "\n".join(found)
    assert op.running


def test_a_par_token_stays_out_of_the_debug_log(
    world: Scenario, start_operator: Callable[..., OperatorProcess], tmp_path: Path
) -> None:
    hidden = Secrets.fresh()
    host = ArtifactHost()
    with serve(host, tmp_path) as (https, _):
        par = f"/p/{hidden.par_token}/n/ns1/b/bucket/o/jobs/train.zip"
        host.files[par] = _zip()
        op = start_operator(env={**operator_env(host), "OCIDS_LOG_LEVEL": "DEBUG"})
        job = world.job("par", "unused", entrypoint="main.py")
        job["spec"]["artifact"] = {"url": f"{https}{par}"}
        world.apply(job)
        world.wait_job_active("par")
    assert hidden.par_token not in op.log_text()
