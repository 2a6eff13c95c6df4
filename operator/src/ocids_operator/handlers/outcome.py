"""Turn a workflow result or error into status, events, metrics and kopf's retry signals."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf

from .. import conditions as cond
from .. import metrics
from ..adapters.oci_errors import classify
from ..core.errors import OutcomeKind, backoff_delay
from ..core.status import error_status
from ..runtime import Runtime
from ..workflows.outcome import Outcome
from .wait_logging import forget_wait, raise_wait

log = logging.getLogger(__name__)
Work = Callable[[Runtime], Awaitable[Outcome]]


async def handle(
    kind: str,
    memo: Any,
    body: Mapping[str, Any],
    patch: kopf.Patch,
    retry: int,
    work: Work,
    id_key: str,
    *,
    last: bool = False,
) -> None:
    """One handler call: under the object's lock (handlers and timers never overlap on an object).

    `last` is for the deletion handlers: the lock is dropped once the object is done with.
    """
    rt = runtime_of(memo)
    uid = body["metadata"]["uid"]
    async with rt.lock(uid):
        await execute(kind, rt, body, patch, retry, lambda: work(rt), id_key)
    if last:
        rt.forget(uid)


async def execute(
    kind: str,
    rt: Runtime,
    body: Mapping[str, Any],
    patch: kopf.Patch,
    retry: int,
    work: Callable[[], Awaitable[Outcome]],
    id_key: str,
) -> None:
    """Run one workflow step; always returns None (kopf stores return values in status)."""
    forget_wait()
    status = dict(body.get("status") or {})
    generation = (body.get("metadata") or {}).get("generation")
    try:
        outcome = await work()
    except Exception as exc:
        result = classify(exc)
        if result.reason == "UnexpectedError":
            log.exception("unexpected error reconciling %s", kind)
        metrics.RECONCILES.labels(kind, result.kind.value).inc()
        patch.status.update(error_status(result, status, generation, cond.now_rfc3339(), id_key))
        # One Event per distinct problem, not one per retry.
        if status.get("message") != result.message:
            await rt.kube.post_event(_involved(kind, body), "Warning", result.reason, result.message)
        if result.kind in (OutcomeKind.RETRY, OutcomeKind.LIMIT):
            delay = backoff_delay(retry, rt.settings.retry_base_seconds, rt.settings.retry_max_seconds)
            raise kopf.TemporaryError(result.message, delay=delay) from None
        if result.kind is OutcomeKind.CREDENTIALS:
            # Credentials get fixed outside the spec: look again, slowly.
            raise kopf.TemporaryError(result.message, delay=rt.settings.retry_max_seconds) from None
        raise kopf.PermanentError(result.message) from None
    metrics.RECONCILES.labels(kind, "ok" if outcome.requeue_after is None else "requeued").inc()
    if outcome.status:
        patch.status.update(outcome.status)
    for type_, reason, message in outcome.events:
        await rt.kube.post_event(_involved(kind, body), type_, reason, message)
    if outcome.requeue_after is not None:
        raise_wait(outcome.requeue_reason or "waiting", outcome.requeue_after)


def register_finalizer(
    registry: kopf.OperatorRegistry,
    resource: tuple[str, str, str],
    kind: str,
    finalize: Callable[[Runtime, Mapping[str, Any]], Awaitable[Outcome]],
    id_key: str,
) -> None:
    """The deletion handler of a kind: kopf keeps the finalizer until `finalize` succeeds."""

    @kopf.on.delete(*resource, id="finalize", registry=registry)
    async def finalize_handler(body: kopf.Body, patch: kopf.Patch, retry: int, memo: Any, **_: Any) -> None:
        await handle(kind, memo, body, patch, retry, lambda rt: finalize(rt, body), id_key, last=True)


def _involved(kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
    meta = body.get("metadata") or {}
    return {
        "apiVersion": body.get("apiVersion") or "ocids.io/v1alpha1",
        "kind": body.get("kind") or kind,
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
    }


def runtime_of(memo: Any) -> Runtime:
    rt = getattr(memo, "runtime", None)
    if not isinstance(rt, Runtime):
        raise RuntimeError("the operator runtime is missing from kopf's memo")
    return rt
