"""The actual cost of ended runs, from OCI's Usage API, into status.cost.actual.

Usage reaches the Usage API hours after it happened and may still change for a while, so every
OCIDS_COST_INTERVAL_SECONDS the leader asks once per OCI identity (and so per tenancy) for the
runs that ended less than OCIDS_COST_SETTLE_HOURS ago: one RequestSummarizedUsages, DAILY, grouped
by resource id, filtered to those runs' OCI job run ids (every attempt's), its pages bounded. A
run's actual is written when its figure changes, and marked final once the settle time passed
(then it is not asked about again). Runs come from the run ledger (no list of runs).

A run none of whose attempts started was never billed: its actual is final at 0 without asking.
An answer cut short by the page bound is never written (a resource's days may be missing): the
next cycle asks about half as many runs. Runs are asked about least recently asked first, so past
the per-read bound every run gets its turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .. import metrics
from ..adapters.oci_identities import RUN_SERVICE_ACCOUNT_ANNOTATION, IdentityKey
from ..adapters.oci_usage import ResourceCost, UsageReader
from ..api import TrainingJobRunStatus
from ..api.cost import RunCost
from ..core.cost import usage_ended_at, was_billed
from ..core.phases import run_finished
from ..core.retry import attempt_run_ids
from ..core.status_patch import StatusPatch
from ..core.times import parse_time
from ..runtime import Runtime
from ..settings import AuthMode

log = logging.getLogger(__name__)

# At most this many runs per request (the filter names each of their OCI runs); the others wait for
# the next cycle, least recently asked about first.
MAX_RUNS_PER_READ = 100
# Runs remembered as asked about (by uid): beyond it the oldest are forgotten (asked first again).
MAX_REMEMBERED_ASKS = 100_000
# The first cycle waits this long after start (the ledger fills first), capped by the interval.
FIRST_DELAY_SECONDS = 5.0


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _day(value: datetime.datetime) -> datetime.datetime:
    return value.astimezone(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def candidates(
    entries: Sequence[Mapping[str, Any]],
    now: datetime.datetime,
    settle_hours: float,
    interval_seconds: float,
    asked: Mapping[str, datetime.datetime] | None = None,
) -> list[Mapping[str, Any]]:
    """Ended runs with an OCI run whose actual is not final and that ended recently enough (the
    settle time plus two cycles: the last read that marks it final always happens), least recently
    asked about first (`asked`: when each run, by uid, was last asked about; never first)."""
    horizon = now - datetime.timedelta(hours=settle_hours, seconds=2 * interval_seconds)
    found = []
    for entry in entries:
        status = entry.get("status") or {}
        if not run_finished(status) or not attempt_run_ids(status):
            continue
        if ((status.get("cost") or {}).get("actual") or {}).get("final"):
            continue
        ended = usage_ended_at(status)
        if ended is None or ended < horizon:
            continue
        found.append(entry)
    never = datetime.datetime.min.replace(tzinfo=datetime.UTC)
    return sorted(found, key=lambda e: (asked or {}).get(str((e.get("metadata") or {}).get("uid")), never))


def unbilled_actual(status: Mapping[str, Any], now: datetime.datetime) -> dict[str, Any] | None:
    """The final actual of an ended run none of whose attempts started (OCI bills nothing before a
    run starts): 0, in the estimate's currency; None for a run that was billed."""
    if was_billed(status):
        return None
    actual: dict[str, Any] = {"amount": 0.0, "updatedAt": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "final": True}
    currency = ((status.get("cost") or {}).get("estimate") or {}).get("currency")
    if currency:
        actual["currency"] = currency
    return actual


def usage_window(
    entries: Sequence[Mapping[str, Any]], now: datetime.datetime
) -> tuple[datetime.datetime, datetime.datetime]:
    """Whole UTC days (the Usage API refuses DAILY bounds off midnight) from the earliest start of
    these runs' attempts to the end of today."""
    starts = []
    for entry in entries:
        status = entry.get("status") or {}
        for stamp in [
            status.get("timeStarted"),
            status.get("createAttemptedAt"),
            status.get("timeFinished"),
        ] + [a.get("timeStarted") for a in status.get("attempts") or []]:
            parsed = parse_time(stamp)
            if parsed is not None:
                starts.append(parsed)
    start = _day(min(starts, default=now))
    return start, _day(now) + datetime.timedelta(days=1)


def actual_of(
    status: Mapping[str, Any], costs: Mapping[str, ResourceCost], now: datetime.datetime, settle_hours: float
) -> dict[str, Any] | None:
    """status.cost.actual from the Usage API's answer; None when there is nothing new to write."""
    ids = attempt_run_ids(status)
    reported = [costs[i] for i in ids if i in costs]
    finished = usage_ended_at(status)
    final = finished is not None and now - finished >= datetime.timedelta(hours=settle_hours)
    before = (status.get("cost") or {}).get("actual") or {}
    if not reported and not final:
        return None
    actual: dict[str, Any] = {"updatedAt": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "final": final}
    if reported:
        actual["amount"] = round(sum(c.amount for c in reported), 4)
        actual["currency"] = next((c.currency for c in reported if c.currency), None) or before.get(
            "currency"
        )
    elif before.get("amount") is not None:
        actual["amount"], actual["currency"] = before["amount"], before.get("currency")
    same = (
        all(before.get(k) == actual.get(k) for k in ("amount", "currency"))
        and bool(before.get("final")) == final
    )
    return None if same else {k: v for k, v in actual.items() if v is not None}


class CostReader:
    """The periodic read (leader only: the operator runs its handlers only while it leads)."""

    def __init__(self, rt: Runtime, clock: Callable[[], datetime.datetime] = _now) -> None:
        self._rt = rt
        self._clock = clock
        self._readers: dict[IdentityKey, UsageReader] = {}
        self._task: asyncio.Task[None] | None = None
        self._problems: dict[IdentityKey, str] = {}
        # When each run (uid) was last asked about: the least recently asked go first.
        self._asked: dict[str, datetime.datetime] = {}
        # Runs per read for an identity whose last answer was cut short by the page bound.
        self._batch: dict[IdentityKey, int] = {}
        self.cycles = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="ocids-cost-reader")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        interval = self._rt.settings.cost_interval_seconds
        await asyncio.sleep(min(FIRST_DELAY_SECONDS, interval))
        while True:
            try:
                await self.cycle()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next cycle tries again
                log.warning("reading run costs from the Usage API failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(interval)

    async def cycle(self) -> int:
        """One read per identity; returns how many runs' actual cost was written."""
        rt = self._rt
        if not rt.ledger.attached:
            return 0
        now = self._clock()
        settings = rt.settings
        due = candidates(
            rt.ledger.entries(), now, settings.cost_settle_hours, settings.cost_interval_seconds, self._asked
        )
        written = 0
        by_identity: dict[IdentityKey, tuple[Runtime, list[Mapping[str, Any]]]] = {}
        for entry in due:
            meta = entry.get("metadata") or {}
            unbilled = unbilled_actual(entry.get("status") or {}, now)
            if unbilled is not None:  # never started: nothing to ask OCI
                written += await self._write(rt, entry, unbilled)
                continue
            try:
                scoped = await self._scoped(meta)
            except Exception:  # the namespace may not work (its identity is refused): nothing to ask
                continue
            group = by_identity.setdefault(scoped.identity, (scoped, []))[1]
            if len(group) < self._batch.get(scoped.identity, MAX_RUNS_PER_READ):
                group.append(entry)
        for key, (scoped, entries) in by_identity.items():
            written += await self._read(key, scoped, entries, now)
        self.cycles += 1
        return written

    async def _scoped(self, meta: Mapping[str, Any]) -> Runtime:
        """The runtime of the run's OCI identity (the TrainingJob's ServiceAccount recorded on the run
        under OKE workload identity, else its namespace's), without recording it as the identity the
        run last used (that memory names the principal in the run's own NotAuthorized messages)."""
        rt = self._rt
        if rt.identities is None:
            return rt
        account = None
        if rt.settings.auth is AuthMode.OKE_WORKLOAD_IDENTITY:
            account = (meta.get("annotations") or {}).get(RUN_SERVICE_ACCOUNT_ANNOTATION) or None
        key = await rt.identities.key_for(str(meta.get("namespace")), account)
        identity = await rt.identities.get(key)
        if key.is_operator:
            return rt
        return dataclasses.replace(rt, oci=identity.oci, objects=identity.objects, identity=key)

    def _reader(self, key: IdentityKey, scoped: Runtime) -> UsageReader | None:
        """The identity's Usage API reader; made again when its auth changed (a rotated config
        Secret builds a new one)."""
        auth = getattr(scoped.oci, "auth", None)
        if auth is None:
            return None
        reader = self._readers.get(key)
        if reader is None or reader.auth is not auth:
            reader = self._readers[key] = UsageReader(scoped.settings, auth)
        return reader

    async def _read(
        self, key: IdentityKey, scoped: Runtime, entries: list[Mapping[str, Any]], now: datetime.datetime
    ) -> int:
        reader = self._reader(key, scoped)
        if reader is None:
            return 0
        ids = [rid for entry in entries for rid in attempt_run_ids(entry.get("status") or {})]
        start, end = usage_window(entries, now)
        for entry in entries:
            self._remember_asked(str((entry.get("metadata") or {}).get("uid")), now)
        try:
            costs, whole = await reader.costs(ids, start, end)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
            if self._problems.get(key) != problem:  # said once per identity until it changes
                log.warning(
                    "the Usage API refused the cost of %d runs (identity %s): %s", len(entries), key, problem
                )
                self._problems[key] = problem
            metrics.COST_READS.labels("error").inc()
            return 0
        self._problems.pop(key, None)
        metrics.COST_READS.labels("ok").inc()
        if not whole:
            # A resource's items may be on the pages not read: nothing of it is written, and the
            # next cycle asks about half as many runs (down to one).
            self._batch[key] = max(1, len(entries) // 2)
            log.warning(
                "the Usage API's answer for %d runs had more than its page bound; nothing written, "
                "%d runs per read from the next cycle",
                len(entries),
                self._batch[key],
            )
            return 0
        if key in self._batch:  # whole again: back up towards the full bound
            self._batch[key] = min(MAX_RUNS_PER_READ, self._batch[key] * 2)
            if self._batch[key] >= MAX_RUNS_PER_READ:
                self._batch.pop(key)
        written = 0
        for entry in entries:
            status = entry.get("status") or {}
            actual = actual_of(status, costs, now, scoped.settings.cost_settle_hours)
            if actual is not None:
                written += await self._write(scoped, entry, actual)
        return written

    def _remember_asked(self, uid: str, now: datetime.datetime) -> None:
        self._asked.pop(uid, None)  # re-inserted last: the oldest asks are the first forgotten
        self._asked[uid] = now
        while len(self._asked) > MAX_REMEMBERED_ASKS:
            self._asked.pop(next(iter(self._asked)))

    async def _write(self, scoped: Runtime, entry: Mapping[str, Any], actual: dict[str, Any]) -> int:
        status = entry.get("status") or {}
        meta = entry["metadata"]
        cost = RunCost.model_validate({**(status.get("cost") or {}), "actual": actual})
        patch = StatusPatch(TrainingJobRunStatus(cost=cost))
        if not await scoped.run_status.write(meta["namespace"], meta["name"], meta["uid"], patch):
            return 0
        if actual.get("final"):
            self._asked.pop(str(meta["uid"]), None)
            if actual.get("amount"):
                metrics.RUN_COST_ACTUAL.labels(meta["namespace"], actual.get("currency") or "").inc(
                    actual["amount"]
                )
        return 1
