"""Keep routine waits out of the error log (and out of any Events kopf would post from it).

A handler that has to look again later (a run waiting for its TrainingJob, a job still CREATING,
a deletion waiting for runs to cancel) asks kopf for the retry by raising `kopf.TemporaryError`.
kopf 1.45 then logs "Handler 'x' failed temporarily: <message>" at ERROR on its per-object logger
`kopf.objects`, on every attempt. For a wait the operator asked for, that is wrong: nothing
failed, and the status (plus the operator's own Event) already says what it waits for. kopf's
K8sPoster, on the same logger, would also post the record as an Event of type Error if
`settings.posting.loggers` were on (it is off here, see `__main__.kopf_settings`).

`raise_wait` remembers the wait in a context variable before raising. kopf awaits async handlers
in the same task and logs the outcome right after, so `RoutineWaitFilter` (on `kopf.objects`) sees
that record with the variable still set: it rewrites it to a DEBUG line (kept only when the
operator logs at DEBUG) and marks it `k8s_skip`, so it can never be posted. Every other record
(real OCI errors, rejected credentials, permanent errors, unexpected exceptions) passes unchanged.
"""

from __future__ import annotations

import contextvars
import logging
from typing import NoReturn

import kopf

KOPF_OBJECTS_LOGGER = "kopf.objects"
FAILED_TEMPORARILY = " failed temporarily: "
WAITS_AGAIN = " checks again later: "
# Timers that look every few seconds and mostly find nothing to do (schedules, sweeps, the
# TrainingJob resync): kopf logs "Timer 'x' succeeded." at INFO for each look, which would be a line
# per object every interval. What they do is in status and Events; the line goes to DEBUG.
# The same for the event handler that notices finished runs: it sees every TrainingJobRun event.
ROUTINE_TIMER_SUCCESSES = frozenset(
    [
        *(f"Timer {name!r} succeeded." for name in ("tick", "trials", "resync")),
        "Handler 'finished' succeeded.",
        "Handler 'wake' succeeded.",  # the held runs' wake-up (handlers/run_wakeup.py)
        "Handler 'kueue-run' succeeded.",  # labelled runs' events (handlers/kueue.py)
        "Handler 'kueue-workload' succeeded.",  # their Workloads' events
    ]
)

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


def demote_routine_timer(record: logging.LogRecord) -> bool:
    """Rewrite kopf's INFO "Timer 'x' succeeded." of a routine timer into an unposted DEBUG record."""
    if record.levelno != logging.INFO or record.getMessage() not in ROUTINE_TIMER_SUCCESSES:
        return False
    record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
    record.k8s_skip = True
    return True


class RoutineWaitFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if demote_routine_timer(record):
            return logging.getLogger(record.name).isEnabledFor(record.levelno)
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
