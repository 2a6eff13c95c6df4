"""Evaluate a CRD's CEL rules offline, the way the API server would, with cel-python.

Not a full reimplementation: it applies schema defaults, turns `number` fields into doubles (as the
API server does), and runs every `x-kubernetes-validations` rule on every node that is present.
Transition rules (`oldSelf`) run only when an old value exists at the same path.
"""

from __future__ import annotations

import copy
from typing import Any

import celpy
from celpy import celtypes

_ENV = celpy.Environment()
_PROGRAMS: dict[str, Any] = {}


def program(rule: str) -> Any:
    if rule not in _PROGRAMS:
        _PROGRAMS[rule] = _ENV.program(_ENV.compile(rule))
    return _PROGRAMS[rule]


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    value = copy.deepcopy(value)
    if isinstance(value, dict) and "properties" in schema:
        for name, sub in schema["properties"].items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                value[name] = apply_defaults(sub, value[name])
    elif isinstance(value, list) and "items" in schema:
        value = [apply_defaults(schema["items"], v) for v in value]
    return value


def to_cel(schema: dict[str, Any], value: Any) -> Any:
    if isinstance(value, dict):
        props = schema.get("properties")
        return celtypes.MapType(
            {
                celtypes.StringType(k): to_cel(
                    props[k] if props else schema.get("additionalProperties", {}), v
                )
                for k, v in value.items()
            }
        )
    if isinstance(value, list):
        return celtypes.ListType([to_cel(schema.get("items", {}), v) for v in value])
    if schema.get("type") == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return celtypes.DoubleType(float(value))
    return celpy.json_to_cel(value)


def violations(
    schema: dict[str, Any], value: Any, old: Any = None, path: str = "", *, defaults: bool = True
) -> list[tuple[str, str]]:
    """[(field path, message)] for every failing rule, paths like the API server's (spec.artifact)."""
    if defaults:
        value = apply_defaults(schema, value)
        old = apply_defaults(schema, old) if old is not None else None
    out: list[tuple[str, str]] = []
    for rule in schema.get("x-kubernetes-validations", []):
        transition = "oldSelf" in rule["rule"]
        if transition and old is None:
            continue
        activation = {"self": to_cel(schema, value)}
        if transition:
            activation["oldSelf"] = to_cel(schema, old)
        result = program(rule["rule"]).evaluate(activation)
        if isinstance(result, Exception):
            raise result
        if not result:
            out.append((path + rule.get("fieldPath", ""), rule["message"]))
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                old_sub = old.get(name) if isinstance(old, dict) else None
                out += violations(sub, value[name], old_sub, f"{path}.{name}", defaults=False)
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += violations(schema["items"], item, None, f"{path}[{i}]", defaults=False)
    return out
