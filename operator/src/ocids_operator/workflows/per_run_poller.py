"""Benchmark only: the naive way to follow runs, one timer and one GetJobRun per run per interval.

`OCIDS_POLL_MODE=per_run` swaps it in for the compartment poller so `make bench` can show, in the
same operator against the same emulator, what listing saves. Everything else is shared with
RunPoller: registration, the status writer, Events, per-run backoff and the 404 proof.
"""

from __future__ import annotations

import asyncio
import contextlib

from ..adapters.oci_identities import OPERATOR, IdentityKey
from .run_poller import SETTLE_SECONDS, RunPoller, TrackedRun, has_news, next_interval


class PerRunPoller(RunPoller):
    def _follow(self, run: TrackedRun) -> None:
        task = self._tasks.get(run.run_id)
        if task is not None and not task.done():
            return
        with contextlib.suppress(RuntimeError):  # no running loop (unit tests of registration)
            self._tasks[run.run_id] = asyncio.get_running_loop().create_task(
                self._run_loop(run.run_id), name=f"ocids-poller:{run.run_id[-12:]}"
            )

    async def _run_loop(self, run_id: str) -> None:
        while (run := self._runs.get(run_id)) is not None:
            interval = next_interval([run], self._settings, self._clock())
            await asyncio.sleep(max(interval, run.retry_at - self._clock()))
            if run_id in self._runs:
                await self._poll(run_id)
        self._tasks.pop(run_id, None)

    async def cycle(self, compartment_id: str, identity: IdentityKey = OPERATOR) -> None:
        """Every due run of the compartment polled once (what the timers do over one interval)."""
        now = self._clock()
        due = [
            run_id
            for run_id, run in self.tracked(compartment_id, identity).items()
            if run.retry_at <= now and run.registered_at <= now - SETTLE_SECONDS
        ]
        await self._bounded([self._poll(run_id) for run_id in due])

    async def _poll(self, run_id: str) -> None:
        run = self._runs.get(run_id)
        if run is None:
            return
        try:
            await self._ready(run.identity)
            gateway = self._gateway_of(run.identity)
            view = await gateway.get_job_run(run_id) or await self._confirm_gone(run_id, None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(run_id, f"reading OCI job run {run_id} failed: {type(exc).__name__}: {exc}")
            return
        if has_news(run, view):
            await self._apply_safely(run_id, view)
        self.last_cycle = self._clock()
        self.cycles += 1
