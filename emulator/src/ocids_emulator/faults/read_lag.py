"""Eventual consistency: a job or run just created is not yet visible to reads.

OCI's reads can trail its writes for a moment; a client that treats the 404 of a GET right after
its own create as "gone" forgets a resource that exists.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ocids_emulator.core.errors import invalid
from ocids_emulator.faults.denials import optional_count

DEFAULT_OPERATIONS = ("get_job", "get_job_run")


@dataclass
class ReadLag:
    """Reads of resources created while this is set answer 404 for ``seconds`` and/or ``calls``."""

    seconds: float | None = None
    calls: int | None = None
    operations: frozenset[str] = frozenset(DEFAULT_OPERATIONS)
    # resource id -> (monotonic time of its create, hidden reads left)
    _created: dict[str, tuple[float, int | None]] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, raw: Any) -> ReadLag:
        if not isinstance(raw, dict):
            raise invalid("notFoundAfterCreate must be an object")
        seconds = raw.get("seconds")
        if seconds is not None and (not isinstance(seconds, int | float) or seconds < 0):
            raise invalid("notFoundAfterCreate.seconds must be a non-negative number")
        calls = optional_count(raw.get("calls"), "notFoundAfterCreate.calls")
        if seconds is None and calls is None:
            raise invalid("notFoundAfterCreate needs seconds or calls")
        operations = raw.get("operations") or list(DEFAULT_OPERATIONS)
        if not isinstance(operations, list) or not all(isinstance(o, str) for o in operations):
            raise invalid("notFoundAfterCreate.operations must be a list of SDK method names")
        return cls(None if seconds is None else float(seconds), calls, frozenset(operations))

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "calls": self.calls, "operations": sorted(self.operations)}

    def note_created(self, resource_id: str) -> None:
        self._created[resource_id] = (time.monotonic(), self.calls)

    def hides(self, operation: str, resource_id: str | None) -> bool:
        """Whether this read must not see the resource yet; a hidden read spends one call."""
        if operation not in self.operations or resource_id not in self._created:
            return False
        created, left = self._created[resource_id]
        fresh = self.seconds is None or time.monotonic() - created < self.seconds
        if not fresh or left == 0:
            del self._created[resource_id]
            return False
        if left is not None:
            self._created[resource_id] = (created, left - 1)
        return True
