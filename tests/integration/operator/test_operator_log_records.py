"""At DEBUG, kopf logs whole objects: a TrainingJob with a 200 KiB inline script makes 200 KiB log
records. Their redaction once took minutes (quadratic) on the event loop, so /healthz and the leader
Lease renewal stalled; now it is linear and each record is cut to MAX_RECORD_CHARS."""

from __future__ import annotations

import secrets
import threading
import time
import urllib.request
from collections.abc import Callable

import pytest
from ocids_operator.core.log_records import MAX_RECORD_CHARS
from operator_harness import OperatorProcess, Scenario

pytestmark = pytest.mark.integration

# Under the 224 Ki-character inline limit, with the script's own lines around the data.
SCRIPT_HEX_CHARS = 200 * 1024
HEALTH_LATENCY_LIMIT = 1.0


class HealthProbe:
    """Asks /healthz every 50 ms on a thread and keeps each answer's latency (a failure counts as
    the time it took to fail, at least the limit)."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/healthz"
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe, daemon=True)

    def _probe(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=5) as resp:
                    resp.read()
                    ok = resp.status == 200
            except OSError as exc:
                ok = False
                self.failures.append(f"{type(exc).__name__}: {exc}")
            took = time.monotonic() - started
            self.latencies.append(took if ok else max(took, HEALTH_LATENCY_LIMIT))
            self._stop.wait(0.05)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_a_200_kib_inline_script_at_debug_keeps_healthz_answering_and_log_records_bounded(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    world.operator = operator = start_operator(env={"OCIDS_LOG_LEVEL": "DEBUG"})
    data = secrets.token_hex(SCRIPT_HEX_CHARS // 2)
    script = f'DATA = "{data}"\nprint("hex characters:", len(DATA))\n'
    with HealthProbe(operator.health_port) as probe:
        world.apply(world.job("big-script", script), world.run("big-script-1", "big-script"))
        # From the first reconcile (kopf logs the whole body) to the run's end and its status writes.
        run = world.wait_run("big-script-1", "Succeeded", timeout=180)
    assert run["status"]["exitCode"] == 0
    assert world.run_log(run, f"hex characters: {SCRIPT_HEX_CHARS}")

    assert len(probe.latencies) >= 20, probe.latencies
    worst = max(probe.latencies)
    assert worst < HEALTH_LATENCY_LIMIT, (
        f"/healthz took {worst:.2f}s (of {len(probe.latencies)} probes); failures: {probe.failures[:3]}"
    )

    lines = operator.log_text().splitlines()
    longest = max(len(line) for line in lines)
    cut = [line for line in lines if "characters cut" in line]
    print(
        f"\n/healthz: {len(probe.latencies)} probes, worst {worst * 1000:.0f} ms; "
        f"{len(cut)} records cut, longest line {longest} characters"
    )
    assert longest <= MAX_RECORD_CHARS, f"a log line of {longest} characters"
    # kopf's DEBUG records of the object were there, and were cut, not dropped.
    assert any("big-script" in line for line in cut)
    assert data not in operator.log_text()
