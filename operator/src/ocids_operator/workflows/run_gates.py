"""The gates a TrainingJobRun passes before its OCI run is created (core/admission.py): the
active-run caps, then the budgets, then Kueue's quota (last: a Workload admitted and then held by a
cap would sit on quota it does not use).

The checks and the reservation that counts the run as active are one step per scope (the ledger's
locks): two runs reconciled at once never both take the last slot or the last of a budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..api.training_job import TrainingJobSpec
from ..api.training_job_run import TrainingJobRunSpec
from ..core.admission import GateAnswer
from ..core.run_entry import run_entry
from ..runtime import Runtime
from . import budget_gate, kueue_gate, run_caps

GATES = (run_caps.check, budget_gate.check, kueue_gate.check)


async def admit(
    rt: Runtime,
    body: Mapping[str, Any],
    spec: TrainingJobRunSpec,
    job_spec: TrainingJobSpec,
    job: Mapping[str, Any],
) -> GateAnswer:
    """None: go on and create it (it is reserved as active meanwhile; `release` it if the create
    is not attempted after all). Else what holds or refuses it."""
    entry = run_entry(body)
    namespace = str(body["metadata"]["namespace"])
    async with rt.ledger.lock(""), rt.ledger.lock(namespace):  # always in this order
        for gate in GATES:
            answer = await gate(rt, entry, spec, job_spec, job)
            if answer is not None:
                return answer
        rt.ledger.reserve(entry)
    return None


def release(rt: Runtime, body: Mapping[str, Any]) -> None:
    rt.ledger.release(str(body["metadata"]["uid"]))
