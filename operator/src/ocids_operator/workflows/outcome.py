"""What a workflow step asks the handler to do: write status, post events, maybe look again later."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..core.status_patch import StatusPatch


@dataclasses.dataclass
class Outcome:
    status: StatusPatch[Any] = dataclasses.field(default_factory=StatusPatch)
    events: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    requeue_after: float | None = None
    requeue_reason: str = ""


class ProgressMade(Exception):
    """An error after a step that status must record anyway (an OCI job CreateJob returned, say):
    whatever went wrong next, the status names what now exists, so nothing is left unrecorded."""

    def __init__(
        self, cause: Exception, status: StatusPatch[Any], events: list[tuple[str, str, str]] | None = None
    ) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.status = status
        self.events = events or []  # posted too: they tell of what was done
