"""The operator's periodic orphan check (workflows/orphan_check.py): its OCI calls are bounded per
cycle (pages of each listing, GetJobRuns to price new orphans), a run is priced once, and the
gauges carry what it found. OCI and Kubernetes are fakes here; tests/integration/operator/
test_operator_orphans.py runs it against the emulator and a real API server."""

from __future__ import annotations

import asyncio
import collections
import datetime
from typing import Any

import oci
from ocids_operator.core.cost import NodeSize
from ocids_operator.core.model import TAG_CLUSTER, TAG_NAMESPACE, TAG_UID
from ocids_operator.core.orphans import OciJob
from ocids_operator.core.run_plan import RunView
from ocids_operator.runtime import Runtime
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows import orphan_check
from ocids_operator.workflows.orphan_check import OrphanCheck
from prometheus_client import REGISTRY

PRICES = """\
currency: USD
shapes:
  - {match: VM.Standard.E4.Flex, ocpuHour: 1.0, memoryGBHour: 0.0, source: test, date: "2026-12-01"}
"""
PAGE = 100
START = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)


class FakeOci:
    """A compartment with 1,200 runs, every one an orphan that ran for an hour, and 1,200 jobs."""

    def __init__(self, runs: int = 1200) -> None:
        tags = {TAG_CLUSTER: "c1", TAG_NAMESPACE: "ml"}
        self.runs = [
            RunView(
                f"run{i}",
                "job0",
                "comp",
                "SUCCEEDED",
                time_started=START,
                time_finished=START + datetime.timedelta(hours=1),
                tags={**tags, TAG_UID: f"gone{i}"},
            )
            for i in range(runs)
        ]
        # As many jobs, all the TrainingJob's (its revisions): owned, so not reported.
        self.jobs = [OciJob(f"job{i}", "comp", "ACTIVE", {**tags, TAG_UID: "tj"}) for i in range(runs)]
        self.calls: collections.Counter[str] = collections.Counter()

    @staticmethod
    def _page(items: list[Any], page: str | None) -> tuple[list[Any], str | None]:
        start = int(page or 0)
        end = start + PAGE
        return items[start:end], (str(end) if end < len(items) else None)

    async def list_job_runs_page(
        self, compartment_id: str, page: str | None = None, **filters: str
    ) -> tuple[list[RunView], str | None]:
        self.calls["list_job_runs"] += 1
        assert filters == {"sort_by": "timeCreated", "sort_order": "DESC"}  # newest first
        return self._page(self.runs, page)

    async def list_jobs_page(self, compartment_id: str, page: str | None) -> tuple[list[OciJob], str | None]:
        self.calls["list_jobs"] += 1
        return self._page(self.jobs, page)

    async def run_sizes(self, job_run_id: str) -> list[NodeSize] | None:
        self.calls["get_job_run"] += 1
        self.calls[job_run_id] += 1
        return [NodeSize("VM.Standard.E4.Flex", ocpus=2, memory_in_gbs=8)]


class FakeKube:
    """A TrainingJob (uid tj) in compartment comp, no runs, and the price table."""

    async def request(self, method: str, path: str, *_: Any, **__: Any) -> dict[str, Any]:
        if "/trainingjobs" in path:
            return {"items": [{"metadata": {"uid": "tj"}, "spec": {"compartmentId": "comp"}}]}
        return {"items": []}

    async def get_config_map(self, namespace: str, name: str) -> dict[str, Any]:
        return {"metadata": {"resourceVersion": "1"}, "data": {"prices.yaml": PRICES}}


def gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_each_cycle_makes_a_bounded_number_of_calls_and_prices_a_run_once() -> None:
    oci = FakeOci()
    settings = OperatorSettings(cluster_name="c1", price_table="ops/prices")
    check = OrphanCheck(Runtime(settings, oci, FakeKube(), None))  # type: ignore[arg-type]

    asyncio.run(check.check())
    assert oci.calls["list_job_runs"] == orphan_check.MAX_PAGES  # of 12 pages
    assert oci.calls["list_jobs"] == orphan_check.MAX_PAGES
    assert oci.calls["get_job_run"] == orphan_check.PRICE_READS
    seen = orphan_check.MAX_PAGES * PAGE
    assert gauge("ocids_orphan_runs") == seen
    assert gauge("ocids_orphan_jobs") == 0
    # The runs priced so far: 2 OCPUs at 1.0 an OCPU-hour, for an hour each.
    assert gauge("ocids_orphan_cost", currency="USD") == 2.0 * orphan_check.PRICE_READS

    asyncio.run(check.check())
    assert oci.calls["get_job_run"] == 2 * orphan_check.PRICE_READS  # 20 more, none read twice
    assert max(n for key, n in oci.calls.items() if key.startswith("run")) == 1
    assert gauge("ocids_orphan_cost", currency="USD") == 2.0 * 2 * orphan_check.PRICE_READS


class RefusingOci(FakeOci):
    """Compartment `bad` is unknown to OCI (404); `busy` is throttled (429)."""

    async def list_jobs_page(self, compartment_id: str, page: str | None) -> tuple[list[OciJob], str | None]:
        self.calls[f"list_jobs {compartment_id}"] += 1
        if compartment_id in ("bad", "busy"):
            status, code = (
                (404, "NotAuthorizedOrNotFound") if compartment_id == "bad" else (429, "TooManyRequests")
            )
            raise oci.exceptions.ServiceError(status, code, {}, "refused")
        return await super().list_jobs_page(compartment_id, page)


def test_a_compartment_oci_refuses_is_not_asked_again_each_cycle_and_the_others_are_still_judged() -> None:
    oci_service = RefusingOci(runs=3)
    settings = OperatorSettings(
        cluster_name="c1", price_table="ops/prices", default_allowed_compartments=["bad", "busy"]
    )
    check = OrphanCheck(Runtime(settings, oci_service, FakeKube(), None))  # type: ignore[arg-type]

    asyncio.run(check.check())
    assert gauge("ocids_orphan_runs") == 3  # compartment comp was judged all the same
    asyncio.run(check.check())
    assert oci_service.calls["list_jobs bad"] == 1  # a stalled object is not retried either
    assert oci_service.calls["list_jobs busy"] == 2  # throttled: asked again next cycle
