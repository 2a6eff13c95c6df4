"""Every path that ends a run records what it cost, and the actual-cost reader asks OCI about every
run in turn, with the right identity, never writing a partial answer (issue 18 review). Fakes stand
in for Kubernetes and OCI's Usage API; the workflows are real."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import threading
import types
from typing import Any

import pytest
from ocids_operator import metrics
from ocids_operator.adapters.oci_identities import OPERATOR, IdentityKey
from ocids_operator.adapters.oci_usage import UsageReader
from ocids_operator.core.admission import HoldReason, Refuse
from ocids_operator.core.run_entry import run_entry
from ocids_operator.settings import AuthMode, OperatorSettings
from ocids_operator.workflows import cost_counts, job_spend, run_cost_actual
from ocids_operator.workflows import training_job_run as run_workflow
from ocids_operator.workflows.run_ledger import RunLedger

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
BASIS = {"pricePerHour": 2.0, "shape": "VM.GPU.A10.1"}
ATTEMPT_1 = {
    "attempt": 1,
    "jobRunId": "ocid1.run.1",
    "timeStarted": "2026-12-07T10:00:00Z",
    "timeFinished": "2026-12-07T10:30:00Z",
    "retried": True,
}


def waiting_retry() -> dict[str, Any]:
    """A run whose first attempt ran 30 minutes and failed, its retry pending."""
    return {
        "phase": "Pending",
        "attempt": 1,
        "attempts": [ATTEMPT_1],
        "nextAttemptAt": "2026-12-07T10:31:00Z",
        "cost": {"estimate": {"currency": "USD", "basis": BASIS}},
    }


def test_a_retry_refused_by_a_gate_ends_with_what_its_attempts_cost() -> None:
    refused = Refuse(HoldReason.BUDGET_EXCEEDED, "team: would cross the limit")
    outcome = run_workflow.gated_outcome(refused, waiting_retry(), 1, 5.0)
    assert outcome.status["phase"] == "Failed"
    assert outcome.status["cost"]["estimate"]["amount"] == pytest.approx(1.00)


def test_a_retry_whose_create_was_lost_ends_with_what_its_attempts_cost() -> None:
    outcome = run_workflow._lost("its run is gone", waiting_retry(), 1)
    assert outcome.status["phase"] == "Failed"
    assert outcome.status["cost"]["estimate"]["amount"] == pytest.approx(1.00)


PRICES = """
currency: USD
shapes:
  - match: VM.Standard2.1
    ocpuHour: 0.05
    memoryGBHour: 0.002
    ocpus: 1
    memoryGBs: 15
    source: https://www.oracle.com/cloud/price-list/
    date: "2026-12-01"
"""


def test_a_run_adopted_from_an_oci_schedule_gets_its_estimate() -> None:
    from test_op_run_adoption import ScheduleKube, adopting, oci_with_scheduled_run, reconcile

    class PricedKube(ScheduleKube):
        async def get_config_map(self, namespace: str, name: str) -> dict[str, Any]:
            return {"metadata": {"resourceVersion": "1"}, "data": {"prices.yaml": PRICES}}

    kube = PricedKube()
    reconcile(oci_with_scheduled_run(), kube, adopting())
    estimate = kube.status["cost"]["estimate"]
    assert estimate["currency"] == "USD"
    assert estimate["basis"]["pricePerHour"] == pytest.approx(0.05 + 15 * 0.002)


# The actual-cost reader ------------------------------------------------------------------------


class Usage:
    """RequestSummarizedUsages: the pages it answers; what it was asked."""

    def __init__(self, pages: list[list[tuple[str, float]]]) -> None:
        self.pages = pages
        self.asked: list[list[str]] = []

    def request_summarized_usages(self, details: Any, limit: int, page: str | None) -> Any:
        if page is None:
            self.asked.append([d.value for d in details.filter.dimensions])
        index = int(page or 0)
        items = [
            types.SimpleNamespace(resource_id=rid, computed_amount=amount, currency="USD")
            for rid, amount in self.pages[index]
        ]
        more = {"opc-next-page": str(index + 1)} if index + 1 < len(self.pages) else {}
        return types.SimpleNamespace(data=types.SimpleNamespace(items=items), headers=more)


class Writer:
    def __init__(self) -> None:
        self.written: dict[str, dict[str, Any]] = {}

    async def write(self, namespace: str, name: str, uid: str, patch: Any) -> bool:
        self.written[name] = dict(patch)
        return True


def _auth() -> Any:
    return types.SimpleNamespace(
        lock=threading.Lock(), built=lambda: ({"tenancy": "ocid1.tenancy.oc1..t"}, None)
    )


def _rt(entries: list[dict[str, Any]], writer: Writer, **settings: Any) -> Any:
    ledger = RunLedger()
    index: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        index.setdefault(entry["metadata"]["namespace"], []).append(entry)
    ledger.attach(index)
    return types.SimpleNamespace(
        ledger=ledger,
        settings=OperatorSettings(**settings),
        identities=None,
        identity=OPERATOR,
        oci=types.SimpleNamespace(auth=_auth()),
        run_status=writer,
    )


def ended_run(name: str, finished: str = "2026-12-07T10:30:00Z", started: bool = True) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": "Succeeded" if started else "Canceled",
        "jobRunId": f"ocid1.run.{name}",
        "timeFinished": finished,
        "cost": {"estimate": {"currency": "USD", "basis": BASIS}},
        "metricsFinal": True,
    }
    if started:
        status["timeStarted"] = "2026-12-07T10:00:00Z"
    body = {
        "metadata": {"name": name, "namespace": "ml", "uid": f"uid-{name}"},
        "spec": {"jobRef": {"name": "train"}},
        "status": status,
    }
    return run_entry(body)


def _reader_for(rt: Any, usage: Usage) -> run_cost_actual.CostReader:
    reader = run_cost_actual.CostReader(rt, clock=lambda: NOW)
    reader._readers[OPERATOR] = UsageReader(rt.settings, rt.oci.auth, client=usage)
    return reader


def test_a_run_that_never_started_is_final_at_zero_without_asking_oci() -> None:
    writer = Writer()
    rt = _rt([ended_run("never", started=False)], writer)
    usage = Usage([[]])
    assert asyncio.run(_reader_for(rt, usage).cycle()) == 1
    assert usage.asked == []
    assert writer.written["never"]["cost"]["actual"] == {
        "amount": 0.0,
        "currency": "USD",
        "updatedAt": "2026-12-07T12:00:00Z",
        "final": True,
    }


def test_runs_with_no_usage_yet_do_not_starve_the_others_past_the_per_read_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(run_cost_actual, "MAX_RUNS_PER_READ", 2)
    writer = Writer()
    rt = _rt([ended_run(name) for name in ("a", "b", "c", "d")], writer)
    usage = Usage([[]])  # OCI has nothing yet for any of them: nothing is written
    reader = _reader_for(rt, usage)
    for _ in range(2):
        asyncio.run(reader.cycle())
    asked = [rid for read in usage.asked for rid in read]
    assert sorted(asked) == ["ocid1.run.a", "ocid1.run.b", "ocid1.run.c", "ocid1.run.d"]


def test_an_answer_cut_short_is_never_written_and_the_next_read_asks_about_fewer_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ocids_operator.adapters import oci_usage

    monkeypatch.setattr(oci_usage, "MAX_PAGES", 2)
    writer = Writer()
    settled = "2026-12-06T10:30:00Z"  # past the settle time: a written answer would be final
    rt = _rt([ended_run(name, settled) for name in ("a", "b", "c", "d")], writer, cost_settle_hours=24)
    usage = Usage([[("ocid1.run.a", 1.0)], [("ocid1.run.b", 1.0)], [("ocid1.run.a", 5.0)]])
    reader = _reader_for(rt, usage)
    assert asyncio.run(reader.cycle()) == 0 and writer.written == {}
    usage.pages = [[("ocid1.run.c", 1.0)]]
    asyncio.run(reader.cycle())
    assert len(usage.asked[1]) == 2  # half the runs
    assert len(writer.written) == 2  # a whole answer: written


def test_the_reader_is_made_again_when_the_identitys_auth_changed() -> None:
    writer = Writer()
    rt = _rt([ended_run("a")], writer)
    old = Usage([[("ocid1.run.a", 1.0)]])
    reader = _reader_for(rt, old)
    reader._readers[OPERATOR].auth = _auth()  # a rotated config Secret built a new auth since
    made = reader._reader(OPERATOR, rt)
    assert made is not None and made.auth is rt.oci.auth


def test_the_cost_of_a_run_is_read_with_its_jobs_service_account_and_not_remembered_as_its_identity() -> None:
    asked: list[tuple[str, str | None]] = []
    key = IdentityKey(namespace="ml", service_account="trainer")

    class Identities:
        async def key_for(self, namespace: str, account: str | None = None) -> IdentityKey:
            asked.append((namespace, account))
            return key

        async def get(self, got: IdentityKey) -> Any:
            return types.SimpleNamespace(oci=types.SimpleNamespace(auth=_auth()), objects=None)

    from ocids_operator.runtime import Runtime

    rt = Runtime(
        settings=OperatorSettings(auth=AuthMode.OKE_WORKLOAD_IDENTITY),
        oci=types.SimpleNamespace(auth=_auth()),  # type: ignore[arg-type]
        kube=None,  # type: ignore[arg-type]
        poller=None,  # type: ignore[arg-type]
        identities=Identities(),  # type: ignore[arg-type]
    )
    body = {
        "metadata": {
            "name": "a",
            "namespace": "ml",
            "uid": "uid-a",
            "annotations": {"ocids.io/job-service-account": "trainer", "other": "x"},
        },
        "status": {"phase": "Succeeded"},
    }
    entry = run_entry(body)
    assert entry["metadata"]["annotations"] == {"ocids.io/job-service-account": "trainer"}
    scoped = asyncio.run(run_cost_actual.CostReader(rt)._scoped(entry["metadata"]))
    assert asked == [("ml", "trainer")] and scoped.identity == key
    assert rt._identity_of == {}


def test_the_ledger_keeps_when_a_run_without_time_finished_ended() -> None:
    from ocids_operator.core.cost import usage_ended_at

    body = {
        "metadata": {"name": "a", "namespace": "ml", "uid": "uid-a"},
        "status": {
            "phase": "Deleted",
            "jobRunId": "ocid1.run.a",
            "timeStarted": "2026-12-07T10:00:00Z",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "Deleted",
                    "lastTransitionTime": "2026-12-07T11:00:00Z",
                }
            ],
        },
    }
    entry = run_entry(body)
    assert usage_ended_at(entry["status"]) == dt.datetime(2026, 12, 7, 11, tzinfo=dt.UTC)
    assert [e["metadata"]["name"] for e in run_cost_actual.candidates([entry], NOW, 72, 3600)] == ["a"]


def test_a_failed_read_of_the_price_table_is_retried_a_minute_later_and_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from ocids_operator.workflows.run_pricing import load_price_table

    class Kube:
        reads = 0

        async def get_config_map(self, namespace: str, name: str) -> Any:
            self.reads += 1
            raise ConnectionError("the API server is away")

    kube, now = Kube(), [0.0]
    rt = types.SimpleNamespace(kube=kube, settings=types.SimpleNamespace(price_table="ops/ocids-prices"))
    for at in (0.0, 1.0, 30.0, 61.0):
        now[0] = at
        assert asyncio.run(load_price_table(rt, clock=lambda: now[0])) is None  # type: ignore[arg-type]
    assert kube.reads == 2
    said = [r.getMessage() for r in caplog.records if "could not read the price table" in r.getMessage()]
    assert len(said) == 1


def test_an_ended_runs_estimate_is_counted_once_only_if_it_ended_while_the_operator_ran() -> None:
    started = dt.datetime(2026, 12, 7, 11, tzinfo=dt.UTC)
    counter = metrics.RUN_COST_ESTIMATE.labels("count-ns", "USD")
    before = counter._value.get()
    status = {
        "timeFinished": "2026-12-07T11:30:00Z",
        "cost": {"estimate": {"amount": 1.5, "currency": "USD"}},
    }
    assert cost_counts.count_ended("count-ns", status, since=started)
    old = {**status, "timeFinished": "2026-12-07T10:30:00Z"}
    assert not cost_counts.count_ended("count-ns", old, since=started)
    assert counter._value.get() - before == pytest.approx(1.5)


def test_a_deleted_trainingjobs_spend_series_go_with_it() -> None:
    for window in ("total", "month"):
        metrics.JOB_SPEND.labels("spend-ns", "gone", "USD", window).set(1.0)
    metrics.JOB_SPEND.labels("spend-ns", "kept", "USD", "total").set(2.0)
    job_spend.forget("spend-ns", "gone")
    left = {
        (s.labels["trainingjob"], s.labels["window"])
        for s in metrics.JOB_SPEND.collect()[0].samples
        if s.labels.get("namespace") == "spend-ns"
    }
    assert left == {("kept", "total")}


def test_spend_goes_into_the_patch_from_the_ledger_alone() -> None:
    writer = Writer()
    entries = [ended_run("a")]
    entries[0]["status"]["cost"]["estimate"]["amount"] = 1.0
    rt = _rt(entries, writer)
    rt.kube = None  # no archive: nothing read
    job = {"metadata": {"name": "train", "namespace": "ml"}, "status": {}}
    patch = types.SimpleNamespace(status={})
    asyncio.run(job_spend.spend_into(rt, copy.deepcopy(job), patch))
    assert patch.status["spend"]["total"] == 1.0 and patch.status["spend"]["runs"] == 1


def test_a_fixed_shape_is_priced_by_the_size_ocis_shape_catalog_gives_it() -> None:
    from ocids_operator.adapters.oci_client import OciGateway
    from ocids_operator.api import TrainingJobRunSpec, TrainingJobSpec
    from ocids_operator.workflows.run_pricing import forget_cache, run_price

    class Shapes:
        def list_job_shapes(self, compartment_id: str, limit: int, page: str | None = None) -> Any:
            shape = types.SimpleNamespace(name="VM.Standard2.1", core_count=1, memory_in_gbs=15)
            return types.SimpleNamespace(data=[shape], next_page=None)

    gateway = OciGateway(OperatorSettings(), client=Shapes())  # type: ignore[arg-type]
    assert asyncio.run(gateway.job_shape_sizes("c1")) == {"VM.Standard2.1": (1.0, 15.0)}
    assert asyncio.run(gateway.list_job_shapes("c1")) == ["VM.Standard2.1"]

    class Kube:
        async def get_config_map(self, namespace: str, name: str) -> Any:
            # A row without the shape's size: the catalog's is what OCI bills.
            unsized = PRICES.replace("    ocpus: 1\n", "").replace("    memoryGBs: 15\n", "")
            return {"metadata": {"resourceVersion": "1"}, "data": {"prices.yaml": unsized}}

    rt = types.SimpleNamespace(kube=Kube(), settings=types.SimpleNamespace(price_table="ops/p"), oci=gateway)
    job = TrainingJobSpec.model_validate(
        {
            "compartmentId": "ocid1.compartment.oc1..c1",
            "projectId": "ocid1.datascienceproject.oc1..p",
            "artifact": {"inline": {"fileName": "t.py", "content": "x"}},
            "infrastructure": {"shape": "VM.Standard2.1"},
        }
    )
    run = TrainingJobRunSpec.model_validate({"jobRef": {"name": "j"}})
    try:
        estimate, problem = asyncio.run(run_price(rt, run, job))  # type: ignore[arg-type]
    finally:
        forget_cache(rt)  # type: ignore[arg-type]
    assert problem is None and estimate is not None and estimate.basis is not None
    assert estimate.basis.price_per_hour == pytest.approx(0.05 + 15 * 0.002)
    assert (estimate.basis.ocpus, estimate.basis.memory_in_gbs) == (1.0, 15.0)
