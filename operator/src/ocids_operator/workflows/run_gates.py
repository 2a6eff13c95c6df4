"""The gates a TrainingJobRun passes before its OCI run is created (core/admission.py): the
active-run caps, then the budgets, then Kueue's quota (last: a Workload admitted and then held by a
cap would sit on quota it does not use).

The checks and the reservation that counts the run as active are one step per scope (the ledger's
locks): two runs reconciled at once never both take the last slot or the last of a budget.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from ..api.training_job import TrainingJobSpec
from ..api.training_job_run import TrainingJobRunSpec
from ..core.admission import GateAnswer, Hold
from ..core.run_entry import run_entry
from ..runtime import Runtime
from . import budget_gate, kueue_gate, run_caps


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
    # Every read first (namespaces' annotations, the price table, a run's price: API or OCI calls),
    # outside the locks; under them only memory is read, so a slow read never holds up the others.
    caps = await run_caps.prepare(rt, entry, spec, job_spec, job)
    priced = await budget_gate.prepare(rt, entry, spec, job_spec, job)
    answer: GateAnswer = None
    async with contextlib.AsyncExitStack() as locks:
        if rt.settings.max_active_runs is not None:  # the operator-wide count: one decision at a time
            await locks.enter_async_context(rt.ledger.lock(""))  # always before a namespace's
        await locks.enter_async_context(rt.ledger.lock(namespace))
        answer = run_caps.decide(rt, entry, caps) or budget_gate.decide_run(rt, entry, priced)
        if answer is None:
            rt.ledger.reserve(entry)
    if answer is not None:
        if isinstance(answer, Hold):  # an admitted Workload would sit on quota meanwhile
            await kueue_gate.step_aside(rt, entry)
        return answer
    # Kueue decides by its own state, not the ledger's: asked outside the locks (its API calls would
    # hold up every other run's decision), the run reserved meanwhile so no other run takes its slot.
    try:
        answer = await kueue_gate.check(rt, entry, spec, job_spec, job)
    except BaseException:
        release(rt, body)
        raise
    if answer is not None:
        release(rt, body)
    return answer


def look_again(rt: Runtime, body: Mapping[str, Any], answer: GateAnswer) -> float:
    """When kopf looks at a held run again. The wake-up looks every poll interval in process (no
    write to the run when nothing changed, where kopf's own retry patches its progress annotation
    each time); kopf's retry stays as a slow safety net."""
    poll = float(rt.settings.poll_interval_seconds)
    if not isinstance(answer, Hold) or not rt.waker.connected:
        return poll
    meta = body["metadata"]
    rt.waker.hold(str(meta["namespace"]), str(meta["name"]), str(meta["uid"]), poll)
    return max(poll, float(rt.settings.retry_max_seconds))


def release(rt: Runtime, body: Mapping[str, Any]) -> None:
    rt.ledger.release(str(body["metadata"]["uid"]))
