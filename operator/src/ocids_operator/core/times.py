"""Times as status holds them (RFC 3339 strings) and as the API client may hand them over."""

from __future__ import annotations

import datetime


def parse_time(value: object) -> datetime.datetime | None:
    """An aware datetime (UTC when the text names no zone), or None for nothing or a malformed value."""
    if isinstance(value, datetime.datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
