"""The gates benchmark (bench/gates_bench.py, `make bench BENCH_ARGS=--gates`) at N=3 against the
session's API server and Kueue, so its code cannot rot: every mode's runs start and end, the figures
it reports obey physics, and each gate leaves the mark it should."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kueue_process import KueueProcess

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import gates_bench

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("kueue")]
N = 3


@contextlib.contextmanager
def session_kueue(kube: Any, work: Path) -> Iterator[None]:
    yield  # the `kueue` fixture's: already running, stopped with the session


def test_gates_bench_small(kube: Any, kueue: KueueProcess, tmp_path: Path) -> None:
    fast = ["--jobs", "1", "--run-seconds", "1", "--poll-interval", "1", "--timeout", "120"]
    args = gates_bench.parse(["--n", str(N), *fast, "--out", str(tmp_path / "gates.json")])
    results: dict[str, dict[str, Any]] = {}
    try:
        results = gates_bench.run_modes(kube, args, tmp_path, kueue=session_kueue)
    finally:
        for result in results.values():
            kube.kubectl("delete", "namespace", result["namespace"], "--wait=false", check=False)
    assert list(results) == ["none", "gates", "kueue"]
    for name, result in results.items():
        assert result["oci_runs_created"] == N, name
        assert result["start_delay_runs"] == N, name  # every run's createAttemptedAt was read
        # The attempt is stamped after the run exists and before OCI accepts it.
        assert 0 <= result["start_delay_p50_s"] <= result["create_delay_p50_s"], name
        assert result["oci_calls_by_operation"]["create_job_run"] == 1.0, name
    # Each labelled run gets exactly one Workload; unlabelled runs none.
    assert results["kueue"]["kube_writes_by_verb_resource"]["POST workloads 201"] == 1.0
    # The write counts are the API server's, cluster-wide: earlier Kueue tests' Workloads may still
    # be updated or garbage-collected meanwhile. Only creating one is the operator's alone.
    gates_writes = results["gates"]["kube_writes_by_verb_resource"]
    assert not any(key.startswith("POST workloads") for key in gates_writes), gates_writes
    doc = gates_bench.gates_report.document(results, {"jobs": 1, "run_seconds": 1.0, "kueue": "session"})
    assert "+kueue" in gates_bench.gates_report.table(doc)
