"""Two operator processes electing a leader on a Lease in the test's namespace: what the tests read.

Times come from the operators' own log lines (`%(asctime)s`, local time, milliseconds), so a
measured failover does not include how often the test looks.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from operator_harness import Kube, OperatorProcess, wait_for

LEASE = "ocids-operator"
STANDBY_LINE = "standby: waiting for Lease"
LEADING_LINE = "leading: acquired Lease"
LOST_LINE = "lost the leader Lease"
EXIT_LOST_LEASE = 3
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def chaos_figures() -> ModuleType:
    """tests/integration/chaos/chaos_figures.py, whose `report` prints and keeps the CHAOS figures."""
    path = Path(__file__).resolve().parents[1] / "chaos" / "chaos_figures.py"
    spec = importlib.util.spec_from_file_location("chaos_figures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def elected_env(namespace: str, identity: str, **extra: str) -> dict[str, str]:
    return {
        "OCIDS_LEADER_ELECTION": "true",
        "OCIDS_LEADER_ELECTION_NAMESPACE": namespace,
        "OCIDS_LEADER_ELECTION_IDENTITY": identity,
        **extra,
    }


def metric_sum(op: OperatorProcess, name: str) -> float:
    """The sum of every sample of `name` on the process's /metrics."""
    total = 0.0
    for line in op.metrics_text().splitlines():
        if line.startswith((f"{name} ", f"{name}{{")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def is_leader(op: OperatorProcess) -> bool:
    return metric_sum(op, "ocids_leader") == 1.0


def lines_of(op: OperatorProcess) -> list[str]:
    """Log lines of the process's latest start."""
    return op.log_text().split("===== operator start #")[-1].splitlines()


def stamp(line: str) -> datetime:
    match = _STAMP.match(line)
    assert match, line
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")


def first_line(op: OperatorProcess, text: str, after: datetime | None = None) -> str | None:
    for line in lines_of(op):
        if text in line and _STAMP.match(line) and (after is None or stamp(line) >= after):
            return line
    return None


def wait_line(op: OperatorProcess, text: str, timeout: float = 60, after: datetime | None = None) -> str:
    def found() -> str | None:
        return first_line(op, text, after)

    line: str = wait_for(
        found, timeout=timeout, interval=0.1, message=lambda: f"{text!r} in {op.log_path.name}"
    )
    return line


def lease(kube: Kube, namespace: str) -> dict[str, Any]:
    return dict(json.loads(kube.kubectl("get", "lease", LEASE, "-n", namespace, "-o", "json").stdout))


def holder(kube: Kube, namespace: str) -> str | None:
    return (lease(kube, namespace).get("spec") or {}).get("holderIdentity")


def start_pair(
    start_operator: Callable[..., OperatorProcess], namespace: str, **extra: str
) -> tuple[OperatorProcess, OperatorProcess]:
    """`op-a` started first and leading, then `op-b` waiting as its standby."""
    first = start_operator(env=elected_env(namespace, "op-a", **extra))
    wait_line(first, LEADING_LINE)
    second = start_operator(env=elected_env(namespace, "op-b", **extra))
    wait_line(second, STANDBY_LINE)
    return first, second
