"""OCI Usage API (``/20200107``): RequestSummarizedUsages, billed from the emulator's own job runs
(core/usage.py) with the price table (core/prices.py); plus the admin routes that set the delay
before usage shows and the table (``/_emulator/usage``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from aiohttp import web

from ocids_emulator.api.httpio import emulator, json_body, json_response
from ocids_emulator.core.emulator import RUN, Emulator
from ocids_emulator.core.errors import invalid
from ocids_emulator.core.prices import PriceTableError, load_price_table, parse_price_table
from ocids_emulator.core.timeutil import utcnow
from ocids_emulator.core.usage import page_of, page_time, parse_query, run_meters, summarize

BASE = "/20200107"
ADMIN = "/_emulator/usage"
TENANT_NAME = "ocids-emulator"


async def request_summarized_usages(request: web.Request) -> web.Response:
    body, token = answer(
        emulator(request), await json_body(request), request.query.get("page"), request.query.get("limit")
    )
    return json_response(body, headers={"opc-next-page": token} if token else None)


def answer(
    emu: Emulator, details: Any, page: str | None, limit: str | None, clock: Any = utcnow
) -> tuple[dict[str, Any], str | None]:
    """One page of a RequestSummarizedUsages answer (UsageAggregation) and the next page's token."""
    query = parse_query(details, emu.tenancy.tenancy_id)
    # Every page of one answer is cut from the answer as of its first page (OCI's pages do not
    # shift while a run's usage grows).
    if (now := page_time(page)) is None:
        now = clock()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # what the token keeps exactly
    common = {"tenantId": emu.tenancy.tenancy_id, "tenantName": TENANT_NAME, "region": emu.region}
    meters = [
        meter
        for record in emu.store.all(RUN)
        for meter in run_meters(
            record.doc,
            record.meta,
            shapes=emu.tenancy.job_shapes,
            table=emu.prices,
            now=now,
            common=common,
            compartments=emu.tenancy.compartments,
        )
    ]
    items = summarize(
        meters,
        query,
        visible_until=now - dt.timedelta(seconds=emu.settings.usage_delay_seconds),
        currency=emu.prices.currency if emu.prices else None,
        tenancy={"tenantId": emu.tenancy.tenancy_id, "tenantName": TENANT_NAME},
    )
    chunk, token = page_of(items, page, limit, at=now)
    return {"groupBy": list(query.group_by), "items": chunk}, token


def routes() -> list[web.RouteDef]:
    return [web.post(f"{BASE}/usage", request_summarized_usages)]


# --- admin (not OCI) ---------------------------------------------------------------------------
def usage_settings(emu: Emulator) -> dict[str, Any]:
    return {
        "delaySeconds": emu.settings.usage_delay_seconds,
        "priceTable": emu.prices.summary() if emu.prices else None,
    }


async def get_usage(request: web.Request) -> web.Response:
    return json_response(usage_settings(emulator(request)))


async def put_delay(request: web.Request) -> web.Response:
    """``{"seconds": N}``: usage shows N seconds after it happened (a run's whole cost N seconds
    after it ended)."""
    emu = emulator(request)
    seconds = (await json_body(request)).get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise invalid("seconds must be a number >= 0")
    emu.settings.usage_delay_seconds = float(seconds)
    return json_response(usage_settings(emu))


async def put_prices(request: web.Request) -> web.Response:
    """``{"yaml": "<prices.yaml text>"}`` or ``{"path": "<file>"}``; ``{"path": null}`` drops the
    table (amounts null). A broken table is 400 naming the row and field and changes nothing."""
    emu = emulator(request)
    body = await json_body(request)
    try:
        if isinstance(body.get("yaml"), str):
            emu.prices = parse_price_table(body["yaml"])
        elif "path" in body:
            emu.prices = load_price_table(Path(body["path"])) if body["path"] else None
        else:
            raise invalid("the body must name yaml (the table's text) or path (a file, or null)")
    except PriceTableError as exc:
        raise invalid(f"price table: {exc}") from None
    return json_response(usage_settings(emu))


def admin_routes() -> list[web.RouteDef]:
    return [
        web.get(ADMIN, get_usage, allow_head=False),
        web.put(f"{ADMIN}/delay", put_delay),
        web.put(f"{ADMIN}/prices", put_prices),
    ]
