"""Links users click: OCI console pages for jobs and runs, and a log search for one run."""

from __future__ import annotations

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
