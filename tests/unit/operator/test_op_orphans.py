"""The orphan report's classification (core/orphans.py), from the scenario table
orphan_scenarios/orphans.yaml, and what a run's cost so far is."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from ocids_operator.core.deletion_plan import RETAINED, TAG_RETAINED
from ocids_operator.core.model import TAG_CLUSTER, TAG_NAME, TAG_NAMESPACE, TAG_UID
from ocids_operator.core.oci_schedule_plan import TAG_SCHEDULE_UID
from ocids_operator.core.orphans import OciJob, ResourceKind, Scope, classify, cost_so_far
from ocids_operator.core.run_plan import RunView

TABLE = yaml.safe_load((Path(__file__).parent / "orphan_scenarios" / "orphans.yaml").read_text())
CLUSTER = TABLE["cluster"]


def tags(item: dict[str, Any]) -> dict[str, str]:
    found = {TAG_UID: item["uid"], TAG_NAMESPACE: item.get("namespace", "ml"), TAG_NAME: item["id"]}
    cluster = item.get("cluster", CLUSTER)
    if cluster:
        found[TAG_CLUSTER] = cluster
    if item.get("schedule_uid"):
        found[TAG_SCHEDULE_UID] = item["schedule_uid"]
    if item.get("retained"):
        found[TAG_RETAINED] = RETAINED
    return found


def job(item: dict[str, Any]) -> OciJob:
    return OciJob(
        id=item["id"], compartment_id="c", lifecycle_state=item.get("state", "ACTIVE"), tags=tags(item)
    )


def run(item: dict[str, Any]) -> RunView:
    return RunView(
        id=item["id"],
        job_id=item["job"],
        compartment_id="c",
        lifecycle_state=item.get("state", "SUCCEEDED"),
        tags=tags(item),
    )


@pytest.mark.parametrize("case", TABLE["scenarios"], ids=[c["name"] for c in TABLE["scenarios"]])
def test_orphan_scenarios(case: dict[str, Any]) -> None:
    scope = Scope(CLUSTER, frozenset(case.get("namespaces") or []), bool(case.get("include_failed")))
    report = classify(
        [job(j) for j in case["jobs"]], [run(r) for r in case["runs"]], set(case["owners"]), scope
    )
    assert {f.id: f.standing.value for f in report.findings} == case["expect"]
    assert [f.id for f in report.runs_to_cancel()] == case.get("cancel", [])
    assert [f.id for f in report.runs_to_delete()] == case.get("delete_runs", [])
    assert [f.id for f in report.orphan_jobs] == case.get("delete_jobs", [])
    for finding in report.findings:
        assert finding.why, finding  # every line says why it is there


def test_a_run_costs_its_price_for_the_time_it_ran_and_a_running_one_until_now() -> None:
    start = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.UTC)
    view = RunView(
        id="r",
        job_id="j",
        compartment_id="c",
        lifecycle_state="IN_PROGRESS",
        time_started=start,
        tags={TAG_UID: "gone", TAG_CLUSTER: CLUSTER},
    )
    (running,) = classify([], [view], set(), Scope(CLUSTER)).findings
    assert running.kind is ResourceKind.RUN
    assert cost_so_far(2.0, running, start + datetime.timedelta(minutes=90)) == pytest.approx(3.0)
    finished = dataclasses.replace(
        view, lifecycle_state="SUCCEEDED", time_finished=start + datetime.timedelta(hours=2)
    )
    (ended,) = classify([], [finished], set(), Scope(CLUSTER)).findings
    assert cost_so_far(2.0, ended, start + datetime.timedelta(days=3)) == pytest.approx(4.0)
    assert cost_so_far(None, ended, start) is None  # no price: no cost, not zero
