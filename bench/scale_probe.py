"""What the scale benchmark reads from the running processes: a status watch, /proc, /metrics."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

TERMINAL_PHASES = frozenset({"Succeeded", "Failed", "Canceled", "Deleted"})
# One short line per watch event: full JSON of thousands of updates would cost kubectl (and this
# process) more CPU than the operator being measured, on the same cores.
WATCH_TEMPLATE = '{.metadata.name}{" "}{.status.phase}{"\\n"}'


class PhaseWatch:
    """`kubectl get -w` of the namespace's TrainingJobRuns: when each first showed a terminal phase.

    The time is this machine's wall clock as the line arrives, the same clock the emulator's
    timeFinished is written with.
    """

    def __init__(
        self, kubectl: Sequence[str], resource: str, namespace: str, env: dict[str, str] | None = None
    ) -> None:
        self._env = env
        self._command = [*kubectl, "get", resource, "-n", namespace, "-w", "-o", f"jsonpath={WATCH_TEMPLATE}"]
        self.finished_at: dict[str, float] = {}
        self.phases: dict[str, str] = {}
        self.missed = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._proc: subprocess.Popen[str] | None = None
        self._thread = threading.Thread(target=self._run, name="phase-watch", daemon=True)

    def start(self) -> PhaseWatch:
        self._thread.start()
        return self

    def _run(self) -> None:
        # The API server ends watches after a while (--min-request-timeout): watch again.
        while not self._stop.is_set():
            self._proc = subprocess.Popen(
                self._command,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
                env=self._env,
            )
            assert self._proc.stdout is not None
            for line in self._proc.stdout:
                self.record(line, time.time())
            self._proc.wait()

    def record(self, line: str, now: float) -> None:
        # kubectl's jsonpath pads separators (a tab comes out as spaces): split on any whitespace.
        fields = line.split()
        if not fields:
            return
        name, phase = fields[0], fields[1] if len(fields) > 1 else ""
        with self._lock:
            self.phases[name] = phase
            if phase in TERMINAL_PHASES and name not in self.finished_at:
                self.finished_at[name] = now

    def catch_up(self, listing: str, now: float) -> int:
        """Record the ends a full list shows that the watch missed (the API server under load can
        drop a slow watch's events); they count as seen now, which overstates their lag, never
        understates it. Returns how many were missed."""
        with self._lock:
            before = len(self.finished_at)
        for line in listing.splitlines():
            self.record(line, now)
        with self._lock:
            missed = len(self.finished_at) - before
            self.missed += missed
            return missed

    def counts(self) -> dict[str, int]:
        with self._lock:
            out: dict[str, int] = {}
            for phase in self.phases.values():
                out[phase or "(none)"] = out.get(phase or "(none)", 0) + 1
            return out

    def stop(self) -> None:
        self._stop.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        self._thread.join(timeout=10)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (its own threads included, not children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # After the ")" the fields start at 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident memory."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"
