"""A job run's startup probe (``startupProbeDetails``, OCI's JobExecProbeDetails, type EXEC).

The probe command runs (no shell) in the run's working folder with the run's environment until it
exits 0 (the run has started) or fails ``failureThreshold`` times in a row (the run fails). OCI
documents no defaults and no per-attempt timeout; the emulator's choices are the constants below.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

DEFAULT_PERIOD_SECONDS = 10
DEFAULT_FAILURE_THRESHOLD = 3
DEFAULT_INITIAL_DELAY_SECONDS = 0
# A scaled period may be far shorter than a process needs to start; an attempt always gets this much.
MIN_ATTEMPT_SECONDS = 1.0
# How often a wait between attempts checks whether the artifact is still running.
_ALIVE_POLL_SECONDS = 0.05


def probe_failed_details(failures: int, reason: str) -> str:
    return f"Job run startup probe failed {failures} time{'s' if failures != 1 else ''}: {reason}."


async def run_startup_probe(
    probe: Mapping[str, Any],
    cwd: Path,
    env: Mapping[str, str],
    alive: Callable[[], bool],
    minute_seconds_scale: float = 1.0,
) -> str | None:
    """None when the probe passed (or the artifact exited first); else the run's lifecycleDetails.

    ``minute_seconds_scale`` (the emulator's minute_seconds / 60) shrinks the probe's seconds as
    ``--minute-seconds`` shrinks maximumRuntimeInMinutes, so tests need not wait real periods.
    """
    command = [str(part) for part in probe["command"]]
    period = _value(probe, "periodInSeconds", DEFAULT_PERIOD_SECONDS) * minute_seconds_scale
    threshold = max(int(_value(probe, "failureThreshold", DEFAULT_FAILURE_THRESHOLD)), 1)
    delay = _value(probe, "initialDelayInSeconds", DEFAULT_INITIAL_DELAY_SECONDS) * minute_seconds_scale
    attempt_timeout = max(period, MIN_ATTEMPT_SECONDS)
    if not await _wait_while_alive(delay, alive):
        return None
    failures = 0
    while True:
        if not alive():
            return None
        started = time.monotonic()
        reason = await _attempt(command, cwd, env, attempt_timeout, alive)
        if reason is None:
            return None
        failures += 1
        # An artifact that exited meanwhile decides the run's outcome, not its probe.
        if not alive():
            return None
        if failures >= threshold:
            return probe_failed_details(failures, reason)
        if not await _wait_while_alive(period - (time.monotonic() - started), alive):
            return None


def _value(probe: Mapping[str, Any], key: str, default: int) -> float:
    value = probe.get(key)
    return float(default if value is None else value)


async def _wait_while_alive(seconds: float, alive: Callable[[], bool]) -> bool:
    """Sleep up to ``seconds``; False as soon as the artifact is no longer running."""
    deadline = time.monotonic() + max(seconds, 0.0)
    while True:
        if not alive():
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        await asyncio.sleep(min(left, _ALIVE_POLL_SECONDS))


async def _attempt(
    command: list[str], cwd: Path, env: Mapping[str, str], timeout: float, alive: Callable[[], bool]
) -> str | None:
    """One probe attempt: None on exit 0, else why it failed (the text ends the details). An
    artifact that exits meanwhile ends the attempt at once (its probe is killed): a hung probe must
    not hold back the run's end by up to a period."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            cwd=str(cwd),
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
    except FileNotFoundError:
        return f"command {command[0]!r} was not found"
    except PermissionError:
        return f"command {command[0]!r} is not executable"
    try:
        code = await asyncio.wait_for(_wait_or_artifact_gone(proc, alive), timeout=timeout)
    except TimeoutError:
        return f"command timed out after {timeout:g} seconds"
    finally:
        # Whatever the probe started dies with it, including on cancel and timeout.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await asyncio.shield(proc.wait())
    if code is None:
        return "the job run's artifact exited during the attempt"
    if code == 0:
        return None
    return f"command exited with {code if code > 0 else 128 - code}"


async def _wait_or_artifact_gone(proc: asyncio.subprocess.Process, alive: Callable[[], bool]) -> int | None:
    """The probe's exit code, or None as soon as the artifact is no longer running."""
    waiter = asyncio.ensure_future(proc.wait())
    try:
        while True:
            done, _ = await asyncio.wait({waiter}, timeout=_ALIVE_POLL_SECONDS)
            if done:
                return waiter.result()
            if not alive():
                return None
    finally:
        waiter.cancel()
