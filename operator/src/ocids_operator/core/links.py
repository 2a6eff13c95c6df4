"""Links users click (OCI console pages, a log search for one run) and URLs users wrote, as shown."""

from __future__ import annotations

import re
from urllib.parse import quote

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
# A URL inside free text: its user:password@ and its query string and fragment are dropped.
_URL_SECRETS = re.compile(
    r"([a-z][a-z0-9+.-]*://)(?:[^\s'\"/?#@]*@)?([^\s'\"?#]*)(?:[?#][^\s'\"]*)?", re.IGNORECASE
)
# An OCI pre-authenticated request carries its secret as a path segment: /p/<token>/n/<namespace>/...
# (regional and dedicated `*.objectstorage.*` endpoints alike, and any host fronting them).
_PAR_TOKEN = re.compile(r"/p/[^/\s'\"?#]+/n/")
PAR_MASK = "/p/***/n/"


def shown_url(url: str) -> str:
    """The URL as status, events and logs may show it: no query string, fragment, user:password@
    or pre-authenticated request token.

    Query strings carry tokens (signed URLs), userinfo is a password, and a PAR URL's path is its
    credential: anyone holding it reads (or writes) the object.
    """
    base = url.split("?", 1)[0].split("#", 1)[0]
    scheme, sep, rest = base.partition("://")
    if sep:
        authority, slash, path = rest.partition("/")
        base = f"{scheme}{sep}{authority.rsplit('@', 1)[-1]}{slash}{path}"
    return _PAR_TOKEN.sub(PAR_MASK, base)


def without_url_secrets(text: str) -> str:
    """`shown_url` for every URL inside a text (error messages quote redirect targets too)."""
    return _PAR_TOKEN.sub(PAR_MASK, _URL_SECRETS.sub(r"\1\2", text))
