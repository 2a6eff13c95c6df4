"""Logging search (``POST /20190909/search``) for the query forms clients use.

Supported: ``search "<c>[/<lg>[/<log>]]"[, "..."]`` then any of ``| where <condition>`` and
``| sort by datetime asc|desc``. A condition compares ``source`` with a quoted pattern
(``source = '<pattern>'``, ``*`` wildcards), joined with ``and`` / ``or`` (``and`` binds tighter, as
in the Logging query language) and grouped with parentheses; several ``where`` clauses all apply.
Keywords are case-insensitive (ADS writes them in upper case).
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
# A where condition, multiplied out into alternatives, stays this small (no query can blow it up).
MAX_ALTERNATIVES = 1000
_STREAM = re.compile(r'"([^"]+)"')
_SEARCH = re.compile(r'^\s*search\s+((?:"[^"]+"\s*,?\s*)+)$', re.IGNORECASE)
_SORT = re.compile(r"^\s*sort\s+by\s+datetime(?:\s+(asc|desc))?\s*$", re.IGNORECASE)
_WHERE = re.compile(r"^\s*where\s+(.+)$", re.IGNORECASE | re.DOTALL)


# A condition as alternatives (or) of pattern groups that must all match (and): disjunctive form.
SourceFilter = list[list[str]]


@dataclass
class Query:
    streams: list[str]
    # One per `where` clause; a record must pass them all.
    source_filters: list[SourceFilter] = field(default_factory=list)
    descending: bool = False

    @property
    def source_patterns(self) -> list[str]:
        """The patterns of a query whose conditions are only ``and``-joined."""
        if any(len(alternatives) != 1 for alternatives in self.source_filters):
            raise ValueError("the query has alternatives (or)")
        return [pattern for alternatives in self.source_filters for pattern in alternatives[0]]


def _split_clauses(text: str) -> list[str]:
    """The query cut at each ``|`` outside a quoted string."""
    clauses, start, quote = [], 0, ""
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "|":
            clauses.append(text[start:index])
            start = index + 1
    return [*clauses, text[start:]]


_TOKEN = re.compile(r"\s*(?:('(?:[^']|'')*')|(\()|(\))|(=)|([A-Za-z_][A-Za-z0-9_.]*))")


def _tokens(text: str) -> list[str]:
    tokens, at = [], 0
    while at < len(text.rstrip()):
        match = _TOKEN.match(text, at)
        if not match or match.end() == at:
            raise invalid(f"searchQuery: cannot read the condition at {text[at:].strip()!r}")
        tokens.append(match.group(0).strip())
        at = match.end()
    return tokens


class _Condition:
    """``source = '<pattern>'`` joined by and / or, with parentheses, into disjunctive form."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    def parse(self) -> SourceFilter:
        result = self._or()
        if self.at != len(self.tokens):
            raise invalid(f"searchQuery: unexpected {self.tokens[self.at]!r} in a where condition")
        return result

    def _peek(self) -> str:
        return self.tokens[self.at] if self.at < len(self.tokens) else ""

    def _or(self) -> SourceFilter:
        alternatives = self._and()
        while self._peek().lower() == "or":
            self.at += 1
            alternatives = alternatives + self._and()
        return alternatives

    def _and(self) -> SourceFilter:
        alternatives = self._factor()
        while self._peek().lower() == "and":
            self.at += 1
            right = self._factor()
            alternatives = [left + other for left in alternatives for other in right]
            if len(alternatives) > MAX_ALTERNATIVES:
                raise invalid(f"searchQuery: the where condition has over {MAX_ALTERNATIVES} alternatives")
        return alternatives

    def _factor(self) -> SourceFilter:
        if self._peek() == "(":
            self.at += 1
            inner = self._or()
            if self._peek() != ")":
                raise invalid("searchQuery: a parenthesis is not closed")
            self.at += 1
            return inner
        field_name, equals, value = self.tokens[self.at : self.at + 3] + [""] * (
            3 - len(self.tokens[self.at : self.at + 3])
        )
        if field_name != "source" or equals != "=" or not value.startswith("'"):
            shown = " ".join(self.tokens[self.at : self.at + 3])
            raise invalid(f"searchQuery: unsupported condition {shown!r} (only source = '...')")
        self.at += 3
        return [[value[1:-1].replace("''", "'")]]


def parse_query(text: str) -> Query:
    clauses = _split_clauses(text)
    head = _SEARCH.match(clauses[0])
    if not head:
        raise invalid('searchQuery must start with search "<compartment>/<logGroup>/<log>"')
    parsed = Query(streams=_STREAM.findall(head.group(1)))
    for clause in clauses[1:]:
        where = _WHERE.match(clause)
        sort = _SORT.match(clause)
        if where:
            parsed.source_filters.append(_Condition(where.group(1)).parse())
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
    source_likes = [
        [[like_pattern(pattern) for pattern in group] for group in alternatives]
        for alternatives in parsed.source_filters
    ]
    rows = emu.store.search_log_entries(logs, start, end, source_likes, parsed.descending, offset, limit + 1)
    more = len(rows) > limit
    results = [{"data": row} for row in rows[:limit]]
    doc: dict[str, object] = {"results": results, "summary": {"resultCount": len(results), "fieldCount": 0}}
    if body.get("isReturnFieldInfo"):
        doc["fields"] = []
    headers = {"opc-next-page": str(offset + limit)} if more else None
    return json_response(doc, headers=headers)


def routes() -> list[web.RouteDef]:
    return [web.post("/20190909/search", search_logs)]
