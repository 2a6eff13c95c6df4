"""The OCI side as a user with the `oci` SDK sees it (here: the emulator)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import oci


@dataclass
class OciTarget:
    """Where (and as whom) the operator and the tests talk OCI: the emulator in tests."""

    endpoint: str
    config_file: Path
    profile: str
    region: str


class OciView:
    """The OCI side as a user with the SDK sees it (here: the emulator)."""

    def __init__(self, target: OciTarget) -> None:
        config = oci.config.from_file(str(target.config_file), target.profile)
        config.setdefault("region", target.region)
        self.target = target
        self.ds = oci.data_science.DataScienceClient(
            config, service_endpoint=target.endpoint, retry_strategy=oci.retry.NoneRetryStrategy()
        )
        self.log_search = oci.loggingsearch.LogSearchClient(config, service_endpoint=target.endpoint)

    def jobs(self, compartment_id: str, *, include_deleted: bool = False) -> list[Any]:
        items = oci.pagination.list_call_get_all_results(
            self.ds.list_jobs, compartment_id=compartment_id
        ).data
        return [j for j in items if include_deleted or j.lifecycle_state not in ("DELETED", "DELETING")]

    def job_runs(
        self, compartment_id: str, job_id: str | None = None, *, include_deleted: bool = False
    ) -> list[Any]:
        kwargs: dict[str, Any] = {"compartment_id": compartment_id}
        if job_id:
            kwargs["job_id"] = job_id
        items = oci.pagination.list_call_get_all_results(self.ds.list_job_runs, **kwargs).data
        return [r for r in items if include_deleted or r.lifecycle_state != "DELETED"]

    def get_job(self, job_id: str) -> Any | None:
        try:
            return self.ds.get_job(job_id).data
        except oci.exceptions.ServiceError as exc:
            if exc.status == 404:
                return None
            raise

    def get_job_run(self, run_id: str) -> Any | None:
        try:
            return self.ds.get_job_run(run_id).data
        except oci.exceptions.ServiceError as exc:
            if exc.status == 404:
                return None
            raise

    def search_log_messages(self, query: str, window: timedelta = timedelta(hours=2)) -> list[str]:
        now = datetime.now(UTC)
        details = oci.loggingsearch.models.SearchLogsDetails(
            time_start=now - window, time_end=now + timedelta(minutes=5), search_query=query
        )
        result = self.log_search.search_logs(details, limit=1000).data
        messages = []
        for item in result.results or []:
            data = item.data or {}
            content = data.get("logContent") or {}
            message = (content.get("data") or {}).get("message")
            if message is not None:
                messages.append(str(message))
        return messages


def log_query_from_url(url: str) -> str:
    """The Logging search query a status.logs.url link carries (what the console would run)."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    return query["searchQuery"][0]
