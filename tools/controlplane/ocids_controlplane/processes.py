"""Child processes that never outlive their owner.

Each component runs in its own session (process group), so stopping it also stops anything it
spawned. Every process started without `detached=True` is registered for stopping at interpreter
exit and on SIGTERM/SIGHUP, and additionally asks the kernel to SIGKILL it if the starting thread
dies (PR_SET_PDEATHSIG), which covers a SIGKILLed pytest worker where no Python code runs.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

_PR_SET_PDEATHSIG = 1
_live: set[ManagedProcess] = set()
_live_lock = threading.Lock()
_handlers_installed = False


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass(eq=False)
class ManagedProcess:
    name: str
    args: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes]
    detached: bool

    @classmethod
    def start(
        cls,
        name: str,
        args: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        detached: bool = False,
    ) -> ManagedProcess:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        # Tie the child's life to ours only when started from the main thread: PDEATHSIG fires when
        # the *thread* that forked exits, which for a helper thread could be long before us.
        tie = not detached and threading.current_thread() is threading.main_thread()
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                list(args),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_set_pdeathsig if tie else None,
            )
        proc = cls(name=name, args=list(args), log_path=log_path, popen=popen, detached=detached)
        if not detached:
            _register(proc)
        return proc

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the whole process group, SIGKILL it after `timeout`; idempotent."""
        stop_group(self.pid, timeout, self.popen)
        with _live_lock:
            _live.discard(self)

    def state(self) -> dict[str, Any]:
        """What `down` needs to find this process again from another interpreter."""
        return {"name": self.name, "pid": self.pid, "exe": self.args[0], "log": str(self.log_path)}


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        data = path.read_bytes()[-64_000:]
    except OSError:
        return f"(no log at {path})"
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def stop_group(pid: int, timeout: float = 10.0, popen: subprocess.Popen[bytes] | None = None) -> None:
    """Stop the process group led by `pid` (it was started with start_new_session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen is not None:
            if popen.poll() is not None:
                break
        elif not pid_alive(pid):
            break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=5)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def same_process(pid: int, exe: str) -> bool:
    """True when `pid` still runs `exe`, so a recycled pid is never killed by a stale state file."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmdline) and cmdline[0].decode(errors="replace") == exe and pid_alive(pid)


def stop_all() -> None:
    with _live_lock:
        procs = list(_live)
    # Reverse start order: clients (controller manager) before servers (etcd).
    for proc in sorted(procs, key=lambda p: p.pid, reverse=True):
        with contextlib.suppress(Exception):
            proc.stop(timeout=5)


def _register(proc: ManagedProcess) -> None:
    global _handlers_installed
    with _live_lock:
        _live.add(proc)
        if _handlers_installed:
            return
        _handlers_installed = True
    atexit.register(stop_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            previous = signal.getsignal(sig)
            signal.signal(sig, _make_handler(sig, previous))


def _make_handler(sig: int, previous: Any) -> Any:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop_all()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_IGN:
            return
        else:
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)

    return handler
