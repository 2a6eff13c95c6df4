"""What a formatted log record may look like: one line per record, bounded, without secrets.

A record's message is one physical line: line breaks and other control characters in it (a URL,
an object's field, an exception's text) are escaped, so nothing written into a message can forge
a second record. A traceback keeps its lines, each indented, so that only a record's own first
line starts at column 0. A record longer than MAX_RECORD_CHARS keeps its beginning and its end
(the end of a traceback names the error) around a marker saying how much was cut.
"""

from __future__ import annotations

from .links import without_url_secrets

MAX_RECORD_CHARS = 16 * 1024
CONTINUATION = "\n    "
# Word boundaries for a cut: a cut through a word drops the whole word, so that no half of a URL
# (its user:pass without the @, a PAR token without its /n/) escapes the redaction that follows.
_BREAKS = frozenset(" \t\n'\"")
_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F, 0x85]}
_ESCAPES.update({ord("\t"): "\t", ord("\n"): "\\n", ord("\r"): "\\r", 0x2028: "\\u2028", 0x2029: "\\u2029"})
# In a traceback "\n" separates its lines; every other control character is escaped still.
_BLOCK_ESCAPES = {**_ESCAPES, ord("\n"): CONTINUATION}


def one_line(text: str) -> str:
    """The text with \\r, \\n and every other control character (but tab) escaped."""
    return text.translate(_ESCAPES)


def continuation_lines(text: str) -> str:
    """A traceback or stack as lines that follow a record's first line, each indented."""
    return CONTINUATION + text.rstrip("\n").translate(_BLOCK_ESCAPES)


def _word_start(text: str, end: int) -> int:
    """Where the word that `end` falls into starts (`end` itself at a break)."""
    return max(text.rfind(c, 0, end) for c in _BREAKS) + 1


def _word_end(text: str, start: int) -> int:
    """Where the word that `start` falls into ends (`start` itself at a break)."""
    found = [i for i in (text.find(c, start) for c in _BREAKS) if i >= 0]
    return min(found, default=len(text))


def cut_to_size(text: str, limit: int = MAX_RECORD_CHARS) -> str:
    """The text if it fits; else its first three quarters and last quarter of `limit`, without
    the words the cuts go through, around `… (N characters cut) …`."""
    if len(text) <= limit:
        return text
    room = limit - 40  # the marker's own length, with a count of up to 20 digits
    head_end = _word_start(text, room * 3 // 4)
    tail_start = _word_end(text, len(text) - room // 4)
    # The marker goes on the line the head ends in: a line that starts with it is no record.
    head = text[:head_end].rstrip("\n")
    return f"{head}… ({tail_start - len(head)} characters cut) …{text[tail_start:]}"


def shown_record(text: str, limit: int = MAX_RECORD_CHARS) -> str:
    """A formatted record as it is written: cut to size, then without URL secrets (linear in the
    record's length, and run on at most `limit` characters of it)."""
    shown = without_url_secrets(cut_to_size(text, limit))
    # A masked PAR token can be longer than a one- or two-character token it replaced.
    return shown if len(shown) <= limit else shown[:limit]
