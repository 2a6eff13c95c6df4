"""The orphan report's I/O around the pure classification (core/orphans.py): list this cluster's OCI
jobs and runs in the compartments, then the objects that may own them, price the orphan runs, and
(`ocids-operator orphans --delete` only) cancel and delete the orphans.

OCI is listed before Kubernetes: an object created in between then owns what it made, instead of its
first job or run being taken for an orphan.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any

import oci

from ..adapters.oci_orphans import OrphanCalls, orphan_calls_of
from ..api import GROUP, TRAINING_JOB_RUNS, TRAINING_JOB_SCHEDULES, TRAINING_JOBS, VERSION
from ..core.cost import NodeSize, price_per_hour, price_problem
from ..core.deletion_plan import RETAINED, TAG_RETAINED
from ..core.model import TAG_UID
from ..core.orphans import (
    Finding,
    OciJob,
    OrphanReport,
    ResourceKind,
    Scope,
    Standing,
    classify,
    cost_so_far,
)
from ..core.phases import ACTIVE_RUN_STATES, GONE_JOB_STATES, RunState
from ..core.price_table import PriceTable
from ..core.run_plan import RunView
from ..core.tenancy import ALLOWED_COMPARTMENTS_ANNOTATION, parse_compartments
from ..runtime import Runtime

log = logging.getLogger(__name__)
KUBE_PAGE = 500
# The kinds whose uid the operator tags its OCI resources with: TrainingJob (jobs), TrainingJobRun
# (runs), TrainingJobSchedule (the runs its OCI Schedule fires, engine OCI).
OWNER_KINDS = (TRAINING_JOBS, TRAINING_JOB_RUNS, TRAINING_JOB_SCHEDULES)
PageReader = Callable[[str | None], Awaitable[tuple[list[Any], str | None]]]


@dataclasses.dataclass
class Scan:
    report: OrphanReport
    compartments: list[str]
    now: datetime.datetime
    scope: Scope = dataclasses.field(default_factory=lambda: Scope(""))
    prices: dict[str, float | None] = dataclasses.field(default_factory=dict)  # run id -> per hour
    table: PriceTable | None = None
    price_note: str | None = None  # why some or all costs are missing
    truncated: list[str] = dataclasses.field(default_factory=list)  # listings cut at the page bound
    # Compartments OCI would not list (left out of the report): compartment -> OCI's answer.
    unreadable: dict[str, oci.exceptions.ServiceError] = dataclasses.field(default_factory=dict)

    def unreadable_lines(self) -> list[str]:
        return [
            f"not listed: compartment {c}: OCI answered {e.status} {e.code}: {e.message}"
            for c, e in self.unreadable.items()
        ]

    @property
    def currency(self) -> str | None:
        return self.table.currency if self.table is not None else None

    def cost(self, finding: Finding) -> float | None:
        """A run's cost so far; a job's: its orphan runs' together (they go with it)."""
        if finding.kind is ResourceKind.RUN:
            return cost_so_far(self.prices.get(finding.id), finding, self.now)
        costs = [self.cost(run) for run in self.report.deleted_with_job(finding.id)]
        return None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)

    def orphan_cost(self) -> float:
        """What the orphan runs cost so far, those with a price."""
        return sum(self.cost(run) or 0.0 for run in self.report.orphan_runs)


def scope_of(rt: Runtime, cluster: str | None = None, include_failed: bool = False) -> Scope:
    return Scope(cluster or rt.settings.cluster_name, frozenset(rt.settings.namespaces), include_failed)


# Compartments a TrainingJob or a namespace named in an earlier scan of this process: a namespace
# deleted since (its TrainingJobs and annotation gone with it) leaves its orphans there.
_seen_compartments: dict[str, None] = {}
MAX_SEEN_COMPARTMENTS = 1000


async def default_compartments(rt: Runtime) -> list[str]:
    """Where this cluster's jobs live: the TrainingJobs' compartments, the compartments the watched
    namespaces (every namespace, when all are watched) are allowed by their annotation,
    OCIDS_DEFAULT_ALLOWED_COMPARTMENTS, and those found so by earlier scans of this process."""
    found: dict[str, None] = dict.fromkeys(rt.settings.default_allowed_compartments)
    for job in await _list(rt, TRAINING_JOBS):
        compartment = (job.get("spec") or {}).get("compartmentId")
        if compartment:
            found[compartment] = None
    for value in await _allowed_annotations(rt):
        found.update(dict.fromkeys(sorted(parse_compartments(value))))
    if len(_seen_compartments) + len(found) <= MAX_SEEN_COMPARTMENTS:
        _seen_compartments.update(found)
    return list({**found, **_seen_compartments})


async def _allowed_annotations(rt: Runtime) -> list[str]:
    """Every watched namespace's `ocids.io/allowed-compartments` (all namespaces': one list)."""
    if rt.settings.namespaces:
        if rt.namespaces is None:
            return []
        values = [
            (await rt.namespaces.annotations(namespace)).get(ALLOWED_COMPARTMENTS_ANNOTATION)
            for namespace in rt.settings.namespaces
        ]
        return [value for value in values if value]
    found: list[str] = []
    for namespace in await _list_paths(rt, ["/api/v1/namespaces"]):
        value = ((namespace.get("metadata") or {}).get("annotations") or {}).get(
            ALLOWED_COMPARTMENTS_ANNOTATION
        )
        if value:
            found.append(str(value))
    return found


async def scan(
    rt: Runtime,
    compartments: Iterable[str] | None = None,
    max_pages: int | None = None,
    table: PriceTable | None = None,
    price_reads: int | None = None,
    known_prices: dict[str, float | None] | None = None,
    skip: Collection[str] = (),
    scope: Scope | None = None,
) -> Scan:
    """`max_pages`: at most this many pages of each listing (the periodic check's bound; None: all).
    `price_reads`: at most this many GetJobRuns to price orphan runs not in `known_prices`.
    `skip`: compartments not to list (the periodic check's, after OCI refused them).
    `scope`: whose resources to judge (default: this cluster's, by its settings)."""
    scope = scope or scope_of(rt)
    calls = _calls(rt)
    chosen = compartments if compartments is not None else await default_compartments(rt)
    chosen = [c for c in dict.fromkeys(chosen) if c not in skip]
    jobs: list[OciJob] = []
    runs: list[RunView] = []
    truncated: list[str] = []
    unreadable: dict[str, oci.exceptions.ServiceError] = {}
    for compartment in chosen:
        try:
            listed_jobs, cut_jobs = await _pages(_jobs_reader(calls, compartment), max_pages)
            listed_runs, cut_runs = await _pages(_runs_reader(rt, compartment), max_pages)
        except oci.exceptions.ServiceError as exc:
            # Judged without its jobs or without its runs, a compartment would be judged wrong.
            unreadable[compartment] = exc
            continue
        jobs += listed_jobs
        runs += listed_runs
        if cut_jobs or cut_runs:
            truncated.append(compartment)
    owners = {obj["metadata"]["uid"] for kind in OWNER_KINDS for obj in await _list(rt, kind)}
    report = classify(jobs, runs, owners, scope)
    found = Scan(
        report, chosen, datetime.datetime.now(datetime.UTC), scope=scope, table=table, truncated=truncated
    )
    found.unreadable = unreadable
    await _price(found, calls, table, price_reads, known_prices if known_prices is not None else {})
    return found


async def _price(
    found: Scan,
    calls: OrphanCalls,
    table: PriceTable | None,
    reads: int | None,
    known: dict[str, float | None],
) -> None:
    runs = [f for f in found.report.findings if f.kind is ResourceKind.RUN]
    if table is None:
        found.price_note = "no cost: there is no price table (OCIDS_PRICE_TABLE)" if runs else None
        return
    problems: list[str] = []
    for run in runs:
        if run.id in known:
            found.prices[run.id] = known[run.id]
            continue
        if reads is not None and reads <= 0:
            problems.append(f"{run.id}: not priced yet")
            continue
        reads = None if reads is None else reads - 1
        try:
            sizes = await calls.run_sizes(run.id)
        except oci.exceptions.ServiceError as exc:
            problems.append(f"{run.id}: GetJobRun answered {exc.status} {exc.code}")
            continue
        price = _priced(sizes, table, run.id, problems)
        found.prices[run.id] = price
    if problems:
        found.price_note = "no cost for " + "; ".join(problems)


def _priced(
    sizes: list[NodeSize] | None, table: PriceTable, run_id: str, problems: list[str]
) -> float | None:
    if not sizes:
        problems.append(f"{run_id}: its shape is not known")
        return None
    price = price_per_hour(sizes, table)
    if price is None:
        problems.append(f"{run_id}: {price_problem(sizes, table)}")
    return price


async def delete(rt: Runtime, found: Scan, say: Callable[[str], None], cancel_wait: float) -> int:
    """Cancel the active orphan runs, wait for them to end (at most `cancel_wait` seconds), then
    delete the orphan runs and jobs; never a retained or kept one. Each step is said as it is done.
    Returns how many could not be removed."""
    report = found.report
    failed: set[str] = set()
    # Read again right before: one tagged Retain (or re-tagged) since the listing is left alone.
    untouched: set[str] = set()
    for finding in report.findings:
        if finding.standing is Standing.ORPHAN:
            changed = await _changed_since_listed(rt, found.scope, finding)
            if changed is not None:
                say(f"not deleted: {finding.kind.value} {finding.id}: {changed}")
                untouched.add(finding.id)
    for run in report.runs_to_cancel():
        if run.id in untouched:
            continue
        if await _step(say, failed, run, rt.oci.cancel_job_run(run.id, run.compartment_id)):
            say(f"canceled run {run.id} ({run.owner}, was {run.state})")
    canceled = [r for r in report.runs_to_cancel() if r.id not in failed | untouched]
    stuck = await _wait_ended(rt, canceled, cancel_wait)
    for run_id, state in stuck.items():
        say(f"not deleted: run {run_id} is still {state} {cancel_wait:g}s after its cancel; run again later")
        failed.add(run_id)
    for run in report.runs_to_delete():
        if run.id in failed | untouched:
            continue
        if await _step(say, failed, run, rt.oci.delete_job_run(run.id, run.compartment_id)):
            say(f"deleted run {run.id} ({run.owner})")
    for job in report.orphan_jobs:
        held = [run.id for run in report.deleted_with_job(job.id)]
        if job.id in untouched:
            continue
        if any(run_id in untouched for run_id in held):
            say(f"not deleted: job {job.id}: it holds a run left alone above")
            continue
        if any(run_id in failed for run_id in held):
            say(f"not deleted: job {job.id}: its run(s) did not end")
            failed.add(job.id)
            continue
        # DeleteJob with deleteRelatedJobRuns: its orphan runs go with it.
        if await _step(say, failed, job, rt.oci.delete_job(job.id, job.compartment_id)):
            runs = f" and its run(s) {', '.join(held)}" if held else ""
            say(f"deleted job {job.id} ({job.owner}){runs}")
    return len(failed)


async def _changed_since_listed(rt: Runtime, scope: Scope, finding: Finding) -> str | None:
    """Why it must not be touched after all (read again right before: its tags may have changed since
    the listing, e.g. a Retain tag added), or None."""
    if finding.kind is ResourceKind.RUN:
        view: Any = await rt.oci.get_job_run(finding.id)
    else:
        view = await rt.oci.get_job(finding.id)
    gone = view is None or (
        view.state is RunState.DELETED
        if finding.kind is ResourceKind.RUN
        else view.lifecycle_state in GONE_JOB_STATES
    )
    if gone:
        return "gone already"
    tags = view.tags
    if not scope.covers(tags) or tags.get(TAG_UID) != finding.uid:
        return "its tags changed since it was listed (no longer this cluster's orphan); run again"
    if tags.get(TAG_RETAINED) == RETAINED:
        return "it is tagged ocids.io/deletion-policy=Retain now"
    return None


async def _step(say: Callable[[str], None], failed: set[str], finding: Finding, call: Any) -> bool:
    try:
        await call
    except oci.exceptions.ServiceError as exc:
        say(f"failed: {finding.kind.value} {finding.id}: OCI answered {exc.status} {exc.code}: {exc.message}")
        failed.add(finding.id)
        return False
    return True


async def _wait_ended(rt: Runtime, runs: list[Finding], timeout: float) -> dict[str, str]:
    """The runs still active after `timeout` seconds: run id -> state."""
    waiting = {run.id: run.state for run in runs}
    deadline = time.monotonic() + timeout
    while waiting:
        for run_id in list(waiting):
            view = await rt.oci.get_job_run(run_id)
            if view is None or view.state not in ACTIVE_RUN_STATES or view.state is RunState.NEEDS_ATTENTION:
                waiting.pop(run_id)
            else:
                waiting[run_id] = view.lifecycle_state
        if not waiting or time.monotonic() >= deadline:
            break
        await asyncio.sleep(min(1.0, max(deadline - time.monotonic(), 0)))
    return waiting


def _jobs_reader(calls: OrphanCalls, compartment: str) -> PageReader:
    async def read(page: str | None) -> tuple[list[Any], str | None]:
        return await calls.list_jobs_page(compartment, page)

    return read


def _runs_reader(rt: Runtime, compartment: str) -> PageReader:
    # Newest first: with a page bound, the runs cut off are the oldest (long ended, or long gone).
    async def read(page: str | None) -> tuple[list[Any], str | None]:
        return await rt.oci.list_job_runs_page(compartment, page, sort_by="timeCreated", sort_order="DESC")

    return read


def _calls(rt: Runtime) -> OrphanCalls:
    calls = orphan_calls_of(rt.oci)
    if calls is None:
        raise RuntimeError("the OCI service cannot list jobs")
    return calls


async def _pages(read: PageReader, max_pages: int | None) -> tuple[list[Any], bool]:
    """Every page (or the first `max_pages`); and whether more were left unread."""
    items: list[Any] = []
    page: str | None = None
    pages = 0
    while True:
        got, page = await read(page)
        items += got
        pages += 1
        if not page:
            return items, False
        if max_pages is not None and pages >= max_pages:
            return items, True


async def _list(rt: Runtime, plural: str) -> list[dict[str, Any]]:
    """Every object of the kind the operator watches (its namespaces, or all), page by page."""
    bases = [f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/{plural}" for ns in rt.settings.namespaces] or [
        f"/apis/{GROUP}/{VERSION}/{plural}"
    ]
    return await _list_paths(rt, bases)


async def _list_paths(rt: Runtime, bases: list[str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for base in bases:
        token = ""
        while True:
            query = f"?limit={KUBE_PAGE}" + (f"&continue={urllib.parse.quote(token)}" if token else "")
            listed = await rt.kube.request("GET", base + query) or {}
            items += listed.get("items") or []
            token = (listed.get("metadata") or {}).get("continue") or ""
            if not token:
                break
    return items


async def mark_retained_jobs(rt: Runtime, job_ids: Iterable[str]) -> None:
    """Tag the OCI jobs a TrainingJob leaves in OCI on purpose (deletionPolicy Retain) before it lets
    them go: once the object is gone, the tag is what tells the orphan report to keep them. A job
    gone (or unreadable) needs no tag."""
    calls = orphan_calls_of(rt.oci)
    if calls is None:
        return
    for job_id in job_ids:
        job = await rt.oci.get_job(job_id)
        if job is None or job.lifecycle_state in GONE_JOB_STATES or job.tags.get(TAG_RETAINED) == RETAINED:
            continue
        try:
            await calls.tag_job(job_id, {**job.tags, TAG_RETAINED: RETAINED})
        except oci.exceptions.ServiceError as exc:
            if exc.status != 409:
                raise
            # A FAILED job takes no update: the orphan report will list it; say why here.
            log.warning(
                "could not tag retained OCI job %s (%s): %s", job_id, job.lifecycle_state, exc.message
            )
