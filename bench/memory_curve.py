"""Memory curve (issue 19): the operator's RSS while it follows N runs, for several N.

    .venv/bin/python bench/memory_curve.py --sizes 1000,5000,10000
    make bench BENCH_ARGS="--memory-curve 1000,5000,10000"   # the same, through scale_bench.py

For each N: a fresh namespace, emulator (simulated runs far longer than the measurement) and
operator; N TrainingJobRuns over 10 TrainingJobs applied at once; once every run's status says
InProgress (the operator created it in OCI and its poller follows it), the operator's RSS now and at
its peak (/proc VmRSS, VmHWM), and what it grew per run over its idle RSS. Then the operator and
emulator stop and the namespace is deleted before the next N (runs keep their finalizers: the
namespace is left Terminating, out of the next operator's sight).

--tracemalloc K: the operator runs with tracemalloc (K frames) and dumps a snapshot once every run
is followed; the allocations still live are printed grouped by file and line, and by file. It
slows the operator and adds its own bookkeeping to the RSS: a profile, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "integration" / "operator"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ocids_controlplane.cluster import _tool  # noqa: E402
from ocids_controlplane.waiting import wait_until  # noqa: E402
from operator_bench import cluster_for_bench  # noqa: E402
from operator_harness import JOBS, RUNS, Kube, OciTarget, OperatorProcess  # noqa: E402
from operator_manifests import training_job, training_job_run  # noqa: E402
from scale_probe import load_average  # noqa: E402

SCRIPT = "print('simulated: never executed')\n"
# Far longer than applying and following the largest N: no run ends while it is measured.
RUN_SECONDS = 7200
JOB_COUNT = 10
PHASES_TEMPLATE = '{range .items[*]}{.status.phase}{"\\n"}{end}'
# Loaded by the operator's python (PYTHONPATH) with --tracemalloc, --trim-probe or --python-hook:
# SIGUSR2 dumps a tracemalloc snapshot; SIGUSR1 collects garbage and returns free heap to the OS.
OPERATOR_HOOK = """
import os, signal
if os.environ.get("OCIDS_BENCH_TRACEMALLOC"):
    import tracemalloc
    tracemalloc.start(int(os.environ["OCIDS_BENCH_TRACEMALLOC"]))
    def _dump(*_):
        tracemalloc.take_snapshot().dump(os.environ["OCIDS_BENCH_SNAPSHOT"] + ".tmp")
        os.replace(os.environ["OCIDS_BENCH_SNAPSHOT"] + ".tmp", os.environ["OCIDS_BENCH_SNAPSHOT"])
    signal.signal(signal.SIGUSR2, _dump)
if os.environ.get("OCIDS_BENCH_TRIM"):
    import ctypes, gc
    def _trim(*_):
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    signal.signal(signal.SIGUSR1, _trim)
if os.environ.get("OCIDS_BENCH_HOOK"):
    exec(open(os.environ["OCIDS_BENCH_HOOK"]).read())
"""


def proc_status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def phase_counts(kube: Kube, namespace: str) -> dict[str, int]:
    listing = kube.kubectl("get", RUNS, "-n", namespace, "-o", f"jsonpath={PHASES_TEMPLATE}").stdout
    counts: dict[str, int] = {}
    for phase in listing.split("\n"):
        if phase.strip():
            counts[phase.strip()] = counts.get(phase.strip(), 0) + 1
    return counts


def measure(kube: Kube, n: int, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    import scale_bench
    from ocids_emulator.testing import RunningEmulator

    namespace = f"mem-{n}-{int(time.time())}"
    kube.kubectl("create", "namespace", namespace)
    print(f"[N={n}] namespace {namespace}; load {load_average()}", flush=True)
    op: OperatorProcess | None = None
    snapshot = work / f"tracemalloc-{n}.bin"
    try:
        with RunningEmulator(work / f"emulator-{n}", simulated=f"{RUN_SECONDS}:0") as emu:
            ids = {str(k): str(v) for k, v in dict(emu.ids).items()}
            kube.grant_compartments(namespace, ids["COMPARTMENT_ID"])
            target = OciTarget(str(emu.endpoint), Path(emu.config_file), str(emu.profile), ids["REGION"])
            extra = {
                # As shipped: the default intervals and retry backoff, not the test harness's.
                "OCIDS_POLL_INTERVAL_SECONDS": "",
                "OCIDS_RESYNC_INTERVAL_SECONDS": "",
                "OCIDS_RETRY_BASE_SECONDS": "",
                "OCIDS_RETRY_MAX_SECONDS": "",
            }
            extra |= dict(pair.split("=", 1) for pair in args.env)
            if args.tracemalloc or args.trim_probe or args.python_hook:
                hook = work / "operator-hook"
                hook.mkdir(exist_ok=True)
                (hook / "sitecustomize.py").write_text(OPERATOR_HOOK)
                extra |= {
                    "PYTHONPATH": str(hook),
                    "OCIDS_BENCH_TRACEMALLOC": str(args.tracemalloc or ""),
                    "OCIDS_BENCH_SNAPSHOT": str(snapshot),
                    "OCIDS_BENCH_TRIM": "1" if args.trim_probe else "",
                    "OCIDS_BENCH_HOOK": str(args.python_hook.resolve()) if args.python_hook else "",
                }
            log_path = args.logs / f"operator-memory-{n}.log"
            log_path.unlink(missing_ok=True)
            op = OperatorProcess(kube.kubeconfig, target, [namespace], log_path, extra_env=extra)
            if args.memray:
                args.n = n
                op.python = scale_bench.memray_python(args, "memory")
            op.start()
            wait_until(lambda: op is not None and op.metrics_text(), timeout=240, message="operator metrics")
            jobs = [f"bench-{j:02d}" for j in range(JOB_COUNT)]
            kube.apply(
                *(
                    training_job(
                        name,
                        namespace,
                        compartment_id=ids["COMPARTMENT_ID"],
                        project_id=ids["PROJECT_ID"],
                        script=SCRIPT,
                        logging={"enabled": False},
                    )
                    for name in jobs
                )
            )
            wait_until(
                lambda: all(
                    (i.get("status") or {}).get("phase") == "Active"
                    for i in kube.list_objects(JOBS, namespace)
                ),
                timeout=180,
                interval=1.0,
                message="TrainingJobs Active",
            )
            assert op.proc is not None
            pid = op.proc.pid
            idle_kb = proc_status_kb(pid, "VmRSS")
            started = time.time()
            scale_bench.apply_at_once(
                kube, [training_job_run(f"run-{i:05d}", namespace, jobs[i % JOB_COUNT]) for i in range(n)]
            )
            print(f"[N={n}] applied in {time.time() - started:.0f}s", flush=True)
            next_line = time.time()
            while True:
                counts = phase_counts(kube, namespace)
                if counts.get("InProgress", 0) >= n:
                    break
                bad = {p for p in counts if p in ("Failed", "Canceled", "NeedsAttention", "Deleted")}
                if bad:
                    raise SystemExit(f"[N={n}] runs ended {sorted(bad)}; see {log_path}")
                if not op.running:
                    raise SystemExit(f"[N={n}] the operator exited; see {log_path}")
                if time.time() - started > args.timeout:
                    raise SystemExit(f"[N={n}] not all InProgress after {args.timeout:g}s: {counts}")
                if time.time() >= next_line:
                    rss = proc_status_kb(pid, "VmRSS") / 1024
                    print(
                        f"[N={n}] {time.time() - started:5.0f}s {counts} RSS {rss:.0f} MB",
                        f"load {load_average()}",
                        flush=True,
                    )
                    next_line = time.time() + 15
                time.sleep(3)
            followed_s = time.time() - started
            # A few poll cycles with every run followed: what a steady operator holds.
            time.sleep(args.settle)
            rss_kb, peak_kb = proc_status_kb(pid, "VmRSS"), proc_status_kb(pid, "VmHWM")
            if args.tracemalloc:
                op.proc.send_signal(signal.SIGUSR2)
                wait_until(snapshot.exists, timeout=300, interval=1.0, message="tracemalloc snapshot")
                print_snapshot(n, snapshot, args.top)
            trimmed_kb = None
            if args.trim_probe:
                op.proc.send_signal(signal.SIGUSR1)
                time.sleep(3)
                trimmed_kb = proc_status_kb(pid, "VmRSS")
            result = {
                "n": n,
                "rss_mb": round(rss_kb / 1024, 1),
                "peak_rss_mb": round(peak_kb / 1024, 1),
                "idle_rss_mb": round(idle_kb / 1024, 1),
                "kb_per_run": round((rss_kb - idle_kb) / n, 2),
                "all_in_progress_s": round(followed_s, 1),
            }
            if trimmed_kb is not None:  # what is live, the free heap given back
                result["rss_after_trim_mb"] = round(trimmed_kb / 1024, 1)
            print(f"[N={n}] {result}", flush=True)
            return result
    except BaseException:
        if op is not None:
            print(f"--- operator log (last 40 lines; all of it in {op.log_path}):", file=sys.stderr)
            print("\n".join(op.log_text().splitlines()[-40:]), file=sys.stderr)
        raise
    finally:
        if op is not None:
            op.stop()
        kube.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def print_snapshot(n: int, path: Path, top: int) -> None:
    snap = tracemalloc.Snapshot.load(str(path)).filter_traces(
        [
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        ]
    )
    total = sum(s.size for s in snap.statistics("filename"))
    print(
        f"\n[N={n}] tracemalloc: {total / 2**20:.1f} MB live in Python allocations",
        f"({total / n / 1024:.1f} KB/run)",
    )
    for group in ("filename", "lineno"):
        print(f"  by {group}:")
        for stat in snap.statistics(group)[:top]:
            frame = stat.traceback[0]
            where = frame.filename.split("site-packages/")[-1].split("/src/")[-1]
            line = f":{frame.lineno}" if group == "lineno" else ""
            print(f"    {stat.size / 2**20:8.2f} MB {stat.count:>9} blocks  {where}{line}")
    print(f"  by traceback (top {top}):")
    for stat in snap.statistics("traceback")[:top]:
        print(f"    {stat.size / 2**20:8.2f} MB {stat.count:>9} blocks")
        for frame in stat.traceback.format()[-12:]:
            print(f"        {frame}")


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"\nOperator memory while following N runs (simulated {RUN_SECONDS} s runs, default intervals)")
    header = (
        f"{'runs':>6} {'RSS MB':>8} {'peak RSS MB':>12} {'idle RSS MB':>12} {'KB/run':>8} "
        f"{'all InProgress s':>17} {'RSS after trim MB':>18}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['n']:>6} {r['rss_mb']:>8.1f} {r['peak_rss_mb']:>12.1f} {r['idle_rss_mb']:>12.1f} "
            f"{r['kb_per_run']:>8.2f} {r['all_in_progress_s']:>17.0f} {r.get('rss_after_trim_mb') or '-':>18}"
        )


def run_curve(sizes: list[int], args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="ocids-memory-") as tmp:
        work = Path(tmp)
        with cluster_for_bench(work / "cluster") as cluster:
            kube = Kube(cluster.kubeconfig, _tool("kubectl"), env=cluster.env())
            kube.install_crds()
            for n in sizes:
                results.append(measure(kube, n, work, args))
    print_table(results)
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--settle", type=float, default=30.0, help="s to wait once all are InProgress")
    parser.add_argument("--tracemalloc", type=int, default=0, help="profile with tracemalloc, K frames")
    parser.add_argument("--top", type=int, default=25, help="lines of the tracemalloc profile")
    parser.add_argument(
        "--trim-probe", action="store_true", help="then gc + malloc_trim in the operator: RSS after"
    )
    parser.add_argument("--python-hook", type=Path, help="a file the operator's python runs at start")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="more operator env (repeatable)"
    )


def parse_sizes(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def from_scale_argv(argv: list[str]) -> list[str]:
    """scale_bench.py's `--memory-curve 1000,5000` (with `make bench`'s --n, not used here) as this
    script's arguments."""
    out: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--n":
            next(words, None)
        elif not word.startswith("--n="):
            out.append("--sizes" if word == "--memory-curve" else word.replace("--memory-curve=", "--sizes="))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("1000,2500,5000,10000"))
    parser.add_argument("--timeout", type=float, default=3600.0, help="per N, until all are InProgress")
    parser.add_argument("--memray", action="store_true", help="run the operator under memray")
    parser.add_argument("--out", type=Path, default=Path("bench/out/memory_curve.json"))
    add_arguments(parser)
    args = parser.parse_args(argv)
    args.logs = args.out.resolve().parent / "logs"
    args.logs.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = run_curve(args.sizes, args)
    args.out.write_text(json.dumps({"memory_curve": results}, indent=2) + "\n")
    print(json.dumps({"memory_curve": results}))
    print(f"(written to {args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
