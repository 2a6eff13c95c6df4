"""Which OCI identity an object's handler works with, chosen here at the handler boundary.

A TrainingJob uses its `spec.serviceAccountName` (else its namespace's annotation, see
adapters/oci_identities.py); a TrainingJobRun its TrainingJob's, recorded on the run so that its
deletion, after the TrainingJob is gone, still uses the identity it was created with.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf

from ..adapters.oci_identities import RUN_SERVICE_ACCOUNT_ANNOTATION
from ..core.errors import ReconcileError
from ..runtime import Runtime
from ..settings import AuthMode
from ..workflows.outcome import Outcome

Finalize = Callable[[Runtime, Mapping[str, Any]], Awaitable[Outcome]]


async def for_job(rt: Runtime, body: Mapping[str, Any]) -> Runtime:
    meta = body["metadata"]
    account = (body.get("spec") or {}).get("serviceAccountName")
    return await rt.scoped(meta["uid"], meta["namespace"], account)


async def for_run(rt: Runtime, body: Mapping[str, Any], patch: kopf.Patch | None = None) -> Runtime:
    """`patch`: where to record the TrainingJob's ServiceAccount on the run (None: only read it)."""
    meta = body["metadata"]
    account = None
    if rt.identities is not None and rt.settings.auth is AuthMode.OKE_WORKLOAD_IDENTITY:
        recorded = (meta.get("annotations") or {}).get(RUN_SERVICE_ACCOUNT_ANNOTATION) or None
        job_name = ((body.get("spec") or {}).get("jobRef") or {}).get("name")
        job = await rt.kube.get_training_job(meta["namespace"], job_name) if job_name else None
        account = ((job or {}).get("spec") or {}).get("serviceAccountName") if job else recorded
        if job is not None and patch is not None and account != recorded:
            patch.metadata.annotations[RUN_SERVICE_ACCOUNT_ANNOTATION] = account
    return await rt.scoped(meta["uid"], meta["namespace"], account)


def nothing_in_oci(body: Mapping[str, Any]) -> bool:
    """The object never reached OCI (no id recorded, no create attempted)."""
    status = body.get("status") or {}
    keys = ("jobId", "retiredJobIds", "jobRunId", "createAttemptedAt", "attempts")  # attempts: retries
    return not any(status.get(key) for key in keys)


def finalize_as(
    choose: Callable[[Runtime, Mapping[str, Any]], Awaitable[Runtime]], finalize: Finalize
) -> Finalize:
    """Deletion with the object's identity. An object refused an identity (no ServiceAccount, a
    namespace without one under OCIDS_REQUIRE_NAMESPACE_IDENTITY) that never reached OCI has nothing
    to clean up: it is let go instead of blocked."""

    async def run(rt: Runtime, body: Mapping[str, Any]) -> Outcome:
        try:
            scoped = await choose(rt, body)
        except ReconcileError:
            if nothing_in_oci(body):
                return Outcome()
            raise
        return await finalize(scoped, body)

    return run
