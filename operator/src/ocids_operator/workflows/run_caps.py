"""The first gate (workflows/run_gates.py): OCIDS_REQUIRE_MAXIMUM_RUNTIME, then the caps on active
runs (core/run_caps.py), counted from the run ledger with no LIST and no OCI call. A namespace's cap
is its annotation, read through the NamespaceDirectory (cached): one GET per namespace per poll
interval at most.

`startable` is the caps' side of the wake-up (workflows/run_wakeup.py): which held runs a freed
place lets start now, so they need not wait for their next look.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from .. import metrics
from ..api.training_job import TrainingJobSpec
from ..api.training_job_run import TrainingJobRunSpec
from ..core import run_caps
from ..core.admission import GateAnswer, HoldReason, Refuse
from ..core.errors import MAXIMUM_RUNTIME_REQUIRED, stalled
from ..core.kinds import TRAINING_JOB_RUN_KIND
from ..runtime import Runtime

log = logging.getLogger(__name__)
# Bad annotation values already warned about, per (namespace, value): one Event each, not one per look.
_warned: set[tuple[str, str]] = set()
MAX_WARNED = 10_000


@dataclasses.dataclass(frozen=True)
class CapLook:
    """What the caps gate read before the ledger's locks (namespaces' annotations: API reads)."""

    operator_cap: int | None
    own: int | None
    caps: Mapping[str, int | None]  # the namespaces with waiting runs (the operator-wide count)
    refuse: Refuse | None = None


async def prepare(
    rt: Runtime,
    entry: Mapping[str, Any],
    spec: TrainingJobRunSpec,
    job_spec: TrainingJobSpec,
    job: Mapping[str, Any],
) -> CapLook:
    """The reads, outside the locks: OCIDS_REQUIRE_MAXIMUM_RUNTIME and the caps that apply."""
    operator_cap = rt.settings.max_active_runs
    if rt.settings.require_maximum_runtime:
        job_name = str((job.get("metadata") or {}).get("name") or spec.job_ref.name)
        problem = run_caps.run_maximum_runtime_problem(spec, job_spec, job_name)
        if problem is not None and run_caps.run_never_has_maximum_runtime(spec, job_spec):
            refuse = Refuse(HoldReason.MAXIMUM_RUNTIME_REQUIRED, problem)  # no edit can fix it
            return CapLook(operator_cap, None, {}, refuse)
        if problem is not None:  # fixed on the TrainingJob: looked at again while stalled
            raise stalled(MAXIMUM_RUNTIME_REQUIRED, problem)
    namespace = str((entry.get("metadata") or {}).get("namespace") or "")
    own = await namespace_cap(rt, namespace, warn_on=entry)
    caps: dict[str, int | None] = {}
    if operator_cap is not None:
        caps = await namespace_caps(rt, rt.ledger.tally().waiting_namespaces())
    return CapLook(operator_cap, own, caps)


def decide(rt: Runtime, entry: Mapping[str, Any], look: CapLook) -> GateAnswer:
    """Under the locks (the namespace's, and the operator-wide one when that cap is set): from the
    ledger's counts, no I/O."""
    if look.refuse is not None:
        return look.refuse
    if look.own is None and look.operator_cap is None:
        return None  # nothing to count
    namespace = str((entry.get("metadata") or {}).get("namespace") or "")
    caps = {**look.caps, namespace: look.own}
    return run_caps.tallied_hold(entry, rt.ledger.tally(), look.operator_cap, caps)


async def check(
    rt: Runtime,
    entry: Mapping[str, Any],
    spec: TrainingJobRunSpec,
    job_spec: TrainingJobSpec,
    job: Mapping[str, Any],
) -> GateAnswer:
    """`prepare` then `decide` (run_gates.admit takes the locks between them)."""
    return decide(rt, entry, await prepare(rt, entry, spec, job_spec, job))


async def namespace_cap(rt: Runtime, namespace: str, warn_on: Mapping[str, Any] | None = None) -> int | None:
    """The namespace's ocids.io/max-active-runs (None: none, or a bad value: a Warning Event on
    `warn_on`, once per value)."""
    if rt.namespaces is None:
        return None
    annotations = await rt.namespaces.annotations(namespace)
    found = run_caps.namespace_cap(namespace, annotations)
    if found.problem is not None:
        raw = annotations.get(run_caps.MAX_ACTIVE_RUNS_ANNOTATION, "")
        # Warned once per value, and only once an Event is posted: a look with no run to post it on
        # (the wake-up's) leaves it to the next run's.
        if (namespace, raw) not in _warned and warn_on is not None:
            if len(_warned) >= MAX_WARNED:
                _warned.clear()
            log.warning("%s", found.problem)
            involved = TRAINING_JOB_RUN_KIND.involved_object(warn_on.get("metadata") or {})
            await rt.kube.post_event(involved, "Warning", "InvalidAnnotation", found.problem)
            _warned.add((namespace, raw))
    return found.cap


async def namespace_caps(rt: Runtime, namespaces: Iterable[str]) -> dict[str, int | None]:
    """The cap of each namespace given (those with a run waiting: the operator-wide count weighs
    them)."""
    return {namespace: await namespace_cap(rt, namespace) for namespace in sorted(set(namespaces))}


_held_namespaces: set[str] = set()


async def startable(rt: Runtime) -> list[Mapping[str, Any]]:
    """Held runs a cap would let start now: at most one per namespace (its first), oldest first.
    Also keeps the `ocids_runs_held{reason="ActiveRunLimit"}` gauge. From the ledger's counts
    (rebuilt only when a run's place in them changed): nothing to do when no run is held."""
    tally = rt.ledger.tally()
    counts = tally.cap_held_counts()
    for namespace in _held_namespaces - set(counts):
        metrics.RUNS_HELD.labels(namespace, "", HoldReason.ACTIVE_RUN_LIMIT.value).set(0)
    for namespace, count in counts.items():
        metrics.RUNS_HELD.labels(namespace, "", HoldReason.ACTIVE_RUN_LIMIT.value).set(count)
    _held_namespaces.clear()
    _held_namespaces.update(counts)
    heads = tally.heads()
    if not heads:
        return []
    operator_cap = rt.settings.max_active_runs
    caps = await namespace_caps(rt, tally.waiting_namespaces())
    return [head for head in heads if run_caps.tallied_hold(head, tally, operator_cap, caps) is None]


def require_job_maximum_runtime(rt: Runtime, spec: TrainingJobSpec) -> None:
    """OCIDS_REQUIRE_MAXIMUM_RUNTIME for a TrainingJob, for clusters without the chart's admission
    policy: raises a stalled ReconcileError naming the field (nothing is written to OCI)."""
    if rt.settings.require_maximum_runtime:
        problem = run_caps.job_maximum_runtime_problem(spec)
        if problem is not None:
            raise stalled(MAXIMUM_RUNTIME_REQUIRED, problem)
