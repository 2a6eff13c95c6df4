"""How the Events service delivers (the faults spec's ``eventDelivery``): late, lost, twice, out of order.

OCI promises at-least-once delivery, in no particular order; a consumer must survive all of these.
Each delivery of an event to a rule's action draws its own fate from a seeded chooser, so the same
seed and the same sequence of events replay the same faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from ocids_emulator.core.errors import invalid

MAX_SECONDS = 86400.0


@dataclass
class EventDelivery:
    delay_s: float = 0.0
    jitter_s: float = 0.0
    loss_rate: float = 0.0
    duplicate_rate: float = 0.0
    reorder_window_s: float = 0.0
    # Empty: every event type.
    event_types: frozenset[str] = frozenset()
    _random: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def parse(cls, raw: Any, seed: int | None = None) -> EventDelivery:
        if not isinstance(raw, dict):
            raise invalid("eventDelivery must be an object")
        known = {
            "delaySeconds",
            "jitterSeconds",
            "lossRate",
            "duplicateRate",
            "reorderWindowSeconds",
            "eventTypes",
        }
        unknown = sorted(set(raw) - known)
        if unknown:
            raise invalid(f"eventDelivery.{unknown[0]} is not a field (known: {', '.join(sorted(known))})")
        types = raw.get("eventTypes") or []
        if not isinstance(types, list) or not all(isinstance(t, str) and t for t in types):
            raise invalid("eventDelivery.eventTypes must be a list of event type names")
        return cls(
            delay_s=_number(raw, "delaySeconds", MAX_SECONDS),
            jitter_s=_number(raw, "jitterSeconds", MAX_SECONDS),
            loss_rate=_number(raw, "lossRate", 1.0),
            duplicate_rate=_number(raw, "duplicateRate", 1.0),
            reorder_window_s=_number(raw, "reorderWindowSeconds", MAX_SECONDS),
            event_types=frozenset(types),
            _random=random.Random(seed),
        )

    def reseed(self, seed: int | None) -> None:
        self._random = random.Random(seed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "delaySeconds": self.delay_s,
            "jitterSeconds": self.jitter_s,
            "lossRate": self.loss_rate,
            "duplicateRate": self.duplicate_rate,
            "reorderWindowSeconds": self.reorder_window_s,
            "eventTypes": sorted(self.event_types),
        }

    def plan(self, event_type: str) -> list[float]:
        """Seconds from now at which each copy of this event is delivered: [] lost, two a duplicate."""
        if self.event_types and event_type not in self.event_types:
            return [0.0]
        if self.loss_rate and self._random.random() < self.loss_rate:
            return []
        copies = 2 if self.duplicate_rate and self._random.random() < self.duplicate_rate else 1
        return [self._delay() for _ in range(copies)]

    def _delay(self) -> float:
        delay = self.delay_s
        if self.jitter_s:
            delay += self._random.uniform(0.0, self.jitter_s)
        if self.reorder_window_s:
            # Held a random while: events sent after it may overtake it.
            delay += self._random.uniform(0.0, self.reorder_window_s)
        return delay


def _number(raw: dict[str, Any], key: str, maximum: float) -> float:
    value = raw.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= maximum:
        raise invalid(f"eventDelivery.{key} must be a number from 0 to {maximum:g}")
    return float(value)
