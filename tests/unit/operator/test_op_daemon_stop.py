"""Our daemons stop their own filters from matching (the retry daemon clears nextAttemptAt; the TTL
daemon deletes its run), and the watch event of that write can reach kopf before the write's
answer reaches the daemon. kopf then cancels the daemon: driven here through kopf's own stopping
code, the step in flight must still finish (a new attempt written but never followed would sit in
Accepted for good; CI saw exactly that)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
import pytest
from kopf._cogs.aiokits import aioenums
from kopf._core.engines import daemons as kopf_daemons
from kopf._core.intents.stoppers import DaemonStoppingReason
from ocids_operator import handlers
from ocids_operator.handlers import training_job_run as run_handlers
from ocids_operator.settings import OperatorSettings


def _daemon_handler(handler_id: str) -> Any:
    registry = kopf.OperatorRegistry()
    handlers.register(registry, OperatorSettings())
    return next(h for h in registry._spawning.get_all_handlers() if h.id == handler_id)


def _run_waiting_for_retry() -> kopf.Body:
    return kopf.Body(
        {
            "metadata": {"namespace": "team-a", "name": "train-1", "uid": "uid-1"},
            "spec": {"jobRef": {"name": "train"}},
            "status": {"phase": "Pending", "attempt": 1, "nextAttemptAt": "2020-01-01T00:00:00Z"},
        }
    )


def test_a_retry_stopped_by_its_own_status_write_still_follows_the_new_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asyncio.run(_retry_stopped_mid_step(monkeypatch))


async def _retry_stopped_mid_step(monkeypatch: pytest.MonkeyPatch) -> None:
    handler = _daemon_handler("retry")
    writing, answered = asyncio.Event(), asyncio.Event()
    followed: list[str] = []

    async def create_and_follow(kind: Any, memo: Any, body: Any, *_: Any, **__: Any) -> None:
        writing.set()  # the status write that clears nextAttemptAt has reached the API server
        await answered.wait()
        followed.append(body["metadata"]["name"])  # what workflow.reconcile does after the write

    monkeypatch.setattr(run_handlers, "handle", create_and_follow)
    stopper: aioenums.FlagSetter[DaemonStoppingReason] = aioenums.FlagSetter()
    task = asyncio.create_task(
        handler.fn(body=_run_waiting_for_retry(), patch=kopf.Patch(), memo=None, stopped=stopper.async_waiter)
    )
    await asyncio.wait_for(writing.wait(), 5)

    # The watch event of that write: nextAttemptAt is gone, the filter no longer matches.
    daemon = kopf_daemons.Daemon(
        task=task, logger=logging.getLogger("test"), handler=handler, stopper=stopper
    )
    await kopf_daemons.stop_daemons(
        settings=kopf.OperatorSettings(),
        daemons={handler.id: daemon},
        reason=DaemonStoppingReason.FILTERS_MISMATCH,
    )
    await asyncio.wait({task}, timeout=5)  # kopf cancels it: the daemon itself is over

    answered.set()
    await wait_until_followed(followed)
    assert followed == ["train-1"]


async def wait_until_followed(followed: list[str]) -> None:
    for _ in range(100):
        if followed:
            return
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("handler_id", ["retry", "ttl"])
def test_no_daemon_holds_a_deletion_with_a_grace_period(handler_id: str) -> None:
    """kopf looks at a deleted object's daemons again only once their grace period is over: with
    one, a run deleted while its daemon finished a step waited that long (CI: a TTL deletion)."""
    assert _daemon_handler(handler_id).cancellation_backoff is None
