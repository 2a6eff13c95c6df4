"""Turn a workflow result or error into status, events, metrics and kopf's retry signals."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf

from .. import metrics
from ..adapters.oci_errors import classify
from ..core import conditions as cond
from ..core.errors import (
    DELETION_BLOCKED,
    NOT_AUTHORIZED,
    RECHECKED_WHILE_STALLED,
    ErrorOutcome,
    OutcomeKind,
    as_not_authorized,
    backoff_delay,
    not_authorized_message,
    session_refused_message,
)
from ..core.kinds import Kind
from ..core.status import error_status
from ..core.status_patch import StatusPatch
from ..runtime import Runtime
from ..settings import AuthMode
from ..workflows.outcome import Outcome, ProgressMade
from .wait_logging import forget_wait, raise_wait

log = logging.getLogger(__name__)
Work = Callable[[Runtime], Awaitable[Outcome]]
# Writes one status patch of the object being handled: each kind has exactly one.
StatusWriter = Callable[[StatusPatch[Any]], Awaitable[None]]
WriterFor = Callable[[Runtime, Mapping[str, Any], kopf.Patch], StatusWriter]


def through_kopf(rt: Runtime, body: Mapping[str, Any], patch: kopf.Patch) -> StatusWriter:
    """kopf's handler patch (applied once the handler returns): the writer of TrainingJob status."""

    async def write(status: StatusPatch[Any]) -> None:
        patch.status.update(status)

    return write


async def handle(
    kind: Kind,
    memo: Any,
    body: Mapping[str, Any],
    patch: kopf.Patch,
    retry: int,
    work: Work,
    *,
    writer: WriterFor = through_kopf,
    last: bool = False,
) -> None:
    """One handler call: under the object's lock (handlers and timers never overlap on an object).

    `last` is for the deletion handlers: an error never ends them (see `execute`), and the lock
    is dropped once the object is done with.
    """
    rt = runtime_of(memo)
    uid = body["metadata"]["uid"]
    async with rt.lock(uid):
        await execute(
            kind, rt, body, patch, retry, lambda: work(rt), writer(rt, body, patch), finalizing=last
        )
    if last:
        rt.forget(uid)


async def execute(
    kind: Kind,
    rt: Runtime,
    body: Mapping[str, Any],
    patch: kopf.Patch,
    retry: int,
    work: Callable[[], Awaitable[Outcome]],
    write_status: StatusWriter | None = None,
    *,
    finalizing: bool = False,
) -> None:
    """Run one workflow step; always returns None (kopf stores return values in status).

    `finalizing`: kopf counts a permanently failed deletion handler as done and drops the
    finalizer, orphaning what is still running (and billing) in OCI. So during deletion no error
    is permanent: it is retried every `retry_max_seconds`, with status and an Event saying why.
    """
    forget_wait()
    write = write_status or through_kopf(rt, body, patch)
    status = dict(body.get("status") or {})
    metadata = body.get("metadata") or {}
    generation = metadata.get("generation")
    try:
        outcome = await work()
    except Exception as caught:
        exc, recorded, done = caught, None, []
        if isinstance(caught, ProgressMade):
            exc, recorded, done = caught.cause, caught.status, caught.events
            status.update(recorded)
        result = classify(exc)
        denied = as_not_authorized(result, keyless=rt.settings.auth is not AuthMode.API_KEY)
        if denied is not None:
            result = not_authorized(rt, body, denied)
        if finalizing and (result.kind is OutcomeKind.STALLED or result.reason == NOT_AUTHORIZED):
            result = blocked_deletion(result, rt.settings.retry_max_seconds)
        if result.reason == "UnexpectedError":
            log.exception("unexpected error reconciling %s", kind.name)
        metrics.RECONCILES.labels(kind.name, result.kind.value).inc()
        failed = error_status(result, status, generation, cond.now_rfc3339(), kind)
        if recorded is not None:
            failed = StatusPatch(kind.status_model.model_validate({**recorded, **failed}))
        await write(failed)
        for type_, reason, message in done:
            await rt.kube.post_event(kind.involved_object(metadata), type_, reason, message)
        # One Event per distinct problem, not one per retry.
        if status.get("message") != result.message:
            await rt.kube.post_event(kind.involved_object(metadata), "Warning", result.reason, result.message)
        if result.kind in (OutcomeKind.RETRY, OutcomeKind.LIMIT):
            delay = backoff_delay(retry, rt.settings.retry_base_seconds, rt.settings.retry_max_seconds)
            raise kopf.TemporaryError(result.message, delay=delay) from None
        if result.kind is OutcomeKind.CREDENTIALS or finalizing or result.reason in RECHECKED_WHILE_STALLED:
            # Fixed outside the spec (credentials, a policy, a namespace's grant, a consent tag):
            # look again, slowly, so the object heals without an edit.
            raise kopf.TemporaryError(result.message, delay=rt.settings.retry_max_seconds) from None
        raise kopf.PermanentError(result.message) from None
    metrics.RECONCILES.labels(kind.name, "ok" if outcome.requeue_after is None else "requeued").inc()
    if outcome.status:
        await write(outcome.status)
    for type_, reason, message in outcome.events:
        await rt.kube.post_event(kind.involved_object(metadata), type_, reason, message)
    if outcome.requeue_after is not None:
        raise_wait(outcome.requeue_reason or "waiting", outcome.requeue_after)


def not_authorized(rt: Runtime, body: Mapping[str, Any], result: ErrorOutcome) -> ErrorOutcome:
    """A denial (or a refused token exchange): name who the operator is and the policy it needs."""
    auth = rt.auth_of(str((body.get("metadata") or {}).get("uid", "")))  # the object's own OCI identity
    if result.status == 401 and auth is not None:  # a keyless session token refused after a refresh
        message = session_refused_message(result.message, auth.principal(), auth.what_to_check())
        return dataclasses.replace(result, message=message)
    if result.status != 404:
        return result  # a token exchange: its message already names the principal
    spec, status = body.get("spec") or {}, body.get("status") or {}
    compartment = spec.get("compartmentId") or status.get("compartmentId")
    if auth is None:
        return result
    message = not_authorized_message(result.message, auth.principal(), compartment)
    return dataclasses.replace(result, message=message)


def blocked_deletion(result: ErrorOutcome, every_seconds: float) -> ErrorOutcome:
    """A permanent error met while deleting: it blocks the deletion, which is retried slowly."""
    message = (
        f"deletion is blocked, retried every {every_seconds:g}s: {result.message}; "
        "the OCI resources stay until it succeeds (removing the finalizer by hand leaves them in OCI)"
    )
    return dataclasses.replace(result, reason=DELETION_BLOCKED, message=message)


def register_finalizer(
    registry: kopf.OperatorRegistry,
    kind: Kind,
    finalize: Callable[[Runtime, Mapping[str, Any]], Awaitable[Outcome]],
    writer: WriterFor = through_kopf,
) -> None:
    """The deletion handler of a kind: kopf keeps the finalizer until `finalize` succeeds."""

    @kopf.on.delete(*kind.gvr, id="finalize", registry=registry)
    async def finalize_handler(body: kopf.Body, patch: kopf.Patch, retry: int, memo: Any, **_: Any) -> None:
        work: Work = lambda rt: finalize(rt, body)  # noqa: E731
        await handle(kind, memo, body, patch, retry, work, writer=writer, last=True)


def runtime_of(memo: Any) -> Runtime:
    rt = getattr(memo, "runtime", None)
    if not isinstance(rt, Runtime):
        raise RuntimeError("the operator runtime is missing from kopf's memo")
    return rt
