"""Turn a pydantic JSON schema into a Kubernetes structural OpenAPI v3 schema.

The API server accepts only a subset of JSON Schema: no $ref, no anyOf-as-a-type, a `type` on
every node, boolean exclusive bounds. Anything this module cannot map raises SchemaError naming
the path, rather than writing a CRD the API server would reject or silently weaken.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from pydantic import BaseModel

from .markers import VALIDATIONS as _VALIDATIONS

# Keys allowed to pass through, besides the ones handled explicitly below.
_PLAIN_KEYS = frozenset(
    {
        "type",
        "description",
        "enum",
        "default",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "format",
        "nullable",
        "x-kubernetes-validations",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-int-or-string",
        "x-kubernetes-embedded-resource",
    }
)
_DROPPED_KEYS = frozenset({"title", "$defs", "examples"})


class SchemaError(ValueError):
    """The pydantic schema uses something a structural CRD schema cannot express."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path or '<root>'}: {problem}")
        self.path = path
        self.problem = problem


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's schema (by alias, validation side) as a structural CRD schema."""
    return copy.deepcopy(_cached_schema(model))


@functools.cache
def _cached_schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    return convert(raw, defs, "")


def convert(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    node = _inline_ref(node, defs, path)
    node = _collapse_optional(node, defs, path)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "properties":
            out["properties"] = {name: convert(sub, defs, f"{path}.{name}") for name, sub in value.items()}
        elif key == "required":
            out["required"] = sorted(value)
        elif key == "items":
            if not isinstance(value, dict):
                raise SchemaError(path, "tuple-style items are not representable")
            out["items"] = convert(value, defs, f"{path}[]")
        elif key == "additionalProperties":
            # `false` is the default meaning of a structural schema (unknown fields are pruned).
            if isinstance(value, dict):
                out["additionalProperties"] = convert(value, defs, f"{path}.*")
            elif value is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            # JSON Schema 2020 has numeric exclusive bounds; OpenAPI v3.0 has a boolean beside the bound.
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            out[bound] = value
            out[key] = True
        elif key == "const":
            out["enum"] = [value]
        elif key == "description":
            # Docstrings wrap lines; kubectl explain re-wraps, so keep one line per description.
            out["description"] = " ".join(str(value).split())
        elif key in _PLAIN_KEYS:
            out[key] = copy.deepcopy(value)
        else:
            raise SchemaError(path, f"{key!r} is not representable in a structural schema")
    _drop_empty_defaults(out)
    _infer_type(out, path)
    bare = not ({"properties", "additionalProperties", "x-kubernetes-preserve-unknown-fields"} & out.keys())
    if out.get("type") == "object" and bare:
        raise SchemaError(path, "an object needs properties, additionalProperties or preserve-unknown-fields")
    return out


def _inline_ref(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    prefix = "#/$defs/"
    if not ref.startswith(prefix) or ref[len(prefix) :] not in defs:
        raise SchemaError(path, f"unresolvable $ref {ref!r}")
    target = copy.deepcopy(defs[ref[len(prefix) :]])
    # Keys beside the $ref (a field's description, its own rules) win over the model's.
    siblings = {k: v for k, v in node.items() if k != "$ref"}
    return _inline_ref(_overlay(target, siblings), defs, path)


def _collapse_optional(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    """`X | None` arrives as anyOf[X, null]. Kubernetes prunes nulls of non-nullable fields before
    validation and defaulting, so the field simply reads as unset, which is what None means here."""
    for key in ("oneOf", "allOf", "not"):
        if key in node:
            raise SchemaError(path, f"{key!r} is not representable: express it as a CEL rule instead")
    if "anyOf" not in node:
        return node
    branches = [b for b in node["anyOf"] if b != {"type": "null"}]
    if len(branches) != 1:
        raise SchemaError(path, "anyOf with more than one non-null branch is not representable")
    inner = _inline_ref(branches[0], defs, path)
    outer = {k: v for k, v in node.items() if k != "anyOf"}
    return _collapse_optional(_overlay(inner, outer), defs, path)


def _overlay(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over`'s keys win, except CEL rules, which add up: both the type's and the field's rules apply."""
    base, over = dict(base), dict(over)
    rules = base.pop(_VALIDATIONS, []) + over.pop(_VALIDATIONS, [])
    merged = {**base, **over}
    if rules:
        merged[_VALIDATIONS] = rules
    return merged


def _drop_empty_defaults(out: dict[str, Any]) -> None:
    # None/[]/{} defaults mean "unset": writing them into every stored object would only add noise.
    if "default" in out and out["default"] in (None, [], {}):
        del out["default"]


def _infer_type(out: dict[str, Any], path: str) -> None:
    if "type" in out:
        if isinstance(out["type"], list):
            raise SchemaError(path, f"a list of types {out['type']} is not representable")
        return
    if out.get("x-kubernetes-preserve-unknown-fields") or out.get("x-kubernetes-int-or-string"):
        return
    if "enum" in out and all(isinstance(v, str) for v in out["enum"]):
        out["type"] = "string"
        return
    raise SchemaError(path, "every node needs a type")
