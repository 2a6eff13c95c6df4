"""IAM denial: a call the principal may not make, answered exactly as OCI answers it.

OCI does not tell "you may not" from "there is nothing": both are 404 NotAuthorizedOrNotFound
with one fixed message, so a client cannot learn which resources exist by probing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ocids_emulator.core.errors import ApiError, invalid

DENIED_STATUS = 404
DENIED_CODE = "NotAuthorizedOrNotFound"
DENIED_MESSAGE = "Authorization failed or requested resource not found."


def not_authorized_or_not_found() -> ApiError:
    return ApiError(DENIED_STATUS, DENIED_CODE, DENIED_MESSAGE)


def id_set(raw: Any, field: str) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list) or not all(isinstance(v, str) and v for v in raw):
        raise invalid(f"{field} must be a list of OCIDs")
    return frozenset(raw)


def optional_count(raw: Any, field: str) -> int | None:
    if raw is None:
        return None
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
        raise invalid(f"{field} must be a non-negative integer")
    return raw


@dataclass
class Denial:
    """Deny ``operation`` (an SDK method name or ``*``), for the given OCIDs only if any are named."""

    operation: str
    resource_ids: frozenset[str] = frozenset()
    count: int | None = None

    @classmethod
    def parse(cls, raw: Any, where: str) -> Denial:
        if not isinstance(raw, dict) or not isinstance(raw.get("operation"), str):
            raise invalid(f"{where}.operation must name an SDK method (or *)")
        return cls(
            raw["operation"],
            id_set(raw.get("resourceIds"), f"{where}.resourceIds"),
            optional_count(raw.get("count"), f"{where}.count"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"operation": self.operation, "resourceIds": sorted(self.resource_ids), "count": self.count}

    def take(self, operation: str, resource_ids: Iterable[str]) -> bool:
        """Whether this call is denied; a counted rule spends one answer."""
        if self.count == 0 or self.operation not in ("*", operation):
            return False
        if self.resource_ids and self.resource_ids.isdisjoint(resource_ids):
            return False
        if self.count is not None:
            self.count -= 1
        return True


def parse_deny_flag(value: str) -> dict[str, Any]:
    """``OP[:COUNT]`` (the ``--deny`` flag) -> a denials[] entry."""
    operation, _, count = value.partition(":")
    if not operation or (count and not count.isdigit()):
        raise ValueError(f"--deny expects OP[:COUNT], got {value!r}")
    entry: dict[str, Any] = {"operation": operation}
    if count:
        entry["count"] = int(count)
    return entry
