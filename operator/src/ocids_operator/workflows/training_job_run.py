"""TrainingJobRun reconcile and finalize: the I/O around the pure plan in `core/run_plan`."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from ..adapters.oci_errors import classify
from ..api import API_VERSION, RunOutputs, TrainingJobRunSpec, TrainingJobRunStatus, TrainingJobSpec
from ..core import conditions as cond
from ..core import model
from ..core.admission import GateAnswer, Hold
from ..core.cost import created_cost, ended_cost
from ..core.deletion_plan import RETAINED, TAG_RETAINED
from ..core.driver_env import run_outputs_uri
from ..core.kinds import TRAINING_JOB_KIND
from ..core.metric_lines import effective_metrics, metric_problems
from ..core.phases import ACTIVE_RUN_STATES, GONE_JOB_STATES, RunPhase, RunState, run_finished
from ..core.retry import (
    TAG_ATTEMPT,
    after_attempt,
    attempt_display_name,
    attempt_number,
    attempt_run_ids,
    canceled_status,
    is_attempt,
    policy_of,
    retry_event,
)
from ..core.retry_end import retry_ended_fields
from ..core.run_overrides import node_count, override_refusal
from ..core.run_plan import (
    LOST_RUN_REASON,
    CreateAction,
    RunAction,
    RunPlan,
    RunView,
    attempt_job_id,
    cancel_wait_over,
    is_terminal,
    lost_run_message,
    plan_create,
    plan_run,
)
from ..core.run_status import failed_status, lost_run_status, pending_status, run_status
from ..core.status import infrastructure_type
from ..core.status_patch import StatusPatch
from ..core.times import parse_time
from ..runtime import Runtime
from . import run_adoption, run_gates, run_pricing, shape_gate, tenancy
from .crash_point import crash_after
from .driver_artifact import driver_context, known_code_file
from .inputs import object_ref, parse_spec, resolve_env
from .outcome import Outcome
from .run_poller import TrackedRun


def owner_reference(job: Mapping[str, Any]) -> dict[str, Any]:
    meta = job["metadata"]
    # blockOwnerDeletion stays false: deleting a TrainingJob must never wait on its runs' finalizers.
    return {
        "apiVersion": API_VERSION,
        "kind": TRAINING_JOB_KIND.name,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": False,
    }


def missing_owner_references(
    body: Mapping[str, Any], job: Mapping[str, Any] | None
) -> list[dict[str, Any]] | None:
    """The run's full ownerReferences list with the TrainingJob added, or None when already there."""
    if job is None:
        return None
    current = list(body["metadata"].get("ownerReferences") or [])
    if any(ref.get("uid") == job["metadata"]["uid"] for ref in current):
        return None
    # A stale controller reference (an earlier TrainingJob of the same name) would block ours.
    current = [
        ref for ref in current if not (ref.get("kind") == TRAINING_JOB_KIND.name and ref.get("controller"))
    ]
    return [*current, owner_reference(job)]


def expects_logs(run_spec: Mapping[str, Any], job: Mapping[str, Any] | None) -> bool:
    """Whether OCI will report log details for this run (unknown job: assume it will)."""
    logging = run_spec.get("logging") or ((job or {}).get("spec") or {}).get("logging")
    if job is None and not run_spec.get("logging"):
        return True
    return bool((logging or {}).get("enabled"))


def track(
    rt: Runtime,
    body: Mapping[str, Any],
    status: Mapping[str, Any],
    compartment_id: str,
    job: Mapping[str, Any] | None,
) -> None:
    meta = body["metadata"]
    rt.poller.track(
        TrackedRun(
            run_id=status["jobRunId"],
            compartment_id=compartment_id,
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta["uid"],
            generation=meta.get("generation"),
            status=dict(status),
            registered_at=0.0,
            lifecycle_state=_last_state(status.get("phase")),
            lifecycle_details=status.get("lifecycleDetails"),
            logs_known=bool((status.get("logs") or {}).get("logId")),
            expects_logs=expects_logs(body.get("spec") or {}, job),
            metric_specs=effective_metrics(body.get("spec") or {}, job),
            metric_problems=tuple(metric_problems(body.get("spec") or {}, job)),
            # Only a GET shows node groups: a multi-node run (status.nodeCount, written at creation)
            # is read on each change its list shows.
            multi_node=bool(status.get("nodeCount")),
            identity=rt.identity,
            # A followed run (engine OCI schedules) is OCI's to make: the operator never retries it.
            retry_policy=None if run_adoption.adopted_run_id(body) else policy_of(body.get("spec")),
            canceled=bool((body.get("spec") or {}).get("cancel")),
        )
    )


def _last_state(phase: str | None) -> RunState:
    """The OCI state a phase in status stands for (Accepted when unknown: the poller lists it first)."""
    try:
        state = RunPhase(phase or "").state
    except ValueError:
        state = None
    return state or RunState.ACCEPTED


async def reconcile(rt: Runtime, body: Mapping[str, Any]) -> tuple[Outcome, list[dict[str, Any]] | None]:
    """Returns the outcome and, when it must change, the run's ownerReferences."""
    meta = body["metadata"]
    namespace = meta["namespace"]
    spec: TrainingJobRunSpec = parse_spec(TrainingJobRunSpec, body.get("spec") or {})
    status = dict(body.get("status") or {})
    generation = meta.get("generation")
    job = await rt.kube.get_training_job(namespace, spec.job_ref.name)
    owners = missing_owner_references(body, job)
    adoption_events: list[tuple[str, str, str]] = []
    if run_adoption.adopted_run_id(body) and not status.get("jobRunId"):
        adopted, adoption_events = await run_adoption.adopt(rt, body, status, job)
        if adopted is None:
            return Outcome(events=adoption_events), owners
        status = adopted
        if not spec.cancel or run_finished(status):
            if not is_terminal(status.get("phase")):
                track(rt, body, status, _compartment(job) or "", job)
            return Outcome(events=adoption_events), owners
    if spec.cancel and not run_finished(status):
        canceling = await _cancel(rt, body, status, job)
        canceling.events = [*adoption_events, *canceling.events]
        return canceling, owners
    plan = plan_run(status, job, spec.job_ref.name, datetime.datetime.now(datetime.UTC))

    if plan.action is RunAction.NOTHING:
        if status.get("metricsFinal") is False and status.get("jobRunId"):  # ended; last lines unread
            track(rt, body, status, _compartment(job) or "", job)
        return Outcome(), owners
    if plan.action is RunAction.TRACK:
        compartment = _compartment(job)
        if compartment is None:  # the TrainingJob is gone: ask OCI where the run lives
            oci_run = await rt.oci.get_job_run(status["jobRunId"])
            compartment = oci_run.compartment_id if oci_run is not None else None
        if compartment:
            track(rt, body, status, compartment, job)
        return Outcome(), owners
    if plan.action is RunAction.WAIT:
        events = []
        if (
            status.get("phase") != RunPhase.PENDING
            or (status.get("conditions") or [{}])[0].get("reason") != plan.reason
        ):
            events.append(("Normal", plan.reason, plan.message))
        outcome = Outcome(
            pending_status(plan, status, generation, cond.now_rfc3339()),
            events,
            requeue_after=rt.settings.poll_interval_seconds,
            requeue_reason=plan.message,
        )
        return outcome, owners

    if run_adoption.adopted_run_id(body):
        raise run_adoption.never_created(body)
    assert job is not None
    job_spec: TrainingJobSpec = parse_spec(TrainingJobSpec, job.get("spec") or {})
    refusal = override_refusal(spec, job_spec, spec.job_ref.name)  # no OCI call for what cannot be run
    if refusal is not None:
        raise refusal
    await tenancy.admit_run(rt, namespace, spec, job_spec)  # before anything is written to OCI
    await shape_gate.check_run(rt, spec, job_spec)  # after the tenancy gate: no read of a refused compartment
    admitted = not status.get("createAttemptedAt")  # one attempted may exist in OCI: never held
    if admitted:
        answer = await run_gates.admit(rt, body, spec, job_spec, job)
        if answer is not None:
            requeue = run_gates.look_again(rt, body, answer)
            return gated_outcome(answer, status, generation, requeue), owners
    try:
        return await _create(rt, body, spec, job_spec, job, status, generation), owners
    finally:
        if admitted:  # not created after all (a Secret missing, say): its slot is free again
            run_gates.release(rt, body)


async def _create(
    rt: Runtime,
    body: Mapping[str, Any],
    spec: TrainingJobRunSpec,
    job_spec: TrainingJobSpec,
    job: Mapping[str, Any],
    status: dict[str, Any],
    generation: int | None,
) -> Outcome:
    meta = body["metadata"]
    namespace = meta["namespace"]
    job_status = job.get("status") or {}
    attempt = _creating_attempt(status)
    job_id = attempt_job_id(spec, status, job_status)  # a retry re-runs its earlier attempts' job
    ref = object_ref(body, rt.settings.cluster_name)
    retrying = bool(status.get("nextAttemptAt"))
    display_name = attempt_display_name(spec.display_name or ref.default_display_name, attempt)
    attempted_at = parse_time(status.get("createAttemptedAt"))
    # The attempt is recorded before every CreateJobRun, so without one there is no run to find:
    # the lookup (a ListJobRuns per run, half of its OCI calls) is spent only after an attempt, and
    # then a run of ours that was deleted since is still ours: it looks for that too.
    existing = None
    if attempted_at is not None:
        existing = await _find_existing(
            rt, job_spec.compartment_id, display_name, ref.uid, include_deleted=True, attempt=attempt
        )
    create = plan_create(attempted_at, existing, datetime.datetime.now(datetime.UTC))
    if create.action is CreateAction.GIVE_UP:
        return _lost(create.message, status, generation)
    events = []
    if create.action is CreateAction.ADOPT:
        assert existing is not None
        view = existing
        events.append(("Normal", "Found", f"found OCI job run {view.id} created before a restart"))
    else:
        # Every input is resolved first: a run waiting for a Secret has sent nothing, so it must not
        # look attempted (after 23 h that would fail it as RunNotFound).
        job_env = await resolve_env(rt.kube, namespace, job_spec.env)
        run_env = await resolve_env(rt.kube, namespace, spec.env)
        refusals = int(status.get("createRefusals") or 0)
        driver = driver_context(rt.settings, job_spec, known_code_file(job_spec, job_status))
        request_spec = spec
        if attempt > 1:  # a retry: its own display name and tag, so a lookup finds this attempt's run
            request_spec = spec.model_copy(
                update={
                    "display_name": display_name,
                    "freeform_tags": {**spec.freeform_tags, TAG_ATTEMPT: str(attempt)},
                }
            )
        request = model.RunRequest(
            request_spec,
            job_spec,
            ref,
            job_id,
            job_env,
            run_env,
            refusals=refusals,
            driver=driver,
            attempt=attempt,
        )
        if attempted_at is None:
            # Recorded right before the request: a crash right after CreateJobRun must never lead to
            # a second run, whatever happens to the first one meanwhile (plan_create).
            now = datetime.datetime.now(datetime.UTC)
            stamp = StatusPatch(TrainingJobRunStatus(create_attempted_at=now, attempt=attempt))
            priced, _ = await run_pricing.run_price(rt, spec, job_spec, job)
            if priced is not None:  # basis and worst case now; the amount when it ends
                stamp = stamp.with_fields(cost=created_cost(status, priced))
            empty_at = None if body.get("status") else meta.get("resourceVersion")
            if not await rt.run_status.write(namespace, meta["name"], meta["uid"], stamp, empty_at=empty_at):
                return Outcome()  # the TrainingJobRun is gone
            status = {**status, **stamp}
            rt.ledger.confirm(meta["uid"])  # counted as active until the index shows the stamp
        try:
            view = await rt.oci.create_job_run(request)
        except Exception as exc:
            refused = await _refused_create(rt, body, status, exc, job_id, spec.job_ref.name)
            if refused is None:
                raise
            return refused
        crash_after(rt.settings, "create_retry_run" if retrying else "create_job_run")
        rt.poller.expect_event(view.id)  # with OCI Events on, its create event must follow
        of_attempt = f" (attempt {attempt})" if attempt > 1 else ""
        events.append(("Normal", "Created", f"created OCI job run {view.id} of {job_id}{of_attempt}"))
    result = run_status(view, rt.region, status, generation, cond.now_rfc3339())
    result = result.with_fields(
        job_id=view.job_id or job_id,
        message=None,
        infrastructure_type=infrastructure_type(job_spec, spec.infrastructure).value,
        node_count=node_count(spec, job_spec),
        attempt=attempt,
    )
    if retrying:  # the retry is made: nothing waits any more
        result = result.with_fields(next_attempt_at=None)
    if view.job_id in (None, job_id) and job_id == job_status["jobId"]:
        result = result.with_fields(job_revision=job_status.get("revision"))
    outputs_uri = run_outputs_uri(job_spec, view.id)
    if outputs_uri is not None:  # where the driver will put them: known once the run id is
        result = result.with_fields(outputs=RunOutputs(uri=outputs_uri))
    if is_terminal(result.get("phase")):
        # Found already ended (it finished while the operator was down after creating it): the
        # attempt is recorded and retried as the poller does for a run it follows to its end.
        now = datetime.datetime.now(datetime.UTC)
        result = after_attempt(status, result, policy_of(body.get("spec")), now, generation)
        if (retry := retry_event(result)) is not None:
            events.append(retry)
        if is_terminal(result.get("phase")):
            result = _with_ended_cost(status, result)
    # Written before the poller follows the run, so the poller's later phases land after it.
    if not await rt.run_status.write(namespace, meta["name"], meta["uid"], result):
        return Outcome(events=events)  # the TrainingJobRun is gone
    if not is_terminal(result.get("phase")) and not result.get("nextAttemptAt"):
        track(rt, body, {**status, **result}, job_spec.compartment_id, job)
    return Outcome(events=events)


def _creating_attempt(status: Mapping[str, Any]) -> int:
    """The attempt a create is for: while a retry is pending, the one after the last ended attempt
    (stable across a crash and a refused create, which both leave nextAttemptAt in place)."""
    if not status.get("nextAttemptAt"):
        return attempt_number(status)
    ended = [int(item.get("attempt") or 0) for item in status.get("attempts") or []]
    return max(ended, default=attempt_number(status)) + 1


# How long a cancel keeps looking for the OCI run of a create that was asked but never recorded
# (a crash, a create that timed out) before taking its absence as proof none was made: OCI's lists
# may lag a create by a few seconds; this is well past that.
CANCEL_LOOKUP_GRACE = datetime.timedelta(minutes=5)


async def _cancel(
    rt: Runtime, body: Mapping[str, Any], status: dict[str, Any], job: Mapping[str, Any] | None
) -> Outcome:
    """spec.cancel on a run not finished yet: an active OCI run is canceled; one never created never
    will be; a pending retry is dropped. A run that exists is followed by the poller, which writes its
    terminal phase as for any run (404 proof, final metrics, logTail), never retrying it."""
    meta = body["metadata"]
    generation = meta.get("generation")
    now = datetime.datetime.now(datetime.UTC)
    run_id = status.get("jobRunId")
    attempted_at = parse_time(status.get("createAttemptedAt"))
    if not run_id and attempted_at is not None and _compartment(job) is not None:
        # Asked of OCI, not recorded (a crash, a create that timed out): its run must be stopped
        # too, and only a lookup that keeps finding nothing proves none was made.
        run_id = await _created_before_a_crash(rt, body, include_deleted=True)
        if run_id is None and now - attempted_at < CANCEL_LOOKUP_GRACE:
            message = (
                f"canceling: looking for the OCI job run asked of OCI at "
                f"{attempted_at.strftime('%Y-%m-%dT%H:%M:%SZ')} (OCI's lists may lag a create)"
            )
            return Outcome(
                StatusPatch(TrainingJobRunStatus(message=message)),
                requeue_after=rt.settings.poll_interval_seconds,
                requeue_reason=message,
            )
    if not run_id:
        message = _canceled_message(status, attempted_at, job)
        canceled = _with_ended_cost(status, canceled_status(status, message, generation, now))
        return Outcome(canceled, [("Normal", "Canceled", message)])
    run = await rt.oci.get_job_run(run_id) or await _listed_run(rt, body, run_id)
    compartment = (run.compartment_id if run else None) or await _known_compartment(rt, body, run_id) or ""
    active = run is not None and run.state in ACTIVE_RUN_STATES
    if run is not None and active and run.state is not RunState.CANCELING:
        # A 404 is raised unless a read proves the run ended or gone (an IAM denial of the cancel
        # must not pass for a canceled run).
        await rt.oci.cancel_job_run(run.id, compartment)
    # Ended or gone meanwhile too: the poller proves and writes how, as for any run.
    track(rt, body, {**status, "jobRunId": run_id}, compartment, job)
    if (
        status.get("cancelRequestedAt")
        and status.get("jobRunId") == run_id
        and not status.get("nextAttemptAt")
    ):
        return Outcome()
    if active:
        message = f"canceling OCI job run {run_id} (spec.cancel)"
    else:
        message = f"canceled (spec.cancel); OCI job run {run_id} already ended: recording how"
    fields: dict[str, Any] = {
        "message": message,
        "cancel_requested_at": now,
        "job_run_id": run_id,
        **_no_retry(status),
    }
    return Outcome(StatusPatch(TrainingJobRunStatus(**fields)), [("Normal", "Canceling", message)])


def _canceled_message(
    status: Mapping[str, Any], attempted_at: datetime.datetime | None, job: Mapping[str, Any] | None
) -> str:
    if status.get("nextAttemptAt") and attempted_at is None:
        ended = max((int(a.get("attempt") or 0) for a in status.get("attempts") or []), default=1)
        return f"canceled while waiting to retry (attempt {ended} failed); not retried"
    if attempted_at is None:
        return "canceled before it started: no OCI job run was created"
    asked = attempted_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if _compartment(job) is None:
        return (
            f"canceled; a create asked of OCI at {asked} left no record, and the TrainingJob is gone "
            "(its deletion stopped the runs of its OCI job)"
        )
    return f"canceled before it started: OCI lists no job run for the create asked at {asked}"


def _no_retry(status: Mapping[str, Any]) -> dict[str, Any]:
    """Fields that end a pending retry whose run was created but not yet recorded (a crash)."""
    return {"next_attempt_at": None} if status.get("nextAttemptAt") else {}


def gated_outcome(
    answer: GateAnswer, status: Mapping[str, Any], generation: int | None, requeue_after: float
) -> Outcome:
    """A run a gate held (Pending, looked at again) or refused (Failed, nothing sent to OCI)."""
    assert answer is not None
    if isinstance(answer, Hold):
        plan = RunPlan(RunAction.WAIT, answer.reason.value, answer.message)
        was = (status.get("conditions") or [{}])[0].get("reason")
        told = status.get("phase") == RunPhase.PENDING and was == plan.reason
        # Held as it was, with the same figures: nothing to write (a held run's look every poll
        # interval made a status write each time).
        seen = (status.get("message"), status.get("observedGeneration"))
        same = told and seen == (plan.message, generation)
        return Outcome(
            StatusPatch(None) if same else pending_status(plan, status, generation, cond.now_rfc3339()),
            [] if told else [("Normal", plan.reason, plan.message)],
            requeue_after=requeue_after,
            requeue_reason=plan.message,
        )
    refused = failed_status(answer.reason.value, answer.message, status, generation, cond.now_rfc3339())
    ended = retry_ended_fields(status, f"its retry was not made: {answer.message}")
    return Outcome(
        _with_ended_cost(status, refused.with_fields(**ended) if ended else refused),
        [("Warning", answer.reason.value, answer.message)],
    )


def _with_ended_cost(
    status: Mapping[str, Any], ended: StatusPatch[TrainingJobRunStatus]
) -> StatusPatch[TrainingJobRunStatus]:
    """`ended` with the run's cost: what its earlier attempts, billed by OCI, cost (a retry refused or
    lost ends the run without a poller write)."""
    cost = ended_cost(status, ended, datetime.datetime.now(datetime.UTC))
    return ended if cost is None else ended.with_fields(cost=cost)


def _lost(message: str, status: Mapping[str, Any], generation: int | None) -> Outcome:
    """Failed for good; a pending retry (its create lost, or its token spent) ends with it."""
    lost = lost_run_status(message, status, generation, cond.now_rfc3339())
    ended = retry_ended_fields(status, f"its retry was not made: {message}")
    return Outcome(
        _with_ended_cost(status, lost.with_fields(**ended) if ended else lost),
        [("Warning", LOST_RUN_REASON, message)],
    )


async def _refused_create(
    rt: Runtime,
    body: Mapping[str, Any],
    status: Mapping[str, Any],
    exc: Exception,
    job_id: str,
    job_name: str,
) -> Outcome | None:
    """The outcome of a CreateJobRun OCI answered with a refusal, or None to handle `exc` as any error."""
    meta = body["metadata"]
    generation = meta.get("generation")
    error = classify(exc, "create_job_run")
    if error.code == "InvalidatedRetryToken":
        # This object's token was spent on a create with another body: its run was made before
        # (and is gone, or the lookup would have found it). A second run is never made.
        return _lost(lost_run_message(parse_time(status.get("createAttemptedAt"))), status, generation)
    if error.status is None or not 400 <= error.status < 500 or error.status == 409:
        return None  # maybe created (a timeout, 5xx): the same token makes the repeat safe
    # A definite refusal created nothing, so the next attempt is a first attempt again, with a
    # token of its own: were the refused request's token spent, a corrected body sent with it would
    # get InvalidatedRetryToken and the run would be failed as RunNotFound.
    refusals = int(status.get("createRefusals") or 0) + 1
    cleared = StatusPatch(TrainingJobRunStatus(create_attempted_at=None, create_refusals=refusals))
    if not await rt.run_status.write(meta["namespace"], meta["name"], meta["uid"], cleared):
        return Outcome()
    if error.status != 404:
        return None
    # OCI answers 404 for anything the request names that it cannot find or we may not see: the
    # job, or e.g. the run's own log group. Only a job that is really gone is the TrainingJob's to
    # re-create; otherwise the refusal is this run's (a NotAuthorized, OCI's message, checked slowly).
    job = await rt.oci.get_job(job_id)
    if job is not None and job.lifecycle_state not in GONE_JOB_STATES:
        return None
    # The OCI job is gone (deleted in the console, a retirement racing this run) or not visible to
    # us: the TrainingJob re-creates it on its next resync, and this run starts on the new one.
    plan = RunPlan(
        RunAction.WAIT,
        "OCIJobNotFound",
        f"OCI job {job_id} of TrainingJob {job_name} was not found ({error.message}); "
        "waiting for the TrainingJob to re-create it",
    )
    events = []
    if (status.get("conditions") or [{}])[0].get("reason") != plan.reason:
        events.append(("Warning", plan.reason, plan.message))
    return Outcome(
        pending_status(plan, status, generation, cond.now_rfc3339()).with_fields(
            create_attempted_at=None, create_refusals=refusals
        ),
        events,
        requeue_after=rt.settings.poll_interval_seconds,
        requeue_reason=plan.message,
    )


def _compartment(job: Mapping[str, Any] | None) -> str | None:
    return ((job or {}).get("spec") or {}).get("compartmentId")


async def _find_existing(
    rt: Runtime,
    compartment_id: str,
    display_name: str,
    uid: str,
    include_deleted: bool = False,
    attempt: int = 1,
) -> RunView | None:
    """The OCI run this object already created (a crash before the status write), if any.

    Filtered by display name on the server, so the lookup is one small call however many runs
    the compartment holds; the uid tag then identifies ours. Lists leave DELETED runs out unless
    asked for by state, so `include_deleted` costs one more call.
    """
    runs = await rt.oci.list_job_runs(compartment_id, display_name=display_name)
    for run in runs:
        if (
            run.tags.get(model.TAG_UID) == uid
            and is_attempt(run.tags, attempt)
            and run.state is not RunState.DELETED
        ):
            return run
    if include_deleted:
        deleted = await rt.oci.list_job_runs(
            compartment_id, display_name=display_name, lifecycle_state=RunState.DELETED.value
        )
        for run in deleted:
            if run.tags.get(model.TAG_UID) == uid and is_attempt(run.tags, attempt):
                return run
    return None


async def _created_before_a_crash(
    rt: Runtime, body: Mapping[str, Any], include_deleted: bool = False
) -> str | None:
    """The OCI run of an object whose status never got its jobRunId (the operator died right after
    CreateJobRun): without this lookup a deletion would leave that run running, unseen, in OCI."""
    meta = body["metadata"]
    status = body.get("status") or {}
    if not status.get("createAttemptedAt"):
        # No create was ever attempted (the stamp is written before CreateJobRun): nothing to find,
        # and no OCI list for a run a gate held (a retry not asked of OCI yet neither: its earlier
        # attempts are in status.attempts).
        return None
    job_ref = ((body.get("spec") or {}).get("jobRef") or {}).get("name")
    job = await rt.kube.get_training_job(meta["namespace"], job_ref) if job_ref else None
    compartment = _compartment(job)
    if compartment is None:
        return None
    attempt = _creating_attempt(status)
    display_name = attempt_display_name(
        (body.get("spec") or {}).get("displayName")
        or object_ref(body, rt.settings.cluster_name).default_display_name,
        attempt,
    )
    existing = await _find_existing(
        rt, compartment, display_name, meta["uid"], include_deleted=include_deleted, attempt=attempt
    )
    return None if existing is None else str(existing.id)


async def _listed_run(rt: Runtime, body: Mapping[str, Any], run_id: str) -> RunView | None:
    """The run as its compartment's list shows it, after a GetJobRun 404: OCI answers 404 to reads
    IAM denies too, and a live run taken for gone would never be canceled."""
    compartment = await _known_compartment(rt, body, run_id)
    if compartment is None:
        return None
    listed = await rt.oci.list_job_runs(compartment, id=run_id)
    return next((run for run in listed if run.id == run_id), None)


async def _known_compartment(rt: Runtime, body: Mapping[str, Any], run_id: str) -> str | None:
    """The run's compartment as the poller tracks it, else as its TrainingJob's spec names it."""
    tracked = rt.poller.tracked().get(run_id)
    if tracked is not None and tracked.compartment_id:
        return str(tracked.compartment_id)
    job_ref = ((body.get("spec") or {}).get("jobRef") or {}).get("name")
    namespace = body["metadata"]["namespace"]
    return _compartment(await rt.kube.get_training_job(namespace, job_ref) if job_ref else None)


async def finalize(rt: Runtime, body: Mapping[str, Any]) -> Outcome:
    """Deletion: Delete cancels an active run, then deletes it in OCI; Retain leaves it running."""
    spec = body.get("spec") or {}
    status = dict(body.get("status") or {})
    retain = spec.get("deletionPolicy", "Delete") == "Retain"
    run_id = status.get("jobRunId")
    if not run_id and not retain and not run_adoption.adopted_run_id(body):
        run_id = await _created_before_a_crash(rt, body)
    # Every earlier attempt's OCI run (retries) follows the same policy as the current one's; they
    # ended, so they are handled once the current run is done with, not on each requeue of its cancel.
    earlier = [i for i in attempt_run_ids(status) if i != run_id]
    if not run_id:
        return Outcome(events=await _ended_attempts(rt, body, earlier, retain))
    run = await rt.oci.get_job_run(run_id) or await _listed_run(rt, body, run_id)
    if retain:
        await _mark_retained(rt, run)
        rt.poller.untrack(run_id)
        left = f"left OCI job run {run_id} in place (deletionPolicy Retain)"
        events = await _ended_attempts(rt, body, earlier, retain)
        return Outcome(events=[*events, ("Normal", "Retained", left)])
    if run is None or run.state is RunState.DELETED:  # e.g. deleted with its job
        rt.poller.untrack(run_id)
        events = await _ended_attempts(rt, body, earlier, retain)
        return Outcome(events=[*events, ("Normal", "Deleted", f"OCI job run {run_id} was already gone")])
    compartment = run.compartment_id or await _known_compartment(rt, body, run_id) or ""
    if run.state in ACTIVE_RUN_STATES:
        stopping = await _stop(rt, run, compartment, status)
        if stopping is not None:
            if stopping.requeue_after is None:  # let go, left in OCI: the object goes now
                stopping.events = [*await _ended_attempts(rt, body, earlier, retain), *stopping.events]
            return stopping
    rt.poller.untrack(run_id)
    # A 404 from DeleteJobRun counts as gone only once the run's compartment lists it so (IAM denies
    # with the same 404): else it is raised and the deletion stays blocked.
    await rt.oci.delete_job_run(run_id, compartment)
    events = await _ended_attempts(rt, body, earlier, retain)
    return Outcome(events=[*events, ("Normal", "Deleted", f"deleted OCI job run {run_id}")])


async def _ended_attempts(
    rt: Runtime, body: Mapping[str, Any], run_ids: list[str], retain: bool
) -> list[tuple[str, str, str]]:
    """Delete (or, with Retain, tag) the OCI runs of the attempts before the current one. They ended
    (only a failed run is retried), so there is nothing to cancel; one already gone is skipped, so a
    finalizer run again after a partial pass repeats nothing."""
    events: list[tuple[str, str, str]] = []
    for run_id in run_ids:
        run = await rt.oci.get_job_run(run_id) or await _listed_run(rt, body, run_id)
        if run is None or run.state is RunState.DELETED:
            continue
        if retain:
            if run.tags.get(TAG_RETAINED) != RETAINED:
                await _mark_retained(rt, run)
                left = f"left OCI job run {run_id} of an earlier attempt in place (deletionPolicy Retain)"
                events.append(("Normal", "Retained", left))
            continue
        compartment = run.compartment_id or await _known_compartment(rt, body, run_id) or ""
        # Same 404 rule as the current run's: gone only once the compartment's list agrees.
        if await rt.oci.delete_job_run(run_id, compartment):
            events.append(("Normal", "Deleted", f"deleted OCI job run {run_id} of an earlier attempt"))
    return events


async def _stop(rt: Runtime, run: RunView, compartment: str, status: Mapping[str, Any]) -> Outcome | None:
    """Cancel an active run and wait for it (bounded); None once there is nothing left to stop."""
    now = datetime.datetime.now(datetime.UTC)
    requested = parse_time(status.get("cancelRequestedAt"))
    limit = rt.settings.run_cancel_timeout_seconds
    if cancel_wait_over(requested, now, limit):
        rt.poller.untrack(run.id)
        left = (
            f"OCI job run {run.id} is still {run.lifecycle_state} {limit:g}s after it was asked to cancel "
            "(OCIDS_RUN_CANCEL_TIMEOUT_SECONDS); the TrainingJobRun is let go and the run is left "
            "in OCI (see it in the console)"
        )
        return Outcome(events=[("Warning", "RunLeftInOCI", left)])
    # The first cancel is sent whatever the state (a CANCELING run started by someone else too): the
    # bound counts from it. Later ones only while OCI could still take it.
    # A 404 is raised unless a read proves the run ended or gone: a denied cancel blocks the
    # deletion (NotAuthorized) instead of releasing a run that keeps running.
    resend = requested is None or run.state is not RunState.CANCELING
    if resend and not await rt.oci.cancel_job_run(run.id, compartment):
        return None
    message = f"canceling OCI job run {run.id} before deleting it"
    # Kept in status through the run's one writer, so the bound survives a restart.
    fields = {"message": message} if requested else {"message": message, "cancel_requested_at": now}
    return Outcome(
        StatusPatch(TrainingJobRunStatus(**fields)),
        requeue_after=rt.settings.poll_interval_seconds,
        requeue_reason=message,
    )


async def _mark_retained(rt: Runtime, run: RunView | None) -> None:
    """Tag a retained run before its object goes: the TrainingJob's deletion, which may come later,
    then knows to keep it (and the OCI job it lives in). A run gone or unreadable needs no tag."""
    if run is None or run.state is RunState.DELETED or run.tags.get(TAG_RETAINED) == RETAINED:
        return
    await rt.oci.tag_job_run(run.id, {**run.tags, TAG_RETAINED: RETAINED})
