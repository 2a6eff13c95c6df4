"""Fault injection: injected 429/500/503 answers, added latency and a cap on active runs.

Spec (JSON, used by ``PUT /_emulator/faults``, the ``--faults`` flag and the test helper)::

    {"errors": [{"operation": "get_job_run", "status": 503, "rate": 1.0, "count": 2}],
     "latencyMs": {"*": 20, "create_job_run": 200},
     "maxActiveRuns": 10}

``operation`` is the SDK method name (or ``*``); ``rate`` is the chance per matching request;
``count`` (optional) caps how many answers the rule injects before it retires.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from ocids_emulator.core.errors import invalid

ALLOWED_STATUSES = {429, 500, 503}


@dataclass
class ErrorRule:
    operation: str
    status: int
    rate: float = 1.0
    count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"operation": self.operation, "status": self.status, "rate": self.rate, "count": self.count}


@dataclass
class Faults:
    errors: list[ErrorRule] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    max_active_runs: int | None = None
    injected: int = 0
    _random: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> Faults:
        if not isinstance(spec, dict):
            raise invalid("the faults spec must be an object")
        rules = []
        for i, raw in enumerate(spec.get("errors") or []):
            status = raw.get("status")
            if status not in ALLOWED_STATUSES:
                raise invalid(f"errors[{i}].status must be one of 429, 500, 503")
            rate = float(raw.get("rate", 1.0))
            if not 0.0 <= rate <= 1.0:
                raise invalid(f"errors[{i}].rate must be from 0 to 1")
            count = raw.get("count")
            rules.append(ErrorRule(str(raw.get("operation", "*")), int(status), rate, count))
        latency = {str(k): float(v) for k, v in (spec.get("latencyMs") or {}).items()}
        cap = spec.get("maxActiveRuns")
        return cls(errors=rules, latency_ms=latency, max_active_runs=int(cap) if cap is not None else None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "errors": [r.to_dict() for r in self.errors],
            "latencyMs": self.latency_ms,
            "maxActiveRuns": self.max_active_runs,
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
                return rule.status
        return None


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
