"""Links users click (OCI console pages, a log search for one run) and URLs users wrote, as shown."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

CONSOLE = "https://cloud.oracle.com"


def job_console_url(job_id: str, region: str) -> str:
    return f"{CONSOLE}/data-science/jobs/{job_id}?region={region}"


def job_run_console_url(job_run_id: str, region: str) -> str:
    return f"{CONSOLE}/data-science/job-runs/{job_run_id}?region={region}"


def log_group_url(log_group_id: str, region: str) -> str:
    return f"{CONSOLE}/logging/log-groups/{log_group_id}?region={region}"


def log_search_query(compartment_id: str, log_group_id: str, log_id: str, job_run_id: str) -> str:
    # The query the console itself builds for "logs of this job run".
    return (
        f'search "{compartment_id}/{log_group_id}/{log_id}" '
        f"| where source = '*{job_run_id}' | sort by datetime asc"
    )


def log_search_url(compartment_id: str, log_group_id: str, log_id: str, job_run_id: str, region: str) -> str:
    query = log_search_query(compartment_id, log_group_id, log_id, job_run_id)
    return f"{CONSOLE}/logging/search?searchQuery={quote(query, safe='')}&regions={region}"


# Where URLs the user wrote are shown (status, messages, Events, logs) ---------------------------
# Every pattern starts on a literal or a bounded class and never rescans what an earlier attempt
# covered, so redaction is linear in the text: an unbounded scheme pattern once took 3.7 s on one
# 40,000-character DEBUG line (a hex script), while the lease renewal waited.
#
# A URL inside free text: its user:password@, query string and fragment are dropped. The scheme is
# at most 32 characters and starts a word. `oci://bucket@namespace/object` names a bucket, not a
# user: its `bucket@` stays.
_URL = re.compile(
    r"(?<![a-z0-9+.-])(?P<scheme>[a-z][a-z0-9+.-]{0,31})://"
    r"(?P<userinfo>[^\s'\"/?#]*@)?(?P<rest>[^\s'\"?#]*)(?:[?#][^\s'\"]*)?",
    re.IGNORECASE,
)
# An OCI pre-authenticated request carries its secret as a path segment: /p/<token>/n/<namespace>/...
# (regional and dedicated `*.objectstorage.*` endpoints alike, and any host fronting them).
_PAR_TOKEN = re.compile(r"/p/[^/\s'\"?#]+/n/")
PAR_MASK = "/p/***/n/"
# A word (between spaces and quotes) with a percent escape in it, tried from its first character
# only (a stray "100%" before the escape included).
_ENCODED_WORD = re.compile(r"(?<![^\s'\"])[^\s'\"]*%[0-9a-f]{2}[^\s'\"]*", re.IGNORECASE)
_UNSAFE_DECODED = re.compile(r"[\s'\"\x00-\x1f\x7f\x85\u2028\u2029]")
# %252F is a double-encoded "/"; more rounds than this no client undoes either.
_DECODE_ROUNDS = 3


def _without_userinfo(match: re.Match[str]) -> str:
    scheme, userinfo = match["scheme"], match["userinfo"] or ""
    kept = userinfo if scheme.lower() == "oci" else ""
    return f"{scheme}://{kept}{match['rest']}"


def _plain_redacted(text: str) -> str:
    return _PAR_TOKEN.sub(PAR_MASK, _URL.sub(_without_userinfo, text))


def _decoded(word: str) -> str:
    for _ in range(_DECODE_ROUNDS):
        unquoted = unquote(word)
        if unquoted == word:
            break
        word = unquoted
    return word


def _encoded_secrets_redacted(match: re.Match[str]) -> str:
    """A word whose decoded form shows a secret (`%2Fp%2F<token>%2Fn%2F`, `/p%2F...`, an encoded
    URL's query) is shown decoded and redacted; any other word is left as written. What decoding
    made a space, quote or control character (a line break) stays encoded: one word stays one."""
    word = match[0]
    decoded = _decoded(word)
    redacted = _plain_redacted(decoded)
    if redacted == decoded:
        return word
    return _UNSAFE_DECODED.sub(lambda c: quote(c[0], safe=""), redacted)


def _without_encoded_secrets(text: str) -> str:
    if "%" not in text:
        return text
    # One pass over the whole text first: redaction only looks within words, so if the decoded text
    # shows nothing to hide, no decoded word does (and most texts with escapes hide nothing).
    decoded = _decoded(text)
    if decoded == text or _plain_redacted(decoded) == decoded:
        return text
    return _ENCODED_WORD.sub(_encoded_secrets_redacted, text)


def shown_url(url: str) -> str:
    """The URL as status, events and logs may show it: no query string, fragment, user:password@
    or pre-authenticated request token, written plainly or percent-encoded.

    Query strings carry tokens (signed URLs), userinfo is a password, and a PAR URL's path is its
    credential: anyone holding it reads (or writes) the object.
    """
    base = url.split("?", 1)[0].split("#", 1)[0]
    scheme, sep, rest = base.partition("://")
    if sep and scheme.lower() != "oci":
        authority, slash, path = rest.partition("/")
        base = f"{scheme}{sep}{authority.rsplit('@', 1)[-1]}{slash}{path}"
    return _without_encoded_secrets(_PAR_TOKEN.sub(PAR_MASK, base))


def without_url_secrets(text: str) -> str:
    """`shown_url` for every URL inside a text (error messages quote redirect targets too), and
    every PAR token, in time linear in the text's length."""
    return _without_encoded_secrets(_plain_redacted(text))
