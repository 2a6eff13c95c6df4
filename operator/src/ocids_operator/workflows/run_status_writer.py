"""The one writer of TrainingJobRun status: the handler, the run workflow and the poller all write here.

Run status is written straight to the status subresource, never through kopf's handler patch: kopf
applies that only after the handler returns, so a handler's "Accepted" could land after the
poller's "Succeeded" of a quick run and put a finished run back to Accepted for good (the poller
stops at a terminal phase). One writer, writing in the order things happen, cannot be overtaken.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..api import TrainingJobRunStatus
from ..core.status_patch import StatusPatch


class RunStatusStore(Protocol):
    async def patch_run_status(
        self, namespace: str, name: str, uid: str, status: dict[str, Any], *, empty_at: str | None = None
    ) -> dict[str, Any] | None: ...

    async def get_training_job_run(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def patch_run_status_at(
        self, namespace: str, name: str, uid: str, status: dict[str, Any], resource_version: str
    ) -> bool: ...


class RunStatusWriter:
    def __init__(self, kube: RunStatusStore) -> None:
        self._kube = kube

    async def write(
        self,
        namespace: str,
        name: str,
        uid: str,
        status: StatusPatch[TrainingJobRunStatus],
        *,
        empty_at: str | None = None,
    ) -> bool:
        """Merge `status` into the object's; False when the TrainingJobRun is gone.

        Only into the object with this uid: one re-created under the same name is another run,
        and is "gone" as far as this status is concerned. `empty_at`: the resourceVersion of a
        body seen without status (a new run's first write costs one request instead of three).
        """
        if not status:
            return True
        if empty_at is None:
            return await self._kube.patch_run_status(namespace, name, uid, dict(status)) is not None
        written = await self._kube.patch_run_status(namespace, name, uid, dict(status), empty_at=empty_at)
        return written is not None

    async def write_over_current(
        self, namespace: str, name: str, uid: str, status: StatusPatch[TrainingJobRunStatus]
    ) -> bool:
        """`write`, for a patch computed from a body that may be old (a handler's, read before its
        work): its conditions are merged by type over the object's current ones, and the write is
        guarded by the version they were read at, so a poller's newer write is never undone."""
        if not status:
            return True
        merged = status
        for _ in range(3):
            current = await self._kube.get_training_job_run(namespace, name)
            meta = (current or {}).get("metadata") or {}
            if current is None or meta.get("uid") != uid:
                return False
            merged = status.over(current.get("status") or {})
            if not current.get("status"):  # nothing to merge over: the first status, guarded too
                return await self.write(namespace, name, uid, merged, empty_at=meta["resourceVersion"])
            if await self._kube.patch_run_status_at(
                namespace, name, uid, dict(merged), meta["resourceVersion"]
            ):
                return True
        return await self.write(namespace, name, uid, merged)  # kept changing: over the last seen
