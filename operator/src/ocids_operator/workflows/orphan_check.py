"""The operator's periodic, read-only orphan check: every OCIDS_ORPHAN_CHECK_INTERVAL_SECONDS,
the first one interval after start (on the leader only: kopf runs only there; 0 turns it off):
the orphan report's scan, its counts and cost kept in the gauges ocids_orphan_runs,
ocids_orphan_jobs and ocids_orphan_cost.

Its OCI calls are bounded per cycle: per compartment at most MAX_PAGES pages of ListJobs and of
ListJobRuns (newest first), and at most PRICE_READS GetJobRuns to price orphan runs not priced
before (a run's nodes never change, so each is read once); a compartment OCI refuses to list (4xx)
is left alone for REFUSED_SECONDS. It never cancels, tags or deletes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from .. import metrics
from ..core.price_table import PriceTable
from ..runtime import Runtime
from . import orphans, run_pricing

log = logging.getLogger(__name__)
MAX_PAGES = 5
PRICE_READS = 20
REFUSED_SECONDS = 3600.0


class OrphanCheck:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._task: asyncio.Task[None] | None = None
        self._prices: dict[str, float | None] = {}  # orphan run id -> price per hour (None: none)
        self._table: PriceTable | None = None  # what those prices come from
        self._refused: dict[str, float] = {}  # compartment OCI refused to list -> when to ask again
        self._said: tuple[object, ...] | None = None
        self.cycles = 0

    def start(self) -> None:
        if self._task is None and self._rt.settings.orphan_check_interval_seconds > 0:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="orphan-check")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        interval = self._rt.settings.orphan_check_interval_seconds
        while True:
            # Not at start: a restart loop must not list every compartment each time, and the
            # report is for what was left behind long ago, not a moment ago.
            await asyncio.sleep(interval)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # OCI or the API server away: the gauges keep the last figures
                self._say(
                    ("error", str(exc)),
                    logging.WARNING,
                    "orphan check failed (retried in %gs): %s",
                    interval,
                    exc,
                )

    async def check(self) -> None:
        rt = self._rt
        table = await run_pricing.load_price_table(rt)
        if table is not self._table:  # a new price table (or none): the prices known are stale
            self._prices, self._table = {}, table
        now = time.monotonic()
        self._refused = {c: until for c, until in self._refused.items() if until > now}
        found = await orphans.scan(
            rt,
            max_pages=MAX_PAGES,
            table=table,
            price_reads=PRICE_READS,
            known_prices=self._prices,
            skip=self._refused,
        )
        for (compartment, exc), line in zip(found.unreadable.items(), found.unreadable_lines(), strict=True):
            # Refused (a compartment OCI does not know, or a policy): not asked again for a while,
            # as a stalled object is not retried; busy (429, 5xx): asked again next cycle.
            if exc.status < 500 and exc.status != 429:
                self._refused[compartment] = now + REFUSED_SECONDS
            log.warning("orphan check: %s", line)
        runs, jobs = found.report.orphan_runs, found.report.orphan_jobs
        # The prices of the runs reported now (known or just read): the cache is as small as the report.
        self._prices = dict(found.prices)
        metrics.ORPHAN_RUNS.set(len(runs))
        metrics.ORPHAN_JOBS.set(len(jobs))
        metrics.ORPHAN_COST.clear()
        if found.currency is not None:
            metrics.ORPHAN_COST.labels(found.currency).set(found.orphan_cost())
        self.cycles += 1
        if runs or jobs:
            self._say(
                ("orphans", tuple(sorted(f.id for f in [*runs, *jobs]))),
                logging.WARNING,
                "%d OCI job(s) and %d job run(s) tagged by cluster %s have no owner (cost so far: %s); "
                "`ocids-operator orphans` lists them, `--delete` removes them",
                len(jobs),
                len(runs),
                rt.settings.cluster_name,
                f"{found.orphan_cost():.2f} {found.currency}" if found.currency else "no price table",
            )
        else:
            self._said = None
        if found.truncated:
            self._say(
                ("truncated", tuple(found.truncated)),
                logging.INFO,
                "orphan check read only the newest %d pages of jobs and runs in %s; "
                "`ocids-operator orphans` reads them all",
                MAX_PAGES,
                ", ".join(found.truncated),
            )

    def _say(self, key: tuple[object, ...], level: int, message: str, *args: object) -> None:
        """Each finding said once, not every cycle."""
        if key != self._said:
            self._said = key
            log.log(level, message, *args)
