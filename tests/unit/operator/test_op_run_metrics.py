"""status.metrics: log lines parsed by each metric's regex (core/metric_lines.py), and the poller's
reading of them (workflows/run_metrics.py): ONE Logging search per (identity, compartment) per cycle
whatever the number of runs, each line counted once, final values with the terminal phase.

The search is served from in-memory lines; its query is parsed by the emulator's own parser, so a
query the emulator (our stand-in for OCI's Logging query language) cannot read fails here too.
"""

from __future__ import annotations

import asyncio
import datetime
import fnmatch
import itertools
import time
from typing import Any

import pydantic
import pytest
from fake_run_listing import COMPARTMENT, FakeKube, FakeRunsOci
from ocids_emulator.api.logging.search import parse_query
from ocids_operator.api import TrainingJobRunSpec
from ocids_operator.core.metric_lines import (
    MAX_LINE_CHARS,
    MAX_LOGS_PER_GROUP,
    MAX_SOURCE_TERMS,
    LogLine,
    RunLog,
    effective_metrics,
    merge,
    metric_problems,
    never_backwards,
    parse_value,
    run_of,
    runs_search_query,
    thin,
)
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows import run_metrics
from ocids_operator.workflows.run_poller import RunPoller, TrackedRun

LOSS = {"name": "loss", "regex": r"loss=([0-9.eE+-]+)"}
ACC = {"name": "accuracy", "regex": r"accuracy=([0-9.]+)"}
GROUP = "ocid1.loggroup.oc1..lg"
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def line(
    message: str, at_ms: int = T0_MS, run_id: str = "ocid1.datasciencejobrun.oc1..r", n: int = 0
) -> LogLine:
    return LogLine(id=f"{run_id}-{at_ms}-{n}", time_ms=at_ms, source=run_id, message=message)


# Parsing ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("regex", "message", "value"),
    [
        (LOSS["regex"], "step=1 loss=0.9", 0.9),
        (LOSS["regex"], "epoch 3 loss=1e-3 accuracy=0.5", 0.001),
        (ACC["regex"], "test accuracy=0.933", 0.933),
        (ACC["regex"], "epoch 1 loss=0.1", None),  # no match: no observation
        (LOSS["regex"], "loss=.", None),  # captured, but no number: skipped
        (r"loss=(\S+)", "loss=nan", None),  # not finite: JSON cannot hold it
        (r"loss=(\S+)", "loss=inf", None),
        (r"(?:loss|cost)=([0-9.]+)|done()", "done", None),  # the group did not take part
        (r"^acc ([0-9]+)", "acc 7 of 10", 7.0),
    ],
)
def test_a_line_is_an_observation_only_when_the_group_captures_a_finite_number(
    regex: str, message: str, value: float | None
) -> None:
    assert parse_value(regex, message) == value


def test_merge_counts_steps_per_metric_in_log_order_and_keeps_the_latest_value() -> None:
    lines = [
        line("step=1 loss=0.9", T0_MS, n=1),
        line("step=2 loss=0.7 accuracy=0.6", T0_MS + 1000, n=2),
        line("saving a checkpoint", T0_MS + 2000, n=3),
        line("step=3 loss=0.5 accuracy=0.8", T0_MS + 3000, n=4),
    ]
    merged = merge([], [LOSS, ACC], lines)
    assert merged == [
        {
            "name": "loss",
            "value": 0.5,
            "step": 3,
            "updatedAt": "2026-01-01T00:00:03.000Z",
            "history": [{"step": 1, "value": 0.9}, {"step": 2, "value": 0.7}, {"step": 3, "value": 0.5}],
        },
        {
            "name": "accuracy",
            "value": 0.8,
            "step": 2,
            "updatedAt": "2026-01-01T00:00:03.000Z",
            "history": [{"step": 1, "value": 0.6}, {"step": 2, "value": 0.8}],
        },
    ]
    # More lines continue the count; a metric not observed yet has its name only (not zero).
    again = merge(
        merged, [LOSS, ACC, {"name": "f1", "regex": "f1=([0-9.]+)"}], [line("loss=0.4", T0_MS + 4042)]
    )
    assert [(m["name"], m.get("step"), m.get("value")) for m in again] == [
        ("loss", 4, 0.4),
        ("accuracy", 2, 0.8),
        ("f1", None, None),
    ]
    assert again[0]["updatedAt"] == "2026-01-01T00:00:04.042Z"  # milliseconds kept


def test_status_metrics_follow_spec_order_so_the_first_entry_is_the_first_declared_metric() -> None:
    """The METRIC printer column shows status.metrics[0]: always the first declared metric, even
    before it is observed (another metric printed first must not take its place)."""
    merged = merge([], [ACC, LOSS], [line("step=1 loss=0.9", T0_MS)])
    assert [m["name"] for m in merged] == ["accuracy", "loss"] and "value" not in merged[0]
    merged = merge(merged, [ACC, LOSS], [line("accuracy=0.5", T0_MS + 1000)])
    assert [(m["name"], m["value"]) for m in merged] == [("accuracy", 0.5), ("loss", 0.9)]


def test_a_regex_that_backtracks_exponentially_matches_in_linear_time() -> None:
    """RE2 (linear time): a regex Python's engine needs hours for on a 40-character line."""
    evil = r"loss=((?:a|a)+)$"
    started = time.monotonic()
    for _ in range(100):
        assert parse_value(evil, "loss=" + "a" * 5000 + "b") is None
    assert time.monotonic() - started < 2.0
    # Only a line's first MAX_LINE_CHARS characters are matched.
    assert parse_value(LOSS["regex"], "x" * MAX_LINE_CHARS + " loss=0.1") is None
    assert parse_value(LOSS["regex"], "x" * (MAX_LINE_CHARS - 20) + " loss=0.1") == 0.1


@pytest.mark.parametrize(
    ("regex", "error"),
    [
        ("acc=[0-9.]+", "exactly one capture group"),
        (r"acc=([0-9.]+) \1", "RE2 syntax"),  # a backreference: Python's re has it, RE2 not
        (r"(?<=acc=)([0-9.]+)", "RE2 syntax"),  # a lookbehind
        ("acc=([0-9.]+", "RE2 syntax"),
    ],
)
def test_admission_rejects_a_regex_the_operator_cannot_read_naming_the_field(regex: str, error: str) -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        TrainingJobRunSpec.model_validate(
            {"jobRef": {"name": "j"}, "metrics": [{"name": "acc", "regex": regex}]}
        )
    assert error in str(raised.value) and "metrics.0.regex" in str(raised.value)


@pytest.mark.parametrize("count", [1, 64, 65, 100, 129, 1000, 10_000])
def test_history_is_thinned_evenly_keeping_the_first_and_the_latest(count: int) -> None:
    points = [{"step": step, "value": float(step)} for step in range(1, count + 1)]
    kept = thin(points)
    steps = [p["step"] for p in kept]
    assert len(kept) <= 64 and steps[0] == 1 and steps[-1] == count
    gaps = {b - a for a, b in itertools.pairwise(steps[:-1])}
    assert len(gaps) <= 1  # evenly spaced (but for the latest point)
    assert len(kept) >= min(count, 32)  # thinned no more than needed


def test_history_thinned_point_by_point_equals_one_thinned_at_once() -> None:
    """A reader that starts over (after a restart) rebuilds the very curve status showed."""
    lines = [line(f"loss={i}", T0_MS + i, n=i) for i in range(1, 301)]
    one_by_one: list[dict[str, Any]] = []
    for each in lines:
        one_by_one = merge(one_by_one, [LOSS], [each])
    assert one_by_one == merge([], [LOSS], lines)


def test_a_restarted_reading_never_rewinds_what_status_shows() -> None:
    shown = [{"name": "loss", "step": 40, "value": 0.2}]
    assert not never_backwards(shown, [{"name": "loss", "step": 12, "value": 0.6}])
    assert never_backwards(shown, [{"name": "loss", "step": 40, "value": 0.2}])
    assert never_backwards(shown, [{"name": "loss", "step": 41, "value": 0.1}])
    assert never_backwards(shown, [{"name": "acc", "step": 1, "value": 0.1}])  # loss no longer read


def test_effective_metrics_are_the_runs_own_else_its_trainingjobs() -> None:
    job = {"spec": {"metrics": [ACC]}}
    assert effective_metrics({"metrics": [LOSS]}, job) == (LOSS,)
    assert effective_metrics({"metrics": []}, job) == ()  # an empty list replaces the job's too
    assert effective_metrics({}, job) == (ACC,)
    assert effective_metrics({}, None) is None  # not known: the poller keeps what it had


def test_a_metric_admission_would_reject_now_is_left_out_and_said_why() -> None:
    """A TrainingJob stored before the RE2 check (or edited past it) must not give runs a regex
    that fails on every line."""
    bad = {"name": "acc", "regex": "acc=[0-9.]+"}
    job = {"spec": {"metrics": [bad, LOSS]}}
    assert effective_metrics({}, job) == (LOSS,)
    assert metric_problems({}, job) == [
        "metric acc: regex must have exactly one capture group (the value); it has 0"
    ]
    assert metric_problems({"metrics": [LOSS]}, job) == []


# The query ----------------------------------------------------------------------------------------
def test_one_query_names_every_runs_log_and_source() -> None:
    runs = [
        RunLog("ocid1.datasciencejobrun.oc1..a", COMPARTMENT, GROUP, "ocid1.log.oc1..shared"),
        RunLog("ocid1.datasciencejobrun.oc1..b", COMPARTMENT, GROUP, "ocid1.log.oc1..shared"),
        RunLog("ocid1.datasciencejobrun.oc1..c", COMPARTMENT, GROUP, "ocid1.log.oc1..own"),
    ]
    query = runs_search_query(runs)
    assert query == (
        f'search "{COMPARTMENT}/{GROUP}/ocid1.log.oc1..shared", "{COMPARTMENT}/{GROUP}/ocid1.log.oc1..own"'
        " | where source = '*ocid1.datasciencejobrun.oc1..a' or source = '*ocid1.datasciencejobrun.oc1..b'"
        " or source = '*ocid1.datasciencejobrun.oc1..c' | sort by datetime asc"
    )
    parsed = parse_query(query)  # the emulator reads it as OCI's Logging would
    assert len(parsed.source_filters[0]) == 3 and not parsed.descending


def test_a_query_for_many_runs_stays_short() -> None:
    many = [
        RunLog(f"ocid1.datasciencejobrun.oc1..r{i}", COMPARTMENT, GROUP, f"ocid1.log.oc1..l{i}")
        for i in range(500)
    ]
    query = runs_search_query(many)
    assert query == f'search "{COMPARTMENT}/{GROUP}" | sort by datetime asc'
    few = many[:MAX_LOGS_PER_GROUP]
    assert runs_search_query(few).count("ocid1.log.") == MAX_LOGS_PER_GROUP
    assert len(runs_search_query(many[: MAX_SOURCE_TERMS + 1]).split(" | ")) == 2  # no where: split later
    assert run_of("ocid1.datasciencejobrun.oc1..r7", {"ocid1.datasciencejobrun.oc1..r7"}) is not None
    assert run_of("node-0/ocid1.datasciencejobrun.oc1..r7", {"ocid1.datasciencejobrun.oc1..r7"}) is not None
    assert run_of("ocid1.datasciencejobrun.oc1..other", {"ocid1.datasciencejobrun.oc1..r7"}) is None


# The poller ---------------------------------------------------------------------------------------
class LoggedRunsOci(FakeRunsOci):
    """Runs, plus their log lines behind Logging search (pages of `page_size`, oldest first)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, LogLine]] = []  # (log id, line)
        self.searches: list[str] = []
        self.page_size = 1000
        self.fail_search = False
        self.group_compartments: dict[str, str] = {}  # log group -> its compartment (else the runs')
        self.windows: list[tuple[datetime.datetime, datetime.datetime]] = []
        self.search_gate: asyncio.Event | None = None  # set: searches wait for it

    async def compartment_of(self, ocid: str) -> str | None:
        self.calls["get_log_group"] += 1
        return self.group_compartments.get(ocid, COMPARTMENT)

    def log(self, run_id: str, log_id: str, message: str, at_ms: int) -> None:
        self.lines.append((log_id, LogLine(f"id{len(self.lines)}", at_ms, run_id, message)))

    async def search_logs_page(
        self,
        query: str,
        time_start: datetime.datetime,
        time_end: datetime.datetime,
        page: str | None,
        limit: int,
    ) -> tuple[list[LogLine], str | None]:
        self.calls["search_logs"] += 1
        if self.search_gate is not None:
            await self.search_gate.wait()
        if self.fail_search:
            raise ConnectionResetError("Logging went away")
        if page is None:
            self.searches.append(query)
            self.windows.append((time_start, time_end))
        parsed = parse_query(query)
        logs = {stream.split("/")[-1] for stream in parsed.streams}
        start, end = time_start.timestamp() * 1000, time_end.timestamp() * 1000
        matching = [
            entry
            for log_id, entry in sorted(self.lines, key=lambda item: item[1].time_ms)
            if (log_id in logs or GROUP in logs)
            and start <= entry.time_ms <= end
            and all(
                any(all(fnmatch.fnmatchcase(entry.source, p) for p in group) for group in alternatives)
                for alternatives in parsed.source_filters
            )
        ]
        offset = int(page or 0)
        size = min(limit, self.page_size)
        chunk = matching[offset : offset + size]
        return chunk, (str(offset + size) if len(matching) > offset + size else None)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def metered(run_id: str, log_id: str, specs: tuple[dict[str, Any], ...] = (LOSS,)) -> TrackedRun:
    return TrackedRun(
        run_id=run_id,
        compartment_id=COMPARTMENT,
        namespace="ml",
        name=run_id,
        uid=f"uid-{run_id}",
        generation=1,
        status={"phase": "InProgress", "jobRunId": run_id, "logs": {"logGroupId": GROUP, "logId": log_id}},
        registered_at=0.0,
        lifecycle_state="IN_PROGRESS",
        logs_known=True,
        metric_specs=specs,
        time_created=datetime.datetime.fromtimestamp(T0_MS / 1000, tz=datetime.UTC),
    )


class World:
    def __init__(self) -> None:
        self.oci, self.kube, self.clock = LoggedRunsOci(), FakeKube(), Clock()
        settings = OperatorSettings(metrics_write_seconds=0)
        self.poller = RunPoller(settings, self.oci, self.kube, clock=self.clock)  # type: ignore[arg-type]
        self.wall_ms = T0_MS + 60_000
        self.poller.metrics = run_metrics.RunMetrics(wall_ms=lambda: self.wall_ms)

    def start(self, run_id: str, log_id: str, specs: tuple[dict[str, Any], ...] = (LOSS,)) -> None:
        self.oci.add(run_id, "IN_PROGRESS")
        self.oci.set(run_id, "IN_PROGRESS", log_id=log_id)
        self.poller.track(metered(run_id, log_id, specs))

    async def cycle(self, seconds: float = 10.0) -> None:
        self.clock.now += seconds
        self.wall_ms += int(seconds * 1000)
        await self.poller.cycle(COMPARTMENT)


def steps(world: World, name: str) -> list[tuple[int, float]]:
    metrics = world.kube.status.get(name, {}).get("metrics") or []
    return [(m["step"], m["value"]) for m in metrics if m["name"] == "loss"]


def test_one_search_per_cycle_reads_the_metrics_of_every_running_run_of_the_compartment() -> None:
    async def scenario() -> None:
        world = World()
        ids = [f"ocid1.datasciencejobrun.oc1..r{i}" for i in range(30)]
        for i, run_id in enumerate(ids):
            world.start(run_id, f"ocid1.log.oc1..l{i % 3}")  # three shared logs
        world.start("ocid1.datasciencejobrun.oc1..quiet", "ocid1.log.oc1..l0", specs=())  # no metrics
        for i, run_id in enumerate(ids):
            world.oci.log(run_id, f"ocid1.log.oc1..l{i % 3}", f"step=1 loss={i}", T0_MS + 5000)
        await world.cycle()
        assert world.oci.calls["search_logs"] == 1
        assert all(steps(world, run_id) == [(1, float(i))] for i, run_id in enumerate(ids))
        assert "metrics" not in world.kube.status.get("ocid1.datasciencejobrun.oc1..quiet", {})
        for i, run_id in enumerate(ids):
            world.oci.log(run_id, f"ocid1.log.oc1..l{i % 3}", f"step=2 loss={i / 10}", T0_MS + 65_000)
        await world.cycle()
        assert world.oci.calls["search_logs"] == 2  # still one a cycle
        assert all(steps(world, run_id) == [(2, i / 10)] for i, run_id in enumerate(ids))
        await world.poller.stop()

    asyncio.run(scenario())


def test_overlapping_windows_count_no_line_twice_and_a_late_line_once() -> None:
    async def scenario() -> None:
        world = World()
        run_id, log_id = "ocid1.datasciencejobrun.oc1..r", "ocid1.log.oc1..l"
        world.start(run_id, log_id)
        world.oci.log(run_id, log_id, "loss=0.9", T0_MS + 55_000)
        await world.cycle()
        # Ingested late: stamped before the last window's end, found by the next (overlapping) one.
        world.oci.log(run_id, log_id, "loss=0.8", T0_MS + 68_000)
        await world.cycle()
        await world.cycle()  # nothing new: the overlap re-reads both lines, counts neither
        assert world.kube.status[run_id]["metrics"][0]["step"] == 2
        assert world.kube.status[run_id]["metrics"][0]["value"] == 0.8
        await world.poller.stop()

    asyncio.run(scenario())


def test_metrics_update_while_running_and_the_final_values_come_with_the_terminal_phase() -> None:
    async def scenario() -> None:
        world = World()
        run_id, log_id = "ocid1.datasciencejobrun.oc1..r", "ocid1.log.oc1..l"
        world.start(run_id, log_id)
        world.oci.log(run_id, log_id, "step=1 loss=0.9", T0_MS + 5000)
        await world.cycle()
        assert world.kube.status[run_id]["metrics"][0]["value"] == 0.9
        assert "phase" not in world.kube.status[run_id]  # a metrics-only write: the phase did not change
        world.oci.log(run_id, log_id, "step=2 loss=0.4", T0_MS + 69_000)
        world.oci.set(run_id, "SUCCEEDED", "exit code 0")
        await world.cycle()
        status = world.kube.status[run_id]
        assert status["phase"] == "Succeeded" and (
            status["metrics"][0]["step"],
            status["metrics"][0]["value"],
        ) == (2, 0.4)
        # The cycle's one search read the ended run to the end: no second search for its final values.
        assert world.oci.calls["search_logs"] == 2
        await world.poller.stop()

    asyncio.run(scenario())


def accepted(run_id: str) -> TrackedRun:
    return TrackedRun(
        run_id=run_id,
        compartment_id=COMPARTMENT,
        namespace="ml",
        name=run_id,
        uid=f"uid-{run_id}",
        generation=1,
        status={"phase": "Accepted", "jobRunId": run_id},
        registered_at=0.0,
        metric_specs=(LOSS,),
    )


def test_runs_ending_before_any_search_get_their_final_values_from_the_next_shared_search() -> None:
    """20 short runs ending between two polls: the phases are written at once, then ONE search a
    cycle reads all their last lines (not one search each); status.metricsFinal says when."""

    async def scenario() -> None:
        world = World()
        ids = [f"ocid1.datasciencejobrun.oc1..s{i}" for i in range(20)]
        for run_id in ids:
            world.oci.add(run_id)  # accepted, log not known yet: nothing to search for
            world.poller.track(accepted(run_id))
        for i, run_id in enumerate(ids):
            world.oci.set(run_id, "SUCCEEDED", "exit code 0", log_id="ocid1.log.oc1..l")
            world.oci.runs[run_id].log_details.log_group_id = GROUP
            world.oci.log(run_id, "ocid1.log.oc1..l", f"test loss={i}", T0_MS + 55_000)
        await world.cycle()
        assert world.oci.calls["search_logs"] == 0  # no log was known when the cycle's search began
        assert all(world.kube.status[r]["phase"] == "Succeeded" for r in ids)
        assert all(world.kube.status[r]["metricsFinal"] is False for r in ids)
        searches = []
        while any(world.kube.status[r].get("metricsFinal") is False for r in ids):
            await world.cycle()
            searches.append(world.oci.calls["search_logs"])
            assert len(searches) < 10
        assert searches == list(range(1, len(searches) + 1))  # one search a cycle, for all 20
        assert all(steps(world, r) == [(1, float(i))] for i, r in enumerate(ids))
        assert not world.poller.draining(COMPARTMENT)
        await world.cycle()
        assert world.oci.calls["search_logs"] == searches[-1]  # nothing left to read
        await world.poller.stop()

    asyncio.run(scenario())


def test_the_last_line_ingested_after_the_run_ended_is_still_counted() -> None:
    """In OCI the objective's `test loss=` line is the likeliest not searchable yet when the run
    turns SUCCEEDED: an ended run is read until a search covered OVERLAP past its end."""

    async def scenario() -> None:
        world = World()
        run_id, log_id = "ocid1.datasciencejobrun.oc1..r", "ocid1.log.oc1..l"
        world.start(run_id, log_id)
        world.oci.log(run_id, log_id, "loss=0.9", T0_MS + 5000)
        await world.cycle()
        ended = datetime.datetime.fromtimestamp((world.wall_ms + 5000) / 1000, tz=datetime.UTC)
        world.oci.set(run_id, "SUCCEEDED", "exit code 0")
        world.oci.runs[run_id].time_finished = ended
        await world.cycle()
        assert world.kube.status[run_id]["phase"] == "Succeeded"
        assert world.kube.status[run_id]["metricsFinal"] is False
        # Ingested only now, stamped before the run's end.
        world.oci.log(run_id, log_id, "test loss=0.3", int(ended.timestamp() * 1000) - 100)
        for _ in range(5):
            await world.cycle()
        status = world.kube.status[run_id]
        assert status["metricsFinal"] is True and steps(world, run_id) == [(2, 0.3)]
        await world.poller.stop()

    asyncio.run(scenario())


def test_a_run_without_metrics_is_final_with_its_phase() -> None:
    async def scenario() -> None:
        world = World()
        run_id = "ocid1.datasciencejobrun.oc1..plain"
        world.start(run_id, "ocid1.log.oc1..l", specs=())
        world.oci.set(run_id, "SUCCEEDED", "exit code 0")
        await world.cycle()
        assert world.kube.status[run_id]["metricsFinal"] is True
        assert world.oci.calls["search_logs"] == 0
        await world.poller.stop()

    asyncio.run(scenario())


def test_an_ended_runs_final_metrics_are_read_for_a_bounded_time_only() -> None:
    async def scenario() -> None:
        world = World()
        run_id, log_id = "ocid1.datasciencejobrun.oc1..r", "ocid1.log.oc1..l"
        world.start(run_id, log_id)
        world.oci.log(run_id, log_id, "loss=0.9", T0_MS + 5000)
        await world.cycle()
        world.oci.fail_search = True  # Logging down for good
        world.oci.set(run_id, "SUCCEEDED", "exit code 0")
        await world.cycle()
        cycles = 0
        while world.kube.status[run_id].get("metricsFinal") is not True:
            await world.cycle(30)
            cycles += 1
            assert cycles <= run_metrics.DRAIN_SECONDS / 30 + 1
        assert steps(world, run_id) == [(1, 0.9)]  # what was read is kept
        assert not world.poller.draining(COMPARTMENT)
        await world.poller.stop()

    asyncio.run(scenario())


def test_an_ended_run_whose_reading_never_learned_its_end_is_still_final_after_the_overlap() -> None:
    """A reading begun by a search before the end was known (seen under load: the run then waited
    the whole DRAIN_SECONDS, and its sweep with it) finishes from the run's own timeFinished."""

    async def scenario() -> None:
        world = World()
        run_id, log_id = "ocid1.datasciencejobrun.oc1..r", "ocid1.log.oc1..l"
        world.start(run_id, log_id)
        world.oci.log(run_id, log_id, "loss=0.5", T0_MS + 5000)
        world.oci.set(run_id, "SUCCEEDED", "exit code 0")
        await world.cycle()
        (draining,) = world.poller.draining(COMPARTMENT).values()
        assert draining.metric_reading is not None
        draining.metric_reading.end_seen_ms = None
        draining.metric_reading.final = False
        cycles = 0
        while world.kube.status[run_id].get("metricsFinal") is not True:
            await world.cycle(10)
            cycles += 1
            assert cycles <= 5, "still not final long after the overlap"
        assert steps(world, run_id) == [(1, 0.5)]
        await world.poller.stop()

    asyncio.run(scenario())


def test_a_run_that_ends_while_its_first_search_runs_keeps_one_reading_that_knows_the_end() -> None:
    """The search starts beside the phase writes: the reading it makes for a run seen for the first
    time is the one the ended run drains with (a second one, made after, lost the end and the run
    waited out DRAIN_SECONDS)."""

    async def scenario() -> None:
        world = World()
        run_id, log_id = "ocid1.datasciencejobrun.oc1..r", "ocid1.log.oc1..l"
        world.start(run_id, log_id)
        world.oci.log(run_id, log_id, "loss=0.5", T0_MS + 5000)
        world.oci.set(run_id, "SUCCEEDED", "exit code 0")
        await world.cycle()
        (draining,) = world.poller.draining(COMPARTMENT).values()
        reading = draining.metric_reading
        assert reading is not None and reading.end_seen_ms is not None and not reading.final
        waited = 0
        while world.kube.status[run_id].get("metricsFinal") is not True:
            await world.cycle(10)
            waited += 10
        assert waited <= run_metrics.OVERLAP_MS / 1000 + 10
        assert steps(world, run_id) == [(1, 0.5)]
        await world.poller.stop()

    asyncio.run(scenario())


def test_the_overlap_after_an_end_is_counted_on_the_operators_clock() -> None:
    """OCI's clock ahead of the operator's: its timeFinished compared with the local clock would end
    the wait early; the wait starts when the operator learns of the end."""

    async def scenario() -> None:
        world = World()
        run_id, log_id = "ocid1.datasciencejobrun.oc1..r", "ocid1.log.oc1..l"
        world.start(run_id, log_id)
        world.oci.log(run_id, log_id, "loss=0.9", T0_MS + 5000)
        await world.cycle()
        world.oci.set(run_id, "SUCCEEDED", "exit code 0")
        # OCI stamps the end a minute before the operator's "now": its clock is behind, or the
        # operator heard late. Either way the last lines were written just before OCI said so.
        world.oci.runs[run_id].time_finished = datetime.datetime.fromtimestamp(
            (world.wall_ms - 60_000) / 1000, tz=datetime.UTC
        )
        await world.cycle()
        assert world.kube.status[run_id]["metricsFinal"] is False
        world.oci.log(run_id, log_id, "test loss=0.2", world.wall_ms - 5_000)  # ingested late
        await world.cycle(10)
        assert world.kube.status[run_id]["metricsFinal"] is False, "final before the overlap passed"
        for _ in range(4):
            await world.cycle(10)
        status = world.kube.status[run_id]
        assert status["metricsFinal"] is True and steps(world, run_id) == [(2, 0.2)]
        await world.poller.stop()

    asyncio.run(scenario())


def test_a_failed_search_never_holds_back_the_phase_and_is_caught_up_later() -> None:
    """30 runs ending while Logging fails: the phases are written, ONE search was tried that cycle
    (not one more per ended run), and the next cycles read the lines missed, final values included."""

    async def scenario() -> None:
        world = World()
        ids = [f"ocid1.datasciencejobrun.oc1..r{i}" for i in range(30)]
        for run_id in ids:
            world.start(run_id, "ocid1.log.oc1..l")
            world.oci.log(run_id, "ocid1.log.oc1..l", "loss=0.5", T0_MS + 5000)
        world.oci.fail_search = True
        await world.cycle()
        assert world.oci.calls["search_logs"] == 1
        assert all("metrics" not in world.kube.status.get(r, {}) for r in ids)
        for run_id in ids:
            world.oci.log(run_id, "ocid1.log.oc1..l", "loss=0.1", T0_MS + 65_000)
            world.oci.set(run_id, "SUCCEEDED", "exit code 0")
        await world.cycle()
        assert world.oci.calls["search_logs"] == 2  # still one a cycle
        assert all(world.kube.status[r]["phase"] == "Succeeded" for r in ids)  # written whatever Logging said
        assert all(world.kube.status[r]["metricsFinal"] is False for r in ids)
        world.oci.fail_search = False
        for _ in range(5):
            await world.cycle()
        assert all(steps(world, r) == [(2, 0.1)] for r in ids)  # both lines, each once
        assert all(world.kube.status[r]["metricsFinal"] is True for r in ids)
        assert world.oci.calls["search_logs"] <= 2 + 5
        await world.poller.stop()

    asyncio.run(scenario())


def test_one_runs_unreadable_metric_never_stops_the_others_phase_updates() -> None:
    """A spec that slipped past admission (e.g. stored before the RE2 check) fails that run's
    metrics alone: the cycle goes on, every other run of the compartment gets its phase."""

    async def scenario() -> None:
        world = World()
        good, bad, log_id = (
            "ocid1.datasciencejobrun.oc1..good",
            "ocid1.datasciencejobrun.oc1..bad",
            "ocid1.log.oc1..l",
        )
        world.start(good, log_id)
        world.start(bad, log_id, specs=({"name": "acc", "regex": "acc=[0-9.]+"},))  # no group
        told = metered("ocid1.datasciencejobrun.oc1..told", log_id, specs=())
        told.metric_problems = ("metric acc: regex must have exactly one capture group",)
        world.poller.track(told)
        world.poller.track(told)  # tracked again (a resync): told once
        world.oci.log(bad, log_id, "acc=0.5", T0_MS + 5000)
        world.oci.log(good, log_id, "loss=0.5", T0_MS + 5000)
        world.oci.set(good, "SUCCEEDED", "exit code 0")
        world.oci.set(bad, "FAILED", "exit code 1")
        await world.cycle()
        assert world.kube.status[good]["phase"] == "Succeeded"
        assert world.kube.status[bad]["phase"] == "Failed"
        for _ in range(4):
            await world.cycle()
        assert steps(world, good) == [(1, 0.5)] and world.kube.status[good]["metricsFinal"] is True
        assert [e for e in world.kube.events if e[2] == "InvalidMetric"] == [
            ("ocid1.datasciencejobrun.oc1..told", "Warning", "InvalidMetric")
        ]
        await world.poller.stop()

    asyncio.run(scenario())


def test_phases_are_written_while_the_metrics_search_is_still_waiting_on_logging() -> None:
    async def scenario() -> None:
        world = World()
        run_id, log_id = "ocid1.datasciencejobrun.oc1..r", "ocid1.log.oc1..l"
        world.start(run_id, log_id)
        world.oci.log(run_id, log_id, "loss=0.5", T0_MS + 5000)
        world.oci.set(run_id, "SUCCEEDED", "exit code 0")
        world.oci.search_gate = asyncio.Event()  # Logging slow
        cycle = asyncio.ensure_future(world.cycle())
        for _ in range(100):
            await asyncio.sleep(0)
            if world.kube.status.get(run_id, {}).get("phase") == "Succeeded":
                break
        assert world.kube.status[run_id]["phase"] == "Succeeded" and not cycle.done()
        world.oci.search_gate.set()
        await cycle
        await world.poller.stop()

    asyncio.run(scenario())


def test_the_search_names_the_log_groups_compartment_not_the_runs() -> None:
    """A shared logging compartment: the run's compartment holds no such log group."""

    async def scenario() -> None:
        world = World()
        logging_compartment = "ocid1.compartment.oc1..logging"
        world.oci.group_compartments[GROUP] = logging_compartment
        run_id, log_id = "ocid1.datasciencejobrun.oc1..r", "ocid1.log.oc1..l"
        world.start(run_id, log_id)
        world.oci.log(run_id, log_id, "loss=0.5", T0_MS + 5000)
        await world.cycle()
        assert world.oci.searches[0].startswith(f'search "{logging_compartment}/{GROUP}/{log_id}"')
        assert steps(world, run_id) == [(1, 0.5)]
        await world.poller.stop()

    asyncio.run(scenario())


def test_metrics_alone_are_written_at_most_once_per_metrics_write_seconds() -> None:
    async def scenario() -> None:
        world = World()
        world.poller._settings = OperatorSettings(metrics_write_seconds=30)
        run_id, log_id = "ocid1.datasciencejobrun.oc1..r", "ocid1.log.oc1..l"
        world.start(run_id, log_id)
        shown = []
        for i in range(6):  # a new value every 10 s cycle
            world.oci.log(run_id, log_id, f"loss={i}", world.wall_ms)
            await world.cycle()
            shown.append(steps(world, run_id))
        assert shown == [[(1, 0.0)], [(1, 0.0)], [(1, 0.0)], [(4, 3.0)], [(4, 3.0)], [(4, 3.0)]]
        world.oci.set(run_id, "SUCCEEDED", "exit code 0")  # a phase write carries the latest values
        await world.cycle()
        assert steps(world, run_id) == [(6, 5.0)]
        await world.poller.stop()

    asyncio.run(scenario())


def test_a_run_older_than_the_search_window_goes_on_from_status_after_a_restart() -> None:
    """Logging searches 14 days at most: re-reading from there would rewind the step count."""

    async def scenario() -> None:
        world = World()
        run_id, log_id = "ocid1.datasciencejobrun.oc1..old", "ocid1.log.oc1..l"
        world.start(run_id, log_id)
        run = world.poller.tracked()[run_id]
        run.time_created = datetime.datetime.fromtimestamp(
            T0_MS / 1000, tz=datetime.UTC
        ) - datetime.timedelta(days=20)
        shown = [{"name": "loss", "step": 5000, "value": 0.2, "updatedAt": "2026-01-01T00:00:30.000Z"}]
        run.status["metrics"] = shown
        world.oci.log(run_id, log_id, "loss=0.3", T0_MS + 20_000)  # counted by the earlier process
        world.oci.log(run_id, log_id, "loss=0.1", T0_MS + 65_000)
        await world.cycle()
        assert steps(world, run_id) == [(5001, 0.1)]
        await world.poller.stop()

    asyncio.run(scenario())


def test_only_ocids_go_into_a_query() -> None:
    bad = RunLog("ocid1.datasciencejobrun.oc1..a' or source = '*", COMPARTMENT, GROUP, "ocid1.log.oc1..l")
    with pytest.raises(ValueError, match="not an OCID"):
        runs_search_query([bad])
    run = metered("ocid1.datasciencejobrun.oc1..r", "ocid1.log.oc1..l")
    run.status["logs"]["logId"] = "x' | where 1"
    assert run_metrics.run_log(run) is None


def test_a_search_capped_by_pages_goes_on_next_cycle_from_where_it_stopped() -> None:
    async def scenario() -> None:
        world = World()
        run_id, log_id = "ocid1.datasciencejobrun.oc1..r", "ocid1.log.oc1..l"
        world.start(run_id, log_id)
        world.oci.page_size = 10
        first = 10 * run_metrics.CATCH_UP_PAGES  # a run read for the first time gets the larger cap
        total = first + 10 * run_metrics.MAX_PAGES + 25
        for i in range(total):
            world.oci.log(run_id, log_id, f"loss={i}", T0_MS + 1000 + i * 10)
        await world.cycle()
        assert world.oci.calls["search_logs"] == run_metrics.CATCH_UP_PAGES  # one search, capped
        assert steps(world, run_id) == [(first, first - 1)]
        await world.cycle()
        assert world.oci.calls["search_logs"] == run_metrics.CATCH_UP_PAGES + run_metrics.MAX_PAGES
        # The next window starts at the last line read (read again, counted once).
        second = first + 10 * run_metrics.MAX_PAGES - 1
        assert steps(world, run_id) == [(second, second - 1)]
        await world.cycle()
        assert steps(world, run_id) == [(total, total - 1)]  # each line once
        await world.poller.stop()

    asyncio.run(scenario())


def test_a_restarted_operator_reads_again_from_the_start_without_rewinding_status() -> None:
    async def scenario() -> None:
        world = World()
        run_id, log_id = "ocid1.datasciencejobrun.oc1..r", "ocid1.log.oc1..l"
        world.oci.page_size = 10
        many = 10 * run_metrics.CATCH_UP_PAGES + 5
        for i in range(many):
            world.oci.log(run_id, log_id, f"loss={i}", T0_MS + 1000 + i * 10)
        world.start(run_id, log_id)
        # What the operator before the restart wrote: more steps than one capped search reads.
        shown = [{"name": "loss", "step": many, "value": float(many - 1)}]
        world.poller.tracked()[run_id].status["metrics"] = shown
        world.kube.status[run_id] = {"metrics": shown}
        await world.cycle()
        assert world.kube.status[run_id]["metrics"] == shown  # behind what status shows: not written
        world.oci.log(run_id, log_id, "loss=0.5", T0_MS + 65_000)
        await world.cycle()
        assert steps(world, run_id) == [(many + 1, 0.5)]
        await world.poller.stop()

    asyncio.run(scenario())


def test_a_reading_that_reached_the_end_replaces_metrics_of_an_earlier_run() -> None:
    """A retry's new OCI run (or a log read whole after a restart) is the truth once read to the end,
    even with fewer steps than status shows (the ended attempt's)."""

    async def scenario() -> None:
        world = World()
        run_id, log_id = "ocid1.datasciencejobrun.oc1..attempt2", "ocid1.log.oc1..l"
        world.start(run_id, log_id)
        shown = [{"name": "loss", "step": 10, "value": 0.1}]
        world.poller.tracked()[run_id].status["metrics"] = shown
        world.oci.log(run_id, log_id, "loss=0.95", T0_MS + 5000)
        await world.cycle()
        assert steps(world, run_id) == [(1, 0.95)]
        await world.poller.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize("ended_before_restart_s, searches", [(3600, 1), (10, 3)])
def test_a_run_that_ended_before_a_restart_gets_its_final_metrics_from_the_new_process(
    ended_before_restart_s: int, searches: int
) -> None:
    """Long ended (OCI's timeFinished older than any clock skew allows): final at the first search.
    Just ended: the new process cannot tell how long ago on its own clock, so it waits the overlap."""

    async def scenario() -> None:
        world = World()
        run_id, log_id = "ocid1.datasciencejobrun.oc1..r", "ocid1.log.oc1..l"
        world.oci.add(run_id, "SUCCEEDED")
        world.oci.log(run_id, log_id, "loss=0.9", T0_MS + 5000)
        world.oci.log(run_id, log_id, "test loss=0.2", T0_MS + 9000)
        world.wall_ms = T0_MS + 10_000 + ended_before_restart_s * 1000
        ended = metered(run_id, log_id)
        ended.status.update(phase="Succeeded", metricsFinal=False, timeFinished="2026-01-01T00:00:10Z")
        world.poller.track(ended)  # what the TrainingJobRun handler does on resume
        assert run_id not in world.poller.tracked()  # not followed in OCI: it ended
        while world.kube.status.get(run_id, {}).get("metricsFinal") is not True:
            await world.cycle()
            assert world.oci.calls["search_logs"] <= searches
        assert steps(world, run_id) == [(2, 0.2)]
        assert world.oci.calls["search_logs"] == searches and not world.poller.draining(COMPARTMENT)
        await world.poller.stop()

    asyncio.run(scenario())


def test_log_tail_searches_the_log_groups_compartment_too() -> None:
    async def scenario() -> None:
        world = World()
        world.poller._settings = OperatorSettings(metrics_write_seconds=0, log_tail_lines=5)
        logging_compartment = "ocid1.compartment.oc1..logging"
        world.oci.group_compartments[GROUP] = logging_compartment
        asked: list[str] = []

        async def search_run_log_tail(compartment_id: str, *_: Any) -> list[str]:
            asked.append(compartment_id)
            return ["done"]

        world.oci.search_run_log_tail = search_run_log_tail  # type: ignore[attr-defined]
        run_id = "ocid1.datasciencejobrun.oc1..r"
        world.start(run_id, "ocid1.log.oc1..l", specs=())
        world.oci.set(run_id, "SUCCEEDED", "exit code 0")
        await world.cycle()
        assert asked == [logging_compartment] and world.kube.status[run_id]["logTail"].strip() == "done"
        await world.poller.stop()

    asyncio.run(scenario())
