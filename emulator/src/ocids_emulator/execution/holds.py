"""Runs a fault holds in CANCELING or NEEDS_ATTENTION (see faults/run_holds.py).

A held run keeps its state. The outcome its execution reaches meanwhile waits here and is applied
when the fault is cleared; a run that was only put into NEEDS_ATTENTION goes back to where it was.
"""

from __future__ import annotations

from typing import Any

from ocids_emulator.core.emulator import RUN, Emulator
from ocids_emulator.core.run_end import closed_node_groups, release_run_files
from ocids_emulator.core.timeutil import now_rfc3339
from ocids_emulator.store.sqlite import Record

RESUME_KEY = "beforeNeedsAttention"
STATE_FIELDS = ("lifecycleState", "lifecycleDetails")


def settle(emu: Emulator, run: Record, state: str, details: str) -> None:
    """End the run: its state, its node groups and the files that live only as long as its VM."""
    changes: dict[str, Any] = {"lifecycleState": state, "lifecycleDetails": details}
    groups = closed_node_groups(run.doc.get("nodeGroupDetailsList"), state)
    if groups is not None:
        changes["nodeGroupDetailsList"] = groups
    emu.save(run, timeFinished=now_rfc3339(), **changes)
    release_run_files(emu.settings.data_dir, run.id)


class RunHolds:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._outcomes: dict[str, tuple[str, str]] = {}

    def _held(self, run: Record) -> bool:
        return self.emu.faults.holds_run(run.id, run.doc["lifecycleState"])

    def finish(self, run: Record, state: str, details: str) -> None:
        if self._held(run):
            self._outcomes[run.id] = (state, details)
        else:
            settle(self.emu, run, state, details)

    def advance(self, run: Record, **changes: Any) -> None:
        """Progress of a running run; a cancel or NEEDS_ATTENTION keeps its own state and details."""
        state = run.doc["lifecycleState"]
        if state in ("CANCELING", "NEEDS_ATTENTION"):
            moved = {k: changes.pop(k) for k in STATE_FIELDS if k in changes}
            if state == "NEEDS_ATTENTION" and moved:
                run.meta[RESUME_KEY] = {**run.meta.get(RESUME_KEY, {}), **moved}
        if changes:
            self.emu.save(run, **changes)
        elif state == "NEEDS_ATTENTION":
            self.emu.store.save(run)

    def apply(self) -> None:
        """Called whenever the faults change: put runs into NEEDS_ATTENTION or release them."""
        for run in self.emu.store.all(RUN):
            state = run.doc["lifecycleState"]
            if state in ("ACCEPTED", "IN_PROGRESS") and self.emu.faults.wants_attention(run.id):
                self._needs_attention(run)
            elif state in ("CANCELING", "NEEDS_ATTENTION") and not self._held(run):
                self._release(run)

    def _needs_attention(self, run: Record) -> None:
        run.meta[RESUME_KEY] = {k: run.doc.get(k) for k in STATE_FIELDS}
        self.emu.save(
            run, lifecycleState="NEEDS_ATTENTION", lifecycleDetails=self.emu.faults.attention_details()
        )

    def _release(self, run: Record) -> None:
        outcome = self._outcomes.pop(run.id, None)
        resume = run.meta.pop(RESUME_KEY, None)
        if outcome is not None:
            settle(self.emu, run, *outcome)
        elif run.doc["lifecycleState"] == "NEEDS_ATTENTION":
            self.emu.save(run, **(resume or {"lifecycleState": "IN_PROGRESS"}))
