"""A small Kubernetes client for what kopf does not do for us.

Reads Secrets/ConfigMaps (env `valueFrom`, artifacts), reads a TrainingJob from a run's
handler, patches run status from the poller, and posts Events. It logs in as kopf does
(`kube_login.login`: in a Pod, KUBERNETES_SERVICE_HOST:PORT and the ServiceAccount token; else the
kubeconfig), so it needs no extra library.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import kopf

from ..api import (
    GROUP,
    TRAINING_JOB_RUNS,
    TRAINING_JOB_SCHEDULES,
    TRAINING_JOB_SWEEPS,
    TRAINING_JOBS,
    VERSION,
)
from . import kube_login

log = logging.getLogger(__name__)
COMPONENT = "ocids-operator"


class KubeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Kubernetes API answered {status}: {message}")
        self.status = status


class MissingReference(Exception):
    """A Secret/ConfigMap (or key in it) named by the spec does not exist; the message names it."""


class KubeClient:
    def __init__(
        self,
        connection: kopf.ConnectionInfo,
        login_again: Callable[[], kopf.ConnectionInfo] = kube_login.login,
    ) -> None:
        self._conn = connection
        # Projected service account tokens are rotated by the kubelet and expire (an hour, where the
        # API server does not extend them): on a 401 the token is read again, as kopf does for itself.
        self._login_again = login_again
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()

    async def _http(self) -> aiohttp.ClientSession:
        async with self._lock:
            if self._session is None or self._session.closed:
                ssl = self._conn.as_ssl_context() if self._conn.server.startswith("https") else False
                self._session = aiohttp.ClientSession(
                    base_url=self._conn.server.rstrip("/") + "/",
                    connector=aiohttp.TCPConnector(ssl=ssl, limit=20),
                    timeout=aiohttp.ClientTimeout(total=30),
                )
            return self._session

    async def _relogin(self, rejected: str | None) -> None:
        async with self._lock:
            if self._conn.as_http_headers().get("Authorization") == rejected:  # not already replaced
                self._conn = await asyncio.to_thread(self._login_again)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str | None = None,
        *,
        relogin: bool = True,
    ) -> Any:
        session = await self._http()
        headers = self._conn.as_http_headers()  # per request: the token may be replaced meanwhile
        if content_type:
            headers["Content-Type"] = content_type
        async with session.request(method, path.lstrip("/"), json=body, headers=headers) as response:
            if response.status == 401 and relogin:
                await self._relogin(headers.get("Authorization"))
                return await self.request(method, path, body, content_type, relogin=False)
            if response.status == 404:
                return None
            if response.status >= 400:
                text = await response.text()
                raise KubeError(response.status, text[:500])
            return await response.json()

    # Reads ----------------------------------------------------------------------------------
    async def read_secret_key(
        self, namespace: str, name: str, key: str, optional: bool = False
    ) -> str | None:
        secret = await self.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
        data = (secret or {}).get("data") or {}
        if key not in data:
            if optional:
                return None
            what = "has no key " + repr(key) if secret else "does not exist"
            raise MissingReference(f"Secret {namespace}/{name} {what}")
        return base64.b64decode(data[key]).decode("utf-8")

    async def read_config_map_key(
        self, namespace: str, name: str, key: str, optional: bool = False
    ) -> bytes | None:
        cm = await self.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        data = (cm or {}).get("data") or {}
        binary = (cm or {}).get("binaryData") or {}
        if key in data:
            return str(data[key]).encode("utf-8")
        if key in binary:
            return base64.b64decode(binary[key])
        if optional:
            return None
        what = "has no key " + repr(key) if cm else "does not exist"
        raise MissingReference(f"ConfigMap {namespace}/{name} {what}")

    async def get_training_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{TRAINING_JOBS}/{name}"
        return await self.request("GET", path)  # type: ignore[no-any-return]

    async def list_training_job_runs(self, namespace: str) -> list[dict[str, Any]]:
        """The namespace's TrainingJobRuns (a TrainingJob's deletion reads which runs say Retain)."""
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{TRAINING_JOB_RUNS}"
        listed = await self.request("GET", path)
        return list((listed or {}).get("items") or [])

    async def get_training_job_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{TRAINING_JOB_RUNS}/{name}"
        return await self.request("GET", path)  # type: ignore[no-any-return]

    # Writes ---------------------------------------------------------------------------------
    async def patch_run_status_at(
        self, namespace: str, name: str, uid: str, status: dict[str, Any], resource_version: str
    ) -> bool:
        """Set these status fields only if the object (with this uid, and a status) is still at
        `resource_version`; False when it changed since or is gone."""
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{TRAINING_JOB_RUNS}/{name}/status"
        ops = [
            {"op": "test", "path": "/metadata/uid", "value": uid},
            {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
            *(
                {"op": "add", "path": f"/status/{_pointer(key)}", "value": value}
                for key, value in status.items()
            ),
        ]
        try:
            return await self._json_patch(path, ops) is not None
        except KubeError as exc:
            if exc.status not in (400, 409, 422):
                raise
            return False

    async def patch_run_status(
        self, namespace: str, name: str, uid: str, status: dict[str, Any], *, empty_at: str | None = None
    ) -> dict[str, Any] | None:
        """Merge `status` into the TrainingJobRun `name` whose uid is `uid`; None when there is none.

        The uid is a precondition the API server checks (a JSON patch `test` op): by name alone, an
        object re-created under the same name would receive the status of the run it replaced.
        `empty_at`: the resourceVersion at which the caller saw the object without any status. The
        first write then sets the whole status in one request, guarded by that version, instead of
        a field-wise patch the API server refuses (no /status to add to) followed by a GET.
        """
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{TRAINING_JOB_RUNS}/{name}"
        guard = {"op": "test", "path": "/metadata/uid", "value": uid}
        if empty_at is not None:
            written = await self._set_whole_status(path, guard, empty_at, status)
            if written is not None:
                return written
            # Changed since (or gone): the field-wise write below finds out which.
        # `add` replaces a member; null clears it (the CRD's fields are not nullable, so the API
        # server prunes a null as a merge patch would).
        fields = [
            {"op": "add", "path": f"/status/{_pointer(key)}", "value": value} for key, value in status.items()
        ]
        for _ in range(3):
            try:
                return await self._json_patch(f"{path}/status", [guard, *fields])
            except KubeError as exc:
                if exc.status not in (400, 409, 422):
                    raise
            # The uid test failed, or the object has no status yet (no member to add to): look.
            current = await self.request("GET", path)
            if current is None or (current.get("metadata") or {}).get("uid") != uid:
                return None
            if current.get("status"):
                continue  # someone wrote status meanwhile: the field-wise patch applies now
            written = await self._set_whole_status(
                path, guard, current["metadata"]["resourceVersion"], status
            )
            if written is not None:
                return written
        raise KubeError(409, f"status of TrainingJobRun {namespace}/{name} kept changing while being written")

    async def _set_whole_status(
        self, path: str, guard: dict[str, Any], empty_at: str, status: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The first status of an object seen without one at `empty_at`; None when that is stale."""
        first = {key: value for key, value in status.items() if value is not None}
        version = {"op": "test", "path": "/metadata/resourceVersion", "value": empty_at}
        try:
            return await self._json_patch(
                f"{path}/status", [guard, version, {"op": "add", "path": "/status", "value": first}]
            )
        except KubeError as exc:
            if exc.status not in (400, 409, 422):
                raise
            return None

    async def _json_patch(self, path: str, ops: list[dict[str, Any]]) -> dict[str, Any] | None:
        return await self.request(  # type: ignore[no-any-return]
            "PATCH", path, ops, content_type="application/json-patch+json"
        )

    async def post_event(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        """Post a core/v1 Event; failures are logged, never raised (events are best effort)."""
        meta = involved.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{meta.get('name', 'ocids')}.{uuid.uuid4().hex[:16]}",
                "namespace": namespace,
            },
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": meta.get("name"),
                "namespace": namespace,
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": COMPONENT,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self.request("POST", f"/api/v1/namespaces/{namespace}/events", event)
        except Exception as exc:  # events must never break reconciliation
            log.warning("could not post event %s on %s/%s: %s", reason, namespace, meta.get("name"), exc)

    # Run history (workflows/run_history.py) -----------------------------------------------------
    async def get_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        path = f"/api/v1/namespaces/{namespace}/configmaps/{name}"
        return await self.request("GET", path)  # type: ignore[no-any-return]

    async def write_config_map(self, namespace: str, body: dict[str, Any]) -> bool:
        """Create the ConfigMap, or replace it at the resourceVersion `body` carries; False when
        someone else created or changed it meanwhile (read it again and retry)."""
        name = body["metadata"]["name"]
        path = f"/api/v1/namespaces/{namespace}/configmaps"
        replace = bool(body["metadata"].get("resourceVersion"))
        try:
            if replace:
                return await self.request("PUT", f"{path}/{name}", body) is not None
            return await self.request("POST", path, body) is not None
        except KubeError as exc:
            if exc.status == 409:
                return False
            raise

    async def delete_training_job_run(self, namespace: str, name: str, uid: str) -> bool:
        """Delete this TrainingJobRun (its finalizer then handles its OCI runs); False when it is gone
        or the name now holds another object."""
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{TRAINING_JOB_RUNS}/{name}"
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid}}
        try:
            return await self.request("DELETE", path, options) is not None
        except KubeError as exc:
            if exc.status == 409:
                return False
            raise

    # Runs made by sweeps and schedules ---------------------------------------------------------
    async def list_labeled_training_job_runs(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The namespace's TrainingJobRuns matching a label selector (e.g. ocids.io/sweep=name)."""
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{TRAINING_JOB_RUNS}"
        listed = await self.request("GET", f"{path}?labelSelector={urllib.parse.quote(selector, safe='')}")
        return list((listed or {}).get("items") or [])

    async def create_training_job_run(self, namespace: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Create a TrainingJobRun; None when one of that name already exists (409 AlreadyExists)."""
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{TRAINING_JOB_RUNS}"
        try:
            return await self.request("POST", path, body)  # type: ignore[no-any-return]
        except KubeError as exc:
            if exc.status == 409:
                return None
            raise

    async def cancel_training_job_run(
        self, namespace: str, name: str, uid: str, annotations: dict[str, str] | None = None
    ) -> bool:
        """Set spec.cancel on this TrainingJobRun (and these annotations, in the same write); False
        when it is gone or the name now holds another object."""
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{TRAINING_JOB_RUNS}/{name}"
        # The uid in a merge patch is a precondition: another object of that name is refused (409/422).
        metadata: dict[str, Any] = {"uid": uid}
        if annotations:
            metadata["annotations"] = annotations
        patch = {"metadata": metadata, "spec": {"cancel": True}}
        try:
            merge = "application/merge-patch+json"
            return await self.request("PATCH", path, patch, content_type=merge) is not None
        except KubeError as exc:
            if exc.status in (409, 422):
                return False
            raise

    async def list_training_job_schedules(self, namespace: str) -> list[dict[str, Any]]:
        """The namespace's TrainingJobSchedules (which may make the OCI runs a run adopts)."""
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{TRAINING_JOB_SCHEDULES}"
        listed = await self.request("GET", path)
        return list((listed or {}).get("items") or [])

    async def reserve_sweep_trials(
        self, namespace: str, name: str, uid: str, trials: int, creating: list[int]
    ) -> bool:
        """Set status.trials and status.creating of this TrainingJobSweep before its trials are
        created (an index is never used twice, and one reserved is made even across a crash);
        False when the sweep is gone or the name holds another object."""
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{TRAINING_JOB_SWEEPS}/{name}/status"
        patch = {"metadata": {"uid": uid}, "status": {"trials": trials, "creating": creating}}
        try:
            merge = "application/merge-patch+json"
            return await self.request("PATCH", path, patch, content_type=merge) is not None
        except KubeError as exc:
            if exc.status in (409, 422):
                return False
            raise


def _pointer(key: str) -> str:
    """A JSON pointer segment (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")
