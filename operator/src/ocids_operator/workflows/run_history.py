"""History limits and TTL: finished TrainingJobRuns are deleted, each leaving a record in its
TrainingJob's archive ConfigMap first (core/archive.py).

Deleting a TrainingJobRun is all it takes in OCI too: its own finalizer cancels or deletes its OCI
runs by its deletionPolicy. Archiving is an upsert by run name and comes first, so a crash between
the two archives the run again (same key) and then deletes it: never a deleted run without a record.

Who prunes: the TrainingJob's reconcile and resync (`prune_job_history`, its own limits over the
runs no sweep or schedule owns, read from a watch-fed index of runs per TrainingJob: no LIST),
`HistoryWorker` as soon as one of its runs finishes (and for TTL expiries, batched per
TrainingJob), and schedules over their own runs (`prune_runs` with the schedule's limits).

The archive ConfigMap is the operator's only when it carries app.kubernetes.io/managed-by:
ocids-operator; a ConfigMap of that name without it is never written, and then nothing is pruned
or expired (Warning Event ArchiveRefused): a run is never deleted without its record.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..api import API_VERSION
from ..api.run_policies import ArchiveStatus
from ..core import conditions as cond
from ..core.archive import (
    RECORD_SUFFIX,
    SCHEDULE_LABEL,
    SWEEP_LABEL,
    archive_config_map_name,
    archive_record,
    merged_records,
)
from ..core.history import runs_to_prune
from ..core.kinds import TRAINING_JOB_KIND, TRAINING_JOB_RUN_KIND
from ..core.phases import run_settled
from ..runtime import Runtime
from .crash_point import crash_after
from .outcome import Outcome

log = logging.getLogger(__name__)
# A writer outside the operator changing the archive at once: retry on the ConfigMap's version.
# The operator itself never races itself: every archive write of a TrainingJob goes through its
# HistoryWorker or its reconcile, under the TrainingJob's lock.
WRITE_ATTEMPTS = 5
# Runs of one TrainingJob that end (or expire) together are handled together: the worker waits this long.
COALESCE_SECONDS = 0.5
MAX_NAMES_IN_EVENT = 10
MANAGED_BY = "app.kubernetes.io/managed-by"
OPERATOR_NAME = "ocids-operator"
# The archive as last written, per (namespace, TrainingJob uid): the TrainingJob's status shows it
# without reading the ConfigMap on every reconcile (TTL expiries write it outside the reconcile).
MAX_KNOWN_ARCHIVES = 100_000
_known_archives: dict[tuple[str, str], ArchiveStatus] = {}

# The TrainingJob's runs as the watch-fed index holds them (core.history.run_summary), by
# (namespace, TrainingJob name): pruning reads it, never a LIST of the namespace.
RunsOf = Callable[[str, str], Sequence[Mapping[str, Any]]]


class ArchiveRefused(Exception):
    """The archive ConfigMap's name is taken by one the operator did not make: no run is deleted
    without a record, so nothing is pruned or expired until it is renamed or labeled."""


@dataclasses.dataclass(frozen=True)
class PruneResult:
    pruned: tuple[str, ...] = ()  # TrainingJobRuns deleted
    archive: ArchiveStatus | None = None  # the archive after this prune; None when nothing was pruned


async def prune_runs(
    rt: Runtime,
    namespace: str,
    job_name: str,
    runs: Sequence[Mapping[str, Any]],
    successful_limit: int | None,
    failed_limit: int | None,
) -> PruneResult:
    """Delete the finished runs (of TrainingJob `job_name`) beyond the limits, oldest first, each
    archived before it goes. `runs`: the candidates (unfinished ones are never pruned), whole or
    as summaries; the doomed ones are read again, so the record is complete and current."""
    doomed = await _current(rt, namespace, runs_to_prune(runs, successful_limit, failed_limit))
    if not doomed:
        return PruneResult()
    archive = await archive_runs(rt, namespace, job_name, doomed)
    if archive is None:  # the TrainingJob is gone: garbage collection takes its runs
        return PruneResult()
    crash_after(rt.settings, "prune_run")
    pruned = []
    for run in doomed:
        meta = run["metadata"]
        if await rt.kube.delete_training_job_run(namespace, meta["name"], meta["uid"]):
            pruned.append(str(meta["name"]))
    if pruned:
        message = (
            f"deleted {len(pruned)} finished TrainingJobRun(s) beyond the history limits "
            f"(archived in ConfigMap {archive.config_map}): {_shown(pruned)}"
        )
        await rt.kube.post_event(_job_involved(namespace, job_name, doomed), "Normal", "RunsPruned", message)
    return PruneResult(tuple(pruned), archive)


async def _current(rt: Runtime, namespace: str, runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """These runs as they are now, without those gone, replaced, being deleted or not finished."""
    current = []
    for run in runs:
        meta = run["metadata"]
        now = await rt.kube.get_training_job_run(namespace, meta["name"])
        if now is None or now["metadata"].get("uid") != meta.get("uid"):
            continue
        if now["metadata"].get("deletionTimestamp") or not run_settled(now.get("status")):
            continue
        current.append(now)
    return current


async def expire_runs(
    rt: Runtime, namespace: str, job_name: str, runs: Sequence[Mapping[str, Any]]
) -> set[str]:
    """These runs' ttlSecondsAfterFinished is up: archive them all in one write, then delete each;
    returns the uids deleted. A run whose TrainingJob is gone is deleted without a record (garbage
    collection is taking it anyway)."""
    archive = await archive_runs(rt, namespace, job_name, runs) if job_name else None
    crash_after(rt.settings, "prune_run")
    deleted = set()
    for run in runs:
        meta = run["metadata"]
        if not await rt.kube.delete_training_job_run(namespace, meta["name"], meta["uid"]):
            continue
        deleted.add(str(meta["uid"]))
        ttl = (run.get("spec") or {}).get("ttlSecondsAfterFinished")
        where = f"; archived in ConfigMap {archive.config_map}" if archive else ""
        message = f"deleted {ttl}s after it finished (ttlSecondsAfterFinished){where}"
        await rt.kube.post_event(_run_involved(run), "Normal", "Expired", message)
    return deleted


async def prune_job_history(
    rt: Runtime, job_body: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]
) -> ArchiveStatus | None:
    """The TrainingJob's history limits over its own runs (not a sweep's or schedule's: those
    follow their owner's limits); `runs`: its runs from the index. Returns the archive as status
    should show it: after this prune, else as last written, else None (unchanged)."""
    meta, spec = job_body["metadata"], job_body.get("spec") or {}
    namespace, name = meta["namespace"], meta["name"]
    if _has_limits(job_body):
        own = [run for run in runs if _job_own(run, name, meta["uid"])]
        result = await prune_runs(
            rt,
            namespace,
            name,
            own,
            spec.get("successfulRunsHistoryLimit"),
            spec.get("failedRunsHistoryLimit"),
        )
        if result.archive is not None:
            return result.archive
    return _known_archives.get((namespace, str(meta["uid"])))


async def with_history(
    rt: Runtime, body: Mapping[str, Any], outcome: Outcome, runs: Sequence[Mapping[str, Any]]
) -> Outcome:
    """A TrainingJob reconcile's outcome with its history pruned and status.archive up to date.
    A failure here is logged and tried again at the next resync: it never fails the reconcile."""
    meta = body["metadata"]
    try:
        archive = await prune_job_history(rt, body, runs)
    except ArchiveRefused as exc:
        await refused(rt, body["metadata"], exc)
        return outcome
    except Exception as exc:
        log.warning(
            "history of TrainingJob %s/%s: %s: %s", meta["namespace"], meta["name"], type(exc).__name__, exc
        )
        return outcome
    if archive is None:
        return outcome
    shown = archive.model_dump(mode="json", by_alias=True, exclude_none=True)
    if shown == ((body.get("status") or {}).get("archive") or None) or not outcome.status:
        return outcome
    outcome.status = outcome.status.with_fields(archive=archive)
    return outcome


async def refused(rt: Runtime, job_meta: Mapping[str, Any], exc: ArchiveRefused) -> None:
    log.warning("history of TrainingJob %s/%s: %s", job_meta["namespace"], job_meta["name"], exc)
    await rt.kube.post_event(
        TRAINING_JOB_KIND.involved_object(job_meta), "Warning", "ArchiveRefused", str(exc)
    )


async def archive_runs(
    rt: Runtime, namespace: str, job_name: str, runs: Sequence[Mapping[str, Any]]
) -> ArchiveStatus | None:
    """Upsert the runs' records into the TrainingJob's archive; None when the TrainingJob is gone.
    Raises ArchiveRefused when a ConfigMap of that name exists that the operator did not make."""
    owner = _owner_uid(runs, job_name)
    if owner is None:
        job = await rt.kube.get_training_job(namespace, job_name)
        if job is None:
            return None
        owner = str(job["metadata"]["uid"])
    name = archive_config_map_name(job_name)
    records = [archive_record(run, cond.now_rfc3339()) for run in runs]
    for _ in range(WRITE_ATTEMPTS):
        current = await rt.kube.get_config_map(namespace, name)
        if current is not None and (current["metadata"].get("labels") or {}).get(MANAGED_BY) != OPERATOR_NAME:
            raise ArchiveRefused(
                f"ConfigMap {namespace}/{name} exists without label {MANAGED_BY}: {OPERATOR_NAME}, so it "
                "is not the operator's archive; finished TrainingJobRuns are not pruned or expired "
                "(never deleted without a record) until it is renamed or deleted"
            )
        body = _config_map(current, namespace, name, job_name, owner)
        body["data"] = merged_records(body.get("data") or {}, records, rt.settings.archive_max_records)
        if await rt.kube.write_config_map(namespace, body):
            status = ArchiveStatus(config_map=name, count=_record_count(body["data"]))
            _known_archives[(namespace, owner)] = status
            while len(_known_archives) > MAX_KNOWN_ARCHIVES:
                _known_archives.pop(next(iter(_known_archives)))
            return status
    raise RuntimeError(f"ConfigMap {namespace}/{name} kept changing while TrainingJobRuns were archived")


def _config_map(
    current: Mapping[str, Any] | None, namespace: str, name: str, job_name: str, owner_uid: str
) -> dict[str, Any]:
    """The archive to write: the current one (kept at its version), else a new one. It belongs to
    the TrainingJob (deleted with it), without being controlled by it."""
    owner = {
        "apiVersion": API_VERSION,
        "kind": TRAINING_JOB_KIND.name,
        "name": job_name,
        "uid": owner_uid,
        "controller": False,
        "blockOwnerDeletion": False,
    }
    if current is None:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {MANAGED_BY: OPERATOR_NAME},
                "ownerReferences": [owner],
            },
            "data": {},
        }
    body = dict(current)
    meta = dict(body["metadata"])
    owners = list(meta.get("ownerReferences") or [])
    if not any(ref.get("uid") == owner_uid for ref in owners):
        meta["ownerReferences"] = [*owners, owner]
    body["metadata"] = meta
    return body


def _has_limits(job_body: Mapping[str, Any]) -> bool:
    spec = job_body.get("spec") or {}
    return (
        spec.get("successfulRunsHistoryLimit") is not None or spec.get("failedRunsHistoryLimit") is not None
    )


def _record_count(data: Mapping[str, str]) -> int:
    return sum(1 for key in data if key.endswith(RECORD_SUFFIX))


def _owner_uid(runs: Sequence[Mapping[str, Any]], job_name: str) -> str | None:
    """The TrainingJob's uid as its runs' owner references name it."""
    for run in runs:
        for ref in (run.get("metadata") or {}).get("ownerReferences") or []:
            if ref.get("kind") == TRAINING_JOB_KIND.name and ref.get("name") == job_name and ref.get("uid"):
                return str(ref["uid"])
    return None


def _job_own(run: Mapping[str, Any], job_name: str, job_uid: str) -> bool:
    """A run of this TrainingJob (not of an earlier one of the same name) that no sweep or
    schedule owns."""
    meta = run.get("metadata") or {}
    if ((run.get("spec") or {}).get("jobRef") or {}).get("name") != job_name:
        return False
    labels = meta.get("labels") or {}
    if SWEEP_LABEL in labels or SCHEDULE_LABEL in labels:
        return False
    owners = [ref for ref in meta.get("ownerReferences") or [] if ref.get("kind") == TRAINING_JOB_KIND.name]
    return all(ref.get("uid") == job_uid for ref in owners)


def _run_involved(run: Mapping[str, Any]) -> dict[str, Any]:
    return TRAINING_JOB_RUN_KIND.involved_object(run["metadata"])


def _job_involved(namespace: str, job_name: str, runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return TRAINING_JOB_KIND.involved_object(
        {"name": job_name, "namespace": namespace, "uid": _owner_uid(runs, job_name)}
    )


def _shown(names: Sequence[str]) -> str:
    return ", ".join(names[:MAX_NAMES_IN_EVENT]) + (" ..." if len(names) > MAX_NAMES_IN_EVENT else "")


Key = tuple[str, str]  # (namespace, TrainingJob name)


class HistoryWorker:
    """A TrainingJob's history work, as soon as there is some, one task per TrainingJob at a time:
    its history limits when one of its runs finishes, and its runs' TTL expiries, all runs due
    together archived in ONE write (each TTL on its own would read-modify-write the same ConfigMap
    and fight over it). It holds the TrainingJob's lock, as its reconcile (which prunes too) does,
    so the operator never races itself over an archive."""

    def __init__(self, runs_of: RunsOf) -> None:
        self._runs_of = runs_of
        self._running: dict[Key, asyncio.Task[None]] = {}
        self._prune: set[Key] = set()
        self._expiring: dict[Key, dict[str, tuple[Mapping[str, Any], asyncio.Future[bool]]]] = {}

    def run_finished(self, rt: Runtime, namespace: str, job_name: str) -> None:
        """Apply the TrainingJob's history limits soon (runs ending together: once)."""
        self._prune.add((namespace, job_name))
        self._start(rt, (namespace, job_name))

    async def expire(self, rt: Runtime, run: Mapping[str, Any]) -> bool:
        """The run's TTL is up: archive it (with every other run of its TrainingJob due now), then
        delete it; False when it was gone. Raises what stopped it (ArchiveRefused, say)."""
        meta = run["metadata"]
        key = (str(meta["namespace"]), str(((run.get("spec") or {}).get("jobRef") or {}).get("name") or ""))
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._expiring.setdefault(key, {})[str(meta["uid"])] = (run, future)
        self._start(rt, key)
        return await future

    async def idle(self) -> None:
        """Until no work is left (tests; shutdown)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    def _start(self, rt: Runtime, key: Key) -> None:
        if key not in self._running:
            self._running[key] = asyncio.get_running_loop().create_task(self._work(rt, key))

    async def _work(self, rt: Runtime, key: Key) -> None:
        try:
            while key in self._prune or self._expiring.get(key):
                await asyncio.sleep(COALESCE_SECONDS)
                prune = key in self._prune
                self._prune.discard(key)
                due = {
                    uid: entry for uid, entry in self._expiring.pop(key, {}).items() if not entry[1].done()
                }
                await self._once(rt, key, prune, due)
        finally:
            # No await between the last check above and this: work queued later starts a new task.
            self._running.pop(key, None)

    async def _once(
        self,
        rt: Runtime,
        key: Key,
        prune: bool,
        due: Mapping[str, tuple[Mapping[str, Any], asyncio.Future[bool]]],
    ) -> None:
        namespace, job_name = key
        try:
            job = await rt.kube.get_training_job(namespace, job_name) if job_name else None
        except Exception as exc:
            _fail(due, exc)
            log.warning("history of TrainingJob %s/%s: %s", namespace, job_name, exc)
            return
        lock = rt.lock(str(job["metadata"]["uid"])) if job else asyncio.Lock()
        async with lock:
            if due:
                try:
                    # A run whose TrainingJob is gone goes without a record: GC is taking it anyway.
                    deleted = await expire_runs(
                        rt, namespace, job_name if job else "", [r for r, _ in due.values()]
                    )
                except ArchiveRefused as exc:
                    if job:
                        await refused(rt, job["metadata"], exc)
                    _fail(due, exc)
                except Exception as exc:
                    _fail(due, exc)
                else:
                    for uid, (_, future) in due.items():
                        if not future.done():
                            future.set_result(uid in deleted)
            if not (prune and job and not job["metadata"].get("deletionTimestamp") and _has_limits(job)):
                return
            try:
                await prune_job_history(rt, job, self._runs_of(namespace, job_name))
            except ArchiveRefused as exc:
                await refused(rt, job["metadata"], exc)
            except Exception as exc:  # the next resync tries again
                log.warning("pruning the history of TrainingJob %s/%s: %s", namespace, job_name, exc)


def _fail(due: Mapping[str, tuple[Mapping[str, Any], asyncio.Future[bool]]], exc: Exception) -> None:
    for _, future in due.values():
        if not future.done():
            future.set_exception(exc)
