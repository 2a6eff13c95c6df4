"""The `oci` SDK's own contract, as a checker for JSON bodies (test support).

``walk(value, "Job")`` lists every way a JSON value breaks the SDK model it claims to be:
- a polymorphic model resolves to its subtype the way the SDK does (``get_subtype`` on the
  discriminator), so a subtype's fields are the ones checked;
- no key outside the model's ``attribute_map``;
- every property the SDK documents as ``**[Required]**`` present and not null (the generated
  getters carry that marker in their docstring, which is where the SDK keeps the spec's
  ``required`` list);
- every enum value one the SDK lists: its setter maps an unknown value to ``UNKNOWN_ENUM_VALUE``
  (response models) or raises ValueError (some request models); both are caught;
- the JSON type of every value is the one ``swagger_types`` declares (``datetime`` as RFC 3339).

Also: the response type of an SDK operation (read from the client method), raw response bodies
captured from real SDK calls, and request models serialized the way the SDK sends them.
"""

from __future__ import annotations

import copy
import datetime as dt
import inspect
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from oci.base_client import BaseClient, merge_type_mappings
from oci.data_science import models as ds_models

UNKNOWN = "UNKNOWN_ENUM_VALUE"
_RESPONSE_TYPE = re.compile(r'response_type="([^"]+)"')
_ALLOWED = re.compile(r"allowed_values = (\[[^\]]*\])")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PRIMITIVES = {"str", "int", "float", "bool", "object", "datetime", "date"}


class Contract:
    """The models of one SDK package (``data_science_type_mapping`` and the like), by name."""

    def __init__(self, *type_mappings: Mapping[str, type]) -> None:
        self.models: dict[str, type] = {}
        for mapping in type_mappings:
            self.models.update(mapping)

    def walk(self, value: Any, type_name: str, path: str = "$") -> list[str]:
        """Every breach of ``type_name``'s contract in ``value``, each naming its JSON path."""
        if value is None:
            return []
        if type_name.startswith("list["):
            if not isinstance(value, list):
                return [f"{path}: expected a list ({type_name}), got {type(value).__name__}"]
            inner = type_name[5:-1]
            return [p for i, item in enumerate(value) for p in self.walk(item, inner, f"{path}[{i}]")]
        if type_name.startswith("dict("):
            if not isinstance(value, dict):
                return [f"{path}: expected an object ({type_name}), got {type(value).__name__}"]
            inner = type_name[5:-1].split(",", 1)[1].strip()
            return [p for k, v in value.items() for p in self.walk(v, inner, f"{path}.{k}")]
        if type_name in _PRIMITIVES:
            return _primitive_problems(value, type_name, path)
        return self._walk_model(value, type_name, path)

    def _walk_model(self, value: Any, type_name: str, path: str) -> list[str]:
        cls = self.models.get(type_name)
        if cls is None:
            return [f"{path}: the SDK has no model {type_name}"]
        if not isinstance(value, dict):
            return [f"{path}: expected an object ({type_name}), got {type(value).__name__}"]
        if hasattr(cls, "get_subtype"):
            try:
                subtype = cls.get_subtype(value)
            except KeyError as exc:
                return [f"{path}: {type_name} needs its discriminator {exc.args[0]!r}"]
            cls = self.models.get(subtype, cls)
            type_name = cls.__name__
        model = cls()
        keys = model.attribute_map
        problems = [
            f"{path}.{k}: not a field of {type_name} (fields: {', '.join(sorted(keys.values()))})"
            for k in value
            if k not in keys.values()
        ]
        for attr, json_key in keys.items():
            field_path = f"{path}.{json_key}"
            field_value = value.get(json_key)
            if field_value is None:
                if is_required(cls, attr):
                    problems.append(f"{field_path}: required by {type_name} but missing")
                continue
            declared = model.swagger_types[attr]
            problems += self.walk(field_value, declared, field_path)
            if declared in ("str", "list[str]"):
                problems += _enum_problems(model, attr, field_value, f"{type_name}.{json_key}", field_path)
        return problems


def is_required(cls: type, attr: str) -> bool:
    return "[Required]" in (getattr(cls, attr).__doc__ or "")


def allowed_values(cls: type, attr: str) -> list[str] | None:
    """The enum values the SDK's setter accepts, or None for a free-form field."""
    match = _ALLOWED.search(inspect.getsource(getattr(cls, attr).fset))
    return eval(match.group(1)) if match else None  # a list literal of the SDK's own source


def _enum_problems(model: Any, attr: str, value: Any, where: str, path: str) -> list[str]:
    allowed = allowed_values(type(model), attr)
    if allowed is None:
        return []
    try:
        setattr(model, attr, copy.deepcopy(value))
    except ValueError:
        return [f"{path}: {value!r} is not one of {where}'s values {allowed}"]
    stored = getattr(model, attr)
    if stored == UNKNOWN or (isinstance(stored, list) and UNKNOWN in stored):
        return [f"{path}: {value!r} is not one of {where}'s values {allowed}"]
    return []


def _primitive_problems(value: Any, type_name: str, path: str) -> list[str]:
    ok = {
        "str": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "object": True,
        "datetime": isinstance(value, str) and bool(_DATETIME.match(value)),
        "date": isinstance(value, str) and bool(_DATE.match(value)),
    }[type_name]
    return [] if ok else [f"{path}: {value!r} is not a {type_name}"]


def response_type(client: Any, operation: str) -> str | None:
    """What an SDK operation deserializes its body into (None: no body, e.g. a 202/204)."""
    source = inspect.getsource(getattr(type(client), operation))
    found = set(_RESPONSE_TYPE.findall(source))
    assert len(found) <= 1, (operation, found)
    return found.pop() if found else None


class Recorder:
    """The raw bytes of every response an SDK client received (a requests response hook), so what
    the server sent is checked, not what the SDK's lenient deserializer made of it."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, str, int, bytes]] = []

    def hook(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self.bodies.append(
            (response.request.method, response.request.url, response.status_code, response.content)
        )

    def last_body(self) -> bytes:
        return self.bodies[-1][3]


@contextmanager
def recording(client: Any) -> Iterator[Recorder]:
    recorder = Recorder()
    hooks = client.base_client.session.hooks.setdefault("response", [])
    hooks.append(recorder.hook)
    try:
        yield recorder
    finally:
        hooks.remove(recorder.hook)


def wire_body(model: Any) -> Any:
    """A request model as the SDK puts it on the wire (camelCase keys, datetimes as strings): the
    serializer of a client's BaseClient, which needs only its type mappings."""
    serializer = BaseClient.__new__(BaseClient)
    serializer.complex_type_mappings = ds_models.data_science_type_mapping
    serializer.type_mappings = merge_type_mappings(
        serializer.primitive_type_map, ds_models.data_science_type_mapping
    )
    return serializer.sanitize_for_serialization(model)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


DATA_SCIENCE = Contract(ds_models.data_science_type_mapping)
