"""Command-line words -> a Python entry function's arguments, the way ADS's PythonRuntime does."""

from __future__ import annotations

from typing import Any


def parse_arguments(words: list[str]) -> tuple[list[str], dict[str, Any]]:
    """``--key value`` becomes the keyword ``key="value"``; a ``--key`` with no value after it
    (the last word, or followed by another ``--key``) becomes ``key=None``; any other word is
    positional. Values stay strings: the function converts them, as it would from argv."""
    positional: list[str] = []
    keywords: dict[str, Any] = {}
    key: str | None = None
    for word in words:
        if len(word) > 2 and word.startswith("--"):
            key = word[2:]
            keywords[key] = None
        elif key is not None:
            keywords[key] = word
            key = None
        else:
            positional.append(word)
    return positional, keywords
