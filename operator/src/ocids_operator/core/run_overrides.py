"""What a TrainingJobRun may override of its TrainingJob, checked before CreateJobRun. Pure.

OCI would refuse some of these (a node override of a single-node job) and silently take others
(a container override of a conda job would turn it into a container run): the operator says which
field, and sends nothing.
"""

from __future__ import annotations

from ..api import TrainingJobRunSpec, TrainingJobSpec
from .driver_env import run_vault_problem
from .errors import INVALID_OVERRIDE, ReconcileError, stalled


def override_refusal(run: TrainingJobRunSpec, job: TrainingJobSpec, job_name: str) -> ReconcileError | None:
    problem = override_problem(run, job, job_name)
    if problem is None:
        return None
    return stalled(INVALID_OVERRIDE, f"{problem}; nothing was sent to OCI")


def override_problem(run: TrainingJobRunSpec, job: TrainingJobSpec, job_name: str) -> str | None:
    vault = run_vault_problem(run, job, job_name)
    if vault is not None:
        return vault
    if run.container is not None and job.container is None:
        return (
            f"spec.container: TrainingJob {job_name} has no spec.container, so there is no container to "
            "override (a conda job's runs take env, args and infrastructure overrides)"
        )
    if run.infrastructure is not None and job.nodes is not None:
        return (
            f"spec.infrastructure: TrainingJob {job_name} is multi-node, its nodes take their compute from "
            "their node groups: override a group's with spec.nodeGroups[].infrastructure"
        )
    if run.node_groups:
        if job.nodes is None:
            names = ", ".join(group.name for group in run.node_groups)
            return (
                f"spec.nodeGroups ({names}): TrainingJob {job_name} is single-node (no spec.nodes), so it "
                "has no node groups to override"
            )
        known = {group.name: group for group in job.nodes.groups}
        for group in run.node_groups:
            job_group = known.get(group.name)
            if job_group is None:
                return (
                    f"spec.nodeGroups[{group.name}]: TrainingJob {job_name} has no node group "
                    f'"{group.name}" (it has: {", ".join(known)})'
                )
            # The admission rule compares the two only when the run sets both: against the job's
            # replicas it is checked here, before anything is recorded or sent.
            replicas = group.replicas or job_group.replicas
            if group.minimum_success_replicas is not None and group.minimum_success_replicas > replicas:
                return (
                    f"spec.nodeGroups[{group.name}].minimumSuccessReplicas: {group.minimum_success_replicas} "
                    f"is more than the group's {replicas} replicas"
                )
    return None


def node_count(run: TrainingJobRunSpec, job: TrainingJobSpec) -> int | None:
    """Total replicas of a multi-node run (the run's replicas override its group's); None: single-node."""
    if job.nodes is None:
        return None
    replicas = {group.name: group.replicas for group in job.nodes.groups}
    for group in run.node_groups or ():
        if group.replicas is not None and group.name in replicas:
            replicas[group.name] = group.replicas
    return sum(replicas.values())
