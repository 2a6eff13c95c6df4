"""Drives the crash-safety case: user steps through kubectl, and the operator killed at seeded points."""

from __future__ import annotations

import dataclasses
import subprocess
import urllib.request
from typing import Any

from crash_workload import Step, Workload
from operator_harness import JOBS, RUNS, OperatorProcess, Scenario, wait_for

CRASH_EXIT = 137  # OCIDS_DEBUG_CRASH_AFTER's exit code: the process died right after an OCI create


def crash_point(steps: list[Step]) -> str:
    """The OCIDS_DEBUG_CRASH_AFTER point the next of these steps will pass through, if any."""
    for step in steps:
        if step.what == "create-run":
            return "create_job_run"
        if step.what in ("create-job", "revision"):
            return "create_job"
    return ""


def apply_steps(world: Scenario, model: Workload, steps: list[Step]) -> None:
    """The steps in order, each consecutive run of applies as one `kubectl apply` (latest spec)."""
    pending: dict[tuple[str, str], dict[str, Any]] = {}

    def flush() -> None:
        if pending:
            world.kube.apply(*pending.values())
            pending.clear()

    for step in steps:
        if step.verb == "apply":
            pending[(step.kind, step.name)] = (
                model.jobs[step.name].manifest(world.ids, world.namespace)
                if step.kind == "job"
                else model.runs[step.name].manifest(world.namespace)
            )
        else:
            flush()
            kind = JOBS if step.kind == "job" else RUNS
            # --wait=false: a user does not wait for finalizers, and the operator may be down.
            world.kube.kubectl("delete", kind, step.name, "-n", world.namespace, "--wait=false")
    flush()


def healthy(op: OperatorProcess) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{op.health_port}/healthz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@dataclasses.dataclass
class Killer:
    """Starts the operator and ends it: a SIGKILL after a seeded delay, or its own crash point."""

    op: OperatorProcess
    sigkills: int = 0
    crash_point_exits: int = 0
    iterations: int = 0

    def start(self, crash_point: str = "") -> None:
        self.op.start(env_overrides={"OCIDS_DEBUG_CRASH_AFTER": crash_point})
        # A crash point may fire before the health endpoint ever answers.
        wait_for(lambda: not self.op.running or healthy(self.op), timeout=60, message="operator up")

    def end_after(self, delay: float) -> None:
        self.iterations += 1
        assert self.op.proc is not None
        try:
            code = self.op.proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            self.op.kill()
            self.sigkills += 1
            return
        assert code == CRASH_EXIT, f"operator exited with {code}:\n{self.op.log_text()[-4000:]}"
        self.crash_point_exits += 1
