"""Where the demo keeps its state, and which of the processes it recorded still run.

Standard library only: `demo.py env` runs with any python3, before or without the venv.

A process is recorded with its pid, its command line as /proc shows it and its start time, and is
taken for ours only when all three still match: a pid reused after a reboot or crash is never
signalled. Each process leads its own process group (started with start_new_session), so stopping
the group also stops whatever it spawned.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
DIR_ENV = "OCIDS_DEMO_DIR"
NAMESPACE = "ocids-demo"


def demo_dir() -> Path:
    return Path(os.environ.get(DIR_ENV) or REPO / ".demo").resolve()


def state_file(directory: Path) -> Path:
    return directory / "state.json"


def load(directory: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(state_file(directory).read_text()))
    except (OSError, ValueError):
        return {}


def save(directory: Path, state: dict[str, Any]) -> None:
    tmp = state_file(directory).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(state_file(directory))


def prepare(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    # Keeps the folder out of git wherever it lives, without touching the repository's .gitignore.
    ignore = directory / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# written by tools/demo: everything here is local state\n*\n")


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """One `up`/`down` at a time per state dir, even from different shells."""
    prepare(directory)
    with open(directory / "lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another `demo.py` is working on {directory}; waiting for it ...", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]


def _stat(pid: int) -> list[str] | None:
    try:
        # Fields after the command name, which may itself contain spaces and parentheses.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def identity(pid: int) -> dict[str, Any]:
    """What `alive` later compares (the command line may read empty for a moment after exec)."""
    stat = _stat(pid) or []
    return {"pid": pid, "cmdline": _cmdline(pid) or [], "start": stat[19] if len(stat) > 19 else ""}


def alive(record: dict[str, Any] | None) -> bool:
    if not record or not record.get("pid"):
        return False
    pid = int(record["pid"])
    stat = _stat(pid)
    if stat is None or stat[0] == "Z":
        return False
    return _cmdline(pid) == record.get("cmdline") and stat[19] == record.get("start")


def runs(pid: int, exe: str) -> bool:
    """pid still runs program `exe` (how ocids_controlplane records the control plane's processes)."""
    cmdline = _cmdline(pid)
    stat = _stat(pid)
    if not cmdline or not stat:
        return False
    return cmdline[0] == exe and stat[0] != "Z"


def stop(record: dict[str, Any] | None, timeout: float = 15.0) -> bool:
    """SIGTERM the recorded process group, SIGKILL it after `timeout`; False if it was not running."""
    if not alive(record):
        return False
    assert record is not None
    pgid = int(record["pid"])
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(record) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    return True


def group_members(pgid: int) -> list[int]:
    """Processes still in process group `pgid` (e.g. a child that outlived its leader)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat and len(stat) > 2 and stat[2] == str(pgid) and stat[0] != "Z":
                found.append(int(entry.name))
    return found
