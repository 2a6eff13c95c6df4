"""The reliability suite's scale and its figures.

`make chaos` sets OCIDS_CHAOS=full: the same tests then run at full scale (e.g. 100+ SIGKILLs instead
of a handful) and each prints its figures as one `CHAOS <case>: key=value ...` line. Every figure is
also merged into $OCIDS_CHAOS_OUT (default bench/out/chaos.json) so a closing note can quote them.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

FULL = os.environ.get("OCIDS_CHAOS") == "full"
REPO_ROOT = Path(__file__).resolve().parents[3]
OUT = Path(os.environ.get("OCIDS_CHAOS_OUT") or REPO_ROOT / "bench" / "out" / "chaos.json")


def scale(fast: T, full: T) -> T:
    """`fast` in `make test`, `full` under `make chaos`."""
    return full if FULL else fast


def report(case: str, **figures: object) -> None:
    """Print one case's figures and merge them into OUT (xdist workers may write at once: locked)."""
    shown = " ".join(f"{key}={_show(value)}" for key, value in figures.items())
    print(f"\nCHAOS {case} ({'full' if FULL else 'fast'}): {shown}", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(OUT.read_text()) if OUT.is_file() else {}
        data[case] = {"scale": "full" if FULL else "fast", **figures}
        OUT.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def _show(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)
