"""What the Notifications handlers share: the app's notifier and OCI's list paging."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from ocids_emulator.api.httpio import list_response
from ocids_emulator.core.notifications import Notifier
from ocids_emulator.store.paging import check_limit, decode_token, encode_token, enum_param

NOTIFIER_KEY: web.AppKey[Notifier] = web.AppKey("notifier", Notifier)


def notifier(request: web.Request) -> Notifier:
    return request.app[NOTIFIER_KEY]


def base_url(request: web.Request) -> str:
    """This emulator as the caller reached it: a topic's apiEndpoint, a confirmation link's host."""
    return f"{request.scheme}://{request.host}"


def page(
    docs: Iterable[dict[str, Any]],
    q: dict[str, str],
    *,
    id_field: str,
    sort_fields: dict[str, str],
    default_sort: str,
) -> web.Response:
    """Sorted (``sortBy`` one of ``sort_fields``; time descending, names ascending by default) and
    paged by keyset, so items made while a client pages never shift the pages it has yet to read."""
    sort_by = enum_param(q.get("sortBy"), "sortBy", frozenset(sort_fields)) or default_sort
    order = enum_param(q.get("sortOrder"), "sortOrder", frozenset({"ASC", "DESC"}))
    field = sort_fields[sort_by]
    descending = (order or ("DESC" if field in ("timeCreated", "createdTime") else "ASC")) == "DESC"
    limit = check_limit(q.get("limit"))

    def key(doc: dict[str, Any]) -> tuple[str, str]:
        value = doc.get(field)
        # Epoch milliseconds sort as zero-padded text, like the RFC 3339 times.
        text = f"{value:020d}" if isinstance(value, int) else str(value or "")
        return (text, str(doc[id_field]))

    ordered = sorted(docs, key=key, reverse=descending)
    token = q.get("page")
    if token:
        after = decode_token(token)
        ordered = [d for d in ordered if (key(d) < after if descending else key(d) > after)]
    chunk = ordered[:limit]
    next_page = encode_token(key(chunk[-1])) if len(ordered) > limit else None
    return list_response(chunk, next_page)
