"""The driver really running as a job artifact in the emulator: the run's own resource principal
reads a Vault secret and uploads the outputs (and an executed notebook) to Object Storage."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import ocids_operator.driver
from emulator_support import make_job, messages, run_details, wait_run
from oci.data_science import models as M
from ocids_emulator.testing import RunningEmulator

DRIVER = Path(ocids_operator.driver.__file__).parent
PREFIX = "experiments/driver"

TRAIN = """
import hashlib, os, pathlib, sys
out = pathlib.Path(os.environ["OCIDS_DRIVER_OUTPUT_DIR"])
(out / "model.txt").write_text("weights for " + " ".join(sys.argv[1:]))
(out / "metrics").mkdir()
(out / "metrics" / "eval.json").write_text('{"accuracy": 0.93}')
secret = os.environ.get("DB_PASSWORD", "")
print("secret sha256", hashlib.sha256(secret.encode()).hexdigest())
"""

NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {},
    "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# Train"},
        {
            "cell_type": "code",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
            "source": "total = 40 + 2\nprint('total', total)",
        },
        {
            "cell_type": "code",
            "metadata": {"tags": ["skip"]},
            "outputs": [],
            "execution_count": None,
            "source": "raise SystemExit(9)",
        },
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": "total * 2"},
    ],
}


def artifact(code: dict[str, str]) -> bytes:
    """The zip the operator uploads: ocids_driver/ (the driver modules) and code/ (the job's files)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for module in sorted(DRIVER.glob("*.py")):
            archive.write(module, f"ocids_driver/{module.name}")
        for name, text in code.items():
            archive.writestr(f"code/{name}", text)
    return buffer.getvalue()


def driver_job(
    client: Any, emu: RunningEmulator, code: dict[str, str], env: dict[str, str], args: str = ""
) -> Any:
    ids = emu.ids
    environment = {
        "JOB_RUN_ENTRYPOINT": "ocids_driver/main.py",
        # What the operator copies from its own settings when it talks to a private endpoint.
        "OCIDS_OBJECT_STORAGE_ENDPOINT": emu.endpoint,
        "OCIDS_SECRETS_ENDPOINT": emu.endpoint,
        "OCIDS_DRIVER_OUTPUT_URI": f"oci://{ids['OBJECT_STORAGE_BUCKET']}@{ids['OBJECT_STORAGE_NAMESPACE']}/{PREFIX}/",
        **env,
    }
    config = M.DefaultJobConfigurationDetails(
        environment_variables=environment, command_line_arguments=args or None
    )
    return make_job(
        client, ids, artifact(code), filename="ocids-driver.zip", job_configuration_details=config
    )


def run_to_end(client: Any, emu: RunningEmulator, job: Any) -> Any:
    run = client.create_job_run(run_details(emu.ids, job.id)).data
    return wait_run(client, run.id, timeout=60)


def outputs_of(emu: RunningEmulator, run_id: str) -> dict[str, bytes]:
    ids = emu.ids
    storage = emu.object_storage_client()
    prefix = f"{PREFIX}/{run_id}/"
    listed = storage.list_objects(
        ids["OBJECT_STORAGE_NAMESPACE"], ids["OBJECT_STORAGE_BUCKET"], prefix=prefix
    ).data
    return {
        o.name[len(prefix) :]: storage.get_object(
            ids["OBJECT_STORAGE_NAMESPACE"], ids["OBJECT_STORAGE_BUCKET"], o.name
        ).data.content
        for o in listed.objects
    }


def test_script_run_gets_its_vault_secret_and_its_outputs_land_in_object_storage(
    emu: RunningEmulator, client: Any
) -> None:
    secret_value = "vault-only-value-7d1f"
    emu.admin.set_vault_secret(emu.ids["VAULT_SECRET_ID"], secret_value)
    env = {
        "OCIDS_DRIVER_MODE": "script",
        "OCIDS_DRIVER_ENTRYPOINT": "train.py",
        "OCIDS_DRIVER_VAULT_SECRETS": json.dumps({"DB_PASSWORD": emu.ids["VAULT_SECRET_ID"]}),
    }
    job = driver_job(client, emu, {"train.py": TRAIN}, env, args="--lr 0.1")
    run = run_to_end(client, emu, job)
    lines = messages(emu, emu.ids, run)
    assert run.lifecycle_state == "SUCCEEDED", lines
    assert f"secret sha256 {hashlib.sha256(secret_value.encode()).hexdigest()}" in lines
    assert "ocids-driver: set DB_PASSWORD from OCI Vault" in lines
    assert not any(secret_value in line for line in lines)
    assert outputs_of(emu, run.id) == {
        "model.txt": b"weights for --lr 0.1",
        "metrics/eval.json": b'{"accuracy": 0.93}',
    }


def test_notebook_run_uploads_the_executed_notebook(emu: RunningEmulator, client: Any) -> None:
    env = {
        "OCIDS_DRIVER_MODE": "notebook",
        "OCIDS_DRIVER_NOTEBOOK": "notebooks/train.ipynb",
        "OCIDS_DRIVER_EXCLUDE_TAGS": "skip",
    }
    job = driver_job(client, emu, {"notebooks/train.ipynb": json.dumps(NOTEBOOK)}, env)
    run = run_to_end(client, emu, job)
    lines = messages(emu, emu.ids, run)
    assert run.lifecycle_state == "SUCCEEDED", lines
    assert "total 42" in lines and "84" in lines
    uploaded = outputs_of(emu, run.id)
    assert sorted(uploaded) == ["train.ipynb"]
    cells = json.loads(uploaded["train.ipynb"])["cells"]
    assert cells[1]["outputs"] == [{"output_type": "stream", "name": "stdout", "text": "total 42\n"}]
    assert cells[2]["execution_count"] is None
    assert cells[3]["outputs"][0]["data"] == {"text/plain": "84"}


def test_a_secret_the_run_cannot_read_fails_the_run_before_the_code_starts(
    emu: RunningEmulator, client: Any
) -> None:
    missing = emu.ids["VAULT_SECRET_ID"].rsplit(".", 1)[0] + ".doesnotexist"
    env = {
        "OCIDS_DRIVER_MODE": "script",
        "OCIDS_DRIVER_ENTRYPOINT": "train.py",
        "OCIDS_DRIVER_VAULT_SECRETS": json.dumps({"DB_PASSWORD": missing}),
    }
    job = driver_job(client, emu, {"train.py": "print('user code ran')"}, env)
    run = run_to_end(client, emu, job)
    lines = messages(emu, emu.ids, run)
    assert run.lifecycle_state == "FAILED"
    assert "exit code 1" in run.lifecycle_details
    assert any(f"cannot read the Vault secret {missing} for DB_PASSWORD: 404" in line for line in lines), (
        lines
    )
    assert "user code ran" not in lines
