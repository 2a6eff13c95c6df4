"""The operator's only door to OCI: builds SDK clients from settings and wraps the calls it makes.

Every call is counted by operation and outcome (Prometheus), 404s on reads come back as None,
and the SDK's own retry strategy is kept but bounded so a handler never blocks for minutes.
The calls are blocking: async callers run them with `asyncio.to_thread`.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import oci
from oci.data_science import DataScienceClient
from oci.data_science import models as ds
from oci.object_storage import ObjectStorageClient

from .. import metrics
from ..core.errors import is_not_found
from ..settings import AuthMode, OperatorSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
PAGE_LIMIT = 100
CRASH_EXIT_CODE = 137
# `oci://` artifacts kept by etag, so a resync costs a HEAD, not a download, while the object is unchanged.
OBJECT_CACHE_ENTRIES = 16
# ... and at most this many bytes in all: 16 objects of up to OCIDS_ARTIFACT_MAX_BYTES each would be
# a gigabyte held for good, far over the chart's memory limit (an OOM-killed operator re-reads them all).
OBJECT_CACHE_BYTES = 64 << 20


@dataclasses.dataclass(frozen=True)
class StoredObject:
    etag: str
    content: bytes


class ObjectTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size


def retry_strategy(settings: OperatorSettings) -> oci.retry.RetryStrategy:
    return oci.retry.RetryStrategyBuilder(
        max_attempts_check=True,
        max_attempts=settings.oci_max_attempts,
        total_elapsed_time_check=True,
        total_elapsed_time_seconds=int(settings.oci_max_elapsed_seconds),
        retry_max_wait_between_calls_seconds=min(10, int(settings.oci_max_elapsed_seconds)),
        retry_base_sleep_time_seconds=1,
        service_error_check=True,
        backoff_type=oci.retry.BACKOFF_DECORRELATED_JITTER_VALUE,
    ).get_retry_strategy()


def config_and_signer(settings: OperatorSettings) -> tuple[dict[str, Any], Any]:
    """SDK config dict and signer for the configured auth mode. Raises the SDK's config errors."""
    if settings.auth is AuthMode.API_KEY:
        config = oci.config.from_file(os.path.expanduser(settings.oci_config_file), settings.oci_profile)
        if settings.region:
            config["region"] = settings.region
        oci.config.validate_config(config)
        signer = oci.signer.Signer(
            tenancy=config["tenancy"],
            user=config["user"],
            fingerprint=config["fingerprint"],
            private_key_file_location=config.get("key_file"),
            pass_phrase=oci.config.get_config_value_or_default(config, "pass_phrase"),
            private_key_content=config.get("key_content"),
        )
        return config, signer
    if settings.auth is AuthMode.INSTANCE_PRINCIPAL:
        signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
    elif settings.auth is AuthMode.RESOURCE_PRINCIPAL:
        signer = oci.auth.signers.get_resource_principals_signer()
    else:
        signer = oci.auth.signers.get_oke_workload_identity_resource_principal_signer()
    region = settings.region or getattr(signer, "region", None)
    return {"region": region}, signer


class OciGateway:
    """Data Science calls the operator makes, with counting, 404 handling and the crash point."""

    def __init__(
        self,
        settings: OperatorSettings,
        client: DataScienceClient | None = None,
        object_storage: ObjectStorageClient | None = None,
    ) -> None:
        self._settings = settings
        self._client = client
        self._lock = threading.Lock()
        self.region: str = settings.region or ""
        # Per-operation call counts, readable without Prometheus (tests, benchmark).
        self.calls: collections.Counter[str] = collections.Counter()
        self._object_storage = object_storage
        self._auth: tuple[dict[str, Any], Any] | None = None
        self._objects: collections.OrderedDict[tuple[str, str, str], StoredObject] = collections.OrderedDict()

    def _client_args(
        self, endpoint: str | None, read_timeout: float
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(config, kwargs) for an SDK client; call with the lock held.

        Built lazily and once for both clients: principal signers reach the network when constructed.
        """
        if self._auth is None:
            self._auth = config_and_signer(self._settings)
        config, signer = self._auth
        kwargs: dict[str, Any] = {
            "signer": signer,
            "retry_strategy": retry_strategy(self._settings),
            "timeout": (10.0, read_timeout),
            # kopf already backs off per object; a shared breaker would fail healthy objects too.
            "circuit_breaker_strategy": oci.circuit_breaker.NoCircuitBreakerStrategy(),
        }
        if endpoint:
            kwargs["service_endpoint"] = endpoint
        return config, kwargs

    @property
    def client(self) -> DataScienceClient:
        with self._lock:
            if self._client is None:
                config, kwargs = self._client_args(
                    self._settings.datascience_endpoint, self._settings.oci_timeout_seconds
                )
                self._client = DataScienceClient(config, **kwargs)
                self.region = self.region or str(config.get("region") or "")
            return self._client

    @property
    def object_storage(self) -> ObjectStorageClient:
        """Same auth as Data Science; endpoint OCIDS_OBJECT_STORAGE_ENDPOINT, else the SDK's regional one."""
        with self._lock:
            if self._object_storage is None:
                config, kwargs = self._client_args(
                    self._settings.object_storage_endpoint, self._settings.artifact_url_timeout_seconds
                )
                self._object_storage = ObjectStorageClient(config, **kwargs)
            return self._object_storage

    def _call(self, operation: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        outcome = "ok"
        try:
            return fn(*args, **kwargs)
        except oci.exceptions.ServiceError as exc:
            outcome = str(exc.status)
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            self.calls[operation] += 1
            metrics.OCI_CALLS.labels(operation, outcome).inc()

    def _call_unless_missing(
        self, operation: str, fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T | None:
        """`_call`, but None when OCI answers 404 (the resource is gone, or was never there)."""
        try:
            return self._call(operation, fn, *args, **kwargs)
        except oci.exceptions.ServiceError as exc:
            if is_not_found(exc):
                return None
            raise

    def _crash_point(self, operation: str) -> None:
        if self._settings.debug_crash_after == operation:
            log.warning("OCIDS_DEBUG_CRASH_AFTER=%s: exiting right after the call", operation)
            os._exit(CRASH_EXIT_CODE)

    def _pages(self, operation: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        page: str | None = None
        while True:
            response = self._call(operation, fn, *args, limit=PAGE_LIMIT, page=page, **kwargs)
            yield from response.data
            page = response.next_page
            if not page:
                return

    # Jobs -------------------------------------------------------------------------------------
    def get_job(self, job_id: str) -> ds.Job | None:
        return self.get_job_with_etag(job_id)[0]

    def get_job_with_etag(self, job_id: str) -> tuple[ds.Job | None, str | None]:
        response = self._call_unless_missing("get_job", self.client.get_job, job_id)
        if response is None:
            return None, None
        return response.data, response.headers.get("etag")

    def find_jobs(
        self, compartment_id: str, project_id: str, display_name: str, tags: dict[str, str]
    ) -> list[ds.JobSummary]:
        """Live jobs with this name carrying all `tags` (how a crash before a status write is healed)."""
        found = []
        jobs = self._pages(
            "list_jobs",
            self.client.list_jobs,
            compartment_id,
            project_id=project_id,
            display_name=display_name,
        )
        for job in jobs:
            if job.lifecycle_state in ("DELETING", "DELETED"):
                continue
            job_tags = job.freeform_tags or {}
            if all(job_tags.get(key) == value for key, value in tags.items()):
                found.append(job)
        return found

    def create_job(self, details: ds.CreateJobDetails, retry_token: str) -> ds.Job:
        job = self._call("create_job", self.client.create_job, details, opc_retry_token=retry_token).data
        self._crash_point("create_job")
        return job  # type: ignore[no-any-return]

    def job_artifact_exists(self, job_id: str) -> bool:
        return (
            self._call_unless_missing("head_job_artifact", self.client.head_job_artifact, job_id) is not None
        )

    def upload_job_artifact(self, job_id: str, content: bytes, file_name: str) -> None:
        self._call(
            "create_job_artifact",
            self.client.create_job_artifact,
            job_id,
            content,
            content_disposition=f"attachment; filename={file_name}",
        )

    def job_artifact_content(self, job_id: str, max_bytes: int) -> bytes | None:
        response = self._call_unless_missing(
            "get_job_artifact_content", self.client.get_job_artifact_content, job_id
        )
        if response is None:
            return None
        data = response.data
        raw = data.raw.read(max_bytes + 1, decode_content=True) if hasattr(data, "raw") else bytes(data)
        return raw if len(raw) <= max_bytes else None

    def update_job(self, job_id: str, details: ds.UpdateJobDetails, etag: str | None) -> ds.Job:
        kwargs = {"if_match": etag} if etag else {}
        return self._call("update_job", self.client.update_job, job_id, details, **kwargs).data  # type: ignore[no-any-return]

    def delete_job(self, job_id: str) -> bool:
        """Delete a job and its runs; False when it was already gone."""
        deleted = self._call_unless_missing(
            "delete_job", self.client.delete_job, job_id, delete_related_job_runs=True
        )
        return deleted is not None

    # Object Storage (oci:// artifacts) -------------------------------------------------------
    def read_object(self, namespace: str, bucket: str, name: str, max_bytes: int) -> StoredObject:
        """The object's bytes and etag. Raises ServiceError (404 with OCI's code) or ObjectTooLarge.

        A known object is checked with HEAD and downloaded again only when its etag changed.
        """
        key = (namespace, bucket, name)
        with self._lock:
            cached = self._objects.get(key)
        if cached is not None:
            try:
                head = self._call("head_object", self.object_storage.head_object, namespace, bucket, name)
            except oci.exceptions.ServiceError as exc:
                # A HEAD answer has no body, so no error code: the GET below reports which part is missing.
                if not is_not_found(exc):
                    raise
            else:
                if head.headers.get("etag") == cached.etag:
                    with self._lock:
                        self._objects.move_to_end(key)
                    return cached
        response = self._call("get_object", self.object_storage.get_object, namespace, bucket, name)
        data = response.data
        try:
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                raise ObjectTooLarge(declared)
            raw = data.raw.read(max_bytes + 1, decode_content=True) if hasattr(data, "raw") else bytes(data)
        finally:
            if hasattr(data, "close"):
                data.close()
        if len(raw) > max_bytes:
            raise ObjectTooLarge(len(raw))
        stored = StoredObject(str(response.headers.get("etag") or ""), raw)
        with self._lock:
            self._objects[key] = stored
            self._objects.move_to_end(key)
            while len(self._objects) > OBJECT_CACHE_ENTRIES or self.cached_object_bytes > OBJECT_CACHE_BYTES:
                self._objects.popitem(last=False)
        return stored

    @property
    def cached_object_bytes(self) -> int:
        return sum(len(stored.content) for stored in self._objects.values())

    # Job runs ---------------------------------------------------------------------------------
    def create_job_run(self, details: ds.CreateJobRunDetails, retry_token: str) -> ds.JobRun:
        run = self._call(
            "create_job_run", self.client.create_job_run, details, opc_retry_token=retry_token
        ).data
        metrics.RUNS_CREATED.inc()
        self._crash_point("create_job_run")
        return run  # type: ignore[no-any-return]

    def get_job_run(self, job_run_id: str) -> ds.JobRun | None:
        response = self._call_unless_missing("get_job_run", self.client.get_job_run, job_run_id)
        return None if response is None else response.data

    def list_job_runs(self, compartment_id: str, **filters: str) -> list[ds.JobRunSummary]:
        return list(self._pages("list_job_runs", self.client.list_job_runs, compartment_id, **filters))

    def cancel_job_run(self, job_run_id: str) -> None:
        try:
            self._call("cancel_job_run", self.client.cancel_job_run, job_run_id)
        except oci.exceptions.ServiceError as exc:
            # Gone, or already past the point of canceling: both mean there is nothing to stop.
            if exc.status in (404, 409):
                return
            raise

    def delete_job_run(self, job_run_id: str) -> bool:
        """False when it was already gone."""
        return self._call_unless_missing("delete_job_run", self.client.delete_job_run, job_run_id) is not None
