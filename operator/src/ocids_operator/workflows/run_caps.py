"""The first gate (workflows/run_gates.py): OCIDS_REQUIRE_MAXIMUM_RUNTIME, then the caps on active
runs (core/run_caps.py), counted from the run ledger with no LIST and no OCI call. A namespace's cap
is its annotation, read through the NamespaceDirectory (cached): one GET per namespace per poll
interval at most.

`startable` is the caps' side of the wake-up (workflows/run_wakeup.py): which held runs a freed
place lets start now, so they need not wait for their next look.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from .. import metrics
from ..api.training_job import TrainingJobSpec
from ..api.training_job_run import TrainingJobRunSpec
from ..core import run_caps
from ..core.admission import GateAnswer, HoldReason
from ..core.errors import MAXIMUM_RUNTIME_REQUIRED, stalled
from ..core.kinds import TRAINING_JOB_RUN_KIND
from ..runtime import Runtime

log = logging.getLogger(__name__)
# Bad annotation values already warned about, per (namespace, value): one Event each, not one per look.
_warned: set[tuple[str, str]] = set()
MAX_WARNED = 10_000


async def check(
    rt: Runtime,
    entry: Mapping[str, Any],
    spec: TrainingJobRunSpec,
    job_spec: TrainingJobSpec,
    job: Mapping[str, Any],
) -> GateAnswer:
    if rt.settings.require_maximum_runtime:
        job_name = str((job.get("metadata") or {}).get("name") or spec.job_ref.name)
        problem = run_caps.run_maximum_runtime_problem(spec, job_spec, job_name)
        if problem is not None:
            raise stalled(MAXIMUM_RUNTIME_REQUIRED, problem)
    namespace = str((entry.get("metadata") or {}).get("namespace") or "")
    operator_cap = rt.settings.max_active_runs
    own = await namespace_cap(rt, namespace, warn_on=entry)
    if own is None and operator_cap is None:
        return None  # nothing to count
    entries = rt.ledger.entries(None if operator_cap is not None else namespace)
    caps = await namespace_caps(rt, entries) if operator_cap is not None else {}
    caps[namespace] = own
    return run_caps.cap_hold(entry, entries, operator_cap, caps)


async def namespace_cap(rt: Runtime, namespace: str, warn_on: Mapping[str, Any] | None = None) -> int | None:
    """The namespace's ocids.io/max-active-runs (None: none, or a bad value: a Warning Event on
    `warn_on`, once per value)."""
    if rt.namespaces is None:
        return None
    annotations = await rt.namespaces.annotations(namespace)
    found = run_caps.namespace_cap(namespace, annotations)
    if found.problem is not None:
        raw = annotations.get(run_caps.MAX_ACTIVE_RUNS_ANNOTATION, "")
        if (namespace, raw) not in _warned:
            if len(_warned) >= MAX_WARNED:
                _warned.clear()
            _warned.add((namespace, raw))
            log.warning("%s", found.problem)
            if warn_on is not None:
                involved = TRAINING_JOB_RUN_KIND.involved_object(warn_on.get("metadata") or {})
                await rt.kube.post_event(involved, "Warning", "InvalidAnnotation", found.problem)
    return found.cap


async def namespace_caps(rt: Runtime, entries: Iterable[Mapping[str, Any]]) -> dict[str, int | None]:
    """The cap of every namespace with a run waiting (the operator-wide count weighs those)."""
    waiting = {
        str((entry.get("metadata") or {}).get("namespace") or "")
        for entry in entries
        if run_caps.queued(entry)
    }
    return {namespace: await namespace_cap(rt, namespace) for namespace in sorted(waiting)}


_held_namespaces: set[str] = set()


async def startable(rt: Runtime) -> list[Mapping[str, Any]]:
    """Held runs a cap would let start now: at most one per namespace (its first), oldest first.
    Also keeps the `ocids_runs_held{reason="ActiveRunLimit"}` gauge."""
    entries = rt.ledger.entries()
    counts = run_caps.held_counts(entries)
    for namespace in _held_namespaces - set(counts):
        metrics.RUNS_HELD.labels(namespace, "", HoldReason.ACTIVE_RUN_LIMIT.value).set(0)
    for namespace, count in counts.items():
        metrics.RUNS_HELD.labels(namespace, "", HoldReason.ACTIVE_RUN_LIMIT.value).set(count)
    _held_namespaces.clear()
    _held_namespaces.update(counts)
    heads = run_caps.queue_heads(entries)
    if not heads:
        return []
    operator_cap = rt.settings.max_active_runs
    caps = await namespace_caps(rt, entries)
    return [head for head in heads if run_caps.cap_hold(head, entries, operator_cap, caps) is None]


def require_job_maximum_runtime(rt: Runtime, spec: TrainingJobSpec) -> None:
    """OCIDS_REQUIRE_MAXIMUM_RUNTIME for a TrainingJob, for clusters without the chart's admission
    policy: raises a stalled ReconcileError naming the field (nothing is written to OCI)."""
    if rt.settings.require_maximum_runtime:
        problem = run_caps.job_maximum_runtime_problem(spec)
        if problem is not None:
            raise stalled(MAXIMUM_RUNTIME_REQUIRED, problem)
