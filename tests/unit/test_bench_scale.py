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
        "events": False,
        "compartments": 1,
        "fallback_poll_interval_s": None,
        "status_lag_hist": {"4": 10, "5": 980, "6": 0, "7": 10},
        "ideal_poll_lag_p50_s": 5.0,
    }


META = {
    "jobs": 10,
    "run_seconds": "120:240",
    "run_seconds_drawn": "120-240 s (uniform, seed 0)",
    "cpus": 2,
    "load_before": "1 1 1",
    "load_after": "2 2 2",
}


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


# issue 19: random run lengths, the lag distribution, compartments, events ------------------------
def test_run_seconds_take_a_range_drawn_per_run_or_one_fixed_number() -> None:
    drawn = stats.RunSeconds.parse("120:240")
    assert (drawn.simulated(), drawn.text(), drawn.longest) == ("120..240:0", "120:240", 240.0)
    assert drawn.describe(7) == "120-240 s (uniform, seed 7)"
    fixed = stats.RunSeconds.parse("180")
    assert (fixed.simulated(), fixed.text(), fixed.longest) == ("180:0", "180", 180.0)
    assert fixed.describe(7) == "fixed 180 s"
    for bad, why in (
        ("240:120", "LO must not exceed HI"),
        ("-1", ">= 0"),
        ("nan", "finite"),
        ("1:x", "LO:HI"),
    ):
        with pytest.raises(ValueError, match=why):
            stats.RunSeconds.parse(bad)


def test_the_bench_draws_run_lengths_at_random_unless_told_one_number() -> None:
    import scale_bench

    args = scale_bench.parse_args([])
    assert args.run_seconds == stats.RunSeconds(120.0, 240.0) and args.seed == 0
    assert args.timeout == 240 + 600  # the longest run, and then some
    assert scale_bench.parse_args(["--run-seconds", "30"]).run_seconds == stats.RunSeconds(30.0)
    assert scale_bench.run_seconds_of(30.0) == stats.RunSeconds(30.0)  # gates_bench.py's plain number


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--run-seconds", "240:120"], "argument --run-seconds: LO must not exceed HI"),
        (["--compartments", "0"], "--compartments: at least 1"),
        (["--events", "--fallback-poll-interval", "5"], "--fallback-poll-interval: at least --poll-interval"),
    ],
)
def test_bad_flags_are_refused_naming_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import scale_bench

    with pytest.raises(SystemExit) as exited:
        scale_bench.parse_args(argv)
    assert exited.value.code == 2 and message in capsys.readouterr().err


def test_the_lag_histogram_has_1s_buckets_from_the_lowest_to_the_highest() -> None:
    hist = stats.lag_histogram([0.2, 0.9, 1.0, 3.99, 3.5])
    assert hist == {"0": 2, "1": 1, "2": 0, "3": 2}  # [0, 1), [1, 2), the empty [2, 3), [3, 4)
    assert stats.lag_histogram([]) == {}
    assert stats.lag_histogram([-0.1]) == {"-1": 1}  # never hidden, should a clock step show one


def test_the_ideal_polling_lag_is_half_the_interval_that_applies() -> None:
    assert stats.ideal_poll_lag_p50(10.0) == 5.0
    assert stats.ideal_poll_lag_p50(120.0) == 60.0


def test_jobs_spread_over_the_compartments_round_robin() -> None:
    jobs = [f"bench-{j:02d}" for j in range(5)]
    placed = stats.round_robin(jobs, ["c0", "c1"])
    assert list(placed.values()) == ["c0", "c1", "c0", "c1", "c0"]


def test_the_bench_adds_compartments_to_the_emulators_tenancy(tmp_path: Path) -> None:
    import scale_bench
    from ocids_emulator.config import init_data_dir, load_tenancy

    ids = init_data_dir(tmp_path)
    made = scale_bench.add_compartments(tmp_path, 3)
    assert made[0] == ids["COMPARTMENT_ID"] and len(set(made)) == 3
    assert set(made) <= set(load_tenancy(tmp_path).compartments)
    assert scale_bench.add_compartments(tmp_path, 3) == made  # already there: nothing new
    assert scale_bench.add_compartments(tmp_path, 1) == made[:1]


def test_the_events_rule_takes_the_bench_compartments_run_events_and_no_others() -> None:
    import events_setup_bench
    from ocids_emulator.core.cloud_events import parse_condition

    condition = parse_condition(events_setup_bench.rule_condition(["c1", "c2"]))

    def event(kind: str, compartment: str) -> dict[str, object]:
        return {"eventType": "com.oraclecloud.datascience." + kind, "data": {"compartmentId": compartment}}

    assert condition.matches(event("succeededjobrun", "c2"))
    assert condition.matches(event("createjobrun.begin", "c1"))
    assert not condition.matches(event("succeededjobrun", "c3"))
    assert not condition.matches(event("createjob.end", "c1"))


def test_events_counters_are_read_from_the_operators_metrics() -> None:
    text = (
        "# TYPE ocids_events_received_total counter\n"
        'ocids_events_received_total{outcome="Hint",source="stream"} 90\n'
        'ocids_events_received_total{outcome="NoRead",source="stream"} 200\n'
        'ocids_events_received_total{outcome="Hint",source="notifications"} 10\n'
        "# TYPE ocids_events_missed_ends_total counter\n"
        "ocids_events_missed_ends_total 2\n"
    )
    assert stats.counter_by_label(text, "ocids_events_received", "outcome") == {
        "Hint": 100.0,
        "NoRead": 200.0,
    }
    assert stats.counter_by_label(text, "ocids_events_missed_ends", "") == {"": 2.0}
    assert stats.counter_by_label(text, "ocids_events_confirm_reads", "") == {}


def test_with_events_the_targets_are_2s_p95_and_1_3_calls_per_run() -> None:
    ours = {**result("list", 1.2), "events": True, "status_lag_p95_s": 1.8, "fallback_poll_interval_s": 120.0}
    checks = scale_report.targets(ours)
    assert checks["status_lag_p95_s"]["limit"] == 2.0 and checks["status_lag_p95_s"]["met"]
    assert checks["oci_calls_per_run"]["limit"] == 1.3 and checks["oci_calls_per_run"]["met"]
    slower = scale_report.targets({**ours, "status_lag_p95_s": 2.5, "oci_calls_per_run": 1.4})
    assert not slower["status_lag_p95_s"]["met"] and not slower["oci_calls_per_run"]["met"]


def test_without_events_the_lag_target_is_one_and_a_half_intervals() -> None:
    assert scale_report.targets({**result("list", 2.0), "status_lag_p95_s": 14.9})["status_lag_p95_s"]["met"]
    assert not scale_report.targets({**result("list", 2.0), "status_lag_p95_s": 15.1})["status_lag_p95_s"][
        "met"
    ]


def test_the_table_questions_a_p50_below_the_ideal_polling_lag_without_events() -> None:
    aligned = {**result("list", 2.0), "status_lag_p50_s": 1.0}  # ideal 5 s: ends lined up with polls?
    text = scale_report.table(scale_report.document(aligned, None, META))
    assert "QUESTION: p50 1.00 s is well below it without events" in text
    ideal = next(line for line in text.splitlines() if line.startswith("ideal polling lag p50"))
    assert "5.00" in ideal
    assert "simulated runs of 120-240 s (uniform, seed 0)" in text.splitlines()[0]
    assert "events: off; poll interval 10 s" in text
    assert "Status lag histogram (runs per 1 s bucket, lower edge): 4s:10, 5s:980, 7s:10" in text
    assert "QUESTION" not in scale_report.table(scale_report.document(result("list", 2.0), None, META))


def test_with_events_the_table_says_what_beats_the_ideal_lag_and_what_the_events_did() -> None:
    ours = {
        **result("list", 1.2),
        "events": True,
        "compartments": 20,
        "fallback_poll_interval_s": 120.0,
        "ideal_poll_lag_p50_s": 60.0,
        "status_lag_p50_s": 0.6,
        "events_by_outcome": {"Hint": 1000.0, "NoRead": 2000.0},
        "events_confirm_reads_per_run": 0.1,
        "events_missed_ends": 0.0,
    }
    text = scale_report.table(scale_report.document(ours, None, META))
    assert "in 20 compartment(s)" in text.splitlines()[0]
    assert "events: on (a stream; the poll falls back to every 120 s" in text
    assert "a p50 below it is the events' doing" in text and "QUESTION" not in text
    assert "Events taken by outcome: Hint=1000, NoRead=2000; confirming reads per run 0.10" in text


def test_an_older_document_with_a_fixed_number_of_run_seconds_still_prints() -> None:
    meta = {**META, "run_seconds": 180.0}
    del meta["run_seconds_drawn"]
    assert "simulated runs of 180 s" in scale_report.table(
        scale_report.document(result("list", 2.0), None, meta)
    )
