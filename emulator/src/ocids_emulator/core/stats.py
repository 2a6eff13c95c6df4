"""Counts of the OCI requests the emulator answered, by operation and HTTP status.

Seen from the server, so a client's retries show up as extra requests: tests and benchmarks
compare these counts with what the client believes it sent (``GET /_emulator/stats``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ocids_emulator.core.timeutil import now_rfc3339

# OCI paths that match no route have no SDK method name.
UNKNOWN_OPERATION = "unknown"


class RequestStats:
    def __init__(self) -> None:
        self._counts: Counter[tuple[str, int]] = Counter()
        # Verified requests by kind of principal (user, workload, resource): shows which auth a client used.
        self._principals: Counter[str] = Counter()
        # Verified OKE workload identity requests by "<namespace>/<service account>": whose session it was.
        self._workloads: Counter[str] = Counter()
        # Requests refused by IAM policy (not the denial fault), by kind of principal.
        self._denials: Counter[str] = Counter()
        self.since = now_rfc3339()

    def count(self, operation: str | None, status: int) -> None:
        self._counts[(operation or UNKNOWN_OPERATION, status)] += 1

    def count_principal(self, kind: str, workload: str | None = None) -> None:
        self._principals[kind] += 1
        if workload:
            self._workloads[workload] += 1

    def count_denial(self, kind: str) -> None:
        self._denials[kind] += 1

    def reset(self) -> None:
        self._counts.clear()
        self._principals.clear()
        self._workloads.clear()
        self._denials.clear()
        self.since = now_rfc3339()

    def to_dict(self) -> dict[str, Any]:
        """``{"since", "total", "operations": {op: {"total", "byStatus": {"200": n}}}, "principals":
        {kind: n}, "workloads": {"<namespace>/<service account>": n}, "policyDenials": {kind: n}}``."""
        operations: dict[str, dict[str, Any]] = {}
        for (operation, status), n in sorted(self._counts.items()):
            entry = operations.setdefault(operation, {"total": 0, "byStatus": {}})
            entry["total"] += n
            entry["byStatus"][str(status)] = n
        return {
            "since": self.since,
            "total": sum(self._counts.values()),
            "operations": operations,
            "principals": dict(sorted(self._principals.items())),
            "workloads": dict(sorted(self._workloads.items())),
            "policyDenials": dict(sorted(self._denials.items())),
        }
