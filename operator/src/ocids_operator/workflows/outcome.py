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
