"""A sweep's search space: the values of each parameter and which combination each trial runs. Pure.

A trial's parameters are a function of the spec and the seed alone, never of what was created
before: after a restart (or a crash between a create and the status write) trial N is the same
trial N, and two sweeps with the same spec and seed run the same trials.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from ..api import ParameterRange, SweepParameter, TrainingJobSweepSpec
from ..api.sweep import MAX_TRIALS


class SearchSpaceTooLarge(ValueError):
    """A grid with more combinations than a sweep may run, and no maxTrials to cut it."""


def _number(value: float, digits: int = 10) -> str:
    """The value as a trial receives it: no float noise (0.30000000000000004), no needless '.0'."""
    return format(value, f".{digits}g")


def range_values(spec: ParameterRange) -> list[str]:
    if spec.step is not None:
        # The points a step of min reaches without passing max (a hair of tolerance for float noise).
        points = math.floor((spec.max - spec.min) / spec.step + 1e-9) + 1
        return [_number(spec.min + i * spec.step) for i in range(points)]
    count = spec.count or 2
    if spec.scale == "log":
        low, high = math.log(spec.min), math.log(spec.max)
        numbers = [math.exp(low + i * (high - low) / (count - 1)) for i in range(count)]
    else:
        numbers = [spec.min + i * (spec.max - spec.min) / (count - 1) for i in range(count)]
    numbers[0], numbers[-1] = spec.min, spec.max
    # Spread values are rarely round: 6 significant digits say them (0.0215443, not 0.02154434690).
    return [_number(number, 6) for number in numbers]


def parameter_values(parameter: SweepParameter) -> list[str]:
    if parameter.values is not None:
        return list(parameter.values)
    assert parameter.range is not None
    return range_values(parameter.range)


def space_size(values: Sequence[Sequence[str]]) -> int:
    return math.prod(len(v) for v in values)


def combination(names: Sequence[str], values: Sequence[Sequence[str]], index: int) -> dict[str, str]:
    """The `index`-th combination in grid order: the first parameter changes slowest."""
    chosen: dict[str, str] = {}
    for name, options in reversed(list(zip(names, values, strict=True))):
        index, position = divmod(index, len(options))
        chosen[name] = options[position]
    return {name: chosen[name] for name in names}


def planned_indices(spec: TrainingJobSweepSpec, seed: int, size: int) -> list[int]:
    """Which combinations the trials run, trial 0 first."""
    if spec.strategy == "grid":
        if spec.max_trials is None and size > MAX_TRIALS:
            raise SearchSpaceTooLarge(
                f"spec.parameters make {size} combinations, more than the {MAX_TRIALS} trials a sweep "
                "may run: set spec.maxTrials (the first combinations run) or use fewer values"
            )
        return list(range(min(size, spec.max_trials or size)))
    wanted = min(size, spec.max_trials or size)
    rng = random.Random(seed)
    # Distinct draws by rejection: the space may be far too large to list (100 values ** 16).
    chosen: list[int] = []
    seen: set[int] = set()
    while len(chosen) < wanted:
        index = rng.randrange(size)
        if index not in seen:
            seen.add(index)
            chosen.append(index)
    return chosen


def trial_parameters(spec: TrainingJobSweepSpec, seed: int) -> list[dict[str, str]]:
    """Every trial's parameters (name -> value), in trial order; at most MAX_TRIALS."""
    names = [p.name for p in spec.parameters]
    values = [parameter_values(p) for p in spec.parameters]
    return [combination(names, values, index) for index in planned_indices(spec, seed, space_size(values))]
