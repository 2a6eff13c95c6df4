"""The runner for poller_scenarios/*.yaml (read those: they are the behaviour).

Each scenario is the compartment's runs in OCI + what the poller last saw of the runs it follows
-> the reads one cycle makes and the phases it writes. The poller is the real one, against the
in-memory compartment of fake_run_listing.py.
"""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from fake_run_listing import COMPARTMENT, FakeKube, FakeRunsOci, created_at
from ocids_operator.core.phases import RunState
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows.poller_reads import CompartmentMemory
from ocids_operator.workflows.run_poller import RunPoller, TrackedRun

SCENARIOS = pathlib.Path(__file__).parent / "poller_scenarios"
AFTER_READS = ("get", "list id")


def load() -> list[Any]:
    return [
        pytest.param(scenario, id=f"{path.stem}: {scenario['name']}")
        for path in sorted(SCENARIOS.glob("*.yaml"))
        for scenario in yaml.safe_load(path.read_text())["scenarios"]
    ]


def expand(entries: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for entry in entries:
        if "prefix" not in entry:
            yield entry
            continue
        created = entry.get("created")
        for i in range(entry["count"]):
            one = {k: v for k, v in entry.items() if k not in ("prefix", "count")}
            one["id"] = f"{entry['prefix']}{i}"
            if created is not None:
                one["created"] = created + i
            yield one


def squeeze(reads: list[str]) -> list[str]:
    """["window", "window", "list ACCEPTED"] -> ["window x2", "list ACCEPTED"]."""
    out: list[tuple[str, int]] = []
    for read in reads:
        if out and out[-1][0] == read:
            out[-1] = (read, out[-1][1] + 1)
        else:
            out.append((read, 1))
    return [name if n == 1 else f"{name} x{n}" for name, n in out]


def follow(entry: dict[str, Any], in_oci: dict[str, float]) -> TrackedRun:
    state = RunState(entry.get("state", "IN_PROGRESS"))
    created = entry.get("created", in_oci.get(entry["id"]))
    run = TrackedRun(
        run_id=entry["id"],
        compartment_id=COMPARTMENT,
        namespace="ml",
        name=entry["id"],
        uid=f"uid-{entry['id']}",
        generation=1,
        status={"phase": state.phase.value, "jobRunId": entry["id"]},
        registered_at=0.0,
        lifecycle_state=state,
        logs_known=entry.get("logs") != "unknown",
    )
    run.time_created = None if created in (None, "unknown") else created_at(created)
    return run


@pytest.mark.parametrize("scenario", load())
def test_poller_scenario(scenario: dict[str, Any]) -> None:
    async def run() -> tuple[FakeRunsOci, FakeKube]:
        oci, kube = FakeRunsOci(), FakeKube()
        in_oci: dict[str, float] = {}
        for entry in expand(scenario["oci"]):
            oci.add(entry["id"], entry["state"], entry["created"])
            in_oci[entry["id"]] = entry["created"]
        oci.denied.update(scenario.get("denied", ()))
        poller = RunPoller(OperatorSettings(), oci, kube, clock=lambda: 1000.0)  # type: ignore[arg-type]
        memory = scenario.get("memory") or {}
        poller.reader.remember(
            COMPARTMENT, CompartmentMemory(memory.get("state_pages"), memory.get("window_skip", 0))
        )
        for entry in expand(scenario["tracked"]):
            run = follow(entry, in_oci)
            poller.track(run)
            run.registered_at = 0.0  # long since registered: judged this cycle
        await poller.cycle(COMPARTMENT)
        await poller.stop()
        return oci, kube

    oci, kube = asyncio.run(run())
    expect = scenario["expect"]
    assert squeeze([r for r in oci.reads if r not in AFTER_READS]) == expect["reads"]
    assert oci.reads.count("get") == expect.get("gets", 0)
    assert oci.reads.count("list id") == expect.get("id_lists", 0)
    phases = {name: kube.status.get(name, {}).get("phase") for name in expect["phases"]}
    unchanged = {name for name, phase in phases.items() if phase is None}
    # A run whose state did not change gets no write: its phase is what the poller last saw.
    tracked = {e["id"]: e for e in expand(scenario["tracked"])}
    for name in unchanged:
        phases[name] = RunState(tracked[name].get("state", "IN_PROGRESS")).phase.value
    assert phases == expect["phases"]
