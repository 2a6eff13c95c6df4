"""Find and stop artifact processes a crashed emulator left behind (Linux /proc).

A run's process is recognised by its JOB_RUN_OCID environment variable naming a run folder of
this data dir, so a restart (or the test helper's hard kill) never leaves them running and never
touches anyone else's processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def find_orphans(runs_dir: Path) -> list[int]:
    if not runs_dir.is_dir():
        return []
    run_ids = {p.name for p in runs_dir.iterdir()}
    if not run_ids:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for item in environ:
            if item.startswith(b"JOB_RUN_OCID=") and item[13:].decode(errors="replace") in run_ids:
                found.append(int(entry.name))
                break
    return found


def kill_orphans(runs_dir: Path) -> int:
    pids = find_orphans(runs_dir)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)
