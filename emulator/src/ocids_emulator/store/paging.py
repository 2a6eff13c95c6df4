"""Query parameters of list calls (limit, sortBy, sortOrder, page), sorting and ``opc-next-page`` paging.

Filtering is in api/listing.py. Page tokens are keyset positions (sort value + id), so items
created while a client pages through a list never shift or repeat the pages it has yet to read.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from typing import Any

from ocids_emulator.core.errors import invalid

SORT_FIELDS = {"timeCreated", "displayName"}


def _key(doc: dict[str, Any], field: str) -> tuple[str, str]:
    return (str(doc.get(field) or ""), str(doc["id"]))


def encode_token(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def decode_token(token: str) -> tuple[str, str]:
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
        return (str(value[0]), str(value[1]))
    except (ValueError, IndexError, TypeError):
        raise invalid("page is not a page token this service issued") from None


def check_limit(raw: str | None, default: int = 100, maximum: int = 100) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid("limit must be an integer") from None
    if not 1 <= value <= maximum:
        raise invalid(f"limit must be from 1 to {maximum}")
    return value


def enum_param(raw: str | None, field: str, allowed: AbstractSet[str]) -> str | None:
    if raw is None:
        return None
    if raw not in allowed:
        raise invalid(f"{field} must be one of {', '.join(sorted(allowed))}")
    return raw


def paginate(
    docs: Iterable[dict[str, Any]],
    query: dict[str, str],
    *,
    time_field: str = "timeCreated",
) -> tuple[list[dict[str, Any]], str | None]:
    """Sort per sortBy/sortOrder (OCI's defaults: timeCreated descending, displayName ascending)."""
    sort_by = enum_param(query.get("sortBy"), "sortBy", SORT_FIELDS) or "timeCreated"
    order = enum_param(query.get("sortOrder"), "sortOrder", {"ASC", "DESC"})
    descending = (order or ("DESC" if sort_by == "timeCreated" else "ASC")) == "DESC"
    field = time_field if sort_by == "timeCreated" else "displayName"
    limit = check_limit(query.get("limit"))
    ordered = sorted(docs, key=lambda d: _key(d, field), reverse=descending)
    page = query.get("page")
    if page:
        after = decode_token(page)
        ordered = [d for d in ordered if (_key(d, field) < after if descending else _key(d, field) > after)]
    chunk = ordered[:limit]
    next_token = encode_token(_key(chunk[-1], field)) if len(ordered) > limit else None
    return chunk, next_token
