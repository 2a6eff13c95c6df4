"""Scale benchmark (issues 10, 19): N TrainingJobRuns over 10 TrainingJobs, applied at once.

    make bench N=1000                                   # table, and the figures as JSON in $BENCH_OUT
    make bench N=1000 BENCH_ARGS='--events --compartments 20'
    .venv/bin/python bench/scale_bench.py --n 200 --run-seconds 30 --no-baseline

The local control plane (or OCIDS_TEST_KUBECONFIG's cluster), the emulator with simulated runs of
--run-seconds (default 120:240: each run's length drawn uniformly from 120..240 s, seeded by --seed
and the run's id, so run ends fall at random moments of the poll cycle, as real ones do; a single
number makes every run that long, and ends can then line up with the polls), and the operator as a
process at its default poll interval. It measures the time from the apply to the last OCI run
created and to the last status Succeeded; the status lag of each run (the watch seeing its terminal
phase minus the emulator's timeFinished: p50, p95, max and a 1 s histogram, next to the ideal
polling lag, half the interval that applies); the OCI calls per run (the emulator's own count, by
operation, stream reads included); the Kubernetes writes per run (the API server's
apiserver_request_total, Events apart); the operator's peak RSS and CPU seconds. Then the same for
the naive baseline, OCIDS_POLL_MODE=per_run (one timer and one GetJobRun per run per interval, no
events), each mode with its own namespace, emulator and operator, one after the other.

--compartments K: K compartments in the emulator's tenancy, all granted to the bench namespace; the
TrainingJobs (max(--jobs, K) of them) spread over them round robin, so the poller has K to list.

--events: a stream and an Events rule sending the compartments' job-run events to it, and the
operator started with OCIDS_EVENTS_STREAM_ID (its fallback poll --fallback-poll-interval); the runs
are applied once it reports its events Healthy. Status still comes only from OCI reads (an event is
a hint), so the lag is measured the same way.

--metrics: the TrainingJobs log (a log per run) and declare a metric (spec.metrics), so the poller
reads the runs' metrics through Logging search while they run: the table adds the Logging searches
per poll cycle (at most one per compartment; simulated runs print nothing, so each is one page).

--sweeps K: the N runs are the trials of K TrainingJobSweeps (a grid of N/K values each, all at
once: parallelism N/K), applied instead of the runs: the operator creates every TrainingJobRun. The
table adds the trials created per minute (apply -> the last trial's creationTimestamp); the OCI
calls and Kubernetes writes per run are then per trial, the sweeps' own status writes included.

Every mode also reports each run's start delay (creationTimestamp -> status.createAttemptedAt, the
stamp written right before CreateJobRun) and create delay (creationTimestamp -> OCI's timeAccepted).
bench/gates_bench.py runs the same N runs under the admission gates (a `Variant` per mode).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "integration" / "operator"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import events_setup_bench  # noqa: E402
import scale_report  # noqa: E402
import scale_stats as stats  # noqa: E402
from ocids_controlplane.cluster import _tool  # noqa: E402
from ocids_controlplane.waiting import wait_until  # noqa: E402
from ocids_operator.api.sweep import MAX_VALUES  # noqa: E402
from ocids_operator.settings import OperatorSettings  # noqa: E402
from operator_bench import cluster_for_bench, oci_calls, poll_cycles, server_requests  # noqa: E402
from operator_harness import JOBS, RUNS, Kube, OciTarget, OperatorProcess  # noqa: E402
from operator_manifests import training_job, training_job_run  # noqa: E402
from scale_probe import WATCH_TEMPLATE, PhaseWatch, cpu_seconds, load_average, peak_rss_mb  # noqa: E402

DEFAULT_POLL = float(OperatorSettings.model_fields["poll_interval_seconds"].default)
DEFAULT_FALLBACK_POLL = float(OperatorSettings.model_fields["events_poll_interval_seconds"].default)
DEFAULT_RUN_SECONDS = "120:240"
SCRIPT = "print('simulated: never executed')\n"
METRIC = {"name": "loss", "regex": r"loss=([0-9.]+)"}
APPLY_PROCESSES = 8
LIST_TEMPLATE = "{range .items[*]}" + WATCH_TEMPLATE + "{end}"


@dataclass
class Variant:
    """What a mode adds around the same N runs (bench/gates_bench.py): operator settings, objects
    made in its namespace before the TrainingJobs, TrainingJob spec fields, run labels."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    job_spec: dict[str, Any] = field(default_factory=dict)
    run_labels: dict[str, str] = field(default_factory=dict)
    # (kube, namespace, the emulator's ids) -> None; runs before the operator starts.
    prepare: Callable[[Kube, str, dict[str, str]], None] | None = None
    # (kube, namespace, the TrainingJobRuns as listed at the end) -> more figures for the result.
    measure: Callable[[Kube, str, list[dict[str, Any]]], dict[str, Any]] | None = None


def apply_at_once(kube: Kube, manifests: list[dict[str, Any]]) -> None:
    """`kubectl create` of one List per process, several processes at once: the N creates reach the
    API server within seconds (kubectl apply in chunks of 50 took 28 s for 1000)."""
    chunks = [manifests[i::APPLY_PROCESSES] for i in range(APPLY_PROCESSES)]
    procs = []
    for chunk in chunks:
        if not chunk:
            continue
        proc = subprocess.Popen(
            [kube.kubectl_bin, "--kubeconfig", str(kube.kubeconfig), "create", "-f", "-", "-o", "name"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=kube.env,
        )
        procs.append((proc, json.dumps({"apiVersion": "v1", "kind": "List", "items": chunk})))
    for proc, text in procs:
        _, err = proc.communicate(text, timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"kubectl create failed: {err.strip()[:2000]}")


def apiserver_metrics(kube: Kube) -> str:
    return kube.kubectl("get", "--raw", "/metrics", timeout=60).stdout


def oci_runs(emu: Any, compartment_id: str) -> list[Any]:
    import oci

    client = emu.datascience_client()
    return list(oci.pagination.list_call_get_all_results(client.list_job_runs, compartment_id).data)


def bench_mode(
    kube: Kube, mode: str, args: argparse.Namespace, work: Path, variant: Variant | None = None
) -> dict[str, Any]:
    """`mode` is the poll mode (OCIDS_POLL_MODE); a `variant` names the mode instead."""
    from ocids_emulator.testing import RunningEmulator

    variant = variant or Variant(mode)
    n, poll, label = args.n, args.poll_interval, variant.name
    run_seconds = run_seconds_of(args.run_seconds)
    # (gates_bench.py's arguments have no seed, compartments or events: one compartment, no events.)
    seed, count = int(getattr(args, "seed", 0)), int(getattr(args, "compartments", 1))
    # The naive baseline stays naive: it polls every run, events or not.
    oci_events = bool(getattr(args, "events", False)) and mode != "per_run"
    fallback = float(getattr(args, "fallback_poll_interval", DEFAULT_FALLBACK_POLL))
    namespace = f"bench-{label.replace('_', '-')}-{int(time.time())}"
    kube.kubectl("create", "namespace", namespace)
    print(f"[{label}] namespace {namespace}: starting the emulator and the operator", flush=True)
    data_dir = work / f"emulator-{label}"
    emulator = RunningEmulator(data_dir, simulated=run_seconds.simulated(), simulated_seed=seed)
    compartments = add_compartments(data_dir, count)
    with emulator as emu:
        ids = {str(k): str(v) for k, v in dict(emu.ids).items()}
        kube.grant_compartments(namespace, *compartments)  # as the namespace's admin would
        events_env: dict[str, str] = {}
        if oci_events:
            stream_id = events_setup_bench.create_stream_and_rule(emu, compartments, ids["TENANCY_ID"])
            events_env = events_setup_bench.operator_env(stream_id, str(emu.endpoint), fallback, namespace)
        if variant.prepare is not None:
            variant.prepare(kube, namespace, ids)
        target = OciTarget(str(emu.endpoint), Path(emu.config_file), str(emu.profile), ids["REGION"])
        extra = {
            "OCIDS_POLL_MODE": mode,
            "OCIDS_POLL_INTERVAL_SECONDS": f"{poll:g}",
            # The harness's 3 s TrainingJob resync would add GetJob calls: the default, as shipped.
            "OCIDS_RESYNC_INTERVAL_SECONDS": "",
            # And the shipped retry backoff (5 s doubling), not the tests' hurried 1 s.
            "OCIDS_RETRY_BASE_SECONDS": "",
            "OCIDS_RETRY_MAX_SECONDS": "",
            # status.logTail costs one Logging search per finished run: off unless asked, as shipped.
            "OCIDS_LOG_TAIL_LINES": str(args.log_tail_lines),
            **events_env,
            **variant.env,
            **dict(setting.split("=", 1) for setting in getattr(args, "operator_env", [])),
        }
        log_path = args.logs / f"operator-{label}-{n}.log"
        log_path.unlink(missing_ok=True)
        op = OperatorProcess(kube.kubeconfig, target, [namespace], log_path, extra_env=extra)
        if args.memray:
            op.python = memray_python(args, mode)
        watch: PhaseWatch | None = None
        try:
            op.start()
            wait_until(lambda: op.metrics_text(), timeout=60, message="operator metrics")
            if oci_events:
                took = events_setup_bench.wait_healthy(kube, namespace)
                print(f"[{label}] events Healthy {took:.1f}s after the operator's start", flush=True)
            jobs = [f"bench-{j:02d}" for j in range(max(args.jobs, count))]
            placed = stats.round_robin(jobs, compartments)
            kube.apply(
                *(
                    training_job(
                        name,
                        namespace,
                        compartment_id=placed[name],
                        project_id=ids["PROJECT_ID"],
                        script=SCRIPT,
                        **job_logging(args, ids),
                        **variant.job_spec,
                    )
                    for name in jobs
                )
            )

            def jobs_active() -> bool:
                items = kube.list_objects(JOBS, namespace)
                return len(items) == len(jobs) and all(
                    (i.get("status") or {}).get("phase") == "Active" for i in items
                )

            wait_until(jobs_active, timeout=180, interval=1.0, message=f"{len(jobs)} TrainingJobs Active")
            kubectl = [kube.kubectl_bin, "--kubeconfig", str(kube.kubeconfig)]
            watch = PhaseWatch(kubectl, RUNS, namespace, env=kube.env).start()
            assert op.proc is not None
            pid = op.proc.pid
            load_before = load_average()
            emu_before = server_requests(emu.admin.stats())
            op_before = oci_calls(op)
            events_before = events_counters(op)
            cycles_before = poll_cycles(op)
            writes_before = stats.apiserver_writes(apiserver_metrics(kube))
            cpu_before = cpu_seconds(pid)
            others = {"emulator": emu.process.pid, **args.plane_pids}
            others_before = {name: cpu_seconds(p) for name, p in others.items()}

            profiler = start_profiler(pid, args, mode) if args.profile else None
            if args.sweeps:
                runs = sweeps(namespace, jobs, n, args.sweeps)
            else:
                runs = [training_job_run(f"run-{i:05d}", namespace, jobs[i % len(jobs)]) for i in range(n)]
                for run in runs:
                    run["metadata"]["labels"] = dict(variant.run_labels)
            started = time.time()
            apply_at_once(kube, runs)
            apply_s = time.time() - started
            print(f"[{label}] applied {n} TrainingJobRuns in {apply_s:.1f}s", flush=True)
            wait_for_all(watch, kube, namespace, op, n, label, started, args.timeout)
            if profiler is not None:
                profiler.wait(timeout=args.profile + 60)
            succeeded_all_s = max(watch.finished_at.values()) - started

            cpu_s = cpu_seconds(pid) - cpu_before
            others_cpu = {name: round(cpu_seconds(p) - others_before[name], 1) for name, p in others.items()}
            rss = peak_rss_mb(pid)
            load_after = load_average()
            writes = stats.delta(writes_before, stats.apiserver_writes(apiserver_metrics(kube)))
            emu_calls = stats.calls_delta(emu_before, server_requests(emu.admin.stats()))
            op_calls = stats.calls_delta(op_before, oci_calls(op))
            events_seen = stats.calls_delta(events_before, events_counters(op))
            cycles = poll_cycles(op) - cycles_before
            listed = [run for compartment in compartments for run in oci_runs(emu, compartment)]
            items = kube.list_objects(RUNS, namespace)
            made = [o["metadata"]["creationTimestamp"] for o in items]
            kube_events = stats.events_by_reason(kube.list_objects("events", namespace), n)
            extra = variant.measure(kube, namespace, items) if variant.measure is not None else {}
        except BaseException:
            print(f"--- operator log (last 40 lines; all of it in {log_path}):", file=sys.stderr)
            print("\n".join(op.log_text().splitlines()[-40:]), file=sys.stderr)
            raise
        finally:
            if watch is not None:
                watch.stop()
            op.stop()

    accepted = {r.freeform_tags.get("ocids.io/name"): r.time_accepted.timestamp() for r in listed}
    finished = {
        r.freeform_tags.get("ocids.io/name"): r.time_finished.timestamp() for r in listed if r.time_finished
    }
    lags = stats.status_lags(watch.finished_at, finished)
    lag = stats.lag_summary(lags)
    # The interval the poll runs at when runs end: the fallback while events flow.
    applying_poll = fallback if oci_events else poll
    start_delay = stats.lag_summary(stats.start_delays(items))
    create_delay = stats.lag_summary(stats.create_delays(items, accepted))
    # With sweeps the bench creates the sweeps, and every POST of a TrainingJobRun is the operator's.
    if args.sweeps:
        write_figures = stats.writes_per_run(writes, n, len(runs), applied_resource="trainingjobsweeps")
    else:
        write_figures = stats.writes_per_run(writes, n, applied_by_bench=n)
    trials_s = max(stats.parse_rfc3339(t) for t in made) - started if args.sweeps and made else None
    return {
        "mode": mode,
        "variant": label,
        "n": n,
        "namespace": namespace,
        "oci_runs_created": len(accepted),
        "apply_s": round(apply_s, 2),
        # The operator cannot create a run before the API server has it: the apply's own end is the floor.
        "create_after_apply_s": round(max(accepted.values()) - started - apply_s, 2) if accepted else None,
        "create_all_s": round(max(accepted.values()) - started, 2) if accepted else None,
        "succeeded_all_s": round(succeeded_all_s, 2),
        "status_lag_p50_s": lag["p50"],
        "status_lag_p95_s": lag["p95"],
        "status_lag_max_s": lag["max"],
        "status_lag_runs": lag["count"],
        # Runs by status lag, 1 s buckets keyed by their lower edge ("3": 3 to 4 s).
        "status_lag_hist": stats.lag_histogram(lags.values()),
        "ideal_poll_lag_p50_s": stats.ideal_poll_lag_p50(applying_poll),
        "events": oci_events,
        "compartments": count,
        "fallback_poll_interval_s": fallback if oci_events else None,
        # The operator's events counters over the runs (ocids_events_*): what became of the events
        # (outcome), the reads their hints cost, and the ends polling found with no event before it.
        "events_by_outcome": {k[8:]: v for k, v in events_seen.items() if k.startswith("outcome ")},
        "events_confirm_reads_per_run": events_seen.get("confirm_reads", 0.0) / n,
        "events_missed_ends": events_seen.get("missed_ends", 0.0),
        # creationTimestamp has whole seconds (floored): each delay is up to 1 s longer than it was.
        "start_delay_p50_s": start_delay["p50"],
        "start_delay_p95_s": start_delay["p95"],
        "start_delay_max_s": start_delay["max"],
        "start_delay_runs": start_delay["count"],
        "create_delay_p50_s": create_delay["p50"],
        "create_delay_p95_s": create_delay["p95"],
        "watch_missed": watch.missed,
        "oci_calls_per_run": sum(emu_calls.values()) / n,
        "oci_calls_by_operation": {k: v / n for k, v in emu_calls.items()},
        "operator_oci_calls_per_run": sum(op_calls.values()) / n,
        "poll_cycles": cycles,
        "sweeps": args.sweeps,
        # creationTimestamp has whole seconds: a floor of 1 s keeps a fast burst from dividing by 0.
        "trials_per_minute": round(n / max(trials_s, 1.0) * 60, 1) if trials_s is not None else None,
        # Logging search pages (each search is one while the runs log fewer than 1,000 lines a cycle).
        "log_searches_per_cycle": round(op_calls.get("search_logs", 0.0) / cycles, 2) if cycles else None,
        "kube_writes_per_run": write_figures["total"],
        "kube_writes_by_verb_resource": write_figures["by_verb_resource"],
        "kube_events_per_run": write_figures["events"],
        "kube_events_by_verb": write_figures["events_by_verb"],
        "kube_events_by_reason": kube_events,
        "peak_rss_mb": round(rss, 1),
        "cpu_s": round(cpu_s, 1),
        "poll_interval_s": poll,
        "other_cpu_s": others_cpu,
        "load_before": load_before,
        "load_after": load_after,
        "operator_log": str(log_path),
        **extra,
    }


def run_seconds_of(value: Any) -> stats.RunSeconds:
    """--run-seconds as parsed here, or a plain number (gates_bench.py's)."""
    return value if isinstance(value, stats.RunSeconds) else stats.RunSeconds.parse(f"{float(value):g}")


def run_seconds_arg(text: str) -> stats.RunSeconds:
    try:
        return stats.RunSeconds.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_compartments(data_dir: Path, count: int) -> list[str]:
    """`count` compartments in the emulator's tenancy (tenancy.json, read when it starts): its own
    first one, then new ones named bench-01, bench-02, ...; their ids, in that order."""
    from ocids_emulator.config import TENANCY_FILE
    from ocids_emulator.core.ocids import new_ocid

    path = data_dir / TENANCY_FILE
    tenancy = json.loads(path.read_text())
    listed = tenancy.setdefault("compartments", [])
    for i in range(len(listed), count):
        listed.append({"id": new_ocid("compartment"), "name": f"bench-{i:02d}"})
    path.write_text(json.dumps(tenancy, indent=2) + "\n")
    return [str(c["id"]) for c in listed[:count]]


def events_counters(op: OperatorProcess) -> dict[str, float]:
    """The operator's events counters: `outcome <Outcome>` (events taken), `confirm_reads`, `missed_ends`."""
    text = op.metrics_text()
    received = stats.counter_by_label(text, "ocids_events_received", "outcome")
    return {
        **{f"outcome {k}": v for k, v in received.items()},
        "confirm_reads": sum(stats.counter_by_label(text, "ocids_events_confirm_reads", "").values()),
        "missed_ends": sum(stats.counter_by_label(text, "ocids_events_missed_ends", "").values()),
    }


def sweeps(namespace: str, jobs: list[str], n: int, count: int) -> list[dict[str, Any]]:
    """`count` grid sweeps over the jobs (round robin) whose trials are the n runs, all at once."""
    sizes = [n // count + (1 if i < n % count else 0) for i in range(count)]
    return [
        {
            "apiVersion": "ocids.io/v1alpha1",
            "kind": "TrainingJobSweep",
            "metadata": {"name": f"sweep-{i:03d}", "namespace": namespace},
            "spec": {
                "jobRef": {"name": jobs[i % len(jobs)]},
                "parameters": [{"name": "p", "env": "P", "values": [str(v) for v in range(size)]}],
                "parallelism": size,
            },
        }
        for i, size in enumerate(sizes)
        if size
    ]


def job_logging(args: argparse.Namespace, ids: dict[str, str]) -> dict[str, Any]:
    """The TrainingJobs' logging (and metric, with --metrics)."""
    if not args.metrics:
        return {"logging": {"enabled": False}}
    logging = {"enabled": True, "autoCreateLog": True, "logGroupId": ids["LOG_GROUP_ID"]}
    return {"logging": logging, "metrics": [METRIC]}


def memray_python(args: argparse.Namespace, mode: str) -> str:
    """A python that runs the operator under memray (pip install memray): where its peak RSS goes.

    `memray summary` (or `memray flamegraph`) of the .bin shows the allocations at the high-water mark.
    """
    out = args.logs / f"memray-{mode}-{args.n}.bin"
    out.unlink(missing_ok=True)
    wrapper = args.logs / f"memray-python-{mode}"
    memray = Path(sys.executable).parent / "memray"
    wrapper.write_text(f'#!/bin/sh\nexec {memray} run -q --aggregate -o {out} "$@"\n')
    wrapper.chmod(0o755)
    print(f"[{mode}] the operator runs under memray: {out}", flush=True)
    return str(wrapper)


def start_profiler(pid: int, args: argparse.Namespace, mode: str) -> subprocess.Popen[bytes]:
    """py-spy (pip install py-spy) on the operator from the apply on, as collapsed stacks."""
    out = args.logs / f"profile-{mode}-{args.n}.txt"
    print(f"[{mode}] profiling the operator for {args.profile:g}s into {out}", flush=True)
    spy = Path(sys.executable).parent / "py-spy"
    command = [str(spy), "record", "-p", str(pid), "-d", f"{args.profile:g}", "-f", "raw", "-o", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_all(
    watch: PhaseWatch,
    kube: Kube,
    namespace: str,
    op: OperatorProcess,
    n: int,
    mode: str,
    started: float,
    timeout: float,
) -> None:
    """Until the watch has seen every run end; a progress line every 10 s meanwhile."""
    next_line = time.time() + 10
    progress, progress_at = 0, time.time()
    while len(watch.finished_at) < n:
        now = time.time()
        if len(watch.finished_at) != progress:
            progress, progress_at = len(watch.finished_at), now
        elif now - progress_at > 15:
            # No end seen for a while: check the watch against a list.
            listing = kube.kubectl("get", RUNS, "-n", namespace, "-o", f"jsonpath={LIST_TEMPLATE}").stdout
            missed = watch.catch_up(listing, now)
            if missed:
                print(
                    f"[{mode}] the watch missed {missed} ends a list shows (lag counted up to now)",
                    flush=True,
                )
            progress_at = now
        if now - started > timeout:
            raise SystemExit(f"[{mode}] only {len(watch.finished_at)} of {n} runs ended in {timeout:g}s")
        if not op.running:
            raise SystemExit(f"[{mode}] the operator exited ({op.proc and op.proc.returncode})")
        ended_badly = {p for p in watch.phases.values() if p in ("Failed", "Canceled", "Deleted")}
        if ended_badly:
            raise SystemExit(f"[{mode}] runs ended {sorted(ended_badly)}; see {op.log_path}")
        if now >= next_line:
            counts = ", ".join(f"{phase}={count}" for phase, count in sorted(watch.counts().items()))
            print(f"[{mode}] {now - started:5.0f}s  {counts}  load {load_average()}", flush=True)
            next_line = now + 10
        time.sleep(0.5)


def operator_setting(text: str) -> str:
    name, sep, _ = text.partition("=")
    if not sep or not name.startswith("OCIDS_"):
        raise argparse.ArgumentTypeError(f"expected OCIDS_NAME=VALUE, got {text!r}")
    return text


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000, help="TrainingJobRuns to apply at once")
    parser.add_argument("--jobs", type=int, default=10, help="TrainingJobs the runs are spread over")
    parser.add_argument(
        "--run-seconds",
        type=run_seconds_arg,
        default=stats.RunSeconds.parse(DEFAULT_RUN_SECONDS),
        help=f"simulated run length: LO:HI drawn per run (default {DEFAULT_RUN_SECONDS}), or one number",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the run lengths' draw")
    parser.add_argument("--poll-interval", type=float, default=DEFAULT_POLL, help="operator poll interval")
    parser.add_argument(
        "--compartments", type=int, default=1, help="OCI compartments the TrainingJobs spread over"
    )
    parser.add_argument(
        "--events", action="store_true", help="run status pushed by OCI Events through a stream"
    )
    parser.add_argument(
        "--fallback-poll-interval",
        type=float,
        default=DEFAULT_FALLBACK_POLL,
        help="with --events: the slow poll while events flow (OCIDS_EVENTS_POLL_INTERVAL_SECONDS)",
    )
    parser.add_argument(
        "--operator-env",
        action="append",
        default=[],
        type=operator_setting,
        metavar="OCIDS_NAME=VALUE",
        help="one more operator setting (repeatable), e.g. OCIDS_EVENTS_CONFIRM_BATCH_SECONDS=3",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive per-run baseline")
    parser.add_argument(
        "--profile", type=float, default=0, help="py-spy the operator this many s after the apply"
    )
    parser.add_argument(
        "--memray", action="store_true", help="run the operator under memray (its peak memory)"
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="per mode; default the longest run-seconds + 600"
    )
    parser.add_argument(
        "--log-tail-lines", type=int, default=0, help="the operator's OCIDS_LOG_TAIL_LINES (0: off)"
    )
    parser.add_argument(
        "--metrics", action="store_true", help="jobs log and declare a metric: Logging searches per cycle"
    )
    parser.add_argument(
        "--sweeps", type=int, default=0, help="the N runs are the trials of this many TrainingJobSweeps"
    )
    parser.add_argument(
        "--out", type=Path, default=Path(os.environ.get("BENCH_OUT", "bench/out/latest.json"))
    )
    parser.add_argument(
        "--gates", action="store_true", help="the gates benchmark instead (bench/gates_bench.py --help)"
    )
    args = parser.parse_args(argv)
    args.timeout = args.timeout or args.run_seconds.longest + 600
    if args.compartments < 1:
        parser.error("--compartments: at least 1")
    if args.events and args.fallback_poll_interval < args.poll_interval:
        parser.error("--fallback-poll-interval: at least --poll-interval (as the operator insists)")
    if args.sweeps and -(-args.n // args.sweeps) > MAX_VALUES:
        parser.error(
            f"--sweeps: at most {MAX_VALUES} trials a sweep (a grid of one parameter); use more sweeps"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--gates" in argv:  # `make bench BENCH_ARGS=--gates`: the gates benchmark, same N
        import gates_bench

        return gates_bench.main([a for a in argv if a != "--gates"])
    if any(a.startswith("--memory-curve") for a in argv):  # RSS while following N runs, per N
        import memory_curve

        return memory_curve.main(memory_curve.from_scale_argv(argv))
    args = parse_args(argv)
    # SIGTERM (a timeout, a CI cancel) unwinds like Ctrl-C: the operator and emulator are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.logs = args.out.resolve().parent / "logs"
    args.logs.mkdir(parents=True, exist_ok=True)
    modes = ["list"] if args.no_baseline else ["list", "per_run"]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="ocids-scale-") as tmp:
        work = Path(tmp)
        with cluster_for_bench(work / "cluster") as cluster:
            kube = Kube(cluster.kubeconfig, _tool("kubectl"), env=cluster.env())
            kube.install_crds()
            # CPU of the API server and etcd too, when they are ours: on 2 shared cores it explains a lot.
            args.plane_pids = {
                p.name: p.popen.pid
                for p in getattr(cluster, "processes", [])
                if p.name in ("etcd", "kube-apiserver")
            }
            # Each mode's namespace stays until the end: deleting one would add the other's writes.
            for mode in modes:
                results[mode] = bench_mode(kube, mode, args, work)
    meta = {
        "jobs": max(args.jobs, args.compartments),
        # As given ("120:240": drawn per run from 120..240 s, seeded by `seed`; "180": fixed).
        "run_seconds": args.run_seconds.text(),
        "run_seconds_drawn": args.run_seconds.describe(args.seed),
        "seed": args.seed,
        "cpus": os.cpu_count(),
        "logging": "on: a log per run, one metric" if args.metrics else "disabled",
        "sweeps": args.sweeps,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    doc = scale_report.document(results["list"], results.get("per_run"), meta)
    scale_report.write(doc, args.out)
    print()
    print(scale_report.table(doc))
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
