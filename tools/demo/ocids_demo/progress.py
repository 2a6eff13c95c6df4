"""Progress of long steps with elapsed time: redrawn in place on a terminal, plain lines otherwise.

On a terminal a helper thread redraws `  waiting for runs ... 12s (a: InProgress, b: Succeeded)`
every half second; in a log or CI output a line is printed only when the detail changes (or every
15 s as a heartbeat), so the output stays readable when captured.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

HEARTBEAT_S = 15.0


class Step:
    def __init__(self, title: str, out: TextIO, tty: bool) -> None:
        self.title = title
        self.out = out
        self.tty = tty
        self.detail = ""
        self.result = "done"  # what the finished line says; the step body sets it
        self.started = time.monotonic()
        self._printed_detail: str | None = None
        self._printed_at = 0.0
        self._lock = threading.Lock()
        self._done = threading.Event()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def update(self, detail: str) -> None:
        with self._lock:
            self.detail = detail
        if not self.tty:
            now = time.monotonic()
            if detail != self._printed_detail or now - self._printed_at >= HEARTBEAT_S:
                self._printed_detail, self._printed_at = detail, now
                self._line(f"  {self.title} ... {self.elapsed():.0f}s" + (f" ({detail})" if detail else ""))

    def _line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _redraw(self) -> None:
        while not self._done.wait(0.5):
            with self._lock:
                detail = self.detail
            text = f"  {self.title} ... {self.elapsed():.0f}s" + (f" ({detail})" if detail else "")
            self.out.write("\r\033[K" + text)
            self.out.flush()

    def finish(self, result: str, ok: bool = True) -> None:
        self._done.set()
        mark = "ok  " if ok else "FAIL"
        text = f"{mark} {self.title}: {result} ({self.elapsed():.1f}s)"
        if self.tty:
            self.out.write("\r\033[K")
        self._line(text)


class Progress:
    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty()

    @contextmanager
    def step(self, title: str) -> Iterator[Step]:
        """Runs the body as one step; its closing line shows `step.result` and the time taken."""
        step = Step(title, self.out, self.tty)
        thread = None
        if self.tty:
            thread = threading.Thread(target=step._redraw, daemon=True)
            thread.start()
        else:
            step._line(f"  {title} ...")
        try:
            yield step
        except BaseException:
            step.finish("failed", ok=False)
            raise
        else:
            step.finish(step.result)
        finally:
            if thread:
                thread.join(timeout=1)
