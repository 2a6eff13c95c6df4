"""Job deletions that OCI accepts (202) and then fails in the work request.

The job stays (back from DELETING to the state it had), so a client that forgets a job as soon
as DeleteJob answers 202 is caught.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ocids_emulator.core.errors import invalid
from ocids_emulator.faults.denials import id_set, optional_count

DEFAULT_MESSAGE = "The job could not be deleted (injected by the emulator)."


@dataclass
class FailedJobDeletes:
    """Deletions of the named jobs (every job when none are) fail, ``count`` times or until cleared."""

    job_ids: frozenset[str] = frozenset()
    count: int | None = None
    message: str = DEFAULT_MESSAGE

    @classmethod
    def parse(cls, raw: Any) -> FailedJobDeletes:
        if not isinstance(raw, dict):
            raise invalid("failedJobDeletes must be an object")
        message = raw.get("message") or DEFAULT_MESSAGE
        if not isinstance(message, str):
            raise invalid("failedJobDeletes.message must be a string")
        return cls(
            id_set(raw.get("jobIds"), "failedJobDeletes.jobIds"),
            optional_count(raw.get("count"), "failedJobDeletes.count"),
            message,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"jobIds": sorted(self.job_ids), "count": self.count, "message": self.message}

    def take(self, job_id: str) -> str | None:
        """The failure message for this deletion, or None when it may succeed."""
        if self.count == 0 or (self.job_ids and job_id not in self.job_ids):
            return None
        if self.count is not None:
            self.count -= 1
        return self.message
