"""A TrainingJobRun that follows an OCI run it did not create (annotation ocids.io/job-run-id: the
runs an OCI Schedule makes for a TrainingJobSchedule with engine OCI).

Such a run is never created by the operator: it is checked (core/oci_schedule_plan.adoption_refusal),
then recorded in status and followed by the poller like any other; refused, it stays Stalled and is
neither followed nor canceled nor deleted.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from ..api import TrainingJobRunSpec, TrainingJobSpec
from ..core import conditions as cond
from ..core.cost import created_cost, ended_cost
from ..core.errors import retry, stalled
from ..core.oci_schedule_plan import JOB_RUN_ID_ANNOTATION, TAG_SCHEDULE, adoption_refusal
from ..core.run_overrides import node_count
from ..core.run_plan import is_terminal
from ..core.run_status import run_status
from ..core.status import infrastructure_type
from ..runtime import Runtime
from . import run_pricing
from .inputs import parse_spec

ADOPTION_REFUSED = "AdoptionRefused"
Event = tuple[str, str, str]


def adopted_run_id(body: Mapping[str, Any]) -> str | None:
    value = ((body.get("metadata") or {}).get("annotations") or {}).get(JOB_RUN_ID_ANNOTATION)
    return str(value) if value else None


async def adopt(
    rt: Runtime, body: Mapping[str, Any], status: Mapping[str, Any], job: Mapping[str, Any] | None
) -> tuple[dict[str, Any] | None, list[Event]]:
    """Check and record the annotated OCI run: (the status now, events), or (None, events) when the
    TrainingJobRun is gone. Raises Stalled (AdoptionRefused) when it may not be followed."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    run_id = adopted_run_id(body)
    assert run_id is not None
    spec: TrainingJobRunSpec = parse_spec(TrainingJobRunSpec, body.get("spec") or {})
    if job is None or not (job.get("status") or {}).get("jobId"):
        raise stalled(
            ADOPTION_REFUSED,
            f"TrainingJob {spec.job_ref.name} is missing or has no OCI job yet; OCI job run {run_id} "
            f"(annotation {JOB_RUN_ID_ANNOTATION}) cannot be checked against it",
        )
    job_spec: TrainingJobSpec = parse_spec(TrainingJobSpec, job.get("spec") or {})
    job_status = job.get("status") or {}
    job_ids = {job_status["jobId"], *(job_status.get("retiredJobIds") or [])}
    run = await rt.oci.get_job_run(run_id)
    if run is None:
        # A 404 is also what a lagging read or an IAM denial answers: looked at again, with backoff.
        raise retry(
            "OCIRunNotFound",
            f"OCI job run {run_id} (annotation {JOB_RUN_ID_ANNOTATION}) was not found, or may not be read "
            "with this namespace's OCI identity; it is not followed",
        )
    schedules: dict[str, tuple[str, str | None]] = {}
    if run is not None and run.tags.get(TAG_SCHEDULE):
        listed = await rt.kube.list_training_job_schedules(namespace)
        schedules = {
            item["metadata"]["uid"]: (item["metadata"]["name"], (item.get("status") or {}).get("scheduleId"))
            for item in listed
        }
    refusal = adoption_refusal(
        run,
        run_id,
        name=name,
        namespace=namespace,
        compartment_id=job_spec.compartment_id,
        job_ids=job_ids,
        schedules=schedules,
    )
    if refusal is not None:
        raise stalled(ADOPTION_REFUSED, f"{refusal}; it is not followed")
    assert run is not None
    result = run_status(run, rt.region, status, meta.get("generation"), cond.now_rfc3339())
    result = result.with_fields(
        job_run_id=run.id,
        job_id=run.job_id,
        message=None,
        infrastructure_type=infrastructure_type(job_spec, spec.infrastructure).value,
        node_count=node_count(spec, job_spec),
    )
    if run.job_id == job_status["jobId"]:
        result = result.with_fields(job_revision=job_status.get("revision"))
    priced, _ = await run_pricing.run_price(rt, spec, job_spec, job)
    if priced is not None:  # its estimate as a run the operator creates gets; the amount once it ends
        result = result.with_fields(cost=created_cost(status, priced))
        if is_terminal(result.get("phase")):  # found already ended: the poller will not write it
            merged = {**status, **result}
            if (cost := ended_cost(merged, result, datetime.datetime.now(datetime.UTC))) is not None:
                result = result.with_fields(cost=cost)
    if not await rt.run_status.write(namespace, name, meta["uid"], result):
        return None, []
    schedule = run.tags.get(TAG_SCHEDULE, "")
    event = ("Normal", "Adopted", f"following OCI job run {run.id}, made by the OCI Schedule of {schedule}")
    return {**status, **result}, [event]


def never_created(body: Mapping[str, Any]) -> Exception:
    """What a followed run answers when its plan would create an OCI run: it never does."""
    return stalled(
        ADOPTION_REFUSED,
        f"this TrainingJobRun follows OCI job run {adopted_run_id(body)} (annotation "
        f"{JOB_RUN_ID_ANNOTATION}); the operator never creates a run for it",
    )
