"""The emulator held to the `oci` SDK's own contract (sdk_contract.py walks the SDK's models).

Every Data Science operation the emulator serves is called through the real SDK against a real
emulator process, and the raw JSON it answered is walked against the SDK's response model: no
field outside the model, every required field present, every enum value one the SDK lists.
The routes themselves must be the SDK's (same method and path), and an operation the emulator
adds without a call here fails the coverage check. The other way round, every request body the
operator builds (adapters/oci_mapping.py, for each kind of TrainingJob and run override) is walked
against the SDK's request model, and the emulator must accept it.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from typing import Any

import oci
import pytest
from emulator_support import make_job, run_details, wait_for, wait_run
from oci.data_science import models as M
from ocids_emulator.api import data_science
from ocids_emulator.testing import RunningEmulator, running_emulator
from ocids_operator.adapters import oci_mapping
from ocids_operator.api import TrainingJobRunSpec, TrainingJobSpec
from ocids_operator.core.model import JobRequest, JobUpdate, ObjectRef, RunRequest
from sdk_contract import DATA_SCIENCE, allowed_values, is_required, recording, response_type, wire_body

SCRIPT = b"print('contract')\n"
_PATH_PARAM = re.compile(r"\{[^}]+\}")


def emulator_operations() -> dict[str, tuple[str, str]]:
    """SDK method name -> (HTTP method, path) of every Data Science route the emulator serves."""
    return {r.handler.__name__: (r.method, r.path) for r in data_science.routes()}


@pytest.fixture(scope="module")
def contract_emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    with running_emulator(tmp_path_factory.mktemp("contract"), simulated="0.2:0") as running:
        yield running


class Walker:
    """Calls SDK operations, walking each raw JSON answer against the operation's response model."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.covered: set[str] = set()
        self.problems: list[str] = []

    def __call__(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        with recording(self.client) as recorder:
            response = getattr(self.client, operation)(*args, **kwargs)
        declared = response_type(self.client, operation)
        if declared not in (None, "stream"):
            body = json.loads(recorder.last_body())
            self.problems += [f"{operation}: {p}" for p in DATA_SCIENCE.walk(body, declared)]
        self.covered.add(operation)
        return response


def test_routes_are_the_sdks() -> None:
    """Each route is an SDK operation, under the SDK's HTTP method and path."""
    client_type = oci.data_science.DataScienceClient
    wrong = []
    for operation, (method, path) in emulator_operations().items():
        sdk = getattr(client_type, operation, None)
        if sdk is None:
            wrong.append(f"{operation}: not an SDK operation")
            continue
        text = inspect.getsource(sdk)
        sdk_path = re.search(r'resource_path = "([^"]+)"', text).group(1)
        sdk_method = re.search(r'method = "([^"]+)"', text).group(1)
        if (
            _PATH_PARAM.sub("{}", f"/20190101{sdk_path}") != _PATH_PARAM.sub("{}", path)
            or sdk_method != method
        ):
            wrong.append(f"{operation}: emulator {method} {path}, SDK {sdk_method} /20190101{sdk_path}")
    assert wrong == []


def test_every_response_body_is_within_the_sdk_contract(contract_emu: RunningEmulator) -> None:
    emu, ids = contract_emu, contract_emu.ids
    compartment = ids["COMPARTMENT_ID"]
    call = Walker(emu.datascience_client(retries=False))

    call("list_projects", compartment)
    call("get_project", ids["PROJECT_ID"])
    call("list_job_shapes", compartment)
    call("list_fast_launch_job_configs", compartment)
    call("list_compute_targets", compartment)
    call("get_compute_target", ids["COMPUTE_TARGET_ID"])

    # A standalone job with everything a single-node job can carry.
    details = _standalone_job(ids)
    job = call("create_job", details).data
    call("create_job_artifact", job.id, SCRIPT, content_disposition="attachment; filename=main.py")
    call("head_job_artifact", job.id)
    call("get_job_artifact_content", job.id)
    call("get_job", job.id)
    call("list_jobs", compartment_id=compartment)
    call(
        "update_job",
        job.id,
        M.UpdateJobDetails(display_name="contract-renamed", freeform_tags={"team": "b"}, defined_tags={}),
    )
    call(
        "change_job_compartment",
        job.id,
        M.ChangeJobCompartmentDetails(compartment_id=compartment),
    )

    # Other single-node variants, each read back.
    for variant in _job_variants(ids):
        created = call("create_job", variant).data
        call("get_job", created.id)

    # Runs: one that ends, one with every override, one canceled, one failed.
    run = call("create_job_run", run_details(ids, job.id, display_name="plain")).data
    wait_run(emu.datascience_client(retries=False), run.id)
    call("get_job_run", run.id)
    overridden = call("create_job_run", _run_with_overrides(ids, job.id)).data
    wait_run(emu.datascience_client(retries=False), overridden.id)
    call("get_job_run", overridden.id)
    call("list_job_runs", compartment_id=compartment)
    call("update_job_run", run.id, M.UpdateJobRunDetails(display_name="renamed", freeform_tags={"a": "b"}))
    call("change_job_run_compartment", run.id, M.ChangeJobRunCompartmentDetails(compartment_id=compartment))

    slow = make_job(
        emu.datascience_client(retries=False),
        ids,
        SCRIPT,
        display_name="slow",
        job_configuration_details=M.DefaultJobConfigurationDetails(
            environment_variables={"OCIDS_EMULATOR_SIMULATE": "30:0"}
        ),
    )
    canceled = call("create_job_run", run_details(ids, slow.id)).data
    call("cancel_job_run", canceled.id)
    call("get_job_run", canceled.id)
    failing = make_job(
        emu.datascience_client(retries=False),
        ids,
        SCRIPT,
        display_name="failing",
        job_configuration_details=M.DefaultJobConfigurationDetails(
            environment_variables={"OCIDS_EMULATOR_SIMULATE": "0.1:3"}
        ),
    )
    failed = call("create_job_run", run_details(ids, failing.id)).data
    wait_run(emu.datascience_client(retries=False), failed.id)
    call("get_job_run", failed.id)
    call("list_job_runs", compartment_id=compartment, job_id=failing.id)
    emu.admin.needs_attention(next_runs=1)
    attention = call("create_job_run", run_details(ids, failing.id)).data
    wait_for(
        lambda: call("get_job_run", attention.id).data.lifecycle_state == "NEEDS_ATTENTION",
        message="the run to need attention",
    )
    emu.admin.clear_needs_attention()
    call("delete_job_run", run.id)

    # Deletion and its work request.
    wait_run(emu.datascience_client(retries=False), canceled.id)
    deleted = call("delete_job", slow.id, delete_related_job_runs=True)
    work_request = deleted.headers["opc-work-request-id"]
    wait_for(
        lambda: call("get_work_request", work_request).data.status == "SUCCEEDED",
        message="the job deletion to finish",
    )
    call("list_work_requests", compartment, resource_id=slow.id)
    call("list_work_request_errors", work_request)
    call("list_work_request_logs", work_request)

    _schedule_calls(call, emu, ids, job.id)

    assert not call.problems, "\n".join(call.problems)
    assert call.covered == set(emulator_operations()), set(emulator_operations()) ^ call.covered


def _schedule_calls(call: Walker, emu: RunningEmulator, ids: dict[str, str], job_id: str) -> None:
    """A schedule through its lifecycle (CRON, INTERVAL and ICAL triggers), with one fire."""
    compartment = ids["COMPARTMENT_ID"]
    action = M.ScheduleHttpAction(
        action_details=M.CreateJobRunScheduleActionDetails(
            create_job_run_details=run_details(ids, job_id, freeform_tags={"ocids.io/schedule-uid": "u"})
        )
    )
    base = {"project_id": ids["PROJECT_ID"], "compartment_id": compartment, "action": action}
    log_id = emu.logging_client(retries=False).list_logs(ids["LOG_GROUP_ID"]).data[0].id
    schedule = call(
        "create_schedule",
        M.CreateScheduleDetails(
            **base,
            display_name="contract-cron",
            description="every minute",
            trigger=M.ScheduleCronTrigger(cron_expression="* * * * *"),
            log_details=M.ScheduleLogDetails(log_group_id=ids["LOG_GROUP_ID"], log_id=log_id),
            freeform_tags={"team": "a"},
        ),
    ).data
    for trigger in (
        M.ScheduleIntervalTrigger(frequency="HOURLY", interval=2),
        M.ScheduleICalTrigger(recurrence="FREQ=DAILY;BYHOUR=3"),
    ):
        other = call("create_schedule", M.CreateScheduleDetails(**base, trigger=trigger)).data
        call("get_schedule", other.id)
    fired = emu.admin.advance_schedules(60)["fired"]
    wait_run(emu.datascience_client(retries=False), fired[0])
    call("get_schedule", schedule.id)
    call("list_schedules", compartment, project_id=ids["PROJECT_ID"])
    call("update_schedule", schedule.id, M.UpdateScheduleDetails(display_name="renamed"))
    call("deactivate_schedule", schedule.id)
    call("list_schedules", compartment, lifecycle_state="INACTIVE")
    call("activate_schedule", schedule.id)
    call(
        "change_schedule_compartment",
        schedule.id,
        M.ChangeScheduleCompartmentDetails(compartment_id=compartment),
    )
    call("delete_schedule", schedule.id)
    call("get_schedule", schedule.id)


def _standalone_job(ids: dict[str, str]) -> M.CreateJobDetails:
    return M.CreateJobDetails(
        project_id=ids["PROJECT_ID"],
        compartment_id=ids["COMPARTMENT_ID"],
        display_name="contract-standalone",
        description="every single-node field",
        job_configuration_details=M.DefaultJobConfigurationDetails(
            environment_variables={"A": "1"},
            command_line_arguments="--x 1",
            maximum_runtime_in_minutes=30,
        ),
        job_infrastructure_configuration_details=M.StandaloneJobInfrastructureConfigurationDetails(
            shape_name="VM.Standard.E4.Flex",
            subnet_id=ids["SUBNET_ID"],
            block_storage_size_in_gbs=50,
            job_shape_config_details=M.JobShapeConfigDetails(ocpus=2.0, memory_in_gbs=32.0),
        ),
        job_log_configuration_details=M.JobLogConfigurationDetails(
            enable_logging=True, enable_auto_log_creation=True, log_group_id=ids["LOG_GROUP_ID"]
        ),
        job_storage_mount_configuration_details_list=[
            M.ObjectStorageMountConfigurationDetails(
                namespace=ids["OBJECT_STORAGE_NAMESPACE"],
                bucket=ids["OBJECT_STORAGE_BUCKET"],
                prefix="data/",
                destination_directory_name="data",
            )
        ],
        freeform_tags={"team": "a"},
        defined_tags={},
    )


def _job_variants(ids: dict[str, str]) -> list[M.CreateJobDetails]:
    """Managed egress (no subnet), a fixed shape, and a container job without an artifact."""
    base = {"project_id": ids["PROJECT_ID"], "compartment_id": ids["COMPARTMENT_ID"]}
    return [
        M.CreateJobDetails(
            **base,
            display_name="contract-managed-egress",
            job_configuration_details=M.DefaultJobConfigurationDetails(),
            job_infrastructure_configuration_details=M.ManagedEgressStandaloneJobInfrastructureConfigurationDetails(
                shape_name="VM.Standard2.1", block_storage_size_in_gbs=50
            ),
        ),
        M.CreateJobDetails(
            **base,
            display_name="contract-container",
            job_configuration_details=M.DefaultJobConfigurationDetails(environment_variables={"B": "2"}),
            job_infrastructure_configuration_details=M.ManagedEgressStandaloneJobInfrastructureConfigurationDetails(
                shape_name="VM.Standard.E4.Flex",
                block_storage_size_in_gbs=50,
                job_shape_config_details=M.JobShapeConfigDetails(ocpus=1.0, memory_in_gbs=16.0),
            ),
            job_environment_configuration_details=M.OcirContainerJobEnvironmentConfigurationDetails(
                image="iad.ocir.io/ns/repo:1.0",
                cmd=["python", "-c", "print(1)"],
                entrypoint=["/bin/sh", "-c"],
            ),
        ),
    ]


def _run_with_overrides(ids: dict[str, str], job_id: str) -> M.CreateJobRunDetails:
    return run_details(
        ids,
        job_id,
        display_name="overrides",
        job_configuration_override_details=M.DefaultJobConfigurationDetails(
            environment_variables={"RUN": "yes"},
            command_line_arguments="--y 2",
            maximum_runtime_in_minutes=10,
        ),
        job_infrastructure_configuration_override_details=M.StandaloneJobInfrastructureConfigurationDetails(
            shape_name="VM.Standard.E4.Flex",
            subnet_id=ids["SUBNET_ID"],
            block_storage_size_in_gbs=60,
            job_shape_config_details=M.JobShapeConfigDetails(ocpus=1.0, memory_in_gbs=16.0),
        ),
        job_log_configuration_override_details=M.JobLogConfigurationDetails(
            enable_logging=True, enable_auto_log_creation=True, log_group_id=ids["LOG_GROUP_ID"]
        ),
        freeform_tags={"run": "tag"},
    )


# The walker itself: it must catch each kind of breach, or the test above proves nothing. ---------
def test_walker_catches_every_kind_of_breach() -> None:
    body = {
        "id": "ocid1.x",
        "unknownField": 1,
        "lifecycleState": "SOMETIMES",
        "timeCreated": "yesterday",
        "jobInfrastructureConfigurationDetails": {"jobInfrastructureType": "STANDALONE", "shapeName": 3},
        "jobConfigurationDetails": {"jobType": "DEFAULT", "environmentVariables": {"A": 1}},
    }
    problems = "\n".join(DATA_SCIENCE.walk(body, "Job"))
    assert "$.unknownField: not a field of Job" in problems
    assert "$.lifecycleState: 'SOMETIMES' is not one of Job.lifecycleState's values" in problems
    assert "$.timeCreated: 'yesterday' is not a datetime" in problems
    assert "$.createdBy: required by Job but missing" in problems
    # The subtype's own fields and requirements, reached through get_subtype:
    assert "$.jobInfrastructureConfigurationDetails.shapeName: 3 is not a str" in problems
    assert "$.jobInfrastructureConfigurationDetails.subnetId: required by Standalone" in problems
    assert "$.jobConfigurationDetails.environmentVariables.A: 1 is not a str" in problems
    assert DATA_SCIENCE.walk({"jobInfrastructureType": "NOPE"}, "JobInfrastructureConfigurationDetails") == [
        "$.jobInfrastructureType: 'NOPE' is not one of "
        "JobInfrastructureConfigurationDetails.jobInfrastructureType's values "
        f"{allowed_values(M.JobInfrastructureConfigurationDetails, 'job_infrastructure_type')}"
    ]
    assert DATA_SCIENCE.walk({}, "JobInfrastructureConfigurationDetails") == [
        "$: JobInfrastructureConfigurationDetails needs its discriminator 'jobInfrastructureType'"
    ]
    assert is_required(M.Job, "id") and not is_required(M.Job, "description")
    list_enum = DATA_SCIENCE.walk({"targetWorkloads": ["JOB_RUN", "TOASTER"]}, "ContainerSummary")
    assert any("'TOASTER'" in p or "TOASTER" in p for p in list_enum), list_enum


# The operator's requests: each body it builds is walked against the SDK's request model, sent to the
# emulator through the SDK, and the emulator's answers walked in turn. ------------------------------
REF = ObjectRef("ml", "contract", "uid-contract", "test")
INLINE = {"inline": {"fileName": "main.py", "content": "print('contract')\n"}}


def operator_job_specs(ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """TrainingJob specs covering every shape of request the operator sends (as users write them)."""
    base = {
        "compartmentId": ids["COMPARTMENT_ID"],
        "projectId": ids["PROJECT_ID"],
        "logging": {"enabled": True, "logGroupId": ids["LOG_GROUP_ID"], "autoCreateLog": True},
        "freeformTags": {"team": "a"},
    }
    flex = {"shape": "VM.Standard.E4.Flex", "ocpus": 2, "memoryInGBs": 32}
    container = {"image": "iad.ocir.io/ns/repo:1.0", "command": ["python"], "args": ["-c", "print(1)"]}
    return {
        "custom-network": {
            **base,
            "artifact": INLINE,
            "infrastructure": {**flex, "subnetId": ids["SUBNET_ID"], "cpuBaseline": "BASELINE_1_2"},
            "env": [{"name": "A", "value": "1"}],
            "args": ["--x", "1"],
            "maximumRuntimeInMinutes": 30,
            "startupProbe": {"command": ["true"], "periodInSeconds": 5, "failureThreshold": 3},
            "storageMounts": [
                {
                    "storageType": "OBJECT_STORAGE",
                    "namespace": ids["OBJECT_STORAGE_NAMESPACE"],
                    "bucket": ids["OBJECT_STORAGE_BUCKET"],
                    "prefix": "data/",
                    "destinationDirectoryName": "data",
                }
            ],
        },
        "managed-egress-fixed-shape": {
            **base,
            "artifact": INLINE,
            "infrastructure": {"shape": "VM.Standard2.1"},
        },
        "container-without-artifact": {**base, "infrastructure": flex, "container": container},
        "empty-job-type": {**base, "infrastructure": flex, "container": container, "jobType": "EMPTY"},
        "compute-target": {
            **base,
            "artifact": INLINE,
            "infrastructure": {
                "computeTargetId": ids["COMPUTE_TARGET_ID"],
                "resources": {
                    "requests": {"ocpus": 1, "memoryInGBs": 8},
                    "limits": {"ocpus": 2, "memoryInGBs": 16},
                },
            },
        },
        "multi-node": {
            **base,
            "artifact": INLINE,
            "infrastructure": {**flex, "subnetId": ids["SUBNET_ID"]},
            "maximumRuntimeInMinutes": 20,
            "nodes": {
                "startupOrder": "IN_ORDER",
                "groups": [
                    {"name": "main", "replicas": 1},
                    {
                        "name": "workers",
                        "replicas": 2,
                        "minimumSuccessReplicas": 1,
                        "infrastructure": {"shape": "VM.Standard.E4.Flex", "ocpus": 1, "memoryInGBs": 16},
                        "env": [{"name": "ROLE", "value": "worker"}],
                        "args": ["--worker"],
                    },
                ],
            },
        },
    }


def operator_run_specs(job: str) -> list[dict[str, Any]]:
    """TrainingJobRun specs for a job of operator_job_specs: overrides where that job allows them."""
    runs: list[dict[str, Any]] = [{"jobRef": {"name": job}}]
    if job == "custom-network":
        runs.append(
            {
                "jobRef": {"name": job},
                "env": [{"name": "RUN", "value": "yes"}],
                "args": ["--y"],
                "maximumRuntimeInMinutes": 10,
                "infrastructure": {"shape": "VM.Standard.E4.Flex", "ocpus": 1, "memoryInGBs": 16},
                "storageMounts": [],
                "freeformTags": {"run": "tag"},
            }
        )
    if job == "container-without-artifact":
        runs.append({"jobRef": {"name": job}, "container": {"args": ["-c", "print(2)"]}})
    if job == "multi-node":
        runs.append(
            {
                "jobRef": {"name": job},
                "nodeGroups": [{"name": "workers", "replicas": 3, "env": [{"name": "EXTRA", "value": "1"}]}],
            }
        )
    return runs


def _walk_request(model: Any, type_name: str) -> list[str]:
    return [f"{type_name}: {p}" for p in DATA_SCIENCE.walk(wire_body(model), type_name)]


def test_every_request_the_operator_builds_is_within_the_sdk_contract(contract_emu: RunningEmulator) -> None:
    emu, ids = contract_emu, contract_emu.ids
    client = emu.datascience_client(retries=False)
    call = Walker(client)
    problems: list[str] = []
    for name, raw in operator_job_specs(ids).items():
        spec = TrainingJobSpec.model_validate({**raw, "displayName": f"contract-{name}"})
        env = {v.name: v.value for v in spec.env if v.value is not None}
        create = oci_mapping.create_job_details(JobRequest(spec, REF, env, 1, "hash"))
        update = oci_mapping.update_job_details(JobUpdate(spec, REF, 1, "hash"))
        problems += [f"{name}: {p}" for p in _walk_request(create, "CreateJobDetails")]
        problems += [f"{name}: {p}" for p in _walk_request(update, "UpdateJobDetails")]
        job = call("create_job", create).data
        if spec.artifact is not None:
            client.create_job_artifact(job.id, SCRIPT, content_disposition="attachment; filename=main.py")
        call("update_job", job.id, update)
        call("get_job", job.id)
        for raw_run in operator_run_specs(name):
            run_spec = TrainingJobRunSpec.model_validate(raw_run)
            run_env = {v.name: v.value for v in run_spec.env if v.value is not None}
            details = oci_mapping.create_job_run_details(
                RunRequest(run_spec, spec, REF, job.id, env, run_env)
            )
            problems += [f"{name} run: {p}" for p in _walk_request(details, "CreateJobRunDetails")]
            run = call("create_job_run", details).data
            wait_run(client, run.id)
            call("get_job_run", run.id)
    # The lists hold every variant now.
    call("list_jobs", compartment_id=ids["COMPARTMENT_ID"])
    call("list_job_runs", compartment_id=ids["COMPARTMENT_ID"])
    assert not problems, "\n".join(problems)
    assert not call.problems, "\n".join(call.problems)
