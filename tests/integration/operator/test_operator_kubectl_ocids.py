"""`kubectl ocids` as a user runs it: the `kubectl-ocids` console script as a process, with a
kubeconfig and the operator's OCIDS_* settings, against the real API server, the emulator and the
operator. `logs -f` is started while the run is still Pending: it waits, then streams the run's
lines in order as the run prints them, and exits with the run's own exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from operator_harness import Scenario, wait_for

pytestmark = pytest.mark.integration

# 20 numbered lines, 0.2 s apart, then exit code 3.
SLOW_LINES = """\
import sys, time
for i in range(1, 21):
    print(f"line {i:02d}", flush=True)
    time.sleep(0.2)
sys.exit(3)
"""
EXPECTED = [f"line {i:02d}" for i in range(1, 21)]


def plugin() -> str:
    path = Path(sys.executable).parent / "kubectl-ocids"
    assert path.is_file(), f"{path} missing: the console script comes with `pip install -e .` (make install)"
    return str(path)


def cli(e2e: Scenario, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    assert e2e.operator is not None
    return subprocess.run(
        [plugin(), *args, "-n", e2e.namespace],
        env=e2e.operator.env(),
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,  # type: ignore[call-overload]
    )


def test_logs_follow_waits_through_pending_streams_in_order_and_exits_with_the_run_code(
    e2e: Scenario, tmp_path: Path
) -> None:
    assert e2e.operator is not None
    # The run comes first: its TrainingJob does not exist yet, so it stays Pending.
    e2e.apply(e2e.run("slow-1", "slow"))
    e2e.wait_run("slow-1", "Pending")
    stderr_path = tmp_path / "follow.stderr"
    with open(stderr_path, "w") as stderr:
        proc = subprocess.Popen(
            [plugin(), "logs", "slow-1", "-f", "-n", e2e.namespace],
            env=e2e.operator.env(),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        wait_for(
            lambda: "waiting: slow-1 is Pending" in stderr_path.read_text(),
            timeout=30,
            message=lambda: f"a waiting line on stderr; have {stderr_path.read_text()!r}",
        )
        assert proc.poll() is None, "logs -f exited while the run was Pending"

        e2e.apply(e2e.job("slow", SLOW_LINES))
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    err = stderr_path.read_text()
    assert out.splitlines() == EXPECTED, err
    assert proc.returncode == 3, err
    # Said once, while it waited; and how the run ended.
    assert err.count("waiting: slow-1 is Pending") == 1, err
    assert "slow-1 is Failed: " in err and "exit code 3" in err, err
    run = e2e.get_run("slow-1")
    assert run is not None and run["status"]["phase"] == "Failed" and run["status"]["exitCode"] == 3

    # A TrainingJob's name means its newest run; without -f what exists is printed, exit 0.
    done = cli(e2e, "logs", "slow", "--tail", "3")
    assert (done.returncode, done.stdout.splitlines()) == (0, EXPECTED[-3:]), done.stderr

    # The runs table and the links come from the same objects.
    table = cli(e2e, "runs", "slow")
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()
    assert header.split() == ["NAME", "JOB", "PHASE", "DURATION", "EXIT"]
    assert row.split()[:3] == ["slow-1", "slow", "Failed"] and row.split()[-1] == "3"
    link = cli(e2e, "open", "slow-1", "--logs", "--print")
    assert (link.returncode, link.stdout.strip()) == (0, run["status"]["logs"]["url"])


def test_logs_of_a_run_without_logging_name_spec_logging(e2e: Scenario) -> None:
    e2e.apply(e2e.job("quiet", SLOW_LINES, logging={"enabled": False}))
    e2e.wait_job_active("quiet")
    e2e.apply(e2e.run("quiet-1", "quiet"))
    e2e.wait_run("quiet-1", {"Accepted", "InProgress", "Failed"})
    done = cli(e2e, "logs", "quiet-1", "-f")
    assert done.returncode == 1
    assert "quiet-1 has no logging: set spec.logging" in done.stderr
