"""The median stopping rule, as Katib's medianstop service and metrics collector apply it. Pure.

Katib (pkg/earlystopping/v1beta1/medianstop/service.py, cmd/metricscollector/.../main.go):
- each succeeded trial contributes the mean of its FIRST `start_step` objective values (fewer when
  it logged fewer);
- once `min_trials` succeeded trials contributed, a trial that has logged the objective
  `start_step` times is stopped when its best value so far is strictly worse than the reference.

Two deliberate differences, both documented in operator/README.md:
- the reference is the median of those means (Katib's code takes their mean, though its name and
  docs say median);
- Katib judges a trial once, at its `start_step`-th report. The operator reads logs in batches and
  may first see a trial past that step, so it judges the best of the trial's first `start_step`
  values, which is what Katib saw at that report, on every look until the trial finishes (new
  succeeded trials may move the median).

The first values come from status.metrics[].firstValues once a trial's history is thinned (kept
whole there, up to MAX_METRIC_FIRST_VALUES, the bound of startStep), else from its whole history:
the rule's values are exact however long a trial logs.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from ..api.run_policies import MAX_METRIC_FIRST_VALUES

Curve = Sequence[tuple[int, float]]  # (step, value), steps increasing


def metric_curve(metric: Mapping[str, Any] | None) -> list[tuple[int, float]]:
    """A TrainingJobRun status.metrics entry as (step, value) points: its history and its latest."""
    if not metric:
        return []
    points: dict[int, float] = {}
    for point in metric.get("history") or []:
        if point.get("step") is not None and point.get("value") is not None:
            points[int(point["step"])] = float(point["value"])
    if metric.get("step") is not None and metric.get("value") is not None:
        points[int(metric["step"])] = float(metric["value"])
    return sorted(points.items())


def first_values(metric: Mapping[str, Any] | None) -> list[float]:
    """A metric's first values, in order (at most MAX_METRIC_FIRST_VALUES)."""
    if not metric:
        return []
    if metric.get("firstValues"):
        return [float(v) for v in metric["firstValues"]][:MAX_METRIC_FIRST_VALUES]
    curve = metric_curve(metric)
    # Not thinned yet: the history holds every step from 1 on.
    return [value for step, value in curve if step <= MAX_METRIC_FIRST_VALUES]


def start_mean(first: Sequence[float], start_step: int) -> float | None:
    """A succeeded trial's contribution: the mean of its first `start_step` values (all it has when
    it logged fewer, as Katib does)."""
    values = list(first[:start_step])
    return sum(values) / len(values) if values else None


def worse(value: float, than: float, goal: str) -> bool:
    return value < than if goal == "maximize" else value > than


def best(values: Sequence[float], goal: str) -> float:
    return max(values) if goal == "maximize" else min(values)


@dataclasses.dataclass(frozen=True)
class StopDecision:
    trial: str
    step: int
    value: float
    median: float
    completed: int

    def message(self, metric: str) -> str:
        return (
            f"trial {self.trial} stopped: the best of its first {self.step} {metric} values, "
            f"{self.value:.6g}, is worse than the median {self.median:.6g} of the means of the first "
            f"{self.step} values of {self.completed} succeeded trials"
        )


def median_stops(
    running: Mapping[str, tuple[int, Sequence[float]]],
    completed: Sequence[float],
    *,
    goal: str,
    min_trials: int,
    start_step: int,
) -> list[StopDecision]:
    """The running trials to stop (name -> (observations so far, first values)); `completed`: the
    succeeded trials' start means."""
    if len(completed) < min_trials:
        return []
    median = statistics.median(completed)
    stops = []
    for trial, (steps, first) in sorted(running.items()):
        if steps < start_step or not first:
            continue
        value = best(first[:start_step], goal)
        if worse(value, median, goal):
            stops.append(StopDecision(trial, start_step, value, median, len(completed)))
    return stops
