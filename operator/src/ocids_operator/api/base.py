"""Base classes shared by every API model: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from .markers import Rule, add_rules

GROUP = "ocids.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


class ApiModel(BaseModel):
    """A spec-side model: frozen, strict about unknown fields.

    Field docstrings become the schema descriptions that `kubectl explain` prints, so every field
    has one. `cel_rules` holds CEL rules about the object as a whole (one-of, cross-field).
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )

    cel_rules: ClassVar[tuple[Rule, ...]] = ()

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        if cls.cel_rules:
            # handler() may answer a $ref; the rules belong on the model's own definition.
            target = handler.resolve_ref_schema(schema)
            add_rules(target, cls.cel_rules)
        return schema

    @classmethod
    def cel_rule(cls, name: str) -> Rule:
        """The CEL rule a Python validator mirrors, so both report the same message."""
        for rule in cls.cel_rules:
            if rule.name == name:
                return rule
        raise KeyError(f"{cls.__name__} has no CEL rule named {name!r}")

    def to_k8s(self, *, exclude_none: bool = True) -> dict[str, Any]:
        """The object as Kubernetes stores it: camelCase keys, JSON types."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=exclude_none)

    @classmethod
    def from_k8s(cls, body: Any) -> Self:
        return cls.model_validate(body)


class StatusModel(ApiModel):
    """A status-side model: the operator writes it, so reading an older or newer one must not fail."""

    model_config = ConfigDict(extra="ignore")


class KubeObject(ApiModel):
    """A whole object as the API server returns it; a subclass adds kind, spec and status."""

    model_config = ConfigDict(extra="ignore")

    api_version: str = API_VERSION
    """API version."""
    metadata: dict[str, Any] = {}
    """Standard object metadata."""
