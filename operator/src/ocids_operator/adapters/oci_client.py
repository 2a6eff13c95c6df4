"""The operator's only door to OCI Data Science: an async Protocol in core terms, and its SDK implementation.

Workflows depend on `DataScience` (tests hand them a fake); `OciGateway` implements it with the
blocking SDK, moved off the event loop here and nowhere else. Every call is counted by operation
and outcome, 404s on reads come back as None, and the SDK's own retry strategy is kept but bounded
so a handler never blocks for minutes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import datetime
import functools
import time
from collections.abc import Callable, Collection, Coroutine, Iterator
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import oci
from oci.data_science import DataScienceClient
from oci.data_science.models import UpdateJobRunDetails

from .. import metrics
from ..core.errors import retry
from ..core.job_plan import ObservedJob
from ..core.links import log_search_query
from ..core.metric_lines import LogLine
from ..core.model import JobRequest, JobUpdate, ResolvedArtifact, RunRequest, content_digest
from ..core.phases import ACTIVE_RUN_STATES, GONE_JOB_STATES, RunState
from ..core.run_plan import RunView
from ..core.shape_choice import FastLaunchConfig
from ..settings import OperatorSettings
from . import oci_mapping as mapping
from .oci_errors import is_not_found
from .oci_sdk import CallCounter, SdkAuth

T = TypeVar("T")
S = TypeVar("S")
P = ParamSpec("P")
PAGE_LIMIT = 100
# A shape missing from a cached catalog is read again, unless the catalog is this fresh: many objects
# naming one unknown shape share a read instead of each making one.
CATALOG_REFRESH_FLOOR_SECONDS = 5.0


class DataScience(Protocol):
    """What the workflows ask of OCI Data Science."""

    @property
    def region(self) -> str: ...

    async def get_job(self, job_id: str) -> ObservedJob | None: ...

    async def job_artifact_digest(self, job_id: str, max_bytes: int) -> str | None:
        """Digest of the job's artifact; None when it has none or it is over `max_bytes`."""
        ...

    async def compartment_of(self, ocid: str) -> str | None:
        """The compartment a project, job, log group or subnet lives in, as OCI says (cached: a
        resource's compartment is read once); None when OCI answers 404 (missing, or not readable)."""
        ...

    async def find_job_ids(self, compartment_id: str, project_id: str, tags: dict[str, str]) -> list[str]:
        """Live jobs of the project carrying all `tags` (how a crash before a status write is healed).

        By tags alone: the display name is an in-place field the user may have changed since.
        """
        ...

    async def create_job(self, request: JobRequest) -> str: ...

    async def list_job_shapes(self, compartment_id: str, fresh: bool = False) -> list[str]:
        """Names of the job shapes OCI offers the compartment (every page), cached for
        OCIDS_SHAPE_CACHE_SECONDS; `fresh`: read again (a name missing from the cached answer)."""
        ...

    async def list_fast_launch_job_configs(
        self, compartment_id: str, fresh: bool = False
    ) -> list[FastLaunchConfig]:
        """The compartment's fast launch configs (every page), cached like `list_job_shapes`."""
        ...

    async def job_artifact_exists(self, job_id: str) -> bool: ...

    async def upload_job_artifact(self, job_id: str, artifact: ResolvedArtifact) -> None: ...

    async def update_job(self, job_id: str, update: JobUpdate, etag: str | None) -> None: ...

    async def delete_job(self, job_id: str, compartment_id: str) -> bool:
        """Delete a job and its runs; False when it was already gone (proven by a list of its
        compartment: a 404 alone may be an IAM denial)."""
        ...

    async def create_job_run(self, request: RunRequest) -> RunView: ...

    async def get_job_run(self, job_run_id: str) -> RunView | None: ...

    async def list_job_runs(self, compartment_id: str, **filters: str) -> list[RunView]: ...

    async def list_job_runs_page(
        self, compartment_id: str, page: str | None = None, **filters: str
    ) -> tuple[list[RunView], str | None]:
        """One page of ListJobRuns (filters as its query: sort_by, sort_order, lifecycle_state, ...)
        and the next page's token, None after the last."""
        ...

    async def cancel_job_run(self, job_run_id: str, compartment_id: str) -> bool:
        """Cancel; False when there is nothing to stop: after a 404, a read that succeeded shows the run
        ended or gone (proven as for `delete_job`: a 404 alone may be an IAM denial of the cancel, and
        is raised). A 409 (past canceling, or NEEDS_ATTENTION) is left alone: True."""
        ...

    async def delete_job_run(self, job_run_id: str, compartment_id: str) -> bool:
        """False when it was already gone (proven as for `delete_job`)."""
        ...

    async def search_run_log_tail(
        self, compartment_id: str, log_group_id: str, log_id: str, job_run_id: str, lines: int
    ) -> list[str]:
        """The run's last `lines` log messages, oldest first: ONE Logging search (newest first, one
        page). Only with OCIDS_LOG_TAIL_LINES above 0 (status.logTail)."""
        raise NotImplementedError

    async def tag_job_run(self, job_run_id: str, freeform_tags: dict[str, str]) -> None:
        """Replace the run's freeform tags (UpdateJobRun): pass the run's tags with the new ones."""
        ...

    async def search_logs_page(
        self,
        query: str,
        time_start: datetime.datetime,
        time_end: datetime.datetime,
        page: str | None,
        limit: int,
    ) -> tuple[list[LogLine], str | None]:
        """One page of a Logging search (SearchLogs): its records in the query's order, and the next
        page's token. The runs' metrics (spec.metrics) read their lines with it."""
        raise NotImplementedError


# The SDK's calls block, so they run on threads: as many as its connection pool keeps per host
# (requests' default, 10), so no connection is opened only to be thrown away. asyncio's default
# executor has min(32, CPUs + 4) threads, 6 on a 2-CPU node: against OCI's ~0.3 s per create that
# alone would cap creation at ~20 runs a second.
OCI_THREADS = 10
_oci_threads = concurrent.futures.ThreadPoolExecutor(max_workers=OCI_THREADS, thread_name_prefix="ocids-oci")


def _off_loop(
    method: Callable[Concatenate[S, P], T],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """The one place the blocking SDK leaves the event loop."""

    @functools.wraps(method)
    async def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        call = functools.partial(contextvars.copy_context().run, method, self, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(_oci_threads, call)

    return run


class OciGateway:
    """`DataScience` over the SDK's DataScienceClient."""

    def __init__(
        self, settings: OperatorSettings, client: DataScienceClient | None = None, auth: SdkAuth | None = None
    ) -> None:
        self._settings = settings
        self._client = client
        self.auth = auth or SdkAuth(settings)
        self._region: str = settings.region or ""
        self._counter = CallCounter()
        # Per-operation call counts, readable without Prometheus (tests, benchmark).
        self.calls = self._counter.calls
        # Referenced resource OCID -> its compartment (tenancy isolation reads each one once).
        self._compartments: dict[str, str] = {}
        self._compartments_reading: dict[str, asyncio.Future[str | None]] = {}
        self._other_clients: dict[str, Any] = {}
        # (operation, compartment) -> (when read, answer): the shape catalogs, per compartment. A
        # gateway serves one OCI identity, so what one identity may see never answers for another.
        self._catalogs: dict[tuple[str, str], tuple[float, Any]] = {}
        self._catalogs_reading: dict[tuple[str, str], asyncio.Future[Any]] = {}
        self.clock: Callable[[], float] = time.monotonic

    @property
    def region(self) -> str:
        return self._region

    @property
    def client(self) -> DataScienceClient:
        with self.auth.lock:
            if self._client is None:
                config, kwargs = self.auth.client_args(
                    self._settings.datascience_endpoint, self._settings.oci_timeout_seconds
                )
                self._client = DataScienceClient(config, **kwargs)
                self._region = self._region or str(config.get("region") or "")
            return self._client

    def _pages(self, operation: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        page: str | None = None
        while True:
            response = self._counter.call(operation, fn, *args, limit=PAGE_LIMIT, page=page, **kwargs)
            yield from response.data
            page = response.next_page
            if not page:
                return

    # Where referenced resources live (tenancy isolation) ---------------------------------------
    async def compartment_of(self, ocid: str) -> str | None:
        if ocid in self._compartments:
            return self._compartments[ocid]
        # Objects of one namespace are reconciled at once: they share one read, not one each.
        reading = self._compartments_reading.get(ocid)
        if reading is None:
            reading = asyncio.ensure_future(self._read_compartment(ocid))
            self._compartments_reading[ocid] = reading
            reading.add_done_callback(lambda _: self._compartments_reading.pop(ocid, None))
        return await asyncio.shield(reading)

    @_off_loop
    def _read_compartment(self, ocid: str) -> str | None:
        read = self._compartment_reads().get(ocid.split(".")[1] if ocid.count(".") >= 2 else "")
        if read is None:
            raise ValueError(f"{ocid}: not an OCID of a project, job, log group or subnet")
        operation, reader = read
        fn = reader()
        response = self._counter.call_unless_missing(operation, fn, ocid)
        if response is None:
            return None  # not cached: a resource created a moment ago may show up on the next read
        compartment = str(response.data.compartment_id)
        self._compartments[ocid] = compartment
        return compartment

    def _compartment_reads(self) -> dict[str, tuple[str, Callable[[], Callable[[str], Any]]]]:
        """OCID type -> (operation, the call that reads it), the call only made when needed."""
        return {
            "datascienceproject": ("get_project", lambda: self.client.get_project),
            "datasciencejob": ("get_job", lambda: self.client.get_job),
            "loggroup": ("get_log_group", lambda: self._other_client("logging").get_log_group),
            "subnet": ("get_subnet", lambda: self._other_client("network").get_subnet),
        }

    def _other_client(self, service: str) -> Any:
        """A client of another OCI service, made on first use with the same auth as Data Science.

        Imported here, not at the top: the SDK's `oci.core` alone is ~740 modules and ~20 MB of
        resident memory, paid only by an operator whose specs name a subnet."""
        with self.auth.lock:
            if service not in self._other_clients:
                if service == "logging":
                    from oci.logging import LoggingManagementClient as factory

                    endpoint = self._settings.logging_endpoint
                elif service == "loggingsearch":
                    # Search is served by the same host as log management (logging.<region>).
                    from oci.loggingsearch import LogSearchClient as factory  # type: ignore[assignment]

                    endpoint = self._settings.logging_endpoint
                else:
                    from oci.core import VirtualNetworkClient as factory  # type: ignore[assignment]

                    endpoint = self._settings.network_endpoint
                config, kwargs = self.auth.client_args(endpoint, self._settings.oci_timeout_seconds)
                self._other_clients[service] = factory(config, **kwargs)
            return self._other_clients[service]

    # Shape catalogs ---------------------------------------------------------------------------
    async def list_job_shapes(self, compartment_id: str, fresh: bool = False) -> list[str]:
        shapes: list[tuple[str, float | None, float | None]] = await self._catalog(
            "list_job_shapes", compartment_id, fresh
        )
        return [name for name, _, _ in shapes]

    async def job_shape_sizes(self, compartment_id: str) -> dict[str, tuple[float | None, float | None]]:
        """(OCPUs, memory in GB) of each job shape OCI offers the compartment, from the same cached
        ListJobShapes answer: a fixed shape's size, for its price."""
        shapes: list[tuple[str, float | None, float | None]] = await self._catalog(
            "list_job_shapes", compartment_id, False
        )
        return {name: (cores, memory) for name, cores, memory in shapes}

    async def list_fast_launch_job_configs(
        self, compartment_id: str, fresh: bool = False
    ) -> list[FastLaunchConfig]:
        configs: list[FastLaunchConfig] = await self._catalog(
            "list_fast_launch_job_configs", compartment_id, fresh
        )
        return configs

    async def _catalog(self, operation: str, compartment_id: str, fresh: bool) -> Any:
        key = (operation, compartment_id)
        cached = self._catalogs.get(key)
        if cached is not None:
            age = self.clock() - cached[0]
            if age < self._settings.shape_cache_seconds and not (
                fresh and age >= CATALOG_REFRESH_FLOOR_SECONDS
            ):
                return cached[1]
        reading = self._catalogs_reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(self._read_catalog(operation, compartment_id))
            self._catalogs_reading[key] = reading
            reading.add_done_callback(lambda _: self._catalogs_reading.pop(key, None))
        answer = await asyncio.shield(reading)
        self._catalogs[key] = (self.clock(), answer)
        return answer

    @_off_loop
    def _read_catalog(self, operation: str, compartment_id: str) -> Any:
        if operation == "list_job_shapes":
            return [
                (
                    str(s.name),
                    _number(getattr(s, "core_count", None)),
                    _number(getattr(s, "memory_in_gbs", None)),
                )
                for s in self._pages(operation, self.client.list_job_shapes, compartment_id)
            ]
        return [
            FastLaunchConfig(
                name=str(c.name),
                shape_name=str(c.shape_name),
                core_count=c.core_count,
                memory_in_gbs=c.memory_in_gbs,
                managed_egress_support=c.managed_egress_support,
            )
            for c in self._pages(operation, self.client.list_fast_launch_job_configs, compartment_id)
        ]

    # Jobs -------------------------------------------------------------------------------------
    @_off_loop
    def get_job(self, job_id: str) -> ObservedJob | None:
        response = self._counter.call_unless_missing("get_job", self.client.get_job, job_id)
        if response is None:
            return None
        return mapping.observe_job(response.data, etag=response.headers.get("etag"))

    @_off_loop
    def job_artifact_digest(self, job_id: str, max_bytes: int) -> str | None:
        response = self._counter.call_unless_missing(
            "get_job_artifact_content", self.client.get_job_artifact_content, job_id
        )
        if response is None:
            return None
        data = response.data
        raw = data.raw.read(max_bytes + 1, decode_content=True) if hasattr(data, "raw") else bytes(data)
        return content_digest(raw) if len(raw) <= max_bytes else None

    @_off_loop
    def find_job_ids(self, compartment_id: str, project_id: str, tags: dict[str, str]) -> list[str]:
        found = []
        # OCI's ListJobs has no tag filter: the project's jobs are paged and filtered here.
        jobs = self._pages("list_jobs", self.client.list_jobs, compartment_id, project_id=project_id)
        for job in jobs:
            if job.lifecycle_state in GONE_JOB_STATES:
                continue
            job_tags = job.freeform_tags or {}
            if all(job_tags.get(key) == value for key, value in tags.items()):
                found.append(str(job.id))
        return found

    @_off_loop
    def create_job(self, request: JobRequest) -> str:
        details = mapping.create_job_details(request)
        response = self._counter.call(
            "create_job", self.client.create_job, details, opc_retry_token=request.retry_token
        )
        return str(response.data.id)

    @_off_loop
    def job_artifact_exists(self, job_id: str) -> bool:
        head = self._counter.call_unless_missing("head_job_artifact", self.client.head_job_artifact, job_id)
        return head is not None

    @_off_loop
    def upload_job_artifact(self, job_id: str, artifact: ResolvedArtifact) -> None:
        if artifact.spooled is None:
            self._upload(job_id, artifact, artifact.content)
            return
        # Streamed from the spool file: a URL artifact is never read into memory.
        try:
            body = open(artifact.spooled.path, "rb")  # noqa: SIM115 - closed below, after the retries
        except FileNotFoundError:
            raise retry(
                "ArtifactSpoolGone", "the downloaded artifact was replaced; fetching it again"
            ) from None
        with body:
            self._upload(job_id, artifact, body, content_length=artifact.spooled.size)

    def _upload(self, job_id: str, artifact: ResolvedArtifact, body: object, **kwargs: object) -> None:
        self._counter.call(
            "create_job_artifact",
            self.client.create_job_artifact,
            job_id,
            body,
            content_disposition=f"attachment; filename={artifact.file_name}",
            **kwargs,
        )

    @_off_loop
    def update_job(self, job_id: str, update: JobUpdate, etag: str | None) -> None:
        kwargs = {"if_match": etag} if etag else {}
        details = mapping.update_job_details(update)
        self._counter.call("update_job", self.client.update_job, job_id, details, **kwargs)

    @_off_loop
    def delete_job(self, job_id: str, compartment_id: str) -> bool:
        return self._delete_unless_readable(
            ("delete_job", self.client.delete_job, {"delete_related_job_runs": True}),
            ("get_job", self.client.get_job),
            ("list_jobs", self.client.list_jobs),
            job_id,
            compartment_id,
            GONE_JOB_STATES,
        )

    # Job runs ---------------------------------------------------------------------------------
    @_off_loop
    def create_job_run(self, request: RunRequest) -> RunView:
        details = mapping.create_job_run_details(request)
        run = self._counter.call(
            "create_job_run", self.client.create_job_run, details, opc_retry_token=request.retry_token
        ).data
        metrics.RUNS_CREATED.inc()
        return mapping.run_view(run)

    @_off_loop
    def search_run_log_tail(
        self, compartment_id: str, log_group_id: str, log_id: str, job_run_id: str, lines: int
    ) -> list[str]:
        from oci.loggingsearch.models import SearchLogsDetails

        query = log_search_query(compartment_id, log_group_id, log_id, job_run_id).replace(
            "sort by datetime asc", "sort by datetime desc"
        )
        now = datetime.datetime.now(datetime.UTC)
        # Logging searches a window of at most 14 days; a run's last lines are in the last of them.
        details = SearchLogsDetails(
            time_start=now - datetime.timedelta(days=13),
            time_end=now + datetime.timedelta(minutes=5),
            search_query=query,
            is_return_field_info=False,
        )
        client = self._other_client("loggingsearch")
        response = self._counter.call("search_logs", client.search_logs, details, limit=min(lines, 1000))
        messages = []
        for item in response.data.results or []:
            data = item.data if isinstance(item.data, dict) else {}
            message = ((data.get("logContent") or {}).get("data") or {}).get("message")
            if message is not None:
                messages.append(str(message))
        return list(reversed(messages))

    @_off_loop
    def search_logs_page(
        self,
        query: str,
        time_start: datetime.datetime,
        time_end: datetime.datetime,
        page: str | None,
        limit: int,
    ) -> tuple[list[LogLine], str | None]:
        from oci.loggingsearch.models import SearchLogsDetails

        details = SearchLogsDetails(
            time_start=time_start, time_end=time_end, search_query=query, is_return_field_info=False
        )
        client = self._other_client("loggingsearch")
        kwargs: dict[str, Any] = {"limit": limit}
        if page:
            kwargs["page"] = page
        response = self._counter.call("search_logs", client.search_logs, details, **kwargs)
        lines = [line for item in response.data.results or [] if (line := mapping.log_line(item.data))]
        return lines, response.next_page

    @_off_loop
    def get_job_run(self, job_run_id: str) -> RunView | None:
        response = self._counter.call_unless_missing("get_job_run", self.client.get_job_run, job_run_id)
        return None if response is None else mapping.run_view(response.data)

    @_off_loop
    def list_job_runs(self, compartment_id: str, **filters: str) -> list[RunView]:
        runs = self._pages("list_job_runs", self.client.list_job_runs, compartment_id, **filters)
        return [mapping.run_view(run) for run in runs]

    @_off_loop
    def list_job_runs_page(
        self, compartment_id: str, page: str | None = None, **filters: str
    ) -> tuple[list[RunView], str | None]:
        response = self._counter.call(
            "list_job_runs",
            self.client.list_job_runs,
            compartment_id,
            limit=PAGE_LIMIT,
            page=page,
            **filters,
        )
        return [mapping.run_view(run) for run in response.data], response.next_page or None

    @_off_loop
    def cancel_job_run(self, job_run_id: str, compartment_id: str) -> bool:
        try:
            return self._delete_unless_readable(
                ("cancel_job_run", self.client.cancel_job_run, {}),
                ("get_job_run", self.client.get_job_run),
                ("list_job_runs", self.client.list_job_runs),
                job_run_id,
                compartment_id,
                {state for state in RunState if state not in ACTIVE_RUN_STATES},
            )
        except oci.exceptions.ServiceError as exc:
            # Already past the point of canceling (or NEEDS_ATTENTION, which OCI will not cancel):
            # nothing to stop now; the caller's bound decides how long it waits for the run to end.
            if exc.status == 409:
                return True
            raise

    @_off_loop
    def tag_job_run(self, job_run_id: str, freeform_tags: dict[str, str]) -> None:
        details = UpdateJobRunDetails(freeform_tags=dict(freeform_tags))
        self._counter.call("update_job_run", self.client.update_job_run, job_run_id, details)

    @_off_loop
    def delete_job_run(self, job_run_id: str, compartment_id: str) -> bool:
        return self._delete_unless_readable(
            ("delete_job_run", self.client.delete_job_run, {}),
            ("get_job_run", self.client.get_job_run),
            ("list_job_runs", self.client.list_job_runs),
            job_run_id,
            compartment_id,
            {RunState.DELETED},
        )

    def _delete_unless_readable(
        self,
        delete: tuple[str, Callable[..., Any], dict[str, Any]],
        read: tuple[str, Callable[..., Any]],
        listing: tuple[str, Callable[..., Any]],
        resource_id: str,
        compartment_id: str,
        gone_states: Collection[str],
    ) -> bool:
        """Delete (or cancel); False when it was already gone.

        OCI answers an IAM denial with the same 404 NotAuthorizedOrNotFound as a missing resource, and
        a policy removed denies the read as well as the delete: a 404 counts as gone only when a call
        that succeeded proves it, a read showing it deleted or its compartment's list (filtered by
        id) answering without it. Otherwise the delete's 404 is raised and the deletion stays blocked
        until the policy allows it.
        """
        operation, call, kwargs = delete
        try:
            self._counter.call(operation, call, resource_id, **kwargs)
        except oci.exceptions.ServiceError as exc:
            if not is_not_found(exc):
                raise
            if not self._proven_gone(read, listing, resource_id, compartment_id, gone_states):
                raise
            return False
        return True

    def _proven_gone(
        self,
        read: tuple[str, Callable[..., Any]],
        listing: tuple[str, Callable[..., Any]],
        resource_id: str,
        compartment_id: str,
        gone_states: Collection[str],
    ) -> bool:
        found = self._counter.call_unless_missing(*read, resource_id)
        if found is not None:  # readable: the delete's 404 was a denial unless it reads as deleted
            return found.data.lifecycle_state in gone_states
        try:
            listed = list(self._pages(*listing, compartment_id, id=resource_id))
        except oci.exceptions.ServiceError as exc:
            if is_not_found(exc):  # the list is denied too: nothing proves it gone
                return False
            raise
        return all(item.lifecycle_state in gone_states for item in listed if item.id == resource_id)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None
