"""What ends with a job run on every path that ends it: node groups close, the run's resource
principal and mount copies leave the disk, its token stops working; and a shutdown does not wait
for simulated nodes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ocids_emulator.config import init_data_dir
from ocids_emulator.core.emulator import RUN, Emulator, Settings
from ocids_emulator.core.errors import ApiError
from ocids_emulator.execution.executor import Executor
from ocids_emulator.server import ended_run_token
from ocids_emulator.store.sqlite import Record

RUN_ID = "ocid1.datasciencejobrun.oc1.iad.runend"


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    init_data_dir(tmp_path / "data")
    emulator = Emulator(Settings(data_dir=tmp_path / "data", provisioning_seconds=0.0))
    try:
        yield emulator
    finally:
        emulator.store.close()


def _multi_node_run(emu: Emulator, state: str = "ACCEPTED", **groups: str) -> Record:
    names = groups or {"workers": "CREATING"}
    doc = {
        "compartmentId": emu.tenancy.tenancy_id,
        "projectId": "ocid1.datascienceproject.oc1..p",
        "jobId": "ocid1.datasciencejob.oc1..j",
        "lifecycleState": state,
        "nodeGroupDetailsList": [
            {"name": name, "lifecycleState": s, "lifecycleDetails": "as it was"} for name, s in names.items()
        ],
    }
    specs = [{"name": name, "replicas": 2} for name in names]
    meta: dict[str, Any] = {
        "effective": {
            "jobNodeConfigurationDetails": {
                "jobNodeType": "MULTI_NODE",
                "jobNodeGroupConfigurationDetailsList": specs,
            }
        },
        "groupSimulations": {name: {"durationSeconds": 60, "exitCode": 0} for name in names},
    }
    return emu.create(RUN, RUN_ID, doc, meta)


def _run_files(emu: Emulator) -> Path:
    """What a run leaves: its principal and mounts (also per node), its work and log."""
    folder = emu.settings.data_dir / "runs" / RUN_ID
    for place in ("resource-principal", "mounts/0", "work", "workers-0/mounts/0", "workers-0/work"):
        (folder / place).mkdir(parents=True)
    (folder / "resource-principal" / "private.pem").write_text("key")
    (folder / "output.log").write_text("log")
    return folder


def _left(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _groups(run: Record) -> list[tuple[str, str]]:
    return [(g["lifecycleState"], g["lifecycleDetails"]) for g in run.doc["nodeGroupDetailsList"]]


def test_a_cancel_during_provisioning_closes_the_node_groups_and_releases_the_run(emu: Emulator) -> None:
    emu.settings.provisioning_seconds = 30.0
    run = _multi_node_run(emu)
    folder = _run_files(emu)

    async def scenario() -> None:
        executor = Executor(emu)
        executor.start(run)
        task = executor._tasks[run.id]
        await asyncio.sleep(0)
        executor.cancel(run)
        await asyncio.wait_for(task, timeout=5)

    asyncio.run(scenario())
    assert run.doc["lifecycleState"] == "CANCELED"
    assert _groups(run) == [("DELETED", "Node group stopped: the job run was canceled.")]
    assert _left(folder) == ["output.log", "work", "workers-0", "workers-0/work"]


def test_a_lost_run_canceled_closes_its_node_groups(emu: Emulator) -> None:
    run = _multi_node_run(emu, "CANCELING", workers="ACTIVE", ps="FAILED")
    Executor(emu).cancel(run)  # nothing executes it: the cancel finishes at once
    assert run.doc["lifecycleState"] == "CANCELED"
    assert _groups(run) == [
        ("DELETED", "Node group stopped: the job run was canceled."),
        ("FAILED", "as it was"),  # a failed group keeps saying why
    ]


def test_restart_recovery_closes_node_groups_and_releases_the_run(emu: Emulator) -> None:
    run = _multi_node_run(emu, "IN_PROGRESS", workers="ACTIVE", ps="CREATING", bad="FAILED")
    folder = _run_files(emu)
    emu.recover_after_restart()
    run = emu.store.get(RUN, RUN_ID)  # type: ignore[assignment]
    assert run.doc["lifecycleState"] == "FAILED"
    ended = ("DELETED", "Node group stopped: the job run ended.")
    assert _groups(run) == [ended, ended, ("FAILED", "as it was")]
    assert _left(folder) == ["output.log", "work", "workers-0", "workers-0/work"]


def test_a_terminal_runs_token_is_refused(emu: Emulator) -> None:
    run = _multi_node_run(emu, "IN_PROGRESS")
    claims = {"res_type": "datasciencejobrun", "res_id": RUN_ID}
    ended_run_token(emu, claims)  # a running run's token works
    ended_run_token(emu, {"res_type": "workload", "res_id": "x"})  # other principals are not runs
    for state in ("SUCCEEDED", "FAILED", "CANCELED"):
        emu.save(run, lifecycleState=state)
        with pytest.raises(ApiError) as raised:
            ended_run_token(emu, claims)
        assert raised.value.status == 401
    # A token for a run this emulator never ran (the resource-principal command's, standing in for
    # a job run) lives to its expiry.
    ended_run_token(emu, {**claims, "res_id": "ocid1.datasciencejobrun.oc1..elsewhere"})


def test_shutdown_does_not_wait_for_simulated_nodes(emu: Emulator) -> None:
    run = _multi_node_run(emu)

    async def scenario() -> None:
        executor = Executor(emu)
        executor.start(run)
        for _ in range(200):  # the nodes (60 s each) are running
            if run.doc["nodeGroupDetailsList"][0]["lifecycleState"] == "ACTIVE":
                break
            await asyncio.sleep(0.01)
        assert run.doc["nodeGroupDetailsList"][0]["lifecycleState"] == "ACTIVE"
        await asyncio.wait_for(executor.shutdown(), timeout=3)

    asyncio.run(scenario())
