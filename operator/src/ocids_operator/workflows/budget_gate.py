"""Gate stub (issue 18): replaced by its owner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..api.training_job import TrainingJobSpec
from ..api.training_job_run import TrainingJobRunSpec
from ..core.admission import GateAnswer
from ..runtime import Runtime


async def check(
    rt: Runtime,
    entry: Mapping[str, Any],
    spec: TrainingJobRunSpec,
    job_spec: TrainingJobSpec,
    job: Mapping[str, Any],
) -> GateAnswer:
    return None
