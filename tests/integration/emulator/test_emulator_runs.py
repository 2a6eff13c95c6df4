"""Job runs really execute their artifacts; states, details, logs and cancel behave as in OCI."""

from __future__ import annotations

import io
import os
import re
import tarfile
import time
import zipfile
from pathlib import Path

import oci
import pytest
from emulator_support import make_job, messages, run_details, wait_for, wait_run
from oci.data_science import models as M
from ocids_emulator.testing import running_emulator

HELLO = b"""\
import os, sys
print("hello from", os.environ["JOB_RUN_OCID"])
print("args", sys.argv[1:])
for name in ("JOB_OCID", "PROJECT_OCID", "JOB_RUN_COMPARTMENT_OCID", "TENANCY_OCID", "FROM_JOB", "FROM_RUN",
             "CONDA_ENV_SLUG", "JOB_ARTIFACT_FILE_NAME"):
    print(name, os.environ.get(name))
"""


def test_run_succeeds_with_environment_arguments_and_logs(emu, ids, client):
    job = make_job(client, ids, artifact=None)
    assert job.lifecycle_state == "CREATING"
    client.create_job_artifact(job.id, HELLO, content_disposition="attachment; filename=hello.py")
    job = client.get_job(job.id).data
    assert job.lifecycle_state == "ACTIVE"

    head = client.head_job_artifact(job.id)
    assert head.headers["content-length"] == str(len(HELLO))
    assert "filename=hello.py" in head.headers["content-disposition"]
    assert client.get_job_artifact_content(job.id).data.content == HELLO

    run = client.create_job_run(
        run_details(
            ids,
            job.id,
            display_name="first",
            job_configuration_override_details=M.DefaultJobConfigurationDetails(
                environment_variables={
                    "FROM_RUN": "run",
                    "CONDA_ENV_TYPE": "service",
                    "CONDA_ENV_SLUG": "generalml_p38_cpu_v1",
                },
                command_line_arguments="--epochs 3 'two words'",
            ),
        )
    ).data
    assert run.lifecycle_state == "ACCEPTED"
    assert run.time_accepted is not None
    done = wait_run(client, run.id)
    assert done.lifecycle_state == "SUCCEEDED"
    assert done.lifecycle_details == "Job run artifact execution succeeded. Infrastructure de-provisioning."
    assert done.time_accepted <= done.time_started <= done.time_finished
    # The run records the effective infrastructure (the job's, no override given).
    assert done.job_infrastructure_configuration_details.shape_name == "VM.Standard.E4.Flex"

    lines = messages(emu, ids, done, limit=2)  # small pages: the paginator follows opc-next-page
    assert lines[0] == f"hello from {run.id}"
    assert lines[1] == "args ['--epochs', '3', 'two words']"
    env = dict(line.split(" ", 1) for line in lines[2:])
    assert env["JOB_OCID"] == job.id
    assert env["PROJECT_OCID"] == ids["PROJECT_ID"]
    assert env["TENANCY_OCID"] == ids["TENANCY_ID"]
    assert env["FROM_JOB"] == "job" and env["FROM_RUN"] == "run"
    assert env["CONDA_ENV_SLUG"] == "generalml_p38_cpu_v1"
    assert env["JOB_ARTIFACT_FILE_NAME"] == "hello.py"

    # The auto-created log and its group are readable through the management API.
    logging_client = emu.logging_client()
    log = logging_client.get_log(done.log_details.log_group_id, done.log_details.log_id).data
    assert log.lifecycle_state == "ACTIVE"
    group = logging_client.get_log_group(ids["LOG_GROUP_ID"]).data
    assert group.compartment_id == ids["COMPARTMENT_ID"]
    logs = oci.pagination.list_call_get_all_results(logging_client.list_logs, ids["LOG_GROUP_ID"]).data
    assert done.log_details.log_id in {item.id for item in logs}

    effective = emu.admin.effective_configuration(run.id)["effective"]
    assert effective["jobConfigurationDetails"]["environmentVariables"]["FROM_JOB"] == "job"


def test_ads_style_descending_query(emu, ids, client):
    job = make_job(client, ids, artifact=b"for i in range(5):\n    print('line', i)\n")
    run = wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id)
    log = run.log_details
    query = (
        f'SEARCH "{ids["COMPARTMENT_ID"]}/{log.log_group_id}/{log.log_id}" '
        f"| WHERE source = '*{run.id}' | SORT BY datetime DESC"
    )
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    result = emu.log_search_client().search_logs(
        oci.loggingsearch.models.SearchLogsDetails(
            time_start=now - dt.timedelta(days=14), time_end=now, search_query=query
        ),
        limit=3,
    )
    assert [r.data["logContent"]["data"]["message"] for r in result.data.results] == [
        "line 4",
        "line 3",
        "line 2",
    ]
    assert result.headers.get("opc-next-page")


def test_exit_code_3_fails_with_exit_code(emu, ids, client):
    job = make_job(client, ids, artifact=b"echo failing\nexit 3\n", filename="fail.sh")
    run = wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id)
    assert run.lifecycle_state == "FAILED"
    assert run.lifecycle_details == "Job run artifact execution failed with exit code 3."
    assert re.search(r"exit code (\d+)", run.lifecycle_details).group(1) == "3"
    assert messages(emu, ids, run) == ["failing"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_cancel_stops_process_and_children(emu, ids, client, tmp_path):
    script = f"""\
import os, subprocess, sys, time
child = subprocess.Popen(["sleep", "300"])
open({str(tmp_path / "pids")!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
print("started", flush=True)
time.sleep(300)
""".encode()
    job = make_job(client, ids, artifact=script)
    run = client.create_job_run(run_details(ids, job.id)).data
    wait_run(client, run.id, {"IN_PROGRESS"})
    wait_for(lambda: messages(emu, ids, client.get_job_run(run.id).data) == ["started"], message="first line")
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert all(_alive(pid) for pid in pids)

    client.cancel_job_run(run.id)
    assert client.get_job_run(run.id).data.lifecycle_state in {"CANCELING", "CANCELED"}
    done = wait_run(client, run.id)
    assert done.lifecycle_state == "CANCELED"
    assert done.time_finished is not None
    wait_for(lambda: not any(_alive(pid) for pid in pids), message="artifact processes to exit")
    # A finished run cannot be canceled again.
    with pytest.raises(oci.exceptions.ServiceError) as err:
        client.cancel_job_run(run.id)
    assert (err.value.status, err.value.code) == (409, "IncorrectState")


def test_maximum_runtime_is_enforced(tmp_path):
    with running_emulator(tmp_path / "emu", extra_args=["--minute-seconds", "0.5"]) as emu:
        client, ids = emu.datascience_client(retries=False), emu.ids
        job = make_job(
            client,
            ids,
            artifact=b"import time\nprint('working', flush=True)\ntime.sleep(120)\n",
            job_configuration_details=M.DefaultJobConfigurationDetails(maximum_runtime_in_minutes=1),
        )
        run = wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id)
        assert run.lifecycle_state == "FAILED"
        assert "maximumRuntimeInMinutes (1 minutes)" in run.lifecycle_details


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("filename", "pack", "entrypoint"),
    [("project.zip", _zip, "project/src/main.py"), ("project.tar.gz", _tar_gz, "src/main.py")],
)
def test_archive_started_at_entrypoint(emu, ids, client, filename, pack, entrypoint):
    artifact = pack(
        {
            "project/src/main.py": b"from helper import VALUE\nprint('value', VALUE)\n",
            "project/src/helper.py": b"VALUE = 42\n",
        }
    )
    job = make_job(
        client,
        ids,
        artifact=artifact,
        filename=filename,
        job_configuration_details=M.DefaultJobConfigurationDetails(
            environment_variables={"JOB_RUN_ENTRYPOINT": entrypoint}
        ),
    )
    run = wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id)
    assert run.lifecycle_state == "SUCCEEDED", run.lifecycle_details
    assert messages(emu, ids, run) == ["value 42"]


def test_archive_without_entrypoint_fails_clearly(emu, ids, client):
    job = make_job(client, ids, artifact=_zip({"p/main.py": b"print(1)\n"}), filename="p.zip")
    run = wait_run(client, client.create_job_run(run_details(ids, job.id)).data.id)
    assert run.lifecycle_state == "FAILED"
    assert "JOB_RUN_ENTRYPOINT" in run.lifecycle_details


def test_container_job_finishes_per_simulation_rule(emu, ids, client):
    job = make_job(
        client,
        ids,
        job_environment_configuration_details=M.OcirContainerJobEnvironmentConfigurationDetails(
            image="iad.ocir.io/ns/trainer:1", cmd=["python", "train.py"]
        ),
    )
    assert job.lifecycle_state == "ACTIVE"  # container jobs need no artifact
    ok = client.create_job_run(
        run_details(
            ids,
            job.id,
            job_configuration_override_details=M.DefaultJobConfigurationDetails(
                environment_variables={"OCIDS_EMULATOR_SIMULATE": "0.2:0"}
            ),
        )
    ).data
    bad = client.create_job_run(
        run_details(
            ids,
            job.id,
            job_configuration_override_details=M.DefaultJobConfigurationDetails(
                environment_variables={"OCIDS_EMULATOR_SIMULATE": "0.2:4"}
            ),
        )
    ).data
    assert wait_run(client, ok.id).lifecycle_state == "SUCCEEDED"
    failed = wait_run(client, bad.id)
    assert failed.lifecycle_details == "Job run artifact execution failed with exit code 4."
    recorded = client.get_job(job.id).data.job_environment_configuration_details
    assert recorded.image == "iad.ocir.io/ns/trainer:1"


def test_simulated_run_can_be_canceled(emu, ids, client):
    emu.admin.set_simulated("60:0")
    job = make_job(client, ids, artifact=b"raise SystemExit('never runs')\n")
    run = client.create_job_run(run_details(ids, job.id)).data
    wait_run(client, run.id, {"IN_PROGRESS"})
    client.cancel_job_run(run.id)
    assert wait_run(client, run.id).lifecycle_state == "CANCELED"


def test_ads_style_log_following(emu, ids, client):
    """Follow a running job's log as ADS's OCILog.stream does: tail newest-first, de-duplicate by id."""
    import datetime as dt

    script = b"import time\nfor i in range(6):\n    print('step', i, flush=True)\n    time.sleep(0.2)\n"
    job = make_job(client, ids, artifact=script)
    run = client.create_job_run(run_details(ids, job.id)).data
    run = wait_run(client, run.id, {"IN_PROGRESS", "SUCCEEDED"})
    log = run.log_details
    query = (
        f'SEARCH "{ids["COMPARTMENT_ID"]}/{log.log_group_id}/{log.log_id}" '
        f"| WHERE source = '*{run.id}' | SORT BY datetime DESC"
    )
    search = emu.log_search_client()
    seen: dict[str, tuple[str, str]] = {}
    time_start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    while True:
        finished = client.get_job_run(run.id).data.lifecycle_state in {"SUCCEEDED", "FAILED", "CANCELED"}
        next_start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=180)
        details = oci.loggingsearch.models.SearchLogsDetails(
            time_start=time_start, time_end=dt.datetime.now(dt.UTC), search_query=query
        )
        for result in search.search_logs(details, limit=1000).data.results:
            content = result.data["logContent"]
            seen.setdefault(content["id"], (content["time"], content["data"]["message"]))
        time_start = next_start
        if finished:
            break
        time.sleep(0.2)  # ADS polls on an interval too
    assert [message for _, message in sorted(seen.values())] == [f"step {i}" for i in range(6)]
