"""Reading one run's log lines through the OCI Logging search API, without losing or repeating any.

`LogFollower` is the rule, free of I/O: each poll searches from a little before the newest line
already seen (late lines, ingested after newer ones, still fall in the window), drops records it
has printed (by `logContent.id`), and returns the rest in datetime order. `paged_search` is the OCI
side: every page of every window (opc-next-page), split into the 14-day windows the API allows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# How far back each poll looks from the newest line seen: a line ingested up to this long after a
# newer one is still found (OCI Logging ingests within seconds; ADS's watch() polled a fixed
# "since the last line" window and could miss or hang on such lines).
OVERLAP = dt.timedelta(seconds=60)
# Logging search refuses a window over 14 days.
MAX_WINDOW = dt.timedelta(days=14)
PAGE_LIMIT = 1000

# (window start, window end) -> every record of the window: the `data` of each search result.
Search = Callable[[dt.datetime, dt.datetime], Iterable[Mapping[str, Any]]]


@dataclass(frozen=True)
class LogLine:
    at: dt.datetime
    id: str
    message: str


def _moment(record: Mapping[str, Any], content: Mapping[str, Any]) -> dt.datetime | None:
    stamp = record.get("datetime")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        return dt.datetime.fromtimestamp(stamp / 1000, tz=dt.UTC)
    text = content.get("time")
    if isinstance(text, str):
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return None


def log_line(record: Mapping[str, Any]) -> LogLine | None:
    """One search result's line (`{datetime: epoch ms, logContent: {id, time, data: {message}}}`)."""
    content = record.get("logContent")
    if not isinstance(content, Mapping):
        return None
    data = content.get("data")
    message = data.get("message") if isinstance(data, Mapping) else None
    at = _moment(record, content)
    if message is None or at is None:
        return None
    ident = content.get("id")
    # Records always carry an id; without one, the same time and text are taken to be the same line.
    key = str(ident) if ident else f"{at.isoformat()}|{content.get('source', '')}|{message}"
    return LogLine(at=at, id=key, message=str(message))


class LogFollower:
    """Polls a search for new lines: no line twice, none lost (within OVERLAP), each poll in order."""

    def __init__(self, search: Search, start: dt.datetime, overlap: dt.timedelta = OVERLAP) -> None:
        self._search = search
        self._start = start
        self._overlap = overlap
        self._newest: dt.datetime | None = None
        # Lines returned so far, by id, with their time: forgotten once the window has moved past them.
        self._seen: dict[str, dt.datetime] = {}

    def window_start(self) -> dt.datetime:
        if self._newest is None:
            return self._start
        return max(self._start, self._newest - self._overlap)

    def poll(self, now: dt.datetime) -> list[LogLine]:
        """The lines not returned before, oldest first."""
        start = self.window_start()
        # The window ends now: a line stamped by a clock ahead of ours is found by a later poll (the
        # next window still starts before it), and a search never asks about the future. Every page
        # is read before anything is marked seen: a search failing half-way loses nothing.
        records = list(self._search(start, max(start, now)))
        fresh: list[LogLine] = []
        for record in records:
            line = log_line(record)
            if line is None or line.id in self._seen or line.at < start:
                continue
            self._seen[line.id] = line.at
            fresh.append(line)
        fresh.sort(key=lambda line: line.at)  # stable: lines of one instant keep the search's order
        if fresh and (self._newest is None or fresh[-1].at > self._newest):
            self._newest = fresh[-1].at
        horizon = self.window_start()
        self._seen = {ident: at for ident, at in self._seen.items() if at >= horizon}
        return fresh


def windows(start: dt.datetime, end: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """[start, end] cut into consecutive windows of at most MAX_WINDOW."""
    while True:
        stop = min(end, start + MAX_WINDOW)
        yield start, stop
        if stop >= end:
            return
        start = stop


def paged_search(client: Any, query: str, limit: int = PAGE_LIMIT) -> Search:
    """`Search` over `oci.loggingsearch.LogSearchClient.search_logs`: all pages of all windows."""
    from oci.loggingsearch.models import SearchLogsDetails

    def search(start: dt.datetime, end: dt.datetime) -> Iterator[Mapping[str, Any]]:
        for window_start, window_end in windows(start, end):
            details = SearchLogsDetails(
                time_start=window_start, time_end=window_end, search_query=query, is_return_field_info=False
            )
            page: str | None = None
            while True:
                kwargs: dict[str, Any] = {"limit": limit}
                if page:
                    kwargs["page"] = page
                response = client.search_logs(details, **kwargs)
                for result in response.data.results or []:
                    if isinstance(result.data, Mapping):
                        yield result.data
                page = response.next_page
                if not page:
                    break

    return search
