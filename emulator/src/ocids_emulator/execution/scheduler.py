"""The emulator's own Schedules service: fires each ACTIVE schedule's CREATE_JOB_RUN action when its
trigger comes due, as OCI does whether or not any client is connected.

A fire creates a real job run (it executes like any other) as the schedule's resource principal
(``request.principal.type = 'datascienceschedule'``), checked as a CreateJobRun with that body would
be (the job, project, run compartment, log group, subnet); a refusal, or a run OCI would refuse (the
job gone or not ACTIVE, a limit), is written to ``lastScheduleRunDetails`` and the schedule moves on.

Occurrences missed while the emulator was down (or the test clock jumped) are not backfilled:
nothing shows OCI does, so one pass fires only the latest one due, at the current time, and
``lastScheduleRunDetails`` says how many were skipped.

The clock is real time plus a test-only offset (``POST /_emulator/schedules/clock/advance``); a
fired run's ``timeAccepted`` is that clock's now.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import weakref
from typing import Any

from ocids_emulator.core.emulator import JOB, SCHEDULE, Emulator
from ocids_emulator.core.errors import ApiError, incorrect_state, limit_exceeded, not_found
from ocids_emulator.core.schedule_times import MAX_COUNTED, latest_due, next_fire
from ocids_emulator.core.timeutil import parse_rfc3339, rfc3339, utcnow
from ocids_emulator.security.policies import TokenPrincipal
from ocids_emulator.store.sqlite import Record

LOG = logging.getLogger(__name__)
TICK_S = 0.5
SCHEDULE_PRINCIPAL_TYPE = "datascienceschedule"
_SCHEDULERS: weakref.WeakKeyDictionary[Emulator, Scheduler] = weakref.WeakKeyDictionary()


def scheduler_of(emu: Emulator) -> Scheduler:
    found = _SCHEDULERS.get(emu)
    if found is None:
        found = _SCHEDULERS[emu] = Scheduler(emu)
    return found


def schedule_principal(emu: Emulator, schedule: Record) -> TokenPrincipal:
    claims = {
        "res_type": SCHEDULE_PRINCIPAL_TYPE,
        "res_id": schedule.id,
        "res_compartment": schedule.doc["compartmentId"],
    }
    return TokenPrincipal("resource", emu.tenancy.tenancy_id, schedule.id, claims)


class Scheduler:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.offset_s = 0.0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def now(self) -> dt.datetime:
        return utcnow() + dt.timedelta(seconds=self.offset_s)

    def anchor(self, schedule: Record) -> dt.datetime:
        """Where a trigger without timeStart counts from: the creation (or last (re)activation)."""
        value = schedule.meta.get("anchor") or schedule.doc["timeCreated"]
        return parse_rfc3339(str(value))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def wake(self) -> None:
        self._wake.set()

    def advance(self, seconds: float) -> list[str]:
        self.offset_s += seconds
        return self.fire_due()

    async def _loop(self) -> None:
        while True:
            try:
                self.fire_due()
            except Exception:
                LOG.exception("the schedule loop failed; it goes on")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_S)

    def fire_due(self) -> list[str]:
        """Fire every schedule with an occurrence due (the latest one only); the ids of the runs made."""
        from ocids_emulator.api.data_science.schedules import settle_all  # it imports this module

        settle_all(self.emu)
        now = self.now()
        made = []
        for schedule in self.emu.store.all(SCHEDULE):
            if schedule.doc.get("lifecycleState") == "ACTIVE":
                made += self._fire_schedule(schedule, now)
        return made

    def _fire_schedule(self, schedule: Record, now: dt.datetime) -> list[str]:
        first = schedule.doc.get("timeNextScheduledRun")
        trigger, anchor = schedule.doc["trigger"], self.anchor(schedule)
        due = latest_due(trigger, parse_rfc3339(first), now, anchor) if first else None
        if due is None:
            return []
        run_id, details = self._fire(schedule, now)
        if due.skipped:
            count = f"more than {MAX_COUNTED}" if due.skipped >= MAX_COUNTED else str(due.skipped)
            assert due.first_skipped is not None
            details += (
                f" {count} earlier occurrences from {rfc3339(due.first_skipped)} were missed and not run"
                f" (only the latest, {rfc3339(due.latest)}, ran)."
            )
        upcoming = next_fire(trigger, max(now, due.latest), anchor)
        self.emu.save(
            schedule,
            timeLastScheduleRun=rfc3339(now),
            timeNextScheduledRun=rfc3339(upcoming) if upcoming else None,
            lastScheduleRunDetails=details,
        )
        return [run_id] if run_id else []

    def _fire(self, schedule: Record, at: dt.datetime) -> tuple[str | None, str]:
        """One occurrence, run at ``at`` (the clock's now): (the run made or None, what
        lastScheduleRunDetails says)."""
        # Imported here: the API package imports this module (schedules.py).
        from ocids_emulator.api.data_science import validation
        from ocids_emulator.api.data_science.common import check_create
        from ocids_emulator.api.data_science.job_runs import claim_run_faults, start_job_run

        body = schedule.doc["action"]["actionDetails"]["createJobRunDetails"]
        try:
            self._authorize(schedule, body)
            catalog = validation.Catalog.of(self.emu)
            check_create(self.emu, body, functools.partial(validation.check_create_run, catalog=catalog))
            job = self.emu.store.get(JOB, str(body["jobId"]))
            if job is None or job.doc.get("lifecycleState") == "DELETED":
                raise not_found(f"job {body['jobId']}")
            if job.doc["lifecycleState"] != "ACTIVE":
                raise incorrect_state(f"Job {job.id} is {job.doc['lifecycleState']}; runs need an ACTIVE job")
            validation.check_run_fits_job(body, job.doc)
            cap = self.emu.faults.max_active_runs
            if cap is not None and self.emu.active_run_count() >= cap:
                raise limit_exceeded(f"The limit of {cap} concurrently active job runs is reached")
            run = start_job_run(self.emu, body, schedule.id, catalog, accepted=at)
        except ApiError as exc:
            LOG.info("schedule %s made no run at %s: %s", schedule.id, rfc3339(at), exc.message)
            return None, f"The job run could not be created: {exc.code}: {exc.message}"
        claim_run_faults(self.emu, run)
        return run.id, f"Job run {run.id} created."

    def _authorize(self, schedule: Record, body: dict[str, Any]) -> None:
        """What the schedule's principal needs for its CREATE_JOB_RUN: Oracle's "Scheduler
        Policies" (DATA_SCIENCE_PROJECT_READ, DATA_SCIENCE_JOB_READ, DATA_SCIENCE_JOB_RUN_CREATE:
        ``read`` the project and job, ``manage`` job runs where the run goes), and what a
        CreateJobRun with that body checks on the caller (log group and log content, subnet and
        vnics, compute target)."""
        from ocids_emulator.security import authorization as authz  # it imports the API

        policies = self.emu.policies
        if policies.statements is None:
            return
        principal = schedule_principal(self.emu, schedule)
        job = self.emu.store.get(JOB, str(body.get("jobId")))
        checks = [
            authz.Check(authz.DS, "read", str(job.doc.get("compartmentId")) if job else None),
            authz.Check(authz.RUNS, "manage", str(body.get("compartmentId") or "") or None),
            *authz.referenced_checks(self.emu, "create_job_run", body),
        ]
        for check in dict.fromkeys(checks):
            target = check.target_vars
            if not policies.allows(
                principal, check.resource_type, check.verb, check.compartment_id, "create_job_run", target
            ):
                needs = check.text()
                self.emu.record_denial(principal, "create_job_run", needs)
                raise not_found(f"the schedule's resource principal may not create the run (needs {needs})")
