"""One copy of the strings thousands of kept objects repeat (namespaces, TrainingJob names,
phases, condition types, timestamps to the second, label keys and values). Each object the watch
or a status write parses comes with its own copies; the run ledger, history index and poller
keep one small dict per run for as long as the run lives (issue 19: memory per followed run)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Longer strings are messages, URLs and OCIDs: unique per run, not worth the table's entry.
MAX_SHARED_LENGTH = 64
# The table is our own, not sys.intern's: strings unique to one run (its uid, name, timestamps) pass
# through it too, and CPython 3.12 makes interned strings immortal. Bounded: when full it starts over
# (strings already shared stay shared; only new copies stop being merged until they are seen again).
MAX_SHARED_STRINGS = 200_000
_TABLE: dict[str, str] = {}


def shared(value: Any) -> Any:
    """`value` with its short strings (and every dict key) interned, nested dicts and lists rebuilt."""
    if isinstance(value, str):
        return _interned(value)
    if isinstance(value, Mapping):
        return {_interned(key): shared(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shared(item) for item in value]
    return value


def _interned(text: Any) -> Any:
    # Only plain str (not a StrEnum member, which is shared already).
    if type(text) is not str or len(text) > MAX_SHARED_LENGTH:
        return text
    known = _TABLE.get(text)
    if known is not None:
        return known
    if len(_TABLE) >= MAX_SHARED_STRINGS:
        _TABLE.clear()
    _TABLE[text] = text
    return text
