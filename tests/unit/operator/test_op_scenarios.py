"""One runner for the scenario tables in scenarios/*.yaml (read those: they are the behaviour).

Each file names a `kind`; each scenario is desired state + OCI's answer -> expected plan,
request body or status. No cluster, no emulator, no kopf: the pure core directly, and the job
workflow against an in-memory OCI behind the `DataScience` Protocol (fake_oci.py).
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import pathlib
from typing import Any

import oci
import pytest
import yaml
from fake_oci import FakeDataScience
from oci.data_science import models as ds
from oci_wire import to_wire
from ocids_operator.adapters import oci_errors
from ocids_operator.adapters import oci_mapping as rq
from ocids_operator.api import TrainingJobRunSpec, TrainingJobSpec
from ocids_operator.core import errors, run_status, status
from ocids_operator.core import model as core
from ocids_operator.core import run_plan as reconcile_run
from ocids_operator.core.job_plan import DesiredJob, JobAction, JobRecord, plan_job
from ocids_operator.core.shape_choice import FastLaunchConfig
from ocids_operator.runtime import Runtime
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows import training_job

SCENARIOS = pathlib.Path(__file__).parent / "scenarios"
REF = core.ObjectRef("ml", "attrition", "uid-1", "test")
REGION = "us-ashburn-1"
JOB_ID = "ocid1.datasciencejob.oc1..current"


def load() -> list[Any]:
    params = []
    for path in sorted(SCENARIOS.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for scenario in doc["scenarios"]:
            params.append(pytest.param(doc, scenario, id=f"{path.stem}: {scenario['name']}"))
    return params


def merge(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386): dicts merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict) or not isinstance(base, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def assert_subset(expected: Any, actual: Any, path: str = "") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{path}.{key} missing from {sorted(actual)}"
            assert_subset(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual!r}"
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            assert_subset(want, got, f"{path}[{index}]")
    else:
        assert actual == expected, f"{path}: expected {expected!r}, got {actual!r}"


def user_env(spec: TrainingJobSpec, secret_values: dict[str, str]) -> dict[str, str]:
    """Env as the operator resolves it: literal values, plus the scenario's Secret values."""
    env = {var.name: var.value for var in spec.env if var.value is not None}
    env.update({var.name: secret_values[var.name] for var in spec.env if var.value_from is not None})
    return env


def artifact_digest(spec: TrainingJobSpec) -> str:
    assert spec.artifact.inline is not None
    return core.ResolvedArtifact("inline", "x", spec.artifact.inline.content.encode()).digest


def oci_job(spec: TrainingJobSpec, env: dict[str, str], revision: int, tags: dict[str, str] | None) -> ds.Job:
    """The OCI job as OCI would report it after being created from `spec`."""
    template_hash = core.template_hash(core.desired_template(spec, env), artifact_digest(spec))
    details = rq.create_job_details(core.JobRequest(spec, REF, env, revision, template_hash))
    job = ds.Job(id=JOB_ID, lifecycle_state="ACTIVE")
    for attr in details.attribute_map:
        setattr(job, attr, getattr(details, attr))
    if tags is not None:
        job.freeform_tags = tags
    return job


# TrainingJob plans -------------------------------------------------------------------------------
def run_job_plan(doc: dict[str, Any], scenario: dict[str, Any]) -> None:
    base = doc["base"]
    desired_spec = TrainingJobSpec.model_validate(merge(base["spec"], scenario.get("spec") or {}))
    desired_env = user_env(desired_spec, {**base["env"], **(scenario.get("env") or {})})
    desired = DesiredJob(
        desired_spec, REF, core.desired_template(desired_spec, desired_env), artifact_digest(desired_spec)
    )
    st = scenario.get("status", {"jobId": JOB_ID, "revision": 1})
    state = JobRecord(st.get("jobId"), int(st.get("revision") or 0))

    side = scenario.get("oci") or {}
    observed = None
    if not side.get("missing") and (state.job_id or side.get("adopted")):
        observed_spec = TrainingJobSpec.model_validate(merge(base["spec"], side.get("spec") or {}))
        job = oci_job(
            observed_spec,
            user_env(observed_spec, base["env"]),
            1,
            side.get("tags", {}) if side.get("adopted") else None,
        )
        job.lifecycle_state = side.get("lifecycleState", "ACTIVE")
        content = side.get("artifact")
        digest = (
            core.ResolvedArtifact("x", "x", content.encode()).digest
            if content
            else artifact_digest(observed_spec)
        )
        observed = rq.observe_job(job, digest if side.get("adopted") else None)

    plan = plan_job(desired, state, observed)
    want = scenario["expect"]
    assert plan.action == JobAction(want["action"]), plan
    if "revision" in want:
        assert plan.revision == want["revision"]
    if "changes" in want:
        assert list(plan.changes) == want["changes"]
    if "reason" in want:
        assert plan.reason == want["reason"]
    if "retire" in want:
        assert (plan.retire_job_id is not None) == want["retire"]
    if "message_contains" in want:
        assert want["message_contains"] in plan.message
    if "request" in want:
        if plan.action is JobAction.UPDATE:
            request = rq.update_job_details(
                core.JobUpdate(desired_spec, REF, plan.revision, desired.template_hash)
            )
        else:
            request = rq.create_job_details(
                core.JobRequest(desired_spec, REF, desired_env, plan.revision, desired.template_hash)
            )
        assert_subset(want["request"], to_wire(request))
    for secret in want.get("secret_values_hidden", []):
        artifact = core.ResolvedArtifact("inline", "train.py", b"x")
        written = status.job_status(
            spec=desired_spec,
            job_id=JOB_ID,
            revision=plan.revision,
            retired_job_ids=[],
            artifact=artifact,
            region=REGION,
            active=True,
            reason=plan.reason,
            previous=None,
            generation=2,
            now="2026-01-01T00:00:00Z",
        )
        visible = repr(
            (
                plan,
                written,
                to_wire(rq.update_job_details(core.JobUpdate(desired_spec, REF, 2, desired.template_hash))),
            )
        )
        assert secret not in visible
        # Nor anything derived from it: with every other input on the object, a hash of the template
        # in status would let a reader confirm guesses of the secret offline.
        assert desired.template_hash not in repr(written)


# TrainingJobRun status --------------------------------------------------------------------------
def parse_time(value: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def run_run_status(doc: dict[str, Any], scenario: dict[str, Any]) -> None:
    side = scenario["oci"]
    logs = side.get("logDetails") or {}
    run = ds.JobRun(
        id="ocid1.datasciencejobrun.oc1..run",
        job_id=JOB_ID,
        compartment_id="ocid1.compartment.oc1..comp",
        lifecycle_details=side.get("lifecycleDetails"),
        time_accepted=parse_time("2026-01-01T09:59:00Z"),
        time_started=parse_time(side.get("timeStarted")),
        time_finished=parse_time(side.get("timeFinished")),
        log_details=ds.JobRunLogDetails(log_group_id=logs.get("logGroupId"), log_id=logs.get("logId"))
        if logs
        else None,
    )
    # Bypass the SDK's enum check so an unknown state arrives as the SDK would deliver it.
    run._lifecycle_state = side["lifecycleState"]
    result = run_status.run_status(
        rq.run_view(run), REGION, scenario.get("previous"), 1, "2026-01-01T10:10:00Z"
    )
    want = dict(scenario["expect"])
    conditions = want.pop("conditions", {})
    reason = want.pop("conditionReason", None)
    message = want.pop("conditionMessage", None)
    by_type = {c["type"]: c for c in result["conditions"]}
    for type_, value in conditions.items():
        assert by_type[type_]["status"] == value, (type_, by_type[type_])
        assert by_type[type_]["observedGeneration"] == 1
        if message is not None:
            assert by_type[type_]["message"] == message, (type_, by_type[type_])
    if reason:
        assert by_type["Ready"]["reason"] == reason
    for key, value in want.items():
        if value is None:
            assert key not in result, (key, result.get(key))
        else:
            assert_subset(value, result.get(key), key)


def run_run_plan(doc: dict[str, Any], scenario: dict[str, Any]) -> None:
    plan = reconcile_run.plan_run(scenario.get("status"), scenario.get("job"), "attrition")
    assert plan.action == reconcile_run.RunAction(scenario["expect"]["action"]), plan
    if "reason" in scenario["expect"]:
        assert plan.reason == scenario["expect"]["reason"]


def run_run_create(doc: dict[str, Any], scenario: dict[str, Any]) -> None:
    found = scenario.get("found")
    view = reconcile_run.RunView("ocid1.datasciencejobrun.oc1..r", JOB_ID, None, found) if found else None
    attempted = parse_time(scenario.get("attempted"))
    plan = reconcile_run.plan_create(attempted, view, datetime.datetime(2026, 1, 2, 10, tzinfo=datetime.UTC))
    assert plan.action == reconcile_run.CreateAction(scenario["expect"]["action"]), plan
    assert scenario["expect"].get("message_contains", "") in plan.message


def run_run_request(doc: dict[str, Any], scenario: dict[str, Any]) -> None:
    job = TrainingJobSpec.model_validate(doc["job"])
    run = TrainingJobRunSpec.model_validate(scenario["run"])
    ref = core.ObjectRef("ml", "attrition-lr", "uid-1", "test")
    job_env = user_env(job, {})
    run_env = {var.name: var.value or "" for var in run.env}
    wire = to_wire(
        rq.create_job_run_details(
            core.RunRequest(run, job, ref, "ocid1.datasciencejob.oc1..j", job_env, run_env)
        )
    )
    assert_subset(scenario["expect"]["request"], wire)
    for key in scenario["expect"].get("absent", []):
        assert key not in wire, wire[key]


# Errors -----------------------------------------------------------------------------------------
def run_errors(doc: dict[str, Any], scenario: dict[str, Any]) -> None:
    exception: BaseException
    match scenario.get("exception"):
        case "timeout":
            exception = oci.exceptions.RequestException("read timed out")
        case "connection":
            exception = ConnectionRefusedError("connection refused")
        case "config":
            exception = oci.exceptions.ConfigFileNotFound("no such file")
        case _:
            exception = oci.exceptions.ServiceError(
                scenario["status"], scenario["code"], {}, "the message from OCI", operation_name="create_job"
            )
    outcome = oci_errors.classify(exception, "create_job")
    want = scenario["expect"]
    assert outcome.kind == errors.OutcomeKind(want["kind"]), outcome
    if "reason" in want:
        assert outcome.reason == want["reason"]
    if "message_contains" in want:
        assert want["message_contains"] in outcome.message
    if scenario.get("status"):
        assert "the message from OCI" in outcome.message  # OCI's own words reach the condition


# TrainingJob reconcile against an in-memory OCI --------------------------------------------------
class SecretKube:
    """The one Secret the base spec reads (wandb/token)."""

    def __init__(self, value: str) -> None:
        self.value = value

    async def read_secret_key(self, namespace: str, name: str, key: str, optional: bool = False) -> str:
        assert (name, key) == ("wandb", "token")
        return self.value


class FixedNamespaces:
    """The namespace's annotations, as an admin set them."""

    def __init__(self, annotations: dict[str, str]) -> None:
        self.values = annotations

    async def annotations(self, namespace: str) -> dict[str, str]:
        assert namespace == REF.namespace
        return dict(self.values)


def run_job_workflow(doc: dict[str, Any], scenario: dict[str, Any]) -> None:
    base = doc["base"]
    oci = FakeDataScience()
    for job in (scenario.get("oci") or {}).get("jobs", []):
        spec = TrainingJobSpec.model_validate(merge(base["spec"], job.get("spec") or {}))
        env = user_env(spec, {"WANDB_KEY": base["secret"]})
        digest = artifact_digest(spec)
        revision = job.get("revision", 1)
        request = core.JobRequest(
            spec, REF, env, revision, core.template_hash(core.desired_template(spec, env), digest)
        )
        artifact = job.get("artifact", True)
        content = artifact.encode() if isinstance(artifact, str) else spec.artifact.inline.content.encode()  # type: ignore[union-attr]
        oci.add_job(
            request,
            job["id"],
            job.get("lifecycleState", "ACTIVE"),
            artifact=content if artifact else None,
            tags=job.get("tags", {}) if job.get("untagged") else None,
        )
        oci.jobs[job["id"]].run_states = job.get("runs", [])
    # Tenancy isolation: the namespace's annotations, and where referenced resources live in OCI.
    tenancy = scenario.get("tenancy")
    oci.compartments = dict((tenancy or {}).get("compartments") or {})
    # The compartment's ListJobShapes / ListFastLaunchJobConfigs (workflows/shape_gate.py).
    catalog = scenario.get("oci") or {}
    oci.job_shapes = list(catalog.get("jobShapes", oci.job_shapes))
    oci.fast_launch_configs = [FastLaunchConfig(**c) for c in catalog.get("fastLaunchConfigs", [])]
    body = {
        "metadata": {"namespace": REF.namespace, "name": REF.name, "uid": REF.uid, "generation": 2},
        "spec": merge(base["spec"], scenario.get("spec") or {}),
        "status": scenario.get("status", {"jobId": "ocid1.datasciencejob.oc1..j1", "revision": 1}),
    }
    secret = scenario.get("secret", base["secret"])
    settings = OperatorSettings(
        cluster_name=REF.cluster,
        compartment_policy=(tenancy or {}).get("policy", "annotated" if tenancy else "open"),
    )
    rt = Runtime(settings, oci, SecretKube(secret), None)  # type: ignore[arg-type]
    if tenancy is not None:
        rt.namespaces = FixedNamespaces(tenancy.get("annotations") or {})  # type: ignore[assignment]
    want = scenario["expect"]
    try:
        outcome = asyncio.run(training_job.reconcile(rt, body))
    except errors.ReconcileError as exc:
        assert exc.outcome.reason == want["error"], exc.outcome
        assert oci.calls == want["calls"]
        assert_catalog_calls(oci, want)
        for part in want.get("message_contains", []):
            assert part in exc.outcome.message, exc.outcome.message
        return
    assert "error" not in want, outcome
    assert oci.calls == want["calls"]
    assert_catalog_calls(oci, want)
    for operation, request in (want.get("requests") or {}).items():
        assert_subset(request, oci.requests[operation][0], operation)
    status = dict(outcome.status)
    assert_subset(want.get("status") or {}, status, "status")
    for absent in want.get("no_status", []):
        assert absent not in status, status
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    for expected, actual in zip(want.get("ready") or [], (ready["reason"], ready["message"]), strict=False):
        assert actual == expected, ready
    assert [reason for _, reason, _ in outcome.events] == want["events"]
    assert (outcome.requeue_after is not None) == want.get("requeue", False)
    for secret_value in want.get("hidden", []):
        assert secret_value not in repr((status, outcome.events))


def assert_catalog_calls(oci: FakeDataScience, want: dict[str, Any]) -> None:
    """`catalogCalls`: the shape catalog reads, `fresh` ones marked `!` (a cached miss read again)."""
    if "catalogCalls" in want:
        assert [name + ("!" if fresh else "") for name, _, fresh in oci.catalog_calls] == want["catalogCalls"]


RUNNERS = {
    "job_plan": run_job_plan,
    "run_status": run_run_status,
    "run_plan": run_run_plan,
    "run_create": run_run_create,
    "run_request": run_run_request,
    "errors": run_errors,
    "job_workflow": run_job_workflow,
}


@pytest.mark.parametrize(("doc", "scenario"), load())
def test_scenario(doc: dict[str, Any], scenario: dict[str, Any]) -> None:
    RUNNERS[doc["kind"]](doc, scenario)
