"""Emulator throughput (``make bench-emulator``).

Measures, against a real ``ocids-emulator`` process and through the real oci SDK (signed requests):
  * get_job_run requests per second,
  * create_job_run per second in simulated mode,
each with 1 and 8 concurrent clients. Clients are separate processes (the SDK is CPU-bound per call
and the GIL would otherwise cap them). It also reports the emulator's own CPU seconds per 1,000
requests, from /proc, which shows its capacity independently of the clients sharing the machine.

Environment: BENCH_SECONDS (default 5) per measurement.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "emulator"))

from emulator_bench_support import create_payload, make_active_job, process_cpu_seconds
from ocids_emulator.testing import RunningEmulator, running_emulator

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))


def _worker(
    data_dir: str, endpoint: str, operation: str, target: dict[str, str], start: Any, stop_at: Any, out: Any
) -> None:
    emu = RunningEmulator.__new__(RunningEmulator)  # attach to the running one; never start another
    emu.data_dir, emu.endpoint = Path(data_dir), endpoint
    client = emu.datascience_client(retries=False)
    body = create_payload(target) if operation == "create_job_run" else None
    call = (
        (lambda: client.create_job_run(body))
        if body is not None
        else (lambda: client.get_job_run(target["run"]))
    )
    call()  # warm the connection pool
    start.wait()
    latencies = []
    while time.time() < stop_at.value:
        began = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - began)
    out.put(latencies)


def measure(emu: RunningEmulator, operation: str, clients: int, target: dict[str, str]) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    start, stop_at, out = ctx.Event(), ctx.Value("d", 0.0), ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker, args=(str(emu.data_dir), emu.endpoint, operation, target, start, stop_at, out)
        )
        for _ in range(clients)
    ]
    for proc in procs:
        proc.start()
    time.sleep(1.0 + 0.2 * clients)  # let every worker import, sign once and block on the barrier
    assert emu.process is not None
    cpu_before = process_cpu_seconds(emu.process.pid)
    began = time.time()
    stop_at.value = began + SECONDS
    start.set()
    results = [out.get(timeout=SECONDS + 60) for _ in procs]
    elapsed = time.time() - began
    cpu = process_cpu_seconds(emu.process.pid) - cpu_before
    for proc in procs:
        proc.join(timeout=30)
    latencies = sorted(x for r in results for x in r)
    count = len(latencies)
    return {
        "operation": operation,
        "clients": clients,
        "requests": count,
        "rate": count / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(0.99 * (count - 1))] * 1000,
        "cpu_per_1k": cpu / count * 1000 if count else 0.0,
    }


def main() -> int:
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="ocids-bench-") as tmp,
        running_emulator(Path(tmp) / "emu", simulated="1:0") as emu,
    ):
        target = make_active_job(emu)
        for operation in ("get_job_run", "create_job_run"):
            for clients in (1, 8):
                rows.append(measure(emu, operation, clients, target))
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"ocids-emulator benchmark: {os.cpu_count()} cores (load average {load}), {SECONDS:g} s per row,"
        " real oci SDK clients in separate processes"
    )
    print("| operation | clients | requests | req/s | p50 ms | p99 ms | emulator CPU s per 1k req |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['operation']} | {r['clients']} | {r['requests']} | {r['rate']:.0f} | {r['p50']:.1f} "
            f"| {r['p99']:.1f} | {r['cpu_per_1k']:.2f} |"
        )
    gets = [r for r in rows if r["operation"] == "get_job_run"]
    capacity = 1000 / min(r["cpu_per_1k"] for r in gets)
    print(f"emulator capacity for signed GETs (1 core, from its CPU time): ~{capacity:.0f} req/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
