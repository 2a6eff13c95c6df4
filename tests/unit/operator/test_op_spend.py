"""What runs cost together: TrainingJob status.spend, the archive's kept cost, `kubectl ocids runs`
COST column, and the cost reader's choices (which runs, which days, what it writes)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ocids_operator.adapters.oci_usage import ResourceCost
from ocids_operator.cli.runs import render, rows, spend_line
from ocids_operator.core.archive import archive_record
from ocids_operator.core.spend import job_spend, spend_changed
from ocids_operator.workflows.run_cost_actual import actual_of, candidates, usage_window

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
BASIS = {"pricePerHour": 2.0, "shape": "VM.GPU.A10.1"}


def ended(amount: float | None, finished: str, actual: float | None = None, **status: Any) -> dict[str, Any]:
    cost: dict[str, Any] = {"estimate": {"currency": "USD", "basis": BASIS}}
    if amount is not None:
        cost["estimate"]["amount"] = amount
    if actual is not None:
        cost["actual"] = {"amount": actual, "currency": "USD", "final": True}
    return {"phase": "Succeeded", "timeFinished": finished, "cost": cost, **status}


def test_spend_counts_actual_where_known_else_the_estimate_and_the_month_by_finish() -> None:
    statuses = [
        ended(1.50, "2026-12-03T10:00:00Z"),
        ended(2.00, "2026-12-05T10:00:00Z", actual=1.80),
        ended(4.00, "2026-11-30T23:00:00Z"),  # last month: in the total only
        {"phase": "Running", "timeStarted": "2026-12-07T11:00:00Z", "cost": {"estimate": {"basis": BASIS}}},
    ]
    archived = [
        {"name": "old", "timeFinished": "2026-12-01T01:00:00Z", "cost": {"amount": 0.5, "currency": "USD"}}
    ]
    spend = job_spend(statuses, archived, NOW)
    assert spend is not None
    assert (spend.total, spend.month, spend.runs, spend.currency) == (7.8, 3.8, 4, "USD")
    assert spend.month_start == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert job_spend([{"phase": "Running"}], [], NOW) is None


def test_spend_is_rewritten_only_when_a_figure_changes() -> None:
    spend = job_spend([ended(1.5, "2026-12-03T10:00:00Z")], [], NOW)
    assert spend is not None
    written = spend.model_dump(mode="json", by_alias=True, exclude_none=True)
    later = job_spend([ended(1.5, "2026-12-03T10:00:00Z")], [], NOW + dt.timedelta(minutes=5))
    assert later is not None and not spend_changed(written, later)
    more = job_spend([ended(1.5, "2026-12-03T10:00:00Z"), ended(1.0, "2026-12-07T10:00:00Z")], [], NOW)
    assert more is not None and spend_changed(written, more)


def test_a_partial_actual_cost_counts_only_once_it_passes_the_estimate() -> None:
    status = ended(2.0, "2026-12-05T10:00:00Z")
    status["cost"]["actual"] = {"amount": 0.5, "currency": "USD", "final": False}  # usage arriving
    spend = job_spend([status], [], NOW)
    assert spend is not None and spend.total == 2.0
    status["cost"]["actual"]["amount"] = 2.2
    spend = job_spend([status], [], NOW)
    assert spend is not None and spend.total == 2.2


def test_an_archived_run_keeps_what_it_cost() -> None:
    body = {
        "metadata": {"name": "r1", "creationTimestamp": "2026-12-03T09:00:00Z"},
        "spec": {"jobRef": {"name": "j"}},
        "status": ended(1.5, "2026-12-03T10:00:00Z", actual=1.25),
    }
    assert archive_record(body)["cost"] == {"amount": 1.25, "currency": "USD", "actual": True}
    body["status"] = ended(1.5, "2026-12-03T10:00:00Z")
    assert archive_record(body)["cost"] == {"amount": 1.5, "currency": "USD", "actual": False}
    body["status"] = {"phase": "Succeeded"}
    assert "cost" not in archive_record(body)


def run(name: str, minute: int, status: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": f"2026-12-07T11:{minute:02d}:00Z"},
        "spec": {"jobRef": {"name": "train"}},
        "status": status,
    }


def test_runs_table_shows_each_runs_cost_and_a_total() -> None:
    runs = [
        run("a", 1, ended(1.5, "2026-12-07T11:30:00Z", duration="45m0s")),
        run("b", 2, ended(2.0, "2026-12-07T11:40:00Z", actual=1.8)),
        run(
            "c",
            3,
            {
                "phase": "Running",
                "timeStarted": "2026-12-07T11:30:00Z",
                "cost": {"estimate": {"currency": "USD", "basis": BASIS}},
            },
        ),
        run("d", 4, {"phase": "Pending"}),
    ]
    table = rows(runs, NOW)
    assert table[0][:6] == ["NAME", "JOB", "PHASE", "DURATION", "EXIT", "COST(USD)"]
    assert [r[5] for r in table[1:]] == ["1.50", "1.80*", "~1.00", "-", "~4.30"]
    assert table[-1][0] == "TOTAL"
    assert render(table).splitlines()[-1].split() == ["TOTAL", "~4.30"]


def test_a_retried_run_not_ended_shows_its_ended_attempts_cost_too() -> None:
    first = {"attempt": 1, "timeStarted": "2026-12-07T10:00:00Z", "timeFinished": "2026-12-07T10:30:00Z"}
    estimate = {"currency": "USD", "basis": BASIS}
    running = {
        "phase": "Running",
        "timeStarted": "2026-12-07T11:30:00Z",
        "attempts": [first],
        "cost": {"estimate": estimate},
    }
    backoff = {
        "phase": "Pending",
        "nextAttemptAt": "2026-12-07T12:05:00Z",
        "attempts": [first],
        "cost": {"estimate": estimate},
    }
    table = rows([run("a", 1, running), run("b", 2, backoff)], NOW)
    assert [r[5] for r in table[1:]] == ["~2.00", "~1.00", "~3.00"]


def test_the_total_is_never_added_across_currencies() -> None:
    euro = ended(2.0, "2026-12-07T11:40:00Z")
    euro["cost"]["estimate"]["currency"] = "EUR"
    table = rows([run("a", 1, ended(1.5, "2026-12-07T11:30:00Z")), run("b", 2, euro)], NOW)
    assert table[0][5] == "COST(EUR/USD)"
    assert table[-1][5] == "1.50 USD + 2.00 EUR"


def test_runs_without_a_price_show_no_cost_column() -> None:
    table = rows([run("a", 1, {"phase": "Succeeded"})], NOW)
    assert "COST" not in " ".join(table[0]) and table[-1][0] == "a"


def test_the_job_spend_line() -> None:
    job = {
        "metadata": {"name": "train"},
        "status": {
            "spend": {
                "currency": "USD",
                "total": 7.8,
                "month": 3.8,
                "runs": 4,
                "monthStart": "2026-12-01T00:00:00Z",
            }
        },
    }
    line = spend_line(job)
    assert line is not None and line.startswith(
        "TrainingJob train spent 7.80 USD on 4 ended runs, 3.80 USD of it in 2026-12"
    )
    assert spend_line({"metadata": {"name": "x"}, "status": {}}) is None


def entry(name: str, status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "uid": name}, "status": status}


def test_the_cost_reader_asks_about_ended_runs_not_final_and_recent() -> None:
    entries = [
        entry("recent", ended(1.0, "2026-12-07T10:00:00Z", jobRunId="ocid1.run.a")),
        entry(
            "final",
            {
                **ended(1.0, "2026-12-07T10:00:00Z", jobRunId="ocid1.run.b"),
                "cost": {"actual": {"amount": 1, "final": True}},
            },
        ),
        entry("old", ended(1.0, "2026-11-01T10:00:00Z", jobRunId="ocid1.run.c")),
        entry("running", {"phase": "Running", "jobRunId": "ocid1.run.d"}),
        entry("never-created", {"phase": "Canceled"}),
    ]
    assert [e["metadata"]["name"] for e in candidates(entries, NOW, 72, 3600)] == ["recent"]


def test_the_usage_window_is_whole_days_from_the_first_attempts_start() -> None:
    status = ended(
        1.0,
        "2026-12-06T01:00:00Z",
        timeStarted="2026-12-06T00:30:00Z",
        attempts=[{"jobRunId": "x", "timeStarted": "2026-12-05T22:00:00Z"}],
    )
    start, end = usage_window([entry("r", status)], NOW)
    assert (start, end) == (dt.datetime(2026, 12, 5, tzinfo=dt.UTC), dt.datetime(2026, 12, 8, tzinfo=dt.UTC))


def test_the_actual_cost_sums_every_attempt_and_becomes_final_after_the_settle_time() -> None:
    status = ended(
        1.0,
        "2026-12-07T10:00:00Z",
        jobRunId="ocid1.run.2",
        attempts=[{"jobRunId": "ocid1.run.1"}, {"jobRunId": "ocid1.run.2"}],
    )
    costs = {"ocid1.run.1": ResourceCost(0.5, "USD"), "ocid1.run.2": ResourceCost(0.75, "USD")}
    actual = actual_of(status, costs, NOW, 72)
    assert actual is not None and (actual["amount"], actual["currency"], actual["final"]) == (
        1.25,
        "USD",
        False,
    )
    # Nothing reported yet: nothing to write; the same figure again: nothing to write.
    assert actual_of(status, {}, NOW, 72) is None
    status["cost"]["actual"] = {"amount": 1.25, "currency": "USD", "final": False}
    assert actual_of(status, costs, NOW, 72) is None
    # Settled: written once more, final.
    final = actual_of(status, costs, NOW + dt.timedelta(hours=72), 72)
    assert final is not None and final["final"] is True and final["amount"] == 1.25


class _Usage:
    """RequestSummarizedUsages as the SDK returns it: pages of items, `opc-next-page`."""

    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages = pages
        self.asked: list[tuple[Any, str | None]] = []

    def request_summarized_usages(self, details: Any, limit: int, page: str | None) -> Any:
        import types

        self.asked.append((details, page))
        index = int(page or 0)
        items = [types.SimpleNamespace(**item) for item in self.pages[index]]
        more = {"opc-next-page": str(index + 1)} if index + 1 < len(self.pages) else {}
        return types.SimpleNamespace(data=types.SimpleNamespace(items=items), headers=more)


def _reader(client: _Usage) -> Any:
    import threading
    import types

    from ocids_operator.adapters.oci_usage import UsageReader

    auth = types.SimpleNamespace(
        lock=threading.Lock(), built=lambda: ({"tenancy": "ocid1.tenancy.oc1..t"}, None)
    )
    return UsageReader(None, auth, client=client)  # type: ignore[arg-type]


def test_the_usage_reader_sums_days_and_skus_per_resource_within_its_page_bound() -> None:
    import asyncio

    from ocids_operator.adapters import oci_usage

    item: dict[str, Any] = {"currency": "USD"}
    pages = [
        [
            {**item, "resource_id": "a", "computed_amount": 1.0},
            {**item, "resource_id": "b", "computed_amount": None},
        ],
        [
            {**item, "resource_id": "a", "computed_amount": 0.25},
            {**item, "resource_id": "b", "computed_amount": 2.0},
        ],
    ]
    client = _Usage(pages)
    start, end = dt.datetime(2026, 12, 6, tzinfo=dt.UTC), dt.datetime(2026, 12, 8, tzinfo=dt.UTC)
    costs, whole = asyncio.run(_reader(client).costs(["a", "b", "a"], start, end))
    assert whole and costs == {"a": ResourceCost(1.25, "USD"), "b": ResourceCost(2.0, "USD")}
    details = client.asked[0][0]
    assert (details.tenant_id, details.granularity, details.group_by) == (
        "ocid1.tenancy.oc1..t",
        "DAILY",
        ["resourceId"],
    )
    assert [d.value for d in details.filter.dimensions] == ["a", "b"]  # each run once, OR-ed
    assert [page for _, page in client.asked] == [None, "1"]

    many = _Usage([[{**item, "resource_id": "a", "computed_amount": 1.0}]] * (oci_usage.MAX_PAGES + 3))
    costs, whole = asyncio.run(_reader(many).costs(["a"], start, end))
    assert not whole and len(many.asked) == oci_usage.MAX_PAGES and costs["a"].amount == oci_usage.MAX_PAGES
