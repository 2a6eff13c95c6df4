"""One copy of the strings thousands of kept objects repeat (namespaces, TrainingJob names,
phases, condition types, timestamps to the second, label keys and values). Each object the watch
or a status write parses comes with its own copies; the run ledger, history index and poller
keep one small dict per run for as long as the run lives (issue 19: memory per followed run)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

# Longer strings are messages, URLs and OCIDs: unique per run, not worth the intern table's entry.
MAX_SHARED_LENGTH = 64


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
    # Only plain str can be interned (not a StrEnum member, which is shared already).
    return sys.intern(text) if type(text) is str and len(text) <= MAX_SHARED_LENGTH else text
