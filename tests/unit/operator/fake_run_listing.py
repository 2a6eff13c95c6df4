"""An in-memory compartment of OCI job runs behind the calls the run pollers make.

ListJobRuns as OCI answers it: summaries (no logDetails), DELETED runs only when asked for by
state, 100 a page, newest first by timeCreated, with keyset page tokens; times to the
microsecond, as the SDK parses OCI's milliseconds. Every page
and GET is counted, and the order of reads is recorded for the scenario tables.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
from typing import Any

from oci.data_science import models as ds
from ocids_operator.adapters.oci_mapping import run_view
from ocids_operator.core.run_plan import RunView

COMPARTMENT = "ocid1.compartment.oc1..comp"
PAGE = 100
EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def created_at(seconds: float) -> datetime.datetime:
    return EPOCH + datetime.timedelta(seconds=seconds)


class FakeRunsOci:
    region = "us-ashburn-1"

    def __init__(self) -> None:
        self.runs: dict[str, ds.JobRun] = {}
        self.calls: collections.Counter[str] = collections.Counter()
        # Reads in order: "window" (one newest-first page), "list STATE" (a state list, per page),
        # "list id" (a list filtered by id), "get".
        self.reads: list[str] = []
        # Runs GetJobRun answers 404 for though they exist (an IAM policy denying reads).
        self.denied: set[str] = set()

    def add(self, run_id: str, state: str = "ACCEPTED", created: float | None = None) -> None:
        self.runs[run_id] = ds.JobRun(
            id=run_id,
            job_id="ocid1.datasciencejob.oc1..j",
            compartment_id=COMPARTMENT,
            lifecycle_state=state,
            lifecycle_details=None,
            time_accepted=created_at(len(self.runs) if created is None else created),
        )

    def set(self, run_id: str, state: str, details: str | None = None, log_id: str | None = None) -> None:
        run = self.runs[run_id]
        run.lifecycle_state, run.lifecycle_details = state, details
        if log_id:
            run.log_details = ds.JobRunLogDetails(log_group_id="ocid1.loggroup.oc1..lg", log_id=log_id)

    def _listed(self, lifecycle_state: str | None, id: str | None) -> list[ds.JobRun]:
        return [
            r
            for r in self.runs.values()
            if (r.lifecycle_state == lifecycle_state if lifecycle_state else r.lifecycle_state != "DELETED")
            and id in (None, r.id)
        ]

    @staticmethod
    def _summary(r: ds.JobRun) -> RunView:
        return run_view(
            ds.JobRunSummary(
                id=r.id,
                job_id=r.job_id,
                compartment_id=r.compartment_id,
                lifecycle_state=r.lifecycle_state,
                lifecycle_details=r.lifecycle_details,
                time_accepted=r.time_accepted,
            )
        )

    async def list_job_runs(
        self, compartment_id: str, lifecycle_state: str | None = None, id: str | None = None
    ) -> list[RunView]:
        matching = self._listed(lifecycle_state, id)
        pages = max(1, -(-len(matching) // PAGE))
        self.calls["list_job_runs"] += pages
        self.reads += [f"list {lifecycle_state or 'id'}"] * pages
        return [self._summary(r) for r in matching]

    async def list_job_runs_page(
        self, compartment_id: str, page: str | None = None, **filters: Any
    ) -> tuple[list[RunView], str | None]:
        state = filters.pop("lifecycle_state", None)
        assert filters in ({}, {"sort_by": "timeCreated", "sort_order": "DESC"}), filters
        assert state or filters, "the poller pages through everything only newest first"
        self.calls["list_job_runs"] += 1
        self.reads.append(f"list {state}" if state else "window")
        # OCI's default order, too: timeCreated, newest first.
        ordered = sorted(self._listed(state, None), key=lambda r: (r.time_accepted, r.id), reverse=True)
        if page:
            when, _, after_id = page.partition("|")
            after = (datetime.datetime.fromisoformat(when), after_id)
            ordered = [r for r in ordered if (r.time_accepted, r.id) < after]
        chunk = ordered[:PAGE]
        more = len(ordered) > PAGE
        token = f"{chunk[-1].time_accepted.isoformat()}|{chunk[-1].id}" if more else None
        return [self._summary(r) for r in chunk], token

    async def get_job_run(self, run_id: str) -> RunView | None:
        self.calls["get_job_run"] += 1
        self.reads.append("get")
        run = self.runs.get(run_id)
        return None if run is None or run_id in self.denied else run_view(run)


class FakeKube:
    def __init__(self, write_seconds: float = 0.0) -> None:
        self.status: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[str, str, str]] = []
        self.gone: set[str] = set()
        self.write_seconds = write_seconds
        self.in_flight = 0
        self.max_in_flight = 0

    async def patch_run_status(
        self, namespace: str, name: str, uid: str, status: dict[str, Any], *, empty_at: str | None = None
    ) -> dict[str, Any] | None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.write_seconds:
                await asyncio.sleep(self.write_seconds)
            if name in self.gone:
                return None
            self.status[name] = {**self.status.get(name, {}), **status}
            return {"status": self.status[name]}
        finally:
            self.in_flight -= 1

    async def post_event(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((involved["metadata"]["name"], type_, reason))
