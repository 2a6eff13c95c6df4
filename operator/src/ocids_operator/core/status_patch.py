"""A status write as a typed value: the API's status model, sent as a JSON merge patch.

Only the fields set on the model are sent; a field set to None is sent as null and clears it.
The wire form (camelCase, JSON types) is what the Mapping interface shows, so a patch can go
straight into kopf's `patch.status` or a merge-patch request body.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

from ..api import StatusModel

M = TypeVar("M", bound=StatusModel)


class StatusPatch(Mapping[str, Any], Generic[M]):
    def __init__(self, model: M | None = None) -> None:
        self.model = model
        self._wire: dict[str, Any] = (
            {} if model is None else model.model_dump(mode="json", by_alias=True, exclude_unset=True)
        )

    def with_fields(self, **fields: Any) -> StatusPatch[M]:
        """This patch with more fields set (Python names); None clears the field."""
        assert self.model is not None
        return StatusPatch(self.model.model_copy(update=fields))

    def without(self, *wire_names: str) -> StatusPatch[M]:
        """This patch leaving these fields (wire names) as they are."""
        assert self.model is not None
        kept = {key: value for key, value in self._wire.items() if key not in wire_names}
        return StatusPatch(type(self.model).model_validate(kept))

    def over(self, current: Mapping[str, Any]) -> StatusPatch[M]:
        """This patch to write over `current` (the object's status as it is now): its conditions merged
        by type into the current ones, so a patch computed from an older body never drops a condition
        written since (e.g. a run's Succeeded, written by the poller meanwhile)."""
        if "conditions" not in self._wire or self.model is None:
            return self
        ours = {str(c.get("type")): c for c in self._wire["conditions"]}
        merged = [ours.pop(str(c.get("type")), c) for c in current.get("conditions") or []]
        kept = {**self._wire, "conditions": merged + list(ours.values())}
        return StatusPatch(type(self.model).model_validate(kept))

    def __getitem__(self, key: str) -> Any:
        return self._wire[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._wire)

    def __len__(self) -> int:
        return len(self._wire)

    def __repr__(self) -> str:
        return f"StatusPatch({self._wire!r})"
