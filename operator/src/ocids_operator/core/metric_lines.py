"""Metrics read from a run's log lines (spec.metrics): parsing, merging into status.metrics, and the
Logging search that reads the lines of many runs at once.

Pure: the poller (workflows/run_metrics.py) hands in the lines one search returned, in log order.
Each line a metric's regex matches (anywhere in the line's first MAX_LINE_CHARS characters, with
RE2: linear time, so no regex can stall the operator) is one observation of it: its step is the
count of observations so far, its value the capture group as a number. A line whose capture is not
a finite number is skipped (JSON has no NaN, and a typo must not stop the run's other metrics).
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from ..api.run_policies import (
    MAX_METRIC_FIRST_VALUES,
    MAX_METRIC_HISTORY,
    compile_metric_regex,
    compiles_with_one_group,
)

# A search names each followed run's source while the query stays short; past this many runs it
# names only their logs and the lines of other runs are dropped here (one search either way).
MAX_SOURCE_TERMS = 50
# Logs of one log group named one by one; past this many, the whole log group is searched.
MAX_LOGS_PER_GROUP = 20
# Only a line's first characters are matched: a metric is printed near a line's start, and a
# megabyte-long line must cost no more than a short one.
MAX_LINE_CHARS = 4096
# What goes into a query between quotes: OCIDs only (they come from OCI answers and status).
_OCID = re.compile(r"^ocid1\.[a-z0-9._-]+$")


@dataclasses.dataclass(frozen=True)
class LogLine:
    """One log record as Logging search returns it."""

    id: str
    time_ms: int  # the record's `datetime`, epoch milliseconds
    source: str
    message: str


def is_ocid(value: str) -> bool:
    return bool(_OCID.match(value))


@lru_cache(maxsize=512)
def _compiled(regex: str) -> Any:
    return compile_metric_regex(regex)


def metric_problem(spec: Mapping[str, Any]) -> str | None:
    """Why the operator cannot read this metric (as admission would say), or None."""
    name, regex = spec.get("name"), spec.get("regex")
    if not isinstance(name, str) or not name or not isinstance(regex, str) or not regex:
        return "a metric needs a name and a regex"
    try:
        compiles_with_one_group(regex)
    except ValueError as exc:
        return f"metric {name}: {exc}"
    return None


def parse_value(regex: str, message: str) -> float | None:
    """The metric's value in this line, or None when the line is no observation of it."""
    found = _compiled(regex).search(message[:MAX_LINE_CHARS])
    if found is None or found.group(1) is None:
        return None
    try:
        value = float(found.group(1))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def thin(history: Sequence[Mapping[str, Any]], limit: int = MAX_METRIC_HISTORY) -> list[dict[str, Any]]:
    """At most `limit` points, evenly spaced by step: the first, every stride-th step after it (the
    stride the smallest power of two that fits) and the latest. The kept steps depend only on the
    first and latest steps, so a history thinned point by point equals one rebuilt from the whole log."""
    points = [dict(point) for point in history]
    if not points:
        return points
    first, latest = int(points[0]["step"]), int(points[-1]["step"])
    stride = 1
    while (latest - first) // stride + 1 + (1 if (latest - first) % stride else 0) > limit:
        stride *= 2
    return [p for p in points if (int(p["step"]) - first) % stride == 0 or int(p["step"]) == latest]


def merge(
    current: Sequence[Mapping[str, Any]], specs: Sequence[Mapping[str, Any]], lines: Iterable[LogLine]
) -> list[dict[str, Any]]:
    """status.metrics (wire form) after these new lines, one entry per spec in spec order (so
    status.metrics[0], the METRIC column, is always the first declared metric; one not observed yet
    has its name only); a metric no longer in the specs is dropped."""
    by_name = {str(m.get("name")): dict(m) for m in current}
    states: dict[str, dict[str, Any]] = {}
    for spec in specs:
        name = str(spec["name"])
        old = by_name.get(name, {})
        states[name] = {**old, "name": name, "history": list(old.get("history") or [])}
    lines = list(lines)
    for spec in specs:
        state, regex = states[str(spec["name"])], str(spec["regex"])
        for line in lines:
            value = parse_value(regex, line.message)
            if value is None:
                continue
            step = int(state.get("step") or 0) + 1
            state.update(value=value, step=step, updatedAt=rfc3339_ms(line.time_ms))
            state["history"].append({"step": step, "value": value})
        whole = state["history"]
        state["history"] = thin(whole)
        if len(state["history"]) < len(whole) and not state.get("firstValues"):
            # The first thinning: until now the history held every step, so its start is whole.
            state["firstValues"] = [p["value"] for p in whole if int(p["step"]) <= MAX_METRIC_FIRST_VALUES]
    return [
        state if state.get("step") else {"name": state["name"]}
        for state in (states[str(s["name"])] for s in specs)
    ]


def observed(values: Sequence[Mapping[str, Any]]) -> bool:
    return any(m.get("step") for m in values)


def never_backwards(written: Sequence[Mapping[str, Any]], computed: Sequence[Mapping[str, Any]]) -> bool:
    """Whether `computed` may replace what status shows: no metric's step goes back (a reader that
    starts over after a restart, and has not caught up yet, must not rewind a visible curve)."""
    steps = {str(m.get("name")): int(m.get("step") or 0) for m in computed}
    return all(
        steps.get(str(m.get("name")), 0) >= int(m.get("step") or 0) for m in written if m.get("name") in steps
    )


def rfc3339_ms(time_ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(time_ms / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{time_ms % 1000:03d}Z"


@dataclasses.dataclass(frozen=True)
class RunLog:
    """Where one followed run logs: its run OCID and the (compartment, log group, log) it writes to."""

    run_id: str
    compartment_id: str
    log_group_id: str
    log_id: str


def runs_search_query(runs: Sequence[RunLog]) -> str:
    """ONE Logging query (the OCI Logging query language) for the lines of all these runs, oldest first.

    `search` takes a list of log streams; each run's lines are told apart by `source`, which ends in
    the run's OCID (as the console's own query for a run has it). Bounded in length: many logs of
    one group become the group, and many runs drop the `where` (their lines are split by source
    after reading, see `run_of`).
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for run in runs:
        logs = groups.setdefault((run.compartment_id, run.log_group_id), [])
        if run.log_id not in logs:
            logs.append(run.log_id)
    streams: list[str] = []
    for (compartment, group), logs in groups.items():
        if len(logs) > MAX_LOGS_PER_GROUP:
            streams.append(f"{compartment}/{group}")
        else:
            streams += [f"{compartment}/{group}/{log}" for log in logs]
    for value in (
        part for run in runs for part in (run.compartment_id, run.log_group_id, run.log_id, run.run_id)
    ):
        if not is_ocid(value):  # never put anything else between a query's quotes
            raise ValueError(f"not an OCID: {value[:80]!r}")
    query = "search " + ", ".join(f'"{stream}"' for stream in streams)
    run_ids = sorted({run.run_id for run in runs})
    if len(run_ids) <= MAX_SOURCE_TERMS:
        query += " | where " + " or ".join(f"source = '*{run_id}'" for run_id in run_ids)
    return query + " | sort by datetime asc"


def run_of(source: str, run_ids: Collection[str]) -> str | None:
    """The followed run a record's source names (it ends in the run's OCID)."""
    start = source.rfind("ocid1.")
    candidate = source[start:] if start >= 0 else source
    return candidate if candidate in run_ids else None


def effective_metrics(
    run_spec: Mapping[str, Any], job: Mapping[str, Any] | None
) -> tuple[dict[str, Any], ...] | None:
    """The metrics a run reads (wire form): its own spec.metrics, else its TrainingJob's; None when
    that is not known (the TrainingJob could not be read). A metric the operator cannot read (e.g.
    a regex written before admission checked RE2 syntax) is left out (`metric_problems` says why)."""
    specs = _declared_metrics(run_spec, job)
    return None if specs is None else tuple(dict(m) for m in specs if metric_problem(m) is None)


def metric_problems(run_spec: Mapping[str, Any], job: Mapping[str, Any] | None) -> list[str]:
    """Why metrics in effect for this run are not read (empty: all are)."""
    return [problem for m in _declared_metrics(run_spec, job) or () if (problem := metric_problem(m))]


def _declared_metrics(
    run_spec: Mapping[str, Any], job: Mapping[str, Any] | None
) -> Sequence[Mapping[str, Any]] | None:
    own = run_spec.get("metrics")
    if own is not None:
        return list(own)
    if job is None:
        return None
    return list((job.get("spec") or {}).get("metrics") or [])
