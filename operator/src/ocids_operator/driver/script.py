"""Script mode: run the entrypoint file as OCI runs a job artifact, and pass on its exit code."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

# Signals a job run gets when it is canceled or stopped: the user's process must see them too.
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def command_for(entry: Path, arguments: list[str]) -> list[str]:
    """Like OCI: a .py file with this interpreter (unbuffered), .sh with bash, else the file itself
    when it is executable, else bash."""
    suffix = entry.suffix.lower()
    if suffix == ".py":
        return [sys.executable, "-u", str(entry), *arguments]
    if suffix == ".sh" or not os.access(entry, os.X_OK):
        return ["bash", str(entry), *arguments]
    return [str(entry), *arguments]


def exit_code(returncode: int) -> int:
    """A child killed by a signal reports as a shell does: 128 + the signal number."""
    return 128 - returncode if returncode < 0 else returncode


def run_script(entry: Path, arguments: list[str], cwd: Path) -> int:
    child = subprocess.Popen(command_for(entry, arguments), cwd=str(cwd))

    def forward(signum: int, _frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        return exit_code(child.wait())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
