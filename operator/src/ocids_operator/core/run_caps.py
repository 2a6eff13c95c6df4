"""Caps on TrainingJobRuns active in OCI at once, and the required maximum runtime. Pure.

Two caps: the operator's (OCIDS_MAX_ACTIVE_RUNS, over every namespace it watches) and a
namespace's own (its annotation ocids.io/max-active-runs). Runs over a cap wait in the order they
were made (`queue_order`): a run may start only if the active runs plus the runs waiting ahead of
it stay under the cap. Waiting ahead means: not created yet, and held by a cap or not looked at
yet (a run held by a budget, by Kueue or waiting for its TrainingJob takes no place in the queue).
Operator-wide, a namespace's waiting runs count only as far as their own namespace's cap lets them
start: a namespace with a long queue behind a cap of 1 does not block the others.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from ..api import TrainingJobRunSpec, TrainingJobSpec
from .admission import Hold, HoldReason
from .run_entry import hold_reason, is_active, is_waiting, queue_order

MAX_ACTIVE_RUNS_ANNOTATION = "ocids.io/max-active-runs"
MAX_ACTIVE_RUNS_SETTING = "OCIDS_MAX_ACTIVE_RUNS"
REQUIRE_MAXIMUM_RUNTIME_SETTING = "OCIDS_REQUIRE_MAXIMUM_RUNTIME"
# What queues behind a cap: runs it holds, and runs no gate has looked at yet (they may be older).
QUEUED_REASONS = (None, HoldReason.ACTIVE_RUN_LIMIT.value)


@dataclasses.dataclass(frozen=True)
class NamespaceCap:
    cap: int | None
    problem: str | None = None  # the annotation's value is not a cap (no cap applies)


def namespace_cap(namespace: str, annotations: Mapping[str, str]) -> NamespaceCap:
    """The namespace's cap from its annotation: a whole number, 0 or more (0: no new run starts)."""
    raw = annotations.get(MAX_ACTIVE_RUNS_ANNOTATION)
    if raw is None:
        return NamespaceCap(None)
    text = raw.strip()
    if text.isdigit():
        return NamespaceCap(int(text))
    return NamespaceCap(
        None,
        f"namespace {namespace} annotation {MAX_ACTIVE_RUNS_ANNOTATION}: {raw!r} is not a whole number "
        "of 0 or more; no namespace cap applies until it is fixed",
    )


def _namespace(entry: Mapping[str, Any]) -> str:
    return str((entry.get("metadata") or {}).get("namespace") or "")


def _uid(entry: Mapping[str, Any]) -> str:
    return str((entry.get("metadata") or {}).get("uid") or "")


def queued(entry: Mapping[str, Any]) -> bool:
    """Waiting for a place under the caps (held by one, or not looked at yet)."""
    return is_waiting(entry) and hold_reason(entry) in QUEUED_REASONS


def _runs(n: int) -> str:
    if n == 0:
        return "no run"
    return "1 run" if n == 1 else f"{n} runs"


def cap_hold(
    run: Mapping[str, Any],
    entries: Iterable[Mapping[str, Any]],
    operator_cap: int | None,
    namespace_caps: Mapping[str, int | None],
) -> Hold | None:
    """Hold (ActiveRunLimit, with the figures) if a cap keeps `run` from starting now, else None.

    `entries`: every run the operator watches (the ledger), `run` itself among them or not;
    `namespace_caps`: the cap of each namespace that has runs in `entries` (absent: none).
    """
    uid = _uid(run)
    return tallied_hold(run, Tally(e for e in entries if _uid(e) != uid), operator_cap, namespace_caps)


def _startable(waiting: int, active: int, cap: int | None) -> int:
    """How many of a namespace's waiting runs its own cap lets start."""
    return waiting if cap is None else min(waiting, max(0, cap - active))


def queue_heads(entries: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The first run each namespace's cap holds, oldest first: the runs a freed place may start
    (a later run of a namespace never starts before its first)."""
    return Tally(entries).heads()


def held_counts(entries: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Runs a cap holds, by namespace."""
    return Tally(entries).cap_held_counts()


@dataclasses.dataclass
class _NamespaceCount:
    active: int = 0
    queued: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # queue orders, sorted
    capped: list[tuple[tuple[str, str], Mapping[str, Any]]] = dataclasses.field(default_factory=list)


class Tally:
    """Every namespace's active and queued runs, counted once from the ledger (it is rebuilt only
    when a run's place in it changes): a cap check is then a look-up and a binary search, not a
    walk over every run."""

    def __init__(self, entries: Iterable[Mapping[str, Any]]) -> None:
        self._counts: dict[str, _NamespaceCount] = defaultdict(_NamespaceCount)
        self.total_active = 0
        for entry in entries:
            if is_active(entry):
                self._counts[_namespace(entry)].active += 1
                self.total_active += 1
            elif queued(entry):
                count = self._counts[_namespace(entry)]
                count.queued.append(queue_order(entry))
                if hold_reason(entry) == HoldReason.ACTIVE_RUN_LIMIT.value:
                    count.capped.append((queue_order(entry), entry))
        for count in self._counts.values():
            count.queued.sort()
            count.capped.sort(key=lambda item: item[0])

    def active(self, namespace: str) -> int:
        found = self._counts.get(namespace)
        return found.active if found else 0

    def ahead(self, namespace: str, order: tuple[str, str]) -> int:
        """Runs of the namespace queued before `order`."""
        found = self._counts.get(namespace)
        return bisect.bisect_left(found.queued, order) if found else 0

    def waiting_namespaces(self) -> list[str]:
        return sorted(ns for ns, count in self._counts.items() if count.queued)

    def heads(self) -> list[Mapping[str, Any]]:
        """The first run each namespace's cap holds, oldest first (see `queue_heads`)."""
        return sorted((c.capped[0][1] for c in self._counts.values() if c.capped), key=queue_order)

    def cap_held_counts(self) -> dict[str, int]:
        return {ns: len(count.capped) for ns, count in self._counts.items() if count.capped}


def tallied_hold(
    run: Mapping[str, Any], tally: Tally, operator_cap: int | None, namespace_caps: Mapping[str, int | None]
) -> Hold | None:
    """`cap_hold` from a Tally (`run` not active itself)."""
    namespace, order = _namespace(run), queue_order(run)
    active, ahead = tally.active(namespace), tally.ahead(namespace, order)
    cap = namespace_caps.get(namespace)
    if cap is not None and active + ahead >= cap:
        return Hold(
            HoldReason.ACTIVE_RUN_LIMIT,
            f"{active} of {cap} active runs in namespace {namespace} "
            f"({MAX_ACTIVE_RUNS_ANNOTATION}); {_runs(ahead)} ahead of this one",
        )
    if operator_cap is None:
        return None
    total_ahead = sum(
        _startable(tally.ahead(ns, order), tally.active(ns), namespace_caps.get(ns))
        for ns in tally.waiting_namespaces()
    )
    if tally.total_active + total_ahead >= operator_cap:
        return Hold(
            HoldReason.ACTIVE_RUN_LIMIT,
            f"{tally.total_active} of {operator_cap} active runs operator-wide ({MAX_ACTIVE_RUNS_SETTING}); "
            f"{_runs(total_ahead)} ahead of this one",
        )
    return None


def place_of(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    """What of a run the caps' counts depend on: an event that leaves it alone changes no count."""
    return (_namespace(entry), is_active(entry), queued(entry), hold_reason(entry), queue_order(entry))


def job_maximum_runtime_problem(job: TrainingJobSpec) -> str | None:
    """Under OCIDS_REQUIRE_MAXIMUM_RUNTIME: what the TrainingJob lacks (the chart's admission
    policy says the same). A single-node jobType EMPTY job cannot carry one: its runs must."""
    if job.maximum_runtime_in_minutes is not None or (job.job_type == "EMPTY" and job.nodes is None):
        return None
    return (
        f"spec.maximumRuntimeInMinutes is required ({REQUIRE_MAXIMUM_RUNTIME_SETTING}=true): set it so "
        "that OCI stops every run of this TrainingJob after that many minutes"
    )


def run_never_has_maximum_runtime(run: TrainingJobRunSpec, job: TrainingJobSpec) -> bool:
    """A run that sets none, of a single-node jobType EMPTY TrainingJob (which cannot carry one):
    no edit gives it one (a run's spec cannot change)."""
    return run.maximum_runtime_in_minutes is None and job.job_type == "EMPTY" and job.nodes is None


def run_maximum_runtime_problem(run: TrainingJobRunSpec, job: TrainingJobSpec, job_name: str) -> str | None:
    """Under OCIDS_REQUIRE_MAXIMUM_RUNTIME: why the run would have no maximum runtime (it inherits
    its TrainingJob's)."""
    if run.maximum_runtime_in_minutes is not None or job.maximum_runtime_in_minutes is not None:
        return None
    where = (
        f"TrainingJob {job_name} is jobType EMPTY, which takes none, and a run's spec cannot change: "
        "create a new TrainingJobRun that sets spec.maximumRuntimeInMinutes"
        if run_never_has_maximum_runtime(run, job)
        else f"set spec.maximumRuntimeInMinutes on TrainingJob {job_name}"
    )
    return (
        f"spec.maximumRuntimeInMinutes is required ({REQUIRE_MAXIMUM_RUNTIME_SETTING}=true) and this run "
        f"would have none: {where}; nothing was sent to OCI"
    )
