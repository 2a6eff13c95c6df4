"""OCI refusals: specs the API server accepts but OCI refuses end in Stalled=True carrying OCI's own
message, and the operator then waits for a spec change instead of asking OCI again and again.

A sweep over what OCI (the emulator's request validation and its tenancy) refuses: limits the CRD
does not duplicate (OCI's own numbers may change) and OCIDs that are well formed but do not exist.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from chaos_figures import report, scale
from operator_harness import JOBS, RUNS, OperatorProcess, Scenario, condition, wait_for

pytestmark = pytest.mark.integration
SCRIPT = "print('never runs')\n"
WAIT_S = scale(8.0, 60.0)
MISSING = "aaaaaaaanosuchthing"


@dataclass(frozen=True)
class Refusal:
    name: str
    kind: str
    # Words of OCI's message the condition must carry.
    oci_says: str
    build: Callable[[Scenario, str], dict[str, Any]]


def _job(spec: dict[str, Any] | None = None, **kwargs: Any) -> Callable[[Scenario, str], dict[str, Any]]:
    """A TrainingJob through the harness (`kwargs`), then `spec` fields set over it."""

    def build(world: Scenario, name: str) -> dict[str, Any]:
        body = world.job(name, SCRIPT, **{"logging": {"enabled": False}, **kwargs})
        body["spec"].update(spec or {})
        return body

    return build


def _run(**spec: Any) -> Callable[[Scenario, str], dict[str, Any]]:
    return lambda world, name: world.run(name, "base", **spec)


def _env(n: int, size: int, prefix: str = "BIG") -> list[dict[str, str]]:
    return [{"name": f"{prefix}_{i}", "value": "x" * size} for i in range(n)]


REFUSALS = [
    Refusal(
        "runtime-beyond-30-days",
        JOBS,
        "maximumRuntimeInMinutes must be an integer from 1 to 43200",
        _job({"maximumRuntimeInMinutes": 50_000}),
    ),
    Refusal("env-over-20000-chars", JOBS, "exceed 20000 characters", _job(extra_env=_env(2, 12_000))),
    Refusal(
        "args-over-4000-chars",
        JOBS,
        "commandLineArguments exceeds 4000 characters",
        _job({"args": ["a" * 2500, "b" * 2500]}),
    ),
    Refusal(
        "unknown-project",
        JOBS,
        "NotAuthorizedOrNotFound",
        _job({"projectId": f"ocid1.datascienceproject.oc1.iad.{MISSING}"}),
    ),
    Refusal(
        "unknown-compartment",
        JOBS,
        "NotAuthorizedOrNotFound",
        _job({"compartmentId": f"ocid1.compartment.oc1..{MISSING}"}),
    ),
    Refusal(
        "unknown-log-group",
        JOBS,
        "NotAuthorizedOrNotFound",
        _job(
            logging={
                "enabled": True,
                "autoCreateLog": True,
                "logGroupId": f"ocid1.loggroup.oc1.iad.{MISSING}",
            }
        ),
    ),
    Refusal(
        "run-env-with-job-over-20000",
        RUNS,
        "exceed 20000 characters",
        _run(env={f"RUN_{i}": "y" * 9_000 for i in range(2)}),
    ),
    Refusal(
        "run-runtime-beyond-30-days",
        RUNS,
        "maximumRuntimeInMinutes must be an integer from 1 to 43200",
        _run(maximumRuntimeInMinutes=50_000),
    ),
]


def test_oci_refusals_stall_with_ocis_message_and_no_retry_storm(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    # Granted, so the refusal is OCI's (the compartment does not exist), not the operator's allow-list.
    world.kube.grant_compartments(world.namespace, f"ocid1.compartment.oc1..{MISSING}")
    world.operator = start_operator()
    # The runs' job: 3 KB of env so a run's env pushes the two together over OCI's limit.
    base = world.job("base", SCRIPT, logging={"enabled": False}, extra_env=_env(1, 3_000, "JOB"))
    world.apply(base)
    world.wait_job_active("base")
    world.apply(*[case.build(world, case.name) for case in REFUSALS])

    def stalled(case: Refusal) -> dict[str, Any]:
        return dict(
            wait_for(
                lambda: condition(world.kube.get(case.kind, case.name, world.namespace), "Stalled"),
                timeout=60,
                message=lambda: (
                    f"{case.name} Stalled; {world.kube.status(case.kind, case.name, world.namespace)}"
                ),
            )
        )

    conditions = {case.name: stalled(case) for case in REFUSALS}
    wrong = {
        name: cond
        for (name, cond), case in zip(conditions.items(), REFUSALS, strict=True)
        if cond.get("status") != "True" or case.oci_says not in (cond.get("message") or "")
    }
    assert not wrong, json.dumps(wrong, indent=1)
    assert world.oci_runs() == [], "no refused run exists in OCI"
    assert [j.display_name for j in world.oci_jobs()] == [f"{world.namespace}-base"]

    # Settled: from now on the operator may look again slowly (NotAuthorized is re-checked, since a
    # policy can change outside the spec), but must not hammer OCI.
    before = world.admin.stats()
    started = time.monotonic()
    time.sleep(WAIT_S)  # an observation window: the figure is what the operator does during it
    after = world.admin.stats()
    elapsed = time.monotonic() - started
    by_op = {
        op: entry["total"] - before["operations"].get(op, {}).get("total", 0)
        for op, entry in after["operations"].items()
        if entry["total"] != before["operations"].get(op, {}).get("total", 0)
    }
    further = after["total"] - before["total"]
    # The base job's resync (every 3 s in tests) plus at most one look per refused resource per
    # backoff step (OCIDS_RETRY_MAX_SECONDS=8 in tests): far below a loop's hundreds.
    bound = elapsed / 3 + len(REFUSALS) * (elapsed / 8 + 1)
    report(
        "oci-refusals",
        refusals=len(REFUSALS),
        stalled=len(conditions),
        wait_s=elapsed,
        further_calls=further,
        bound=int(bound),
        further_by_operation=by_op,
    )
    assert further <= bound, by_op
    assert world.operator.running and "Traceback" not in world.operator.log_text()


def test_run_naming_an_unknown_log_group_stalls_naming_it(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    world.operator = start_operator()
    world.apply(world.job("base", SCRIPT, logging={"enabled": False}))
    world.wait_job_active("base")
    group = f"ocid1.loggroup.oc1.iad.{MISSING}"
    world.apply(
        world.run("lost-logs", "base", logging={"enabled": True, "autoCreateLog": True, "logGroupId": group})
    )
    stalled = wait_for(
        lambda: condition(world.get_run("lost-logs"), "Stalled"), timeout=60, message="a Stalled condition"
    )
    before = world.admin.stats()["total"]
    started = time.monotonic()
    time.sleep(WAIT_S)  # an observation window, as in the sweep above
    further = world.admin.stats()["total"] - before
    elapsed = time.monotonic() - started
    # The base job's resync (every 3 s in tests), and per backoff step (at most 8 s in tests) one
    # CreateJobRun plus the GetJob that tells this refusal from a job that is gone.
    bound = math.ceil(elapsed / 3) + 2 * (math.ceil(elapsed / 8) + 1)
    report("oci-refusals-run-404", wait_s=elapsed, further_calls=further, bound=int(bound), condition=stalled)
    assert stalled["status"] == "True" and group in stalled["message"], stalled
    assert "re-create" not in stalled["message"], "the OCI job exists: nothing is re-created"
    assert further <= bound
