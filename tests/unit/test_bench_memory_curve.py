"""The memory curve's pure parts: `make bench BENCH_ARGS='--memory-curve …'` reaches it, and its table."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import memory_curve


def test_scale_bench_arguments_become_the_curves_sizes() -> None:
    # `make bench` always passes --n; the curve has its own sizes.
    assert memory_curve.from_scale_argv(["--n", "1000", "--memory-curve", "1000,5000", "--settle", "5"]) == [
        "--sizes",
        "1000,5000",
        "--settle",
        "5",
    ]
    assert memory_curve.from_scale_argv(["--n=10", "--memory-curve=1000"]) == ["--sizes=1000"]
    assert memory_curve.parse_sizes("1000, 5000,") == [1000, 5000]


def test_table_shows_each_size(capsys: pytest.CaptureFixture[str]) -> None:
    memory_curve.print_table(
        [
            {
                "n": 1000,
                "rss_mb": 158.9,
                "peak_rss_mb": 158.9,
                "idle_rss_mb": 120.1,
                "kb_per_run": 39.72,
                "all_in_progress_s": 44.2,
            },
            {
                "n": 5000,
                "rss_mb": 261.5,
                "peak_rss_mb": 261.5,
                "idle_rss_mb": 119.9,
                "kb_per_run": 29.01,
                "all_in_progress_s": 228.4,
                "rss_after_trim_mb": 240.2,
            },
        ]
    )
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.strip()[:1].isdigit()]
    assert rows == [
        ["1000", "158.9", "158.9", "120.1", "39.72", "44", "-"],
        ["5000", "261.5", "261.5", "119.9", "29.01", "228", "240.2"],
    ]
