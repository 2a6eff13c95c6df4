"""One vocabulary for where things are: OCI lifecycle states and the phases status shows for them.

OCI's states are UPPER_SNAKE (what the SDK returns and list filters take); phases are the
CamelCase words of `status.phase`. Every place that asks "is this run still going?" asks the
sets here, so a new state is added once.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class RunState(enum.StrEnum):
    """An OCI job run's lifecycleState."""

    ACCEPTED = "ACCEPTED"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"
    DELETED = "DELETED"

    @property
    def phase(self) -> RunPhase:
        return RunPhase(_PHASE_OF_STATE[self])

    @classmethod
    def of(cls, value: object) -> RunState | None:
        """None for a state newer than this operator (the SDK's UNKNOWN_ENUM_VALUE)."""
        try:
            return cls(str(value))
        except ValueError:
            return None


class RunPhase(enum.StrEnum):
    """`status.phase` of a TrainingJobRun (the API's TrainingJobRunPhase)."""

    PENDING = "Pending"
    ACCEPTED = "Accepted"
    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELING = "Canceling"
    CANCELED = "Canceled"
    NEEDS_ATTENTION = "NeedsAttention"
    DELETED = "Deleted"

    @property
    def state(self) -> RunState | None:
        """The OCI state this phase stands for; None for Pending (nothing in OCI yet)."""
        return _STATE_OF_PHASE.get(self)


_PHASE_OF_STATE = {
    RunState.ACCEPTED: RunPhase.ACCEPTED,
    RunState.IN_PROGRESS: RunPhase.IN_PROGRESS,
    RunState.SUCCEEDED: RunPhase.SUCCEEDED,
    RunState.FAILED: RunPhase.FAILED,
    RunState.CANCELING: RunPhase.CANCELING,
    RunState.CANCELED: RunPhase.CANCELED,
    RunState.NEEDS_ATTENTION: RunPhase.NEEDS_ATTENTION,
    RunState.DELETED: RunPhase.DELETED,
}
_STATE_OF_PHASE = {phase: state for state, phase in _PHASE_OF_STATE.items()}

# An OCI run in one of these may still change (and may still hold a job revision).
ACTIVE_RUN_STATES = frozenset(
    {RunState.ACCEPTED, RunState.IN_PROGRESS, RunState.CANCELING, RunState.NEEDS_ATTENTION}
)
# What CancelJobRun can still stop (a CANCELING run is already on its way).
CANCELABLE_RUN_STATES = ACTIVE_RUN_STATES - {RunState.CANCELING}
# The poller lists these every cycle; the others only while a tracked run was last seen there.
ALWAYS_LISTED_RUN_STATES = (RunState.ACCEPTED, RunState.IN_PROGRESS)
LISTED_WHEN_SEEN_RUN_STATES = (RunState.CANCELING, RunState.NEEDS_ATTENTION)
# Starting or stopping: the poller looks often.
BUSY_RUN_STATES = frozenset({RunState.ACCEPTED, RunState.CANCELING})

# How far along a run is: a read showing a lower rank than status already shows is older than it
# (a lagging list, a stale event's read) and is not written. NEEDS_ATTENTION ranks with IN_PROGRESS:
# OCI may take a run back from it.
_RUN_STATE_RANK = {
    RunState.ACCEPTED: 0,
    RunState.IN_PROGRESS: 1,
    RunState.NEEDS_ATTENTION: 1,
    RunState.CANCELING: 2,
    RunState.SUCCEEDED: 3,
    RunState.FAILED: 3,
    RunState.CANCELED: 3,
    RunState.DELETED: 3,
}


def goes_back(known: object, read: object) -> bool:
    """Whether OCI state `read` is behind `known` (unknown states are never called behind)."""
    old, new = RunState.of(known), RunState.of(read)
    return old is not None and new is not None and _RUN_STATE_RANK[new] < _RUN_STATE_RANK[old]


# Final: the run is never re-created, re-run or polled again.
TERMINAL_RUN_PHASES = frozenset({RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.CANCELED, RunPhase.DELETED})
ACTIVE_RUN_PHASES = frozenset(_PHASE_OF_STATE[state] for state in ACTIVE_RUN_STATES)
# Phases that post a Warning Event when reached.
WARNING_RUN_PHASES = frozenset({RunPhase.FAILED, RunPhase.NEEDS_ATTENTION, RunPhase.DELETED})


def run_finished(status: Mapping[str, object] | None) -> bool:
    """A TrainingJobRun is done for good: a terminal phase and no retry pending.

    A failed attempt waiting for its retry shows phase Pending with `nextAttemptAt` set, and the
    last write before that may briefly show Failed; both count as unfinished so sweeps, schedules
    and history limits never treat a run that will run again as over.
    """
    if not status:
        return False
    phase = status.get("phase")
    if phase not in TERMINAL_RUN_PHASES:
        return False
    return not status.get("nextAttemptAt")


def run_settled(status: Mapping[str, object] | None) -> bool:
    """Finished, and its last metric lines read (status.metricsFinal not false): only then may a run be
    archived, pruned or expired, or its archive record and a sweep would miss its final values."""
    return run_finished(status) and (status or {}).get("metricsFinal") is not False


class JobState(enum.StrEnum):
    """An OCI job's lifecycleState."""

    CREATING = "CREATING"
    ACTIVE = "ACTIVE"
    DELETING = "DELETING"
    DELETED = "DELETED"
    FAILED = "FAILED"


# A job in one of these can be used (or soon can); anything else is re-created.
LIVE_JOB_STATES = frozenset({JobState.CREATING, JobState.ACTIVE})
GONE_JOB_STATES = frozenset({JobState.DELETING, JobState.DELETED})


class JobPhase(enum.StrEnum):
    """`status.phase` of a TrainingJob (the API's TrainingJobPhase)."""

    PENDING = "Pending"
    CREATING = "Creating"
    ACTIVE = "Active"
    UPDATING = "Updating"
    FAILED = "Failed"
    DELETING = "Deleting"


# An OCI job exists and the spec was handled: the periodic drift check applies.
RESYNCED_JOB_PHASES = frozenset({JobPhase.ACTIVE, JobPhase.CREATING, JobPhase.UPDATING})
