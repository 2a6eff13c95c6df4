"""engine OCI (workflows/schedule_oci.py): when a tick looks at OCI (the Schedule read back, its runs
listed) and how far back a look lists runs."""

from __future__ import annotations

import asyncio
import datetime
import types
from typing import Any

import pytest
from ocids_operator.core.run_plan import RunView
from ocids_operator.workflows import schedule_oci

NOW = datetime.datetime(2026, 3, 7, 10, 0, 30, tzinfo=datetime.UTC)
LATER = datetime.timedelta(seconds=45)


def body(generation: int = 2, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"uid": "uid-s", "generation": generation},
        "spec": {"engine": "OCI"},
        "status": {"observedGeneration": 2, "phase": "Active", **status},
    }


@pytest.fixture(autouse=True)
def no_looks() -> Any:
    schedule_oci._LOOKS.clear()
    yield
    schedule_oci._LOOKS.clear()


@pytest.mark.parametrize(
    ("case", "look", "item", "now", "due"),
    [
        ("first tick in this process (a restart): look", None, body(), NOW, True),
        ("looked, nothing due yet: no call", (2, NOW + LATER), body(), NOW, False),
        ("a cron time (+ grace) or the recheck has come: look", (2, NOW + LATER), body(), NOW + LATER, True),
        ("a spec edit: look", (2, NOW + LATER), body(generation=3), NOW, True),
        ("unfinished runs to follow (cluster reads only)", (2, NOW + LATER), body(active=["r"]), NOW, True),
        ("Failed on this spec: a spec change reconciles it", None, body(phase="Failed"), NOW, False),
        ("Suspended: nothing fires", None, body(phase="Suspended"), NOW, False),
    ],
)
def test_when_a_tick_looks_at_oci(
    case: str,
    look: tuple[int, datetime.datetime] | None,
    item: dict[str, Any],
    now: datetime.datetime,
    due: bool,
) -> None:
    if look is not None:
        schedule_oci._LOOKS["uid-s"] = schedule_oci._Look(*look)
    assert schedule_oci.due_soon(item, now) is due, case


class Pages:
    """ListJobRuns of one job, newest first, 3 runs a page."""

    def __init__(self, count: int) -> None:
        self.runs = [
            RunView(
                id=f"r{i}",
                job_id="job",
                compartment_id="c",
                lifecycle_state="SUCCEEDED",
                time_accepted=NOW - datetime.timedelta(minutes=i),
            )
            for i in range(count)
        ]
        self.calls = 0

    async def list_job_runs_page(
        self, compartment_id: str, page: str | None = None, **filters: str
    ) -> tuple[list[RunView], str | None]:
        self.calls += 1
        start = int(page or 0)
        nxt = start + 3
        return self.runs[start:nxt], (str(nxt) if nxt < len(self.runs) else None)


def scan(pages: Pages, floor: datetime.datetime) -> list[str]:
    rt: Any = types.SimpleNamespace(oci=pages)
    return [r.id for r in asyncio.run(schedule_oci._scan(rt, "c", "job", floor))]


def test_a_scan_pages_back_to_the_floor_not_just_the_newest_page() -> None:
    pages = Pages(12)
    found = scan(pages, NOW - datetime.timedelta(minutes=7, seconds=30))
    assert found == [f"r{i}" for i in range(9)] and pages.calls == 3  # r8 is past the floor: stop


def test_a_scan_is_capped() -> None:
    pages = Pages(3 * schedule_oci.MAX_SCAN_PAGES + 6)
    found = scan(pages, NOW - datetime.timedelta(days=1))
    assert len(found) == 3 * schedule_oci.MAX_SCAN_PAGES and pages.calls == schedule_oci.MAX_SCAN_PAGES
