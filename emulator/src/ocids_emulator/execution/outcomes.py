"""The lifecycle details a run passes through and ends with, and how its processes are stopped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

SUCCEEDED_DETAILS = "Job run artifact execution succeeded. Infrastructure de-provisioning."
CANCELED_DETAILS = "Job run canceled."
STARTING_DETAILS = "Job run bootstrap complete. Artifact execution starting."
RUNNING_DETAILS = "Job run artifact execution in progress."


def failed_details(exit_code: int) -> str:
    return f"Job run artifact execution failed with exit code {exit_code}."


def exit_status(returncode: int | None) -> int:
    """An exit code as a shell reports it: a signal death is 128 + the signal number."""
    if returncode is None:
        return -1
    return returncode if returncode >= 0 else 128 - returncode


def timeout_details(minutes: int) -> str:
    return (
        f"Job run timed out: the artifact ran longer than maximumRuntimeInMinutes ({minutes} minutes)"
        " and was stopped."
    )


def signal_group(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    """Signal a process and everything it started (each runs in its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
