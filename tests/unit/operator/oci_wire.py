"""SDK request models as the JSON OCI receives (camelCase): what the scenario tables compare with."""

from __future__ import annotations

from typing import Any


def to_wire(model: Any) -> Any:
    if model is None:
        return None
    if isinstance(model, list):
        return [to_wire(item) for item in model]
    if isinstance(model, dict):
        return {key: to_wire(value) for key, value in model.items()}
    attribute_map = getattr(model, "attribute_map", None)
    if attribute_map is None:
        return model
    result = {}
    for attr, wire in attribute_map.items():
        value = getattr(model, attr)
        if value is not None:
            result[wire] = to_wire(value)
    return result
