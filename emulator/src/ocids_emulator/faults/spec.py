"""The faults spec: every fault the emulator can inject, set and read as one JSON object.

Used by ``PUT|PATCH /_emulator/faults``, the ``--fault``/``--deny``/``--faults-json`` flags and the
test helper::

    {"errors": [{"operation": "get_job_run", "status": 503, "rate": 1.0, "count": 2},
                {"operation": "*", "statuses": [429, 500, 503], "rate": 0.3}],
     "seed": 42,
     "latencyMs": {"*": 20, "create_job_run": 200},
     "maxActiveRuns": 10,
     "denials": [{"operation": "delete_job", "resourceIds": ["ocid1..."], "count": 1}],
     "notFoundAfterCreate": {"seconds": 2, "calls": 3, "operations": ["get_job", "get_job_run"]},
     "stuckCanceling": {"runIds": []},
     "needsAttention": {"runIds": ["ocid1..."], "nextRuns": 1, "lifecycleDetails": "..."},
     "failedJobDeletes": {"jobIds": [], "count": 1, "message": "..."},
     "failedRuns": {"runIds": ["ocid1..."], "nextRuns": 1, "lifecycleDetails": "...", "kind": "timeout"},
     "scheduleTransitions": {"seconds": 5, "scheduleIds": []},
     "eventDelivery": {"delaySeconds": 0.0, "jitterSeconds": 0.0, "lossRate": 0.0, "duplicateRate": 0.0,
                       "reorderWindowSeconds": 0.0, "eventTypes": []}}

``operation`` is the SDK method name (or ``*``); ``rate`` is the chance per matching request;
``count`` (optional) caps how many answers a rule injects before it retires; ``statuses`` instead of
``status`` makes one rule answer a mix, each injected answer picking one at random. ``seed`` (with
``errors``, or alone) restarts the chooser: the same seed and the same sequence of requests get the
same faults, so a failing chaos run can be replayed. OCI sends no Retry-After header (its SDKs back
off on their own schedule), so neither does the emulator. PUT replaces the whole spec, PATCH only the
sections it names (``null`` removes one).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from ocids_emulator.core.errors import invalid
from ocids_emulator.faults.denials import Denial
from ocids_emulator.faults.event_delivery import EventDelivery
from ocids_emulator.faults.failed_deletes import FailedJobDeletes
from ocids_emulator.faults.read_lag import ReadLag
from ocids_emulator.faults.run_failures import FailedRuns
from ocids_emulator.faults.run_holds import NEEDS_ATTENTION_DETAILS, NeedsAttention, StuckCanceling
from ocids_emulator.faults.schedule_transitions import ScheduleTransitions

ALLOWED_STATUSES = {429, 500, 503}


@dataclass
class ErrorRule:
    operation: str
    statuses: tuple[int, ...]
    rate: float = 1.0
    count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"operation": self.operation, "rate": self.rate, "count": self.count}
        if len(self.statuses) == 1:
            shown["status"] = self.statuses[0]
        else:
            shown["statuses"] = list(self.statuses)
        return shown


@dataclass
class Faults:
    errors: list[ErrorRule] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    max_active_runs: int | None = None
    denials: list[Denial] = field(default_factory=list)
    read_lag: ReadLag | None = None
    stuck_canceling: StuckCanceling | None = None
    needs_attention: NeedsAttention | None = None
    failed_job_deletes: FailedJobDeletes | None = None
    failed_runs: FailedRuns | None = None
    schedule_transitions: ScheduleTransitions | None = None
    event_delivery: EventDelivery | None = None
    injected: int = 0
    seed: int | None = None
    _random: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> Faults:
        faults = cls()
        faults.update(spec)
        return faults

    def update(self, spec: dict[str, Any]) -> None:
        """Replace the sections ``spec`` names; the others keep their state (counts, created ids)."""
        if not isinstance(spec, dict):
            raise invalid("the faults spec must be an object")
        if "errors" in spec:
            self.errors = _error_rules(spec["errors"])
        if "seed" in spec:
            seed = spec["seed"]
            if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
                raise invalid("seed must be an integer")
            self.seed = seed
            self._random = random.Random(seed)
        if "latencyMs" in spec:
            self.latency_ms = {str(k): float(v) for k, v in (spec["latencyMs"] or {}).items()}
        if "maxActiveRuns" in spec:
            cap = spec["maxActiveRuns"]
            self.max_active_runs = int(cap) if cap is not None else None
        if "denials" in spec:
            self.denials = [Denial.parse(raw, f"denials[{i}]") for i, raw in enumerate(spec["denials"] or [])]
        sections = {
            "notFoundAfterCreate": ("read_lag", ReadLag.parse),
            "stuckCanceling": ("stuck_canceling", StuckCanceling.parse),
            "needsAttention": ("needs_attention", NeedsAttention.parse),
            "failedJobDeletes": ("failed_job_deletes", FailedJobDeletes.parse),
            "failedRuns": ("failed_runs", FailedRuns.parse),
            "scheduleTransitions": ("schedule_transitions", ScheduleTransitions.parse),
        }
        for key, (attribute, parse) in sections.items():
            if key in spec:
                setattr(self, attribute, None if spec[key] is None else parse(spec[key]))
        if "eventDelivery" in spec:
            raw = spec["eventDelivery"]
            self.event_delivery = None if raw is None else EventDelivery.parse(raw, self.seed)
        elif "seed" in spec and self.event_delivery is not None:
            # A new seed replays event faults too, as it replays errors.
            self.event_delivery.reseed(self.seed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "errors": [r.to_dict() for r in self.errors],
            "latencyMs": self.latency_ms,
            "maxActiveRuns": self.max_active_runs,
            "denials": [d.to_dict() for d in self.denials],
            "notFoundAfterCreate": _section(self.read_lag),
            "stuckCanceling": _section(self.stuck_canceling),
            "needsAttention": _section(self.needs_attention),
            "failedJobDeletes": _section(self.failed_job_deletes),
            "failedRuns": _section(self.failed_runs),
            "scheduleTransitions": _section(self.schedule_transitions),
            "eventDelivery": _section(self.event_delivery),
            "seed": self.seed,
            "injected": self.injected,
        }

    def latency_s(self, operation: str) -> float:
        return self.latency_ms.get(operation, self.latency_ms.get("*", 0.0)) / 1000.0

    def pick_error(self, operation: str) -> int | None:
        for rule in self.errors:
            if rule.operation not in ("*", operation) or rule.count == 0:
                continue
            if rule.rate >= 1.0 or self._random.random() < rule.rate:
                if rule.count is not None:
                    rule.count -= 1
                self.injected += 1
                if len(rule.statuses) == 1:
                    return rule.statuses[0]
                return self._random.choice(rule.statuses)
        return None

    # OCI behaviours ------------------------------------------------------------------------------
    def denies(self, operation: str, resource_ids: list[str]) -> bool:
        return self._count(any(d.take(operation, resource_ids) for d in self.denials))

    def hides_new(self, operation: str, resource_ids: list[str]) -> bool:
        lag = self.read_lag
        return self._count(lag is not None and any(lag.hides(operation, rid) for rid in resource_ids))

    def note_created(self, resource_id: str) -> None:
        if self.read_lag is not None:
            self.read_lag.note_created(resource_id)

    def holds_run(self, run_id: str, state: str) -> bool:
        """Whether the run must stay in ``state`` (CANCELING or NEEDS_ATTENTION) for now."""
        if state == "CANCELING":
            return self.stuck_canceling is not None and self.stuck_canceling.holds(run_id)
        if state == "NEEDS_ATTENTION":
            return self.needs_attention is not None and self.needs_attention.holds(run_id)
        return False

    def wants_attention(self, run_id: str) -> bool:
        return self.needs_attention is not None and self.needs_attention.holds(run_id)

    def claim_attention(self, run_id: str) -> bool:
        return self.needs_attention is not None and self.needs_attention.claim_next(run_id)

    def fails_run(self, run_id: str) -> bool:
        return self.failed_runs is not None and self.failed_runs.fails(run_id)

    def claim_failure(self, run_id: str) -> bool:
        return self._count(self.failed_runs is not None and self.failed_runs.claim_next(run_id))

    def failure(self) -> FailedRuns:
        assert self.failed_runs is not None
        return self.failed_runs

    def attention_details(self) -> str:
        return self.needs_attention.lifecycle_details if self.needs_attention else NEEDS_ATTENTION_DETAILS

    def schedule_delay(self, schedule_id: str | None) -> float:
        """Seconds a change to this schedule stays CREATING/UPDATING/DELETING (0: at once)."""
        found = self.schedule_transitions
        delay = found.delay(schedule_id) if found is not None else 0.0
        self._count(delay > 0)
        return delay

    def event_plan(self, event_type: str) -> list[float]:
        """When each copy of an event reaches a rule's action (seconds from now; [] lost)."""
        if self.event_delivery is None:
            return [0.0]
        plan = self.event_delivery.plan(event_type)
        self._count(plan != [0.0])
        return plan

    def failed_delete(self, job_id: str) -> str | None:
        failing = self.failed_job_deletes
        message = failing.take(job_id) if failing is not None else None
        self._count(message is not None)
        return message

    def _count(self, injected: bool) -> bool:
        if injected:
            self.injected += 1
        return injected


def _section(value: Any) -> dict[str, Any] | None:
    return None if value is None else dict(value.to_dict())


def _error_rules(raw_rules: Any) -> list[ErrorRule]:
    rules = []
    for i, raw in enumerate(raw_rules or []):
        if ("status" in raw) == ("statuses" in raw):
            raise invalid(f"errors[{i}] takes one of status or statuses")
        statuses = raw["statuses"] if "statuses" in raw else [raw["status"]]
        if not isinstance(statuses, list) or not statuses or any(s not in ALLOWED_STATUSES for s in statuses):
            raise invalid(f"errors[{i}].status(es) must be one of 429, 500, 503")
        rate = float(raw.get("rate", 1.0))
        if not 0.0 <= rate <= 1.0:
            raise invalid(f"errors[{i}].rate must be from 0 to 1")
        operation = str(raw.get("operation", "*"))
        rules.append(ErrorRule(operation, tuple(int(s) for s in statuses), rate, raw.get("count")))
    return rules


def parse_error_flag(value: str) -> dict[str, Any]:
    """``OP=STATUS:RATE[:COUNT]`` (the ``--fault`` flag) -> an errors[] entry."""
    operation, _, rest = value.partition("=")
    parts = rest.split(":")
    if not operation or len(parts) not in (2, 3):
        raise ValueError(f"--fault expects OP=STATUS:RATE[:COUNT], got {value!r}")
    entry: dict[str, Any] = {"operation": operation, "status": int(parts[0]), "rate": float(parts[1])}
    if len(parts) == 3:
        entry["count"] = int(parts[2])
    return entry
