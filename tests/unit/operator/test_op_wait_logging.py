"""Routine waits through kopf's real handler execution: no ERROR log line; real problems keep theirs.

Drives kopf 1.45's own `execute_handler_once` (what logs "Handler 'x' failed temporarily: ...")
with the operator's `execute`, and asks kopf's own K8sPoster whether each record would be posted
as an Event, under the operator's kopf settings and with kopf's log posting switched on.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable, Iterator
from typing import Any

import kopf
import oci
import pytest
from kopf._cogs.structs import bodies, ephemera, references
from kopf._core.actions import execution, loggers, progression
from kopf._core.engines.posting import K8sPoster
from kopf._core.intents import causes
from kopf._core.intents import handlers as kopf_handlers
from ocids_operator.__main__ import ObjectLogFormatter, kopf_settings
from ocids_operator.api import TrainingJobRunStatus
from ocids_operator.core.errors import retry
from ocids_operator.core.kinds import TRAINING_JOB_RUN_KIND
from ocids_operator.core.status_patch import StatusPatch
from ocids_operator.handlers import wait_logging
from ocids_operator.handlers.outcome import execute
from ocids_operator.runtime import Runtime
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows.outcome import Outcome

BODY = {
    "apiVersion": "ocids.io/v1alpha1",
    "kind": "TrainingJobRun",
    "metadata": {"name": "early-1", "namespace": "ml", "uid": "u-1", "generation": 1},
}
WAIT = "waiting for TrainingJob late (Pending) to be Active"


class Events:
    def __init__(self) -> None:
        self.posted: list[tuple[str, str, str]] = []

    async def post_event(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.posted.append((type_, reason, message))


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kopf_log(request: pytest.FixtureRequest) -> Iterator[Records]:
    """kopf's per-object logger with the operator's filter, as `python -m ocids_operator` sets it up."""
    logger = logging.getLogger(wait_logging.KOPF_OBJECTS_LOGGER)
    level = getattr(request, "param", logging.INFO)
    records, old_level = Records(), logger.level
    logger.addHandler(records)
    logger.setLevel(level)
    installed = wait_logging.install(logger)
    try:
        yield records
    finally:
        logger.removeFilter(installed)
        logger.removeHandler(records)
        logger.setLevel(old_level)


def run_handler(work: Callable[[], Any]) -> tuple[execution.Outcome, Events]:
    """One handler attempt the way kopf runs it, with the operator's `execute` inside."""
    events = Events()
    settings = OperatorSettings(retry_base_seconds=5, retry_max_seconds=60)
    rt = Runtime(settings, None, events, None)  # type: ignore[arg-type]
    ks = kopf_settings(settings)

    async def fn(patch: kopf.Patch, retry: int, **_: Any) -> None:
        await execute(TRAINING_JOB_RUN_KIND, rt, BODY, patch, retry, work)

    handler = kopf_handlers.ChangingHandler(
        id=kopf.HandlerId("reconcile"),
        fn=fn,
        param=None,
        errors=None,
        timeout=None,
        retries=None,
        backoff=None,
        selector=None,
        labels=None,
        annotations=None,
        when=None,
        field=None,
        value=None,
        reason=None,
        initial=None,
        deleted=None,
        requires_finalizer=None,
        field_needs_change=None,
        old=None,
        new=None,
    )

    async def go() -> execution.Outcome:
        body = bodies.Body(BODY)
        cause = causes.ChangingCause(
            logger=loggers.ObjectLogger(body=body, settings=ks),
            indices={},
            memo=ephemera.Memo(),
            resource=references.Resource("ocids.io", "v1alpha1", "trainingjobruns"),
            patch=kopf.Patch(),
            body=body,
            initial=True,
            reason=causes.Reason.CREATE,
        )
        state = progression.HandlerState.from_scratch(basetime=datetime.datetime.now(datetime.UTC))
        return await execution.execute_handler_once(settings=ks, handler=handler, cause=cause, state=state)

    return asyncio.run(go()), events


def posted(records: Records, loggers: bool = False) -> list[tuple[str, str]]:
    """(level, message) of each record kopf's K8sPoster would post as an Event.

    `loggers=True` asks what would be posted if kopf's log posting were switched on.
    """
    poster = K8sPoster()
    result = []
    for record in records.records:
        settings = getattr(record, "settings", None)
        if loggers and settings is not None:
            settings = kopf.OperatorSettings()
            settings.posting.loggers, settings.posting.level = True, logging.WARNING
            record = logging.makeLogRecord({**record.__dict__, "settings": settings})
        if poster.filter(record):
            result.append((record.levelname, record.getMessage()))
    return result


def test_a_routine_wait_is_retried_without_an_error_line_or_event(kopf_log: Records) -> None:
    async def work() -> Outcome:
        return Outcome(
            StatusPatch(TrainingJobRunStatus(phase="Pending")), requeue_after=1.0, requeue_reason=WAIT
        )

    outcome, _ = run_handler(work)
    assert not outcome.final and outcome.delay == 1.0  # kopf still calls the handler again
    assert [r for r in kopf_log.records if r.levelno >= logging.WARNING] == []
    assert [r.getMessage() for r in kopf_log.records] == []  # at INFO the wait is not logged at all
    assert posted(kopf_log) == posted(kopf_log, loggers=True) == []


@pytest.mark.parametrize("kopf_log", [logging.DEBUG], indirect=True)
def test_at_debug_the_wait_is_logged_as_a_debug_line_and_still_not_posted(kopf_log: Records) -> None:
    async def work() -> Outcome:
        return Outcome(requeue_after=1.0, requeue_reason=WAIT)

    run_handler(work)
    lines = [(r.levelname, r.getMessage()) for r in kopf_log.records]
    assert ("DEBUG", f"Handler 'reconcile' checks again later: {WAIT}") in lines, lines
    assert not any("failed" in message for _, message in lines), lines
    assert posted(kopf_log) == posted(kopf_log, loggers=True) == []


def test_a_real_oci_problem_stays_an_error_in_the_log_and_an_event(kopf_log: Records) -> None:
    async def work() -> Outcome:
        raise oci.exceptions.ServiceError(
            503, "ServiceUnavailable", {}, "try later", operation_name="get_job"
        )

    outcome, events = run_handler(work)
    assert not outcome.final
    errors = [r.getMessage() for r in kopf_log.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "failed temporarily" in errors[0] and "503" in errors[0], errors
    # The Event users see is the operator's own Warning; kopf would add its Error one only with
    # log posting switched on.
    assert events.posted[0][:2] == ("Warning", "OCIRetryableError")
    assert posted(kopf_log) == []
    assert [level for level, _ in posted(kopf_log, loggers=True)] == ["ERROR"]


def test_a_wait_that_kopf_never_logged_cannot_hide_a_later_error(kopf_log: Records) -> None:
    # A resync swallows its own wait, so kopf never logs it; the next handler call that fails
    # with the very same words must still be an ERROR.
    with pytest.raises(kopf.TemporaryError):
        wait_logging.raise_wait(WAIT, 1.0)

    async def work() -> Outcome:
        raise retry("StillConverging", WAIT)

    run_handler(work)
    failed = [r for r in kopf_log.records if "failed temporarily" in r.getMessage()]
    assert [r.levelname for r in failed] == ["ERROR"], [r.getMessage() for r in kopf_log.records]


def test_kopfs_own_success_chatter_is_not_posted(kopf_log: Records) -> None:
    async def work() -> Outcome:
        return Outcome(
            StatusPatch(TrainingJobRunStatus(phase="Accepted")),
            [("Normal", "Created", "created OCI job run r")],
        )

    outcome, events = run_handler(work)
    assert outcome.final
    assert "Handler 'reconcile' succeeded." in [r.getMessage() for r in kopf_log.records]
    # The operator's own "Created" Event says it better, and kopf's INFO chatter is never posted.
    assert posted(kopf_log) == posted(kopf_log, loggers=True) == []
    assert events.posted == [("Normal", "Created", "created OCI job run r")]


def test_demote_leaves_other_records_alone() -> None:
    message = "Handler 'x' failed permanently: %s"
    record = logging.LogRecord("kopf.objects", logging.ERROR, __file__, 1, message, ("boom",), None)
    assert not wait_logging.demote_routine_wait(record, "boom")
    assert record.levelno == logging.ERROR and not getattr(record, "k8s_skip", False)


def test_the_operator_log_names_the_object_of_each_kopf_line(kopf_log: Records) -> None:
    async def work() -> Outcome:
        raise oci.exceptions.ServiceError(
            503, "ServiceUnavailable", {}, "try later", operation_name="get_job"
        )

    run_handler(work)
    formatter = ObjectLogFormatter("%(levelname)s %(name)s: %(message)s")
    lines = [formatter.format(r) for r in kopf_log.records if r.levelno >= logging.INFO]
    assert lines == [
        "ERROR kopf.objects: [ml/early-1] Handler 'reconcile' failed temporarily: "
        "OCI get_job failed: 503 ServiceUnavailable: try later"
    ], lines
    plain = logging.LogRecord("ocids_operator", logging.INFO, __file__, 1, "starting", (), None)
    assert formatter.format(plain) == "INFO ocids_operator: starting"


def test_a_routine_timer_look_is_not_an_info_line(kopf_log: Records) -> None:
    logger = logging.getLogger(wait_logging.KOPF_OBJECTS_LOGGER)
    logger.info("Timer 'tick' succeeded.")  # a schedule's look every 10 s
    logger.info("Timer 'trials' succeeded.")  # a sweep's
    logger.info("Handler 'finished' succeeded.")  # noticing finished runs, on every run event
    logger.info("Handler 'reconcile' succeeded.")  # real work stays visible
    logger.info("Timer 'other' succeeded.")
    assert [record.getMessage() for record in kopf_log.records] == [
        "Handler 'reconcile' succeeded.",
        "Timer 'other' succeeded.",
    ]


@pytest.mark.parametrize("kopf_log", [logging.DEBUG], indirect=True)
def test_a_routine_timer_look_is_kept_at_debug(kopf_log: Records) -> None:
    logging.getLogger(wait_logging.KOPF_OBJECTS_LOGGER).info("Timer 'tick' succeeded.")
    assert [(r.levelno, r.getMessage()) for r in kopf_log.records] == [
        (logging.DEBUG, "Timer 'tick' succeeded.")
    ]
