"""Log records as the operator writes them: secrets hidden however a URL is written, one line per
record that no message can break into two, bounded size, and redaction linear in the record."""

from __future__ import annotations

import logging
import re
import secrets
import sys

import pytest
from ocids_operator.__main__ import ObjectLogFormatter
from ocids_operator.core import links, log_records
from ocids_operator.core.links import PAR_MASK, shown_url, without_url_secrets
from ocids_operator.core.log_records import MAX_RECORD_CHARS

TOKEN = "AbCdEf0123456789-_TOKEN"
HOST = "https://objectstorage.us-ashburn-1.oraclecloud.com"
RECORD_START = re.compile(r"^\S+ \S+ ")  # what a record's first line starts with: "<level> <logger>:"


def formatter() -> ObjectLogFormatter:
    return ObjectLogFormatter("%(levelname)s %(name)s: %(message)s")


def record(message: str, *args: object, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("kopf.objects", logging.ERROR, __file__, 1, message, args, exc_info)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        f"{HOST}/p%2F{TOKEN}%2Fn%2Fns1%2Fb%2Fbucket%2Fo%2Ftrain.py",
        f"{HOST}/p%2f{TOKEN}%2fn%2fns1/b/bucket/o/train.py",
        f"{HOST}%2Fp%2F{TOKEN}%2Fn%2Fns1/b/bucket/o/train.py",
        f"{HOST}/p/{TOKEN}%2Fn%2Fns1/b/bucket/o/train.py",
        f"{HOST}/p%252F{TOKEN}%252Fn%252Fns1/b/bucket/o/train.py",
        f"https%3A%2F%2Fobjectstorage.example.com%2Fp%2F{TOKEN}%2Fn%2Fns1%2Fb%2Fbucket%2Fo%2Ftrain.py",
        f"{HOST}/p/{TOKEN}%2B%2Fmore/n/ns1/b/bucket/o/train.py",
        f"{HOST}/100%/p%2F{TOKEN}%2Fn%2Fns1/b/bucket/o/train.py",
    ],
    ids=[
        "all-encoded",
        "lower-case",
        "host-slash",
        "half-encoded",
        "double-encoded",
        "whole-url",
        "plus",
        "stray-percent",
    ],
)
def test_a_par_token_written_percent_encoded_is_still_hidden(url: str) -> None:
    secret = TOKEN
    assert secret not in shown_url(url) and PAR_MASK in shown_url(url), shown_url(url)
    text = f"ClientResponseError: 404, message='Not Found', url='{url}' (from {url})"
    shown = without_url_secrets(text)
    assert secret not in shown and shown.count(PAR_MASK) == 2, shown
    assert shown.startswith("ClientResponseError: 404, message='Not Found', url='")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("oci://training@mytenancy/models/train.py", "oci://training@mytenancy/models/train.py"),
        ("oci://training@mytenancy/models/train.py?versionId=1", "oci://training@mytenancy/models/train.py"),
        ("OCI://training@mytenancy/x.py", "OCI://training@mytenancy/x.py"),
    ],
)
def test_an_oci_bucket_at_namespace_is_not_taken_for_a_user(url: str, shown: str) -> None:
    assert shown_url(url) == shown
    assert without_url_secrets(f"artifact.url {url} was not found") == f"artifact.url {shown} was not found"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("get https://bob:p@ss@files.example.com/a.py failed", "get https://files.example.com/a.py failed"),
        ("from http://x/?a=TOKEN#frag and s3://key:SECRET@bucket/o", "from http://x/ and s3://bucket/o"),
        # Written as they are when nothing in them is secret: status keeps showing the same URL.
        ("https://example.com/a%20b/train%2Bv2.py", "https://example.com/a%20b/train%2Bv2.py"),
        ("see 50%25 of https://h/x.py", "see 50%25 of https://h/x.py"),
    ],
)
def test_secrets_go_and_everything_else_stays_as_written(text: str, shown: str) -> None:
    assert without_url_secrets(text) == shown


def test_no_redaction_pattern_can_start_a_scan_inside_a_word() -> None:
    """What made redaction quadratic: a pattern that starts with an unbounded repeat is tried at
    every position of a long word (a hex script) and scans to the word's end each time. Each
    pattern here starts on a literal, or on a look-behind that only a word's first character
    passes, or is one character; so a word is scanned a bounded number of times whatever its
    length."""
    parser = sys.modules["re"]._parser  # type: ignore[attr-defined]
    patterns = [v for v in vars(links).values() if isinstance(v, re.Pattern)]
    assert len(patterns) >= 3
    for pattern in patterns:
        nodes = list(parser.parse(pattern.pattern, pattern.flags))
        opcode, argument = str(nodes[0][0]), nodes[0][1]
        one_character = opcode == "IN" and len(nodes) == 1
        lookbehind = opcode == "ASSERT_NOT" and argument[0] == -1
        assert one_character or lookbehind or opcode == "LITERAL", pattern.pattern


def test_decoding_a_secret_never_makes_one_word_two_lines() -> None:
    text = f"get {HOST}/a%0A2026-12-07%20ERROR%20forged/p%2F{TOKEN}%2Fn%2Fns1/b/bucket/o/x.py failed"
    shown = without_url_secrets(text)
    assert TOKEN not in shown and "\n" not in shown and len(shown.split()) == 3, shown
    assert "/a%0A2026-12-07%20ERROR%20forged/p/***/n/ns1/b/bucket/o/x.py" in shown


def test_a_200_kib_record_is_redacted_whole() -> None:
    script = secrets.token_hex(100 * 1024)
    text = f"{{'content': '{script}', 'url': '{HOST}/p/{TOKEN}/n/ns1/b/bucket/o/x.py?sig=S'}}"
    shown = without_url_secrets(text)
    assert TOKEN not in shown and "sig=S" not in shown and script in shown


def test_a_message_cannot_forge_a_second_record() -> None:
    forged = "done\n2026-12-07 13:00:00 ERROR ocids_operator: forged\rline\x1b[2J\u2028x"
    line = formatter().format(record("[%s]", forged))
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\u2028" not in line
    assert (
        line
        == r"ERROR kopf.objects: [done\n2026-12-07 13:00:00 ERROR ocids_operator: forged\rline\x1b[2J\u2028x]"
    )


def test_a_traceback_keeps_its_lines_indented_and_hides_urls() -> None:
    try:
        raise ValueError(f"bad\nERROR forged {HOST}/p/{TOKEN}/n/ns1/b/bucket/o/x.py")
    except ValueError:
        text = formatter().format(record("failed", exc_info=sys.exc_info()))
    first, *rest = text.split("\n")
    assert first == "ERROR kopf.objects: failed"
    assert rest and all(line.startswith("    ") for line in rest), text
    assert "    Traceback (most recent call last):" in rest
    assert TOKEN not in text and PAR_MASK in text


def test_a_long_record_keeps_its_start_and_end_around_a_count_of_what_was_cut() -> None:
    words = [f"w{i:06d}" for i in range(30_000)]
    message = " ".join(words)
    line = formatter().format(record(message))
    assert len(line) <= MAX_RECORD_CHARS
    assert line.startswith("ERROR kopf.objects: w000000 w000001") and line.endswith("w029999")
    head, cut, tail = re.fullmatch(r"(.*)… \((\d+) characters cut\) …(.*)", line).groups()  # type: ignore[union-attr]
    assert len(head) + int(cut) + len(tail) == len("ERROR kopf.objects: ") + len(message)
    assert not head.endswith(("w", "0")) or head.endswith(" ")  # whole words only


@pytest.mark.parametrize("where", ["head", "tail"])
def test_a_cut_never_leaves_half_a_secret(where: str) -> None:
    room = MAX_RECORD_CHARS - 40
    seam = room * 3 // 4 if where == "head" else 100_000 - room // 4
    secret = f"https://bob:SECRETPASSWORD@h/x and {HOST}/p/{TOKEN}/n/ns1/b/bucket/o/x.py"
    # The seam falls inside the password, then inside the PAR token.
    for offset in (len("https://bob:SECRET"), secret.index(TOKEN) + 5):
        text = "x " * ((seam - offset) // 2) + secret
        text += " y" * ((100_000 - len(text)) // 2)
        shown = log_records.shown_record(text)
        assert "SECRET" not in shown and "PASSWORD" not in shown and TOKEN[:8] not in shown, shown[
            seam - 200 :
        ]


def test_the_cut_marker_never_starts_a_line() -> None:
    block = "\n".join(f"  frame {i}" for i in range(4000))
    text = "ERROR kopf.objects: failed" + log_records.continuation_lines(block)
    shown = log_records.shown_record(text)
    assert len(shown) <= MAX_RECORD_CHARS
    assert all(line.startswith("    ") for line in shown.split("\n")[1:]), shown
