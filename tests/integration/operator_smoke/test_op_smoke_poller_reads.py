"""The run poller's reads against the real emulator through the real `oci` SDK (issue 14, F and G).

F: OCI keeps a run's creation time to the millisecond; the status the operator writes keeps whole
seconds. A followed run that ends a page, known from status to the second, must be answered by
the page that shows it: one ListJobRuns call a cycle, no state lists, no GET.
G: a cycle costs no more calls than the GETs of the runs it follows, however many foreign runs
crowd the compartment's lists.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from oci.data_science import models as ds
from ocids_operator.adapters.oci_client import OciGateway
from ocids_operator.adapters.oci_mapping import run_view
from ocids_operator.core.run_status import run_status
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows.run_poller import RunPoller, TrackedRun

pytestmark = pytest.mark.integration
FOLLOWED = 100  # exactly the first newest-first page


class StatusKube:
    def __init__(self) -> None:
        self.run_status: dict[str, dict[str, Any]] = {}

    async def patch_run_status(
        self, namespace: str, name: str, uid: str, status: dict[str, Any], *, empty_at: str | None = None
    ) -> dict[str, Any]:
        self.run_status[name] = {**self.run_status.get(name, {}), **status}
        return {"status": self.run_status[name]}

    async def post_event(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        pass


def make_job(client: Any, ids: dict[str, str]) -> str:
    job = client.create_job(
        ds.CreateJobDetails(
            project_id=ids["PROJECT_ID"],
            compartment_id=ids["COMPARTMENT_ID"],
            display_name="window",
            job_configuration_details=ds.DefaultJobConfigurationDetails(job_type="DEFAULT"),
            job_infrastructure_configuration_details=ds.ManagedEgressStandaloneJobInfrastructureConfigurationDetails(
                job_infrastructure_type="ME_STANDALONE",
                shape_name="VM.Standard.E4.Flex",
                block_storage_size_in_gbs=50,
                job_shape_config_details=ds.JobShapeConfigDetails(ocpus=1, memory_in_gbs=16),
            ),
        )
    ).data
    client.create_job_artifact(job.id, b"print('hi')\n", content_disposition="attachment; filename=train.py")
    return str(job.id)


@contextlib.contextmanager
def emulator_with_runs(tmp_path: Path, count: int) -> Iterator[tuple[Any, RunPoller, OciGateway, list[Any]]]:
    """`count` runs of one job, created one after another (they stay IN_PROGRESS for an hour)."""
    from ocids_emulator.testing import running_emulator

    with running_emulator(tmp_path / "emulator", simulated="3600:0") as emu:
        ids = emu.ids
        client = emu.datascience_client()
        details = ds.CreateJobRunDetails(
            project_id=ids["PROJECT_ID"], compartment_id=ids["COMPARTMENT_ID"], job_id=make_job(client, ids)
        )
        created = [client.create_job_run(details).data for _ in range(count)]
        settings = OperatorSettings(
            oci_config_file=emu.config_file,
            region=ids["REGION"],
            datascience_endpoint=emu.endpoint,
            cluster_name="smoke",
        )
        gateway = OciGateway(settings)
        yield emu, RunPoller(settings, gateway, StatusKube()), gateway, created  # type: ignore[arg-type]


def follow(poller: RunPoller, run: Any, region: str) -> None:
    """As the operator follows a run it created: from the status it wrote."""
    status = dict(run_status(run_view(run), region, {}, 1, "2026-01-01T00:00:00Z"))
    assert "." not in status["timeAccepted"]  # whole seconds, as status keeps them
    tracked = TrackedRun(
        run_id=run.id,
        compartment_id=run.compartment_id,
        namespace="ml",
        name=run.id,
        uid=f"uid-{run.id}",
        generation=1,
        status=status,
        registered_at=0.0,
        expects_logs=False,
    )
    poller.track(tracked)
    tracked.registered_at = -10.0  # long since registered: judged at once


def calls_per_cycle(
    poller: RunPoller, gateway: OciGateway, compartment_id: str, cycles: int
) -> list[dict[str, int]]:
    async def scenario() -> list[dict[str, int]]:
        counts = []
        for _ in range(cycles):
            before = dict(gateway.calls)
            await poller.cycle(compartment_id)
            counts.append({k: v - before.get(k, 0) for k, v in gateway.calls.items() if v != before.get(k)})
        await poller.stop()
        return counts

    return asyncio.run(scenario())


def test_a_followed_run_ending_a_page_and_known_to_the_second_costs_one_list_call_a_cycle(
    tmp_path: Path,
) -> None:
    with emulator_with_runs(tmp_path, FOLLOWED + 1) as (emu, poller, gateway, created):
        assert any(run.time_accepted.microsecond for run in created)  # OCI's milliseconds
        for run in created[1:]:  # the oldest is not followed: it opens the second page
            follow(poller, run, emu.ids["REGION"])
        counts = calls_per_cycle(poller, gateway, emu.ids["COMPARTMENT_ID"], 3)
        assert counts == [{"list_job_runs": 1}] * 3, counts
        assert len(poller.tracked()) == FOLLOWED


def test_one_followed_run_among_250_foreign_active_runs_costs_its_get_a_cycle(tmp_path: Path) -> None:
    with emulator_with_runs(tmp_path, 1 + 250) as (emu, poller, gateway, created):
        follow(poller, created[0], emu.ids["REGION"])  # the oldest: the others are foreign
        counts = calls_per_cycle(poller, gateway, emu.ids["COMPARTMENT_ID"], 3)
        assert counts == [{"get_job_run": 1}] * 3, counts
        assert list(poller.tracked()) == [created[0].id]
