"""Logging search (``POST /20190909/search``) for the query forms clients use.

Supported: ``search "<c>[/<lg>[/<log>]]"[, "..."]`` then any of ``| where source = '<pattern>'``
(``*`` wildcards at either end, ``and``-joined conditions on ``source``) and
``| sort by datetime asc|desc``. Keywords are case-insensitive (ADS writes them in upper case).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from aiohttp import web

from ocids_emulator.api.httpio import emulator, json_body, json_response
from ocids_emulator.core.emulator import LOG, Emulator
from ocids_emulator.core.errors import invalid, missing
from ocids_emulator.core.timeutil import parse_rfc3339
from ocids_emulator.store.paging import check_limit

MAX_WINDOW = dt.timedelta(days=14)
_STREAM = re.compile(r'"([^"]+)"')
_SEARCH = re.compile(r'^\s*search\s+((?:"[^"]+"\s*,?\s*)+)$', re.IGNORECASE)
_SOURCE = re.compile(r"^\s*source\s*=\s*'([^']*)'\s*$", re.IGNORECASE)
_SORT = re.compile(r"^\s*sort\s+by\s+datetime(?:\s+(asc|desc))?\s*$", re.IGNORECASE)
_WHERE = re.compile(r"^\s*where\s+(.+)$", re.IGNORECASE | re.DOTALL)


@dataclass
class Query:
    streams: list[str]
    source_patterns: list[str] = field(default_factory=list)
    descending: bool = False


def parse_query(text: str) -> Query:
    clauses = [c for c in text.split("|")]
    head = _SEARCH.match(clauses[0])
    if not head:
        raise invalid('searchQuery must start with search "<compartment>/<logGroup>/<log>"')
    parsed = Query(streams=_STREAM.findall(head.group(1)))
    for clause in clauses[1:]:
        where = _WHERE.match(clause)
        sort = _SORT.match(clause)
        if where:
            for cond in re.split(r"\s+and\s+", where.group(1), flags=re.IGNORECASE):
                source = _SOURCE.match(cond)
                if not source:
                    raise invalid(
                        f"searchQuery: unsupported condition {cond.strip()!r} (only source = '...')"
                    )
                parsed.source_patterns.append(source.group(1))
        elif sort:
            parsed.descending = (sort.group(1) or "asc").lower() == "desc"
        else:
            raise invalid(f"searchQuery: unsupported clause {clause.strip()!r}")
    return parsed


def like_pattern(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def resolve_logs(emu: Emulator, streams: list[str]) -> list[str]:
    logs: list[str] = []
    for stream in streams:
        parts = stream.split("/")
        if len(parts) > 3 or not parts[0]:
            raise invalid(f"searchQuery: {stream!r} is not <compartment>[/<logGroup>[/<log>]]")
        emu.check_compartment(parts[0])
        for record in emu.store.all(LOG):
            doc = record.doc
            if doc["compartmentId"] != parts[0]:
                continue
            if len(parts) > 1 and doc["logGroupId"] != parts[1]:
                continue
            if len(parts) > 2 and record.id != parts[2]:
                continue
            logs.append(record.id)
    return logs


def _bound(value: object, field_name: str) -> str:
    if not isinstance(value, str):
        raise missing(field_name)
    try:
        moment = parse_rfc3339(value)
    except ValueError:
        raise invalid(f"{field_name} must be an RFC 3339 timestamp") from None
    # Entries are stored with microseconds; compare in the same fixed-width form.
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def search_logs(request: web.Request) -> web.Response:
    emu = emulator(request)
    body = await json_body(request)
    start, end = _bound(body.get("timeStart"), "timeStart"), _bound(body.get("timeEnd"), "timeEnd")
    if parse_rfc3339(end) < parse_rfc3339(start):
        raise invalid("timeEnd must not be before timeStart")
    if parse_rfc3339(end) - parse_rfc3339(start) > MAX_WINDOW:
        raise invalid("The time window between timeStart and timeEnd must be at most 14 days")
    text = body.get("searchQuery")
    if not isinstance(text, str) or not text.strip():
        raise missing("searchQuery")
    parsed = parse_query(text)
    limit = check_limit(request.query.get("limit"), default=100, maximum=1000)
    page = request.query.get("page") or "0"
    if not page.isdigit():
        raise invalid("page is not a page token this service issued")
    offset = int(page)
    logs = resolve_logs(emu, parsed.streams)
    source_like = like_pattern(parsed.source_patterns[0]) if parsed.source_patterns else None
    rows = emu.store.search_log_entries(logs, start, end, source_like, parsed.descending, offset, limit + 1)
    if len(parsed.source_patterns) > 1:
        extra = [re.compile(re.escape(p).replace(r"\*", ".*") + "$") for p in parsed.source_patterns[1:]]
        rows = [r for r in rows if all(x.match(r["logContent"]["source"]) for x in extra)]
    more = len(rows) > limit
    results = [{"data": row} for row in rows[:limit]]
    doc: dict[str, object] = {"results": results, "summary": {"resultCount": len(results), "fieldCount": 0}}
    if body.get("isReturnFieldInfo"):
        doc["fields"] = []
    headers = {"opc-next-page": str(offset + limit)} if more else None
    return json_response(doc, headers=headers)


def routes() -> list[web.RouteDef]:
    return [web.post("/20190909/search", search_logs)]
