"""The list endpoints' shared shape: scope, filters, lifecycle state, sorting and paging."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ocids_emulator.api.httpio import emulator, list_response, query
from ocids_emulator.core.emulator import Emulator
from ocids_emulator.core.errors import missing
from ocids_emulator.store.paging import enum_param, paginate


@dataclass(frozen=True)
class Listing:
    """How one list endpoint filters and shows the records of one kind."""

    kind: str
    # Query parameters that must equal the field of the same name.
    filters: tuple[str, ...] = ()
    # Set: the lifecycleState parameter picks one state, and DELETED items are hidden unless asked.
    states: frozenset[str] | None = None
    time_field: str = "timeCreated"
    # Set: list items are summaries with only these fields.
    summary_fields: tuple[str, ...] | None = None
    # False: sortBy is ignored (the newest come first).
    sortable: bool = True


def required_compartment(emu: Emulator, q: dict[str, str]) -> str:
    compartment = q.get("compartmentId")
    if not compartment:
        raise missing("compartmentId")
    emu.check_compartment(compartment)
    return compartment


def list_records(
    request: web.Request,
    listing: Listing,
    scope: tuple[str, str] | None = None,
    keep: Callable[[dict[str, Any]], bool] | None = None,
) -> web.Response:
    """The records of ``listing.kind`` whose ``scope`` field (default: the compartmentId asked) matches
    (and that ``keep`` accepts, for filters that are not a plain field equality)."""
    emu = emulator(request)
    q = query(request)
    field, value = scope or ("compartmentId", required_compartment(emu, q))
    state = enum_param(q.get("lifecycleState"), "lifecycleState", listing.states) if listing.states else None
    wanted = {k: q[k] for k in listing.filters if q.get(k)}
    docs = [
        r.doc
        for r in emu.store.all(listing.kind)
        if r.doc[field] == value
        and (listing.states is None or _state_matches(r.doc["lifecycleState"], state))
        and all(r.doc.get(k) == v for k, v in wanted.items())
        and (keep is None or keep(r.doc))
    ]
    return page_response(docs, q, listing)


def page_response(docs: Iterable[dict[str, Any]], q: dict[str, str], listing: Listing) -> web.Response:
    if not listing.sortable:
        q = {k: v for k, v in q.items() if k != "sortBy"}
    page, next_page = paginate(docs, q, time_field=listing.time_field)
    fields = listing.summary_fields
    items = page if fields is None else [{k: d[k] for k in fields if k in d} for d in page]
    return list_response(items, next_page)


def _state_matches(actual: str, asked: str | None) -> bool:
    return actual == asked if asked else actual != "DELETED"
