"""A handler's status write (an error's, or an outcome's) is computed from the body it was called with;
the poller may have written newer conditions since. They must survive (issue 14, suspicion 2)."""

from __future__ import annotations

import asyncio
import copy
from types import SimpleNamespace
from typing import Any

import kopf
import pytest
from ocids_operator.core.errors import retry
from ocids_operator.core.kinds import TRAINING_JOB_RUN_KIND
from ocids_operator.handlers.outcome import handle
from ocids_operator.handlers.training_job_run import through_run_status_writer
from ocids_operator.runtime import Runtime
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows.outcome import Outcome

RUN_ID = "ocid1.datasciencejobrun.oc1..r"
READY_IN_PROGRESS = {
    "type": "Ready",
    "status": "True",
    "reason": "InProgress",
    "message": "running",
    "lastTransitionTime": "2026-01-01T00:00:00Z",
}
BODY = {
    "apiVersion": "ocids.io/v1alpha1",
    "kind": "TrainingJobRun",
    "metadata": {"name": "r", "namespace": "ml", "uid": "uid-r", "generation": 1, "resourceVersion": "5"},
    "spec": {"jobRef": {"name": "j"}},
    "status": {"phase": "InProgress", "jobRunId": RUN_ID, "conditions": [READY_IN_PROGRESS]},
}


class Store:
    """One TrainingJobRun on an API server: JSON-patch `test` ops on uid and resourceVersion honoured."""

    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = copy.deepcopy(obj)
        self.events: list[tuple[str, str]] = []

    def _bump(self) -> None:
        meta = self.obj["metadata"]
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)

    async def get_training_job_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.obj)

    async def patch_run_status(
        self, namespace: str, name: str, uid: str, status: dict[str, Any], *, empty_at: str | None = None
    ) -> dict[str, Any] | None:
        current = self.obj.setdefault("status", {})
        current.update(status)  # each member replaced whole, as the field-wise JSON patch does
        self._bump()
        return copy.deepcopy(self.obj)

    async def patch_run_status_at(
        self, namespace: str, name: str, uid: str, status: dict[str, Any], resource_version: str
    ) -> bool:
        if self.obj["metadata"]["resourceVersion"] != resource_version:
            return False
        await self.patch_run_status(namespace, name, uid, status)
        return True

    async def post_event(self, involved: Any, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason))


def poller_finished_the_run(store: Store) -> None:
    """What the poller wrote after the handler read its body: the run Succeeded."""
    store.obj["status"].update(
        {
            "phase": "Succeeded",
            "conditions": [
                {**READY_IN_PROGRESS, "reason": "Succeeded", "message": "finished"},
                {"type": "Succeeded", "status": "True", "reason": "Succeeded", "message": "exit 0"},
            ],
        }
    )
    store._bump()


def run_handler(store: Store, work: Any) -> BaseException | None:
    settings = OperatorSettings(retry_base_seconds=5, retry_max_seconds=600)
    rt = Runtime(settings, SimpleNamespace(), store, None)  # type: ignore[arg-type]

    async def scenario() -> BaseException | None:
        try:
            await handle(
                TRAINING_JOB_RUN_KIND,
                SimpleNamespace(runtime=rt),
                copy.deepcopy(BODY),  # the body the handler was called with: before the poller's write
                kopf.Patch(),
                0,
                work,
                writer=through_run_status_writer,
            )
        except (kopf.TemporaryError, kopf.PermanentError) as exc:
            return exc
        return None

    return asyncio.run(scenario())


def test_an_error_written_from_an_old_body_keeps_the_conditions_the_poller_wrote_since() -> None:
    store = Store(BODY)

    async def work(rt: Runtime) -> Outcome:
        poller_finished_the_run(store)  # while this handler was busy
        raise retry("OCIUnreachable", "OCI get_job_run did not answer")

    assert isinstance(run_handler(store, work), kopf.TemporaryError)
    status = store.obj["status"]
    types = {c["type"]: c for c in status["conditions"]}
    assert types["Succeeded"]["status"] == "True", "the poller's Succeeded condition survives"
    assert types["Reconciling"]["reason"] == "OCIUnreachable"  # and the error is reported
    assert status["phase"] == "Succeeded"


@pytest.mark.parametrize("changes", [1, 5])
def test_an_outcome_write_lands_over_the_newest_status_even_when_it_keeps_changing(changes: int) -> None:
    store = Store(BODY)
    real = store.patch_run_status_at

    async def racing(*args: Any) -> bool:
        nonlocal changes
        if changes:
            changes -= 1
            store._bump()  # someone else wrote just before this write
        return await real(*args)

    store.patch_run_status_at = racing  # type: ignore[method-assign]

    async def work(rt: Runtime) -> Outcome:
        poller_finished_the_run(store)
        raise retry("OCIUnreachable", "OCI get_job_run did not answer")

    run_handler(store, work)
    types = {c["type"] for c in store.obj["status"]["conditions"]}
    assert {"Succeeded", "Reconciling"} <= types
