"""Typed markers that put Kubernetes-only schema keys on pydantic models.

A marker goes in `Annotated[...]` on a field (`ListMap("name")`, `Rule(...)`, `Enum(...)`) or in a
model's `cel_rules` class variable. Each one writes its keys into the model's JSON schema, where the
CRD generator finds them; no CRD YAML is written by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

VALIDATIONS = "x-kubernetes-validations"

RuleReason = Literal["FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"]


@dataclass(frozen=True)
class Rule:
    """One CEL rule (`x-kubernetes-validations` entry) the API server enforces.

    `field_path` (e.g. ".ocpus") points the error at a child field; the message should name the
    fields it is about, because that is what the user reads in kubectl's error. `name` ties the
    rule to the model's Python validator that enforces the same thing (`ApiModel.cel_rule(name)`);
    it stays out of the CRD.
    """

    rule: str
    message: str
    field_path: str | None = None
    reason: RuleReason | None = None
    name: str = ""

    def as_schema(self) -> dict[str, str]:
        out = {"rule": self.rule, "message": self.message}
        if self.field_path:
            out["fieldPath"] = self.field_path
        if self.reason:
            out["reason"] = self.reason
        return out

    @property
    def is_transition(self) -> bool:
        """Transition rules compare with `oldSelf` and run only on update."""
        return "oldSelf" in self.rule

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        add_rules(schema, [self])
        return schema


def Immutable(what: str) -> Rule:
    return Rule(
        rule="self == oldSelf",
        message=f"{what} is immutable",
        reason="FieldValueForbidden",
    )


def ExactlyOne(*fields: str, name: str = "") -> Rule:
    """The one-of rule: exactly one of these (wire-named) fields is set."""
    if len(fields) == 2:
        rule = f"has(self.{fields[0]}) != has(self.{fields[1]})"
    else:
        rule = "[" + ", ".join(f"has(self.{f})" for f in fields) + "].filter(x, x).size() == 1"
    names = ", ".join(fields[:-1]) + " or " + fields[-1]
    return Rule(rule=rule, message=f"exactly one of {names} must be set", name=name)


def add_rules(schema: dict[str, Any], rules: Iterable[Rule]) -> None:
    existing: list[dict[str, str]] = schema.setdefault(VALIDATIONS, [])
    existing.extend(r.as_schema() for r in rules)


@dataclass(frozen=True)
class ListMap:
    """A list of objects keyed by `keys`: the API server rejects duplicates and merges by key."""

    keys: tuple[str, ...]

    def __init__(self, *keys: str) -> None:
        object.__setattr__(self, "keys", keys)

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["x-kubernetes-list-type"] = "map"
        schema["x-kubernetes-list-map-keys"] = list(self.keys)
        return schema


@dataclass(frozen=True)
class Atomic:
    """A list replaced as a whole on merge (order matters, duplicates allowed)."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["x-kubernetes-list-type"] = "atomic"
        return schema


@dataclass(frozen=True)
class Enum:
    """An enum whose values come from data (the shape catalog), which a Literal cannot hold."""

    values: tuple[str, ...]

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["enum"] = list(self.values)
        return schema


@dataclass(frozen=True)
class Format:
    """An OpenAPI string format the API server checks (e.g. 'date-time')."""

    format: str

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["format"] = self.format
        return schema


@dataclass(frozen=True)
class PrinterColumn:
    """A column of `kubectl get`; priority 1 shows only with `-o wide`."""

    name: str
    json_path: str
    type: Literal["string", "integer", "number", "boolean", "date"] = "string"
    description: str = ""
    priority: int = 0

    def as_crd(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            out["description"] = self.description
        if self.priority:
            out["priority"] = self.priority
        return out
