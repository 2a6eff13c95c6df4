"""`kubectl ocids logs`: every line once, none lost, in order, through gaps, late lines, duplicates
and pages (cli/log_search.py); and how `-f` waits, ends and exits (cli/logs.py)."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from ocids_operator.cli.errors import CliError
from ocids_operator.cli.log_search import (
    MAX_WINDOW,
    OVERLAP,
    LogFollower,
    log_line,
    paged_search,
    windows,
)
from ocids_operator.cli.logs import Follow, exit_code_of, log_target, parse_duration
from ocids_operator.core.links import log_search_url

T0 = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
RUN_ID = "ocid1.datasciencejobrun.oc1.iad.run1"


def record(n: int, at: dt.datetime, ident: str | None = None) -> dict[str, Any]:
    return {
        "datetime": int(at.timestamp() * 1000),
        "logContent": {
            "id": ident or f"id-{n}",
            "time": at.isoformat(),
            "source": RUN_ID,
            "data": {"message": f"line {n:02d}"},
        },
    }


@dataclass
class FakeLogging:
    """Records that become searchable at their ingest time, served like OCI's search (sorted by
    datetime, paged `limit` at a time), with an optional outage and repeated records."""

    clock: list[dt.datetime]
    stored: list[tuple[dt.datetime, dict[str, Any]]] = field(default_factory=list)  # (visible from, record)
    outage: tuple[dt.datetime, dt.datetime] | None = None
    repeat_every: int = 0  # each n-th record is returned twice (as a retried page would)
    busy_until: dt.datetime | None = None  # second pages fail (429) until then
    calls: list[tuple[dt.datetime, dt.datetime, str | None]] = field(default_factory=list)

    def add(self, n: int, at: dt.datetime, lag: float = 1.0) -> None:
        self.stored.append((at + dt.timedelta(seconds=lag), record(n, at)))

    def visible(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        now = self.clock[0]
        if self.outage and self.outage[0] <= now < self.outage[1]:
            return []
        found = [
            rec
            for seen_from, rec in self.stored
            if seen_from <= now and start.timestamp() * 1000 <= rec["datetime"] <= end.timestamp() * 1000
        ]
        found.sort(key=lambda rec: rec["datetime"])
        if self.repeat_every:
            found = [
                r for i, rec in enumerate(found) for r in [rec] * (2 if i % self.repeat_every == 0 else 1)
            ]
        return found

    # oci.loggingsearch.LogSearchClient.search_logs, as paged_search calls it
    def search_logs(self, details: Any, limit: int, page: str | None = None) -> Any:
        self.calls.append((details.time_start, details.time_end, page))
        if page and self.busy_until and self.clock[0] < self.busy_until:
            raise CliError("OCI Logging search: 429 TooManyRequests", retryable=True)
        found = self.visible(details.time_start, details.time_end)
        offset = int(page or 0)
        chunk = found[offset : offset + limit]
        more = offset + limit < len(found)
        return SimpleNamespace(
            data=SimpleNamespace(results=[SimpleNamespace(data=rec) for rec in chunk]),
            next_page=str(offset + limit) if more else None,
        )


def follow_all(logging: FakeLogging, polls: int, every: float = 2.0, limit: int = 3) -> list[list[str]]:
    follower = LogFollower(paged_search(logging, "q", limit=limit), T0 - dt.timedelta(minutes=5))
    batches = []
    for _ in range(polls):
        batches.append([line.message for line in follower.poll(logging.clock[0])])
        logging.clock[0] += dt.timedelta(seconds=every)
    return batches


def test_every_line_once_in_order_through_pages_duplicates_and_an_outage() -> None:
    clock = [T0]
    logging = FakeLogging(
        clock, repeat_every=4, outage=(T0 + dt.timedelta(seconds=10), T0 + dt.timedelta(seconds=20))
    )
    for n in range(40):
        logging.add(n, T0 + dt.timedelta(seconds=n * 0.5))
    batches = follow_all(logging, polls=20)
    printed = [line for batch in batches for line in batch]
    assert printed == [f"line {n:02d}" for n in range(40)]
    # Pages were really followed (3 a page), and the outage's polls printed nothing.
    assert any(page for _, _, page in logging.calls)
    assert batches[5:10] == [[]] * 5


def test_a_late_line_is_printed_once_when_it_arrives_never_lost() -> None:
    clock = [T0]
    logging = FakeLogging(clock)
    for n in range(30):
        # Line 7 reaches Logging 40 s after it was written, after many newer ones were printed.
        logging.add(n, T0 + dt.timedelta(seconds=n * 0.5), lag=40.0 if n == 7 else 1.0)
    batches = follow_all(logging, polls=30)
    printed = [line for batch in batches for line in batch]
    assert sorted(printed) == [f"line {n:02d}" for n in range(30)]
    assert len(printed) == len(set(printed)) == 30
    on_time = [line for line in printed if line != "line 07"]
    assert on_time == sorted(on_time)
    assert all(batch == sorted(batch) for batch in batches)


def test_each_poll_looks_back_overlap_from_the_newest_line_and_forgets_what_it_passed() -> None:
    clock = [T0 + dt.timedelta(minutes=10)]
    logging = FakeLogging(clock)
    for n in range(5):
        logging.add(n, T0 + dt.timedelta(minutes=2 * n), lag=0)
    follower = LogFollower(paged_search(logging, "q"), T0 - dt.timedelta(minutes=5))
    assert len(follower.poll(clock[0])) == 5
    assert follower.window_start() == T0 + dt.timedelta(minutes=8) - OVERLAP
    # The next search starts there, and only the lines still in the window are remembered.
    assert follower.poll(clock[0]) == []
    assert logging.calls[-1][0] == T0 + dt.timedelta(minutes=8) - OVERLAP
    assert len(follower._seen) == 1


def test_two_records_with_the_same_text_are_two_lines() -> None:
    clock = [T0 + dt.timedelta(seconds=10)]
    logging = FakeLogging(clock)
    logging.stored = [(T0, record(1, T0, "a")), (T0, record(1, T0, "b"))]
    follower = LogFollower(paged_search(logging, "q"), T0 - dt.timedelta(minutes=1))
    assert [line.message for line in follower.poll(clock[0])] == ["line 01", "line 01"]


def test_windows_split_at_fourteen_days() -> None:
    start = T0 - dt.timedelta(days=30)
    parts = list(windows(start, T0))
    assert parts[0][0] == start and parts[-1][1] == T0
    assert all(b - a <= MAX_WINDOW for a, b in parts) and len(parts) == 3
    assert all(parts[i][1] == parts[i + 1][0] for i in range(len(parts) - 1))


def test_a_record_without_id_or_message_is_handled() -> None:
    assert log_line({"logContent": {"time": "2026-12-07T12:00:00Z", "data": {"message": "x"}}}) is not None
    assert log_line({"datetime": 1, "logContent": {"id": "a", "data": {}}}) is None
    assert log_line({"nothing": True}) is None


# The follow loop --------------------------------------------------------------------------------


def run_obj(
    phase: str | None, *, logs: bool = True, exit_code: int | None = None, **status: Any
) -> dict[str, Any]:
    st: dict[str, Any] = {"phase": phase, "message": f"message of {phase}", **status}
    if phase is None:
        st = {}
    if logs and phase not in (None, "Pending"):
        st["jobRunId"] = RUN_ID
        st["logs"] = {
            "logGroupId": "ocid1.loggroup.oc1.iad.g",
            "logId": "ocid1.log.oc1.iad.l",
            "url": log_search_url(
                "ocid1.compartment.oc1..c",
                "ocid1.loggroup.oc1.iad.g",
                "ocid1.log.oc1.iad.l",
                RUN_ID,
                "us-ashburn-1",
            ),
        }
    if exit_code is not None:
        st["exitCode"] = exit_code
    return {
        "metadata": {"name": "r1", "creationTimestamp": T0.isoformat()},
        "spec": {"jobRef": {"name": "j1"}},
        "status": st,
    }


JOB_WITH_LOGGING = {"spec": {"compartmentId": "c", "logging": {"enabled": True, "logGroupId": "g"}}}


def follow_with(
    states: list[dict[str, Any] | None], logging: FakeLogging, **kwargs: Any
) -> tuple[int, str, str, list[str]]:
    reads = iter(states)
    last: list[dict[str, Any] | None] = [None]
    queries: list[str] = []

    def read_run() -> dict[str, Any] | None:
        last[0] = next(reads, last[0])
        return last[0]

    def make_search(query: str) -> Any:
        queries.append(query)
        return paged_search(logging, query, limit=3)

    def sleep(seconds: float) -> None:
        logging.clock[0] += dt.timedelta(seconds=seconds)

    out, err = io.StringIO(), io.StringIO()
    follow = Follow(
        read_run=read_run,
        read_job=lambda name: JOB_WITH_LOGGING,
        make_search=make_search,
        out=out,
        err=err,
        sleep=sleep,
        now=lambda: logging.clock[0],
        # This machine's monotonic clock runs with its wall clock (OCI's may not).
        monotonic=lambda: (logging.clock[0] - T0).total_seconds(),
        **kwargs,
    )
    code = follow.run()
    return code, out.getvalue(), err.getvalue(), queries


def test_follow_waits_through_pending_and_accepted_then_exits_with_the_run_exit_code() -> None:
    clock = [T0]
    logging = FakeLogging(clock)
    for n in range(6):
        logging.add(n, T0 + dt.timedelta(seconds=7 + n), lag=0.5)
    states = [
        run_obj(None),
        run_obj("Pending", logs=False),
        run_obj("Pending", logs=False),
        run_obj("Accepted"),
        run_obj("Accepted"),
        run_obj("InProgress"),
        run_obj("InProgress"),
        run_obj("InProgress"),
        run_obj("Failed", exit_code=3),
    ]
    code, out, err, queries = follow_with(states, logging, follow=True)
    assert code == 3
    assert out.splitlines() == [f"line {n:02d}" for n in range(6)]
    waiting = [line for line in err.splitlines() if line.startswith("waiting:")]
    # Once per phase change, naming the phase and why.
    assert waiting == [
        "waiting: r1 is Pending: no status yet (is the operator running?)",
        "waiting: r1 is Accepted: message of Accepted",
    ]
    assert "r1 is Failed: message of Failed (exit code 3)" in err
    # The operator's own query (status.logs.url's), filtered to the run.
    stream = "ocid1.compartment.oc1..c/ocid1.loggroup.oc1.iad.g/ocid1.log.oc1.iad.l"
    assert queries == [f"search \"{stream}\" | where source = '*{RUN_ID}' | sort by datetime asc"]


def test_follow_reads_once_more_after_the_run_ended_and_prints_the_last_lines() -> None:
    clock = [T0 + dt.timedelta(seconds=30)]
    logging = FakeLogging(clock)
    logging.add(0, T0 + dt.timedelta(seconds=1), lag=0)
    # The run finished at 29 s; its last line reaches Logging 4 s later, after the run is seen
    # Succeeded and after one quiet poll: the polls go on for a few seconds after timeFinished.
    logging.add(1, T0 + dt.timedelta(seconds=29), lag=4)
    finished = (T0 + dt.timedelta(seconds=29)).isoformat()
    code, out, _, _ = follow_with([run_obj("Succeeded", timeFinished=finished)], logging, follow=True)
    assert code == 0
    assert out.splitlines() == ["line 00", "line 01"]


@pytest.mark.parametrize("skew_minutes", [-30, 0, 30])
def test_follow_ends_by_the_local_clock_whatever_oci_clock_says_of_time_finished(skew_minutes: int) -> None:
    clock = [T0 + dt.timedelta(seconds=30)]
    logging = FakeLogging(clock)
    logging.add(0, T0 + dt.timedelta(seconds=1), lag=0)
    # The last line reaches Logging 4 s (local) after the run is first seen final. OCI stamps
    # timeFinished by its own clock, minutes off ours: behind, the follow must not end before that
    # line; ahead, it must not go on polling for half an hour.
    logging.add(1, T0 + dt.timedelta(seconds=29), lag=5)
    finished = (T0 + dt.timedelta(seconds=29, minutes=skew_minutes)).isoformat()
    code, out, _, _ = follow_with([run_obj("Succeeded", timeFinished=finished)], logging, follow=True)
    assert (code, out.splitlines()) == (0, ["line 00", "line 01"])
    # Seen final at 30 s; done at the first quiet poll FINISH_SETTLE (5 s) on: 36 s with 2 s polls.
    assert clock[0] - T0 <= dt.timedelta(seconds=38), clock[0] - T0


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ({"phase": "Succeeded"}, 0),
        ({"phase": "Succeeded", "exitCode": 0}, 0),
        ({"phase": "Failed"}, 1),
        ({"phase": "Failed", "exitCode": 3}, 3),
        ({"phase": "Failed", "exitCode": 300}, 1),
        ({"phase": "Canceled"}, 2),
        ({"phase": "Deleted"}, 2),
    ],
)
def test_exit_code_of_a_finished_run(status: dict[str, Any], code: int) -> None:
    assert exit_code_of(status) == code


def test_a_run_deleted_while_followed_ends_with_2() -> None:
    clock = [T0]
    code, _, err, _ = follow_with([run_obj("InProgress"), None], FakeLogging(clock), follow=True)
    assert code == 2 and "deleted" in err


def test_without_follow_it_prints_what_exists_and_exits_0() -> None:
    clock = [T0 + dt.timedelta(seconds=30)]
    logging = FakeLogging(clock)
    for n in range(3):
        logging.add(n, T0 + dt.timedelta(seconds=n), lag=0)
    code, out, _, _ = follow_with([run_obj("InProgress")], logging, follow=False)
    assert (code, out.splitlines()) == (0, ["line 00", "line 01", "line 02"])
    code, out, err, _ = follow_with([run_obj("Pending", logs=False)], logging, follow=False)
    assert (code, out) == (0, "") and "no log lines yet: r1 is Pending" in err


def test_tail_keeps_the_last_lines_then_follows_everything_new() -> None:
    clock = [T0 + dt.timedelta(seconds=10)]
    logging = FakeLogging(clock)
    for n in range(8):
        logging.add(n, T0 + dt.timedelta(seconds=n), lag=0)
    logging.add(8, T0 + dt.timedelta(seconds=10), lag=1)
    states = [run_obj("InProgress"), run_obj("InProgress"), run_obj("Succeeded")]
    code, out, _, _ = follow_with(states, logging, follow=True, tail=2)
    assert (code, out.splitlines()) == (0, ["line 06", "line 07", "line 08"])


@pytest.mark.parametrize(("tail", "kept"), [(5, 3), (3, 3), (2, 2), (0, 0), (100, 3)])
def test_tail_longer_than_the_log_prints_every_line(tail: int, kept: int) -> None:
    clock = [T0 + dt.timedelta(seconds=30)]
    logging = FakeLogging(clock)
    for n in range(3):
        logging.add(n, T0 + dt.timedelta(seconds=n), lag=0)
    code, out, _, _ = follow_with([run_obj("InProgress")], logging, follow=False, tail=tail)
    assert (code, out.splitlines()) == (0, ["line 00", "line 01", "line 02"][3 - kept :])


def test_since_starts_the_window_there() -> None:
    now = T0 + dt.timedelta(hours=2)
    target = log_target(run_obj("InProgress"), None, parse_duration("10m"), now)
    assert target is not None and target.start == now - dt.timedelta(minutes=10)
    assert log_target(run_obj("Pending", logs=False), None, None, now) is None


def test_a_run_without_logging_is_a_clear_error_naming_spec_logging() -> None:
    reads = iter([run_obj("InProgress", logs=False)])
    follow = Follow(
        read_run=lambda: next(reads),
        read_job=lambda name: {"spec": {"logging": {"enabled": False}}},
        make_search=lambda query: pytest.fail("no search without a log"),
        follow=True,
        out=io.StringIO(),
        err=io.StringIO(),
    )
    with pytest.raises(CliError, match=r"r1 has no logging: set spec.logging") as exc:
        follow.run()
    assert exc.value.exit_code == 1


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1h30m", 5400), ("1d", 86400)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "10", "m", "10x", "-5m", "1.5h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_lines_stamped_by_a_clock_ahead_of_ours_are_found_later_not_lost() -> None:
    clock = [T0]
    logging = FakeLogging(clock)
    for n in range(20):
        # OCI's clock runs 30 s ahead: a line is searchable 29 s (local) before its stamp.
        logging.add(n, T0 + dt.timedelta(seconds=30 + n), lag=-29)
    batches = follow_all(logging, polls=40)
    printed = [line for batch in batches for line in batch]
    assert printed == [f"line {n:02d}" for n in range(20)]
    # Never asked about the future: each window ends at the local clock.
    assert all(end <= T0 + dt.timedelta(seconds=2 * 40) for _, end, _ in logging.calls)


def test_the_end_line_says_what_the_operator_says_of_the_run() -> None:
    ended = run_obj("Failed", exit_code=3)
    del ended["status"]["message"]
    ended["status"]["conditions"] = [{"type": "Ready", "message": "OCI job run x is FAILED: exit code 3"}]
    assert Follow._state(ended, "Failed") == "r1 is Failed: OCI job run x is FAILED: exit code 3"
    assert (
        Follow._state(run_obj(None), "Pending") == "r1 is Pending: no status yet (is the operator running?)"
    )


def test_follow_survives_a_busy_logging_service_mid_pages_losing_nothing() -> None:
    clock = [T0]
    logging = FakeLogging(clock, busy_until=T0 + dt.timedelta(seconds=9))
    for n in range(8):
        logging.add(n, T0 + dt.timedelta(seconds=n * 0.1), lag=0)
    states = [run_obj("InProgress")] * 6 + [run_obj("Succeeded", exit_code=0)]
    code, out, err, _ = follow_with(states, logging, follow=True, tail=None)
    assert (code, out.splitlines()) == (0, [f"line {n:02d}" for n in range(8)])
    # Said once, not once per failed poll.
    assert err.count("retrying: OCI Logging search: 429 TooManyRequests") == 1, err


def test_without_follow_a_failing_search_is_an_error() -> None:
    clock = [T0 + dt.timedelta(seconds=5)]
    logging = FakeLogging(clock, busy_until=T0 + dt.timedelta(hours=1))
    for n in range(4):
        logging.add(n, T0 + dt.timedelta(seconds=n * 0.1), lag=0)
    with pytest.raises(CliError, match="429"):
        follow_with([run_obj("InProgress")], logging, follow=False)
