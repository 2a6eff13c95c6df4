"""Runs the service holds in a non-terminal state: stuck CANCELING, or NEEDS_ATTENTION.

While a hold is set the executor keeps the run's outcome back; clearing the hold releases it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ocids_emulator.core.errors import invalid
from ocids_emulator.faults.denials import id_set, optional_count

# OCI's own wording for this state is unverified; the admin call can pass the real one.
NEEDS_ATTENTION_DETAILS = "Job run needs attention: the job run infrastructure is not responding."


@dataclass
class StuckCanceling:
    """Canceled runs stay CANCELING: those named, or every run when none are."""

    run_ids: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, raw: Any) -> StuckCanceling:
        if not isinstance(raw, dict):
            raise invalid("stuckCanceling must be an object")
        return cls(id_set(raw.get("runIds"), "stuckCanceling.runIds"))

    def to_dict(self) -> dict[str, Any]:
        return {"runIds": sorted(self.run_ids)}

    def holds(self, run_id: str) -> bool:
        return not self.run_ids or run_id in self.run_ids


@dataclass
class NeedsAttention:
    """The named runs, and the next ``next_runs`` runs created, are put into NEEDS_ATTENTION."""

    run_ids: set[str] = field(default_factory=set)
    next_runs: int = 0
    lifecycle_details: str = NEEDS_ATTENTION_DETAILS

    @classmethod
    def parse(cls, raw: Any) -> NeedsAttention:
        if not isinstance(raw, dict):
            raise invalid("needsAttention must be an object")
        details = raw.get("lifecycleDetails") or NEEDS_ATTENTION_DETAILS
        if not isinstance(details, str):
            raise invalid("needsAttention.lifecycleDetails must be a string")
        return cls(
            set(id_set(raw.get("runIds"), "needsAttention.runIds")),
            optional_count(raw.get("nextRuns"), "needsAttention.nextRuns") or 0,
            details,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "runIds": sorted(self.run_ids),
            "nextRuns": self.next_runs,
            "lifecycleDetails": self.lifecycle_details,
        }

    def claim_next(self, run_id: str) -> bool:
        if self.next_runs <= 0:
            return False
        self.next_runs -= 1
        self.run_ids.add(run_id)
        return True

    def holds(self, run_id: str) -> bool:
        return run_id in self.run_ids
