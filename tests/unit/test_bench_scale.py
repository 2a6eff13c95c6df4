"""The scale benchmark's pure parts: percentiles and status lag, apiserver write counts, the JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import scale_report
import scale_stats as stats
from scale_probe import PhaseWatch

HEADER = (
    "# HELP apiserver_request_total Counter of apiserver requests\n# TYPE apiserver_request_total counter\n"
)


def sample(
    verb: str, resource: str, code: str, value: int, subresource: str = "", group: str = "ocids.io"
) -> str:
    """One line of the API server's /metrics, labels as kube-apiserver 1.37 writes them."""
    labels = (
        f'code="{code}",component="apiserver",dry_run="",group="{group}",resource="{resource}",'
        f'scope="resource",subresource="{subresource}",verb="{verb}",version="v1alpha1"'
    )
    return f"apiserver_request_total{{{labels}}} {value}\n"


METRICS_BEFORE = HEADER + "".join(
    [
        sample("POST", "trainingjobruns", "201", 3),
        sample("PATCH", "trainingjobruns", "200", 10, subresource="status"),
        sample("LIST", "trainingjobruns", "200", 50),
    ]
)
METRICS_AFTER = HEADER + "".join(
    [
        sample("POST", "trainingjobruns", "201", 103),
        sample("PATCH", "trainingjobruns", "200", 410, subresource="status"),
        sample("PATCH", "trainingjobruns", "422", 100, subresource="status"),
        sample("PATCH", "trainingjobruns", "200", 200),
        sample("LIST", "trainingjobruns", "200", 900),
        sample("POST", "events", "201", 300, group=""),
        sample("POST", "configmaps", "201", 7, group=""),
    ]
)


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert stats.percentile(values, 50) == pytest.approx(50.5)
    assert stats.percentile(values, 95) == pytest.approx(95.05)
    assert stats.percentile([7.0], 95) == 7.0
    assert stats.percentile([], 50) is None


def test_status_lag_is_seen_minus_finished_for_runs_on_both_sides() -> None:
    finished = {"run-a": stats.parse_rfc3339("2026-01-01T00:00:10.000Z"), "run-b": 100.0}
    seen = {"run-a": finished["run-a"] + 4.5, "run-c": 50.0}  # run-c: OCI never reported it finished
    lags = stats.status_lags(seen, finished)
    assert lags == {"run-a": pytest.approx(4.5)}
    summary = stats.lag_summary(lags)
    assert summary["count"] == 1 and summary["p95"] == pytest.approx(4.5)
    assert stats.lag_summary({})["p50"] is None


def test_rfc3339_times_keep_their_milliseconds() -> None:
    assert stats.parse_rfc3339("1970-01-01T00:00:01.250Z") == pytest.approx(1.25)


def test_writes_per_run_leave_out_the_benchmarks_own_creates_reads_and_count_events_apart() -> None:
    writes = stats.delta(stats.apiserver_writes(METRICS_BEFORE), stats.apiserver_writes(METRICS_AFTER))
    assert ("LIST", "trainingjobruns", "", "200") not in writes  # reads are not writes
    figures = stats.writes_per_run(writes, runs=100, applied_by_bench=100)
    assert figures["by_verb_resource"] == {
        "PATCH trainingjobruns 200": 2.0,
        "PATCH trainingjobruns/status 200": 4.0,
        "PATCH trainingjobruns/status 422": 1.0,  # a refused write still costs the API server
    }
    assert figures["total"] == 7.0
    assert figures["events"] == 3.0
    assert "configmaps" not in json.dumps(figures)


def test_a_counter_new_in_the_second_scrape_counts_from_zero() -> None:
    assert stats.delta({}, {("PATCH", "trainingjobs", "", "200"): 3.0}) == {
        ("PATCH", "trainingjobs", "", "200"): 3.0
    }


def test_ratio_is_how_many_times_worse_the_baseline_is() -> None:
    assert stats.ratio(2.0, 30.0) == 15.0
    assert stats.ratio(0.0, 3.0) is None and stats.ratio(None, 3.0) is None


def result(mode: str, calls: float) -> dict[str, object]:
    return {
        "mode": mode,
        "n": 1000,
        "apply_s": 2.0,
        "create_all_s": 12.0,
        "succeeded_all_s": 200.0,
        "status_lag_p50_s": 5.0,
        "status_lag_p95_s": 9.5,
        "status_lag_max_s": 11.0,
        "oci_calls_per_run": calls,
        "oci_calls_by_operation": {"create_job_run": 1.0, "get_job_run": calls - 1.0},
        "operator_oci_calls_per_run": calls,
        "kube_writes_per_run": 6.0,
        "kube_writes_by_verb_resource": {"PATCH trainingjobruns/status 200": 4.0},
        "kube_events_per_run": 2.0,
        "kube_events_by_verb": {"POST events 201": 2.0},
        "peak_rss_mb": 120.0,
        "cpu_s": 60.0,
        "poll_interval_s": 10.0,
    }


META = {"jobs": 10, "run_seconds": 180.0, "cpus": 2, "load_before": "1 1 1", "load_after": "2 2 2"}


def test_the_json_has_issue_10s_keys_at_the_top_and_under_baseline() -> None:
    doc = scale_report.document(result("list", 2.0), result("per_run", 20.0), META)
    for key in scale_report.REQUIRED_KEYS:
        assert key in doc and key in doc["baseline"], key
    assert doc["ratios"]["oci_calls_per_run"] == 10.0
    assert doc["targets"]["status_lag_p95_s"] == {
        "target": "<= 1.5 poll intervals",
        "limit": 15.0,
        "met": True,
    }
    assert json.loads(json.dumps(doc)) == doc  # plain JSON, nothing Python-only


def test_the_table_shows_ours_baseline_ratio_and_missed_targets() -> None:
    ours = {**result("list", 3.0), "peak_rss_mb": 180.0}
    text = scale_report.table(scale_report.document(ours, result("per_run", 21.0), META))
    calls = next(line for line in text.splitlines() if line.startswith("OCI calls per run (emulator)"))
    assert "3.00" in calls and "21.00" in calls and "7.0x" in calls and "MISSED" in calls
    rss = next(line for line in text.splitlines() if line.startswith("operator peak RSS"))
    assert "MISSED" in rss
    assert "logging disabled" in text


def test_with_metrics_the_table_shows_logging_searches_per_cycle() -> None:
    ours = {**result("list", 3.0), "log_searches_per_cycle": 1.0}
    meta = {**META, "logging": "on: a log per run, one metric"}
    text = scale_report.table(scale_report.document(ours, result("per_run", 21.0), meta))
    searches = next(line for line in text.splitlines() if line.startswith("Logging searches per poll cycle"))
    assert searches.split()[5:7] == ["1.00", "-"], searches
    assert "logging on: a log per run, one metric" in text


def test_without_a_baseline_the_table_says_so_with_dashes() -> None:
    doc = scale_report.document(result("list", 2.0), None, META)
    assert doc["baseline"] is None and doc["ratios"] is None
    assert "apply -> last OCI run created" in scale_report.table(doc)


def test_the_watch_keeps_the_first_time_a_run_showed_its_end() -> None:
    watch = PhaseWatch(["kubectl"], "trainingjobruns", "ns")
    watch.record("run-1    Accepted\n", 1.0)
    watch.record("run-1\tSucceeded\n", 2.0)
    watch.record("run-1\tSucceeded\n", 3.0)  # a later update of a finished run
    watch.record("run-2    \n", 3.0)  # no status yet
    assert watch.finished_at == {"run-1": 2.0}
    assert watch.counts() == {"Succeeded": 1, "(none)": 1}


def test_sweeps_make_the_n_runs_as_trials_all_at_once() -> None:
    import scale_bench
    from ocids_operator.api import TrainingJobSweepSpec

    made = scale_bench.sweeps("ns", ["bench-00", "bench-01"], 1000, 12)
    sizes = [len(s["spec"]["parameters"][0]["values"]) for s in made]
    assert sum(sizes) == 1000 and max(sizes) - min(sizes) <= 1, sizes
    assert all(s["spec"]["parallelism"] == size for s, size in zip(made, sizes, strict=True))
    assert [s["spec"]["jobRef"]["name"] for s in made[:3]] == ["bench-00", "bench-01", "bench-00"]
    for sweep in made:  # what the API server would take (the model's rules are the CRD's)
        TrainingJobSweepSpec.model_validate(sweep["spec"])


def test_with_sweeps_the_table_shows_trials_per_minute() -> None:
    ours = {**result("list", 3.0), "trials_per_minute": 600.0}
    text = scale_report.table(scale_report.document(ours, None, {**META, "sweeps": 10}))
    assert "(the trials of 10 TrainingJobSweeps)" in text.splitlines()[0]
    line = next(line for line in text.splitlines() if line.startswith("sweep trials created per minute"))
    assert line.split()[5] == "600", line


def test_with_sweeps_the_operators_creates_of_trials_count_and_the_benchs_sweeps_do_not() -> None:
    writes = {
        ("POST", "trainingjobsweeps", "", "201"): 2.0,  # the bench's
        ("PATCH", "trainingjobsweeps", "status", "200"): 4.0,
        ("POST", "trainingjobruns", "", "201"): 40.0,  # the operator's trials
    }
    figures = stats.writes_per_run(writes, runs=40, applied_by_bench=2, applied_resource="trainingjobsweeps")
    assert figures["by_verb_resource"] == {
        "PATCH trainingjobsweeps/status 200": 0.1,
        "POST trainingjobruns 201": 1.0,
    }
