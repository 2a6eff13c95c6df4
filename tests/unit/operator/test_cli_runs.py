"""`kubectl ocids runs`: the table, with only the hyperparameters that differ between the runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ocids_operator.cli.runs import differing, render, rows, select

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def run(
    name: str, minute: int, *, job: str = "logreg", env: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "jobRef": {"name": job},
        "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
    }
    status = extra.pop("status", {})
    spec.update(extra)
    return {
        "metadata": {"name": name, "creationTimestamp": f"2026-12-07T11:{minute:02d}:00Z"},
        "spec": spec,
        "status": status,
    }


def test_only_differing_hyperparameters_become_columns() -> None:
    runs = [
        run("lr-0.5", 2, env={"LEARNING_RATE": "0.5", "EPOCHS": "20", "SEED": "7"}, args=["--fast"]),
        run(
            "lr-0.05",
            1,
            env={"LEARNING_RATE": "0.05", "EPOCHS": "20"},
            args=["--fast"],
            status={"phase": "Succeeded", "duration": "4m12s", "exitCode": 0},
        ),
    ]
    # EPOCHS and the args are the same everywhere: they say nothing about why results differ.
    assert differing(runs) == ["LEARNING_RATE", "SEED"]
    table = rows(runs, NOW)
    assert table == [
        ["NAME", "JOB", "PHASE", "DURATION", "EXIT", "LEARNING_RATE", "SEED"],
        ["lr-0.05", "logreg", "Succeeded", "4m12s", "0", "0.05", "-"],
        ["lr-0.5", "logreg", "-", "-", "-", "0.5", "7"],
    ]
    assert render(table).splitlines() == [
        "NAME      JOB      PHASE       DURATION   EXIT   LEARNING_RATE   SEED",
        "lr-0.05   logreg   Succeeded   4m12s      0      0.05            -",
        "lr-0.5    logreg   -           -          -      0.5             7",
    ]


def test_args_column_when_args_differ_and_secrets_shown_by_reference() -> None:
    a = run("a", 1, args=["--epochs", "5"])
    b = run("b", 2)
    b["spec"]["env"] = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    table = rows([a, b], NOW)
    assert table[0][5:] == ["ARGS", "TOKEN"]
    assert table[1][5:] == ["--epochs 5", "-"]
    assert table[2][5:] == ["-", "<secret s/k>"]


def test_a_single_run_has_no_hyperparameter_columns_and_a_running_run_shows_its_age() -> None:
    started = (NOW - dt.timedelta(seconds=75)).isoformat()
    table = rows([run("a", 1, env={"X": "1"}, status={"phase": "InProgress", "timeStarted": started})], NOW)
    assert table == [
        ["NAME", "JOB", "PHASE", "DURATION", "EXIT"],
        ["a", "logreg", "InProgress", "1m15s", "-"],
    ]


def test_an_env_var_named_like_a_column_keeps_its_own_header() -> None:
    table = rows([run("a", 1, env={"NAME": "x"}), run("b", 2, env={"NAME": "y"})], NOW)
    assert table[0][5:] == ["env:NAME"]


def test_select_by_job() -> None:
    runs = [run("a", 1, job="one"), run("b", 2, job="two")]
    assert [r["metadata"]["name"] for r in select(runs, "two")] == ["b"]
    assert len(select(runs, None)) == 2
