"""Keep routine waits out of the error log and out of `kubectl get events`.

A handler that has to look again later (a run waiting for its TrainingJob, a job still CREATING,
a deletion waiting for runs to cancel) asks kopf for the retry by raising `kopf.TemporaryError`.
kopf 1.45 then logs "Handler 'x' failed temporarily: <message>" at ERROR on the per-object logger
`kopf.objects`, and its K8sPoster handler on that logger posts the record as an Event of type
Error. For a wait the operator asked for, both are wrong: nothing failed, and the operator has
already posted its own Normal Event saying what it waits for.

`raise_wait` remembers the wait in a context variable before raising. kopf awaits async handlers
in the same task and logs the outcome right after, so `RoutineWaitFilter` (on `kopf.objects`) sees
that record with the variable still set: it rewrites it to a DEBUG line (kept only when the
operator logs at DEBUG; the status and the operator's own Event already say what it waits for)
and marks it `k8s_skip` so it is never posted. Every other record (real OCI errors, rejected
credentials, permanent errors, unexpected exceptions) passes unchanged: ERROR in the log, and
posted by kopf as an Event of type Error.
"""

from __future__ import annotations

import contextvars
import logging
from typing import NoReturn

import kopf

KOPF_OBJECTS_LOGGER = "kopf.objects"
FAILED_TEMPORARILY = " failed temporarily: "
WAITS_AGAIN = " checks again later: "

_pending_wait: contextvars.ContextVar[str | None] = contextvars.ContextVar("ocids_pending_wait", default=None)


def raise_wait(message: str, delay: float) -> NoReturn:
    """Ask kopf to call the handler again after `delay` seconds, as a routine wait (not an error)."""
    _pending_wait.set(message)
    raise kopf.TemporaryError(message, delay=delay)


def forget_wait() -> None:
    """Called as a handler starts, so a wait that kopf never logged cannot demote a later error."""
    _pending_wait.set(None)


def demote_routine_wait(record: logging.LogRecord, wait: str | None) -> bool:
    """Rewrite kopf's "failed temporarily" record for `wait` into an unposted DEBUG record.

    Returns whether the record was the routine wait. Pure apart from mutating `record`.
    """
    if wait is None or record.levelno < logging.WARNING:
        return False
    text = record.getMessage()
    if not text.endswith(FAILED_TEMPORARILY + wait):
        return False
    record.msg = text.replace(FAILED_TEMPORARILY, WAITS_AGAIN, 1)
    record.args = ()
    record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
    record.k8s_skip = True  # kopf's K8sPoster posts no Event for this record
    return True


class RoutineWaitFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not demote_routine_wait(record, _pending_wait.get()):
            return True
        _pending_wait.set(None)
        # The logger let the record through at ERROR; handlers do not look at logger levels again.
        return logging.getLogger(record.name).isEnabledFor(record.levelno)


def install(logger: logging.Logger | None = None) -> RoutineWaitFilter:
    """Attach the filter to kopf's per-object logger (once)."""
    target = logger or logging.getLogger(KOPF_OBJECTS_LOGGER)
    for existing in target.filters:
        if isinstance(existing, RoutineWaitFilter):
            return existing
    installed = RoutineWaitFilter()
    target.addFilter(installed)
    return installed
