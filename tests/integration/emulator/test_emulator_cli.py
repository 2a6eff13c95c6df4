"""A handful of commands of the real ``oci`` CLI (3.95.1) with ``--endpoint`` against the emulator.

The CLI pins library versions that clash with .venv, so `make ocicli` installs it in .venv-ocicli;
OCIDS_OCI_CLI may point at another `oci` executable.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from emulator_support import make_job, wait_run

REPO = Path(__file__).resolve().parents[3]


def _find_cli() -> str | None:
    candidates = [
        os.environ.get("OCIDS_OCI_CLI"),
        str(REPO / ".venv-ocicli" / "bin" / "oci"),
        shutil.which("oci"),
    ]
    return next((c for c in candidates if c and Path(c).is_file()), None)


CLI = _find_cli()
if CLI is None:
    if os.environ.get("CI"):
        raise RuntimeError("the oci CLI is missing in CI: run `make ocicli` (or set OCIDS_OCI_CLI)")
    pytestmark = pytest.mark.skip(reason="oci CLI not installed: run `make ocicli` or set OCIDS_OCI_CLI")


def oci_cli(emu: Any, *args: str) -> dict[str, Any]:
    assert CLI is not None
    command = [
        CLI,
        "--config-file",
        emu.config_file,
        "--profile",
        emu.profile,
        "--endpoint",
        emu.endpoint,
        *args,
    ]
    env = {**os.environ, "OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING": "True"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stderr}"
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_cli_artifact_run_list_and_logs(emu, ids, client, tmp_path):
    job = make_job(client, ids)
    script = tmp_path / "cli_job.py"
    script.write_text("print('from the cli')\n")
    oci_cli(
        emu, "data-science", "job", "create-job-artifact", "--job-id", job.id,
        "--job-artifact-file", str(script), "--content-disposition", "attachment; filename=cli_job.py",
    )  # fmt: skip
    got = oci_cli(emu, "data-science", "job", "get", "--job-id", job.id)
    assert got["data"]["lifecycle-state"] == "ACTIVE"
    assert got["etag"]

    created = oci_cli(
        emu, "data-science", "job-run", "create", "--compartment-id", ids["COMPARTMENT_ID"],
        "--project-id", ids["PROJECT_ID"], "--job-id", job.id, "--display-name", "cli-run",
        "--wait-for-state", "SUCCEEDED", "--wait-interval-seconds", "1",
    )  # fmt: skip
    run_id = created["data"]["id"]
    assert created["data"]["lifecycle-state"] == "SUCCEEDED"

    listed = oci_cli(
        emu,
        "data-science",
        "job-run",
        "list",
        "--compartment-id",
        ids["COMPARTMENT_ID"],
        "--job-id",
        job.id,
        "--all",
    )
    assert [r["id"] for r in listed["data"]] == [run_id]

    run = wait_run(client, run_id)
    now = dt.datetime.now(dt.UTC)
    log = run.log_details
    query = f"search \"{ids['COMPARTMENT_ID']}/{log.log_group_id}/{log.log_id}\" | where source = '*{run_id}'"
    start, end = (now - dt.timedelta(hours=1)).isoformat(), (now + dt.timedelta(minutes=1)).isoformat()
    found = oci_cli(
        emu,
        "logging-search",
        "search-logs",
        "--search-query",
        query,
        "--time-start",
        start,
        "--time-end",
        end,
    )
    assert [r["data"]["logContent"]["data"]["message"] for r in found["data"]["results"]] == ["from the cli"]

    group = oci_cli(emu, "logging", "log-group", "get", "--log-group-id", ids["LOG_GROUP_ID"])
    assert group["data"]["id"] == ids["LOG_GROUP_ID"]


def test_cli_cancel_and_delete(emu, ids, client):
    job = make_job(client, ids, artifact=b"import time\ntime.sleep(300)\n")
    run = oci_cli(
        emu, "data-science", "job-run", "create", "--compartment-id", ids["COMPARTMENT_ID"],
        "--project-id", ids["PROJECT_ID"], "--job-id", job.id,
    )["data"]  # fmt: skip
    wait_run(client, run["id"], {"IN_PROGRESS"})
    oci_cli(emu, "data-science", "job-run", "cancel", "--job-run-id", run["id"])
    assert wait_run(client, run["id"]).lifecycle_state == "CANCELED"
    oci_cli(
        emu,
        "data-science",
        "job",
        "delete",
        "--job-id",
        job.id,
        "--delete-related-job-runs",
        "true",
        "--force",
    )
    assert client.get_job(job.id).data.lifecycle_state in {"DELETING", "DELETED"}
