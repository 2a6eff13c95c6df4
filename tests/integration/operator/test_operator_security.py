"""Credentials and secrets: a wrong key is reported clearly; secret env values never leak."""

from __future__ import annotations

import configparser
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import operator_scripts as scripts
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from operator_harness import JOBS, RUNS, OciTarget, OperatorProcess, Scenario, condition, wait_for

pytestmark = pytest.mark.integration


def _config_with_wrong_key(target: OciTarget, work_dir: Path) -> OciTarget:
    """Same user and fingerprint, a different private key: every signature the emulator checks fails."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_path = work_dir / "wrong_key.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    parser = configparser.ConfigParser()
    parser.read(target.config_file)
    parser[target.profile]["key_file"] = str(key_path)
    config_path = work_dir / "wrong_config"
    with open(config_path, "w") as fh:
        parser.write(fh)
    config_path.chmod(0o600)
    return replace(target, config_file=config_path)


def test_wrong_api_key_surfaces_as_a_condition_with_a_clear_message(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator(target=_config_with_wrong_key(world.oci.target, world.work_dir))
    world.apply(world.job("denied", scripts.TRAIN))

    def credential_condition() -> dict[str, object] | None:
        obj = world.get_job("denied")
        for cond in (obj or {}).get("status", {}).get("conditions") or []:
            text = f"{cond.get('reason')} {cond.get('message')}".lower()
            if any(w in text for w in ("401", "notauthenticated", "credential", "authenticat")):
                return dict(cond)
        return None

    cond = wait_for(credential_condition, timeout=60, message="a condition naming the credentials problem")
    obj = world.get_job("denied")
    assert obj is not None and obj["status"].get("phase") != "Active", obj["status"]
    ready = condition(obj, "Ready")
    assert ready is not None and ready["status"] == "False", obj["status"]
    assert cond.get("message"), cond
    assert world.oci_jobs() == [], "nothing can have been created with a wrong key"


@pytest.mark.parametrize("log_level", ["INFO", "DEBUG"])
def test_secret_env_reaches_the_run_but_never_status_events_or_log(
    world: Scenario, start_operator: Callable[..., OperatorProcess], log_level: str
) -> None:
    # DEBUG too: users turn it on exactly when something goes wrong, and logs get pasted into tickets.
    e2e = world
    e2e.operator = start_operator(env={"OCIDS_LOG_LEVEL": log_level})
    value = "tok-" + secrets.token_hex(16)
    e2e.kube.kubectl(
        "create", "secret", "generic", "api-token", "-n", e2e.namespace, f"--from-literal=token={value}"
    )
    secret_env = [{"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api-token", "key": "token"}}}]
    e2e.apply(e2e.job("secretive", scripts.SECRET_DIGEST, extra_env=secret_env))
    e2e.wait_job_active("secretive")
    e2e.apply(e2e.run("secretive-1", "secretive"))
    run = e2e.wait_run("secretive-1", "Succeeded")

    digest = hashlib.sha256(value.encode()).hexdigest()
    lines = e2e.run_log(run, "token_sha256=")
    assert any(f"token_sha256={digest} token_len={len(value)}" in line for line in lines), lines

    places = {
        "TrainingJob": json.dumps(e2e.get_job("secretive")),
        "TrainingJobRun": json.dumps(e2e.get_run("secretive-1")),
        "events": json.dumps(e2e.kube.events(e2e.namespace)),
        "kubectl get -o yaml": e2e.kube.kubectl(
            "get", f"{JOBS},{RUNS}", "-n", e2e.namespace, "-o", "yaml"
        ).stdout,
        "operator log": e2e.operator.log_text() if e2e.operator else "",
    }
    leaked = [where for where, text in places.items() if value in text]
    assert not leaked, f"secret value appears in: {leaked}"
    if log_level == "DEBUG":
        assert " DEBUG " in places["operator log"], "the operator did not log at DEBUG"


def test_training_job_blocked_by_credentials_still_shows_a_phase(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator(target=_config_with_wrong_key(world.oci.target, world.work_dir))
    world.apply(world.job("blocked", scripts.TRAIN))
    world.wait_event("blocked", "CredentialsRejected")
    table = world.kube.kubectl("get", JOBS, "blocked", "-n", world.namespace, "-o", "wide").stdout
    assert (world.get_job("blocked") or {})["status"].get("phase") in ("Pending", "Failed"), table
