"""Runs the service fails for reasons of its own: no exit code, OCI's lifecycleDetails only (out of
capacity, an internal error). What a client's retry of infrastructure failures is tested against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ocids_emulator.core.errors import invalid
from ocids_emulator.faults.denials import id_set, optional_count

# OCI's wording for an infrastructure failure is undocumented; the admin call can pass another.
INFRASTRUCTURE_FAILURE_DETAILS = (
    "Job run failed: the service could not provision the job run infrastructure (out of host capacity)."
)

KINDS = ("infrastructure", "timeout")


@dataclass
class FailedRuns:
    """The named active runs, and the next ``next_runs`` runs created, end FAILED with
    ``lifecycle_details`` and no exit code (the artifact, if started, is killed). ``kind`` timeout:
    as if the run outlived its maximumRuntimeInMinutes (the emulator's timeout wording), at once."""

    run_ids: set[str] = field(default_factory=set)
    next_runs: int = 0
    lifecycle_details: str = INFRASTRUCTURE_FAILURE_DETAILS
    kind: str = "infrastructure"

    @classmethod
    def parse(cls, raw: Any) -> FailedRuns:
        if not isinstance(raw, dict):
            raise invalid("failedRuns must be an object")
        details = raw.get("lifecycleDetails") or INFRASTRUCTURE_FAILURE_DETAILS
        if not isinstance(details, str) or "exit code" in details.lower():
            raise invalid("failedRuns.lifecycleDetails must be a string naming no exit code")
        kind = raw.get("kind") or "infrastructure"
        if kind not in KINDS:
            raise invalid(f"failedRuns.kind must be one of {', '.join(KINDS)}")
        return cls(
            set(id_set(raw.get("runIds"), "failedRuns.runIds")),
            optional_count(raw.get("nextRuns"), "failedRuns.nextRuns") or 0,
            details,
            kind,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "runIds": sorted(self.run_ids),
            "nextRuns": self.next_runs,
            "lifecycleDetails": self.lifecycle_details,
            "kind": self.kind,
        }

    def claim_next(self, run_id: str) -> bool:
        if self.next_runs <= 0:
            return False
        self.next_runs -= 1
        self.run_ids.add(run_id)
        return True

    def fails(self, run_id: str) -> bool:
        return run_id in self.run_ids
