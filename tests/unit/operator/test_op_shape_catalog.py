"""Shapes as the compartment offers them: the closest names, fast launch's pick, the gateway's cache,
and the shape and override gates on the run path (the job path is in scenarios/job_shapes.yaml)."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import types
from typing import Any

import pytest
from fake_oci import FakeDataScience
from ocids_operator.adapters.oci_client import OciGateway
from ocids_operator.api import TrainingJobRunSpec, TrainingJobSpec
from ocids_operator.core import errors
from ocids_operator.core.kinds import TRAINING_JOB_RUN_KIND
from ocids_operator.core.model import RunRequest
from ocids_operator.core.run_overrides import node_count, override_problem
from ocids_operator.core.run_plan import RunView
from ocids_operator.core.shape_choice import (
    FastLaunchConfig,
    choose_fast_launch,
    closest,
    no_fast_launch_message,
)
from ocids_operator.core.status import error_status
from ocids_operator.runtime import Runtime
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows import training_job as job_workflow
from ocids_operator.workflows import training_job_run as run_workflow
from test_op_run_workflow import RUN, TRAINING_JOB, Kube, Oci, reconcile_once, runtime
from test_op_scenarios import SecretKube

COMPARTMENT = TRAINING_JOB["spec"]["compartmentId"]


# Closest names and fast launch's pick (pure) -------------------------------------------------------
def test_the_closest_offered_names_come_best_first() -> None:
    offered = ["VM.Standard.E4.Flex", "VM.Standard.E5.Flex", "VM.GPU.A10.1", "BM.GPU.H100.8"]
    assert closest("VM.Standard.E4a.Flex", offered)[0] == "VM.Standard.E4.Flex"
    assert closest("BM.GPU.H100.9", offered)[0] == "BM.GPU.H100.8"
    # At most three, and only names alike enough to be what was meant.
    assert closest("VM.Standard.E4a.Flex", offered) == ["VM.Standard.E4.Flex", "VM.Standard.E5.Flex"]
    # However unlike, something offered is always named; nothing offered names nothing.
    assert closest("zzz", offered)
    assert closest("VM.Standard.E4.Flex", []) == []


def config(name: str, shape: str, cores: int, egress: str) -> FastLaunchConfig:
    return FastLaunchConfig(name, shape, cores, cores * 8, egress)


CONFIGS = [
    config("gpu", "VM.GPU.A10.1", 15, "SUPPORTED"),
    config("e4-big", "VM.Standard.E4.Flex", 8, "REQUIRED"),
    config("e4-small", "VM.Standard.E4.Flex", 2, "SUPPORTED"),
    config("e4-vnic", "VM.Standard.E4.Flex", 1, "UNSUPPORTED"),
]


@pytest.mark.parametrize(
    ("shape", "managed_egress", "chosen"),
    [
        (None, True, "e4-small"),  # the smallest that supports managed egress
        (None, False, "e4-vnic"),  # a subnet: SUPPORTED or UNSUPPORTED, never REQUIRED
        ("VM.GPU.A10.1", True, "gpu"),
        ("VM.GPU.A10.1", False, "gpu"),
        ("VM.Standard.E4.Flex", True, "e4-small"),
        ("BM.GPU4.8", True, None),  # no config of that shape
    ],
)
def test_fast_launch_takes_the_smallest_config_that_fits_the_shape_and_network(
    shape: str | None, managed_egress: bool, chosen: str | None
) -> None:
    pick = choose_fast_launch(CONFIGS, shape, managed_egress)
    assert (pick.name if pick else None) == chosen
    assert choose_fast_launch(list(reversed(CONFIGS)), shape, managed_egress) == pick  # order-free


# The gateway's cache: one list per (identity, compartment) per OCIDS_SHAPE_CACHE_SECONDS ---------------
class ShapesClient:
    """ListJobShapes in two pages, counting the requests."""

    def __init__(self) -> None:
        self.shapes = ["VM.Standard.E4.Flex", "VM.Standard2.1", "VM.GPU.A10.1"]
        self.requests: list[tuple[str, str | None]] = []

    def list_job_shapes(self, compartment_id: str, limit: int, page: str | None = None) -> Any:
        self.requests.append((compartment_id, page))
        items = [types.SimpleNamespace(name=n) for n in self.shapes]
        if page is None:
            return types.SimpleNamespace(data=items[:2], next_page="p2")
        return types.SimpleNamespace(data=items[2:], next_page=None)


def test_the_shape_catalog_is_read_whole_once_per_compartment_and_again_only_on_a_stale_miss() -> None:
    client, now = ShapesClient(), [0.0]
    gateway = OciGateway(OperatorSettings(shape_cache_seconds=600), client=client)  # type: ignore[arg-type]
    gateway.clock = lambda: now[0]

    async def scenario() -> None:
        assert await gateway.list_job_shapes("c1") == client.shapes  # both pages
        assert len(client.requests) == 2
        await asyncio.gather(*(gateway.list_job_shapes("c1") for _ in range(20)))
        assert len(client.requests) == 2  # cached
        await gateway.list_job_shapes("c1", fresh=True)
        assert len(client.requests) == 2  # a miss right after a read: that read answers
        now[0] = 30.0
        client.shapes.append("BM.GPU.H100.8")  # the tenancy gains a shape
        assert "BM.GPU.H100.8" in await gateway.list_job_shapes("c1", fresh=True)
        assert len(client.requests) == 4
        await gateway.list_job_shapes("c2")  # another compartment has its own catalog
        assert len(client.requests) == 6
        now[0] = 700.0  # the cache expires
        await gateway.list_job_shapes("c1")
        assert len(client.requests) == 8

    asyncio.run(scenario())
    assert gateway.calls["list_job_shapes"] == 8


# The run path: overrides checked before CreateJobRun -----------------------------------------------
class ShapeOci(Oci):
    def __init__(self, shapes: list[str]) -> None:
        super().__init__()
        self.shapes = shapes
        self.shape_reads: list[bool] = []

    async def list_job_shapes(self, compartment_id: str, fresh: bool = False) -> list[str]:
        assert compartment_id == COMPARTMENT
        self.shape_reads.append(fresh)
        return list(self.shapes)


class JobKube(Kube):
    def __init__(self, job: dict[str, Any]) -> None:
        super().__init__()
        self.job = job

    async def get_training_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.job)


def run_with(spec: dict[str, Any]) -> dict[str, Any]:
    run = copy.deepcopy(RUN)
    run["spec"].update(spec)
    return run


def job_with(spec: dict[str, Any]) -> dict[str, Any]:
    job = copy.deepcopy(TRAINING_JOB)
    job["spec"].update(spec)
    return job


MULTI_NODE = {"nodes": {"groups": [{"name": "workers", "replicas": 3}]}}


def refused(oci: ShapeOci, kube: Kube, run: dict[str, Any]) -> errors.ErrorOutcome:
    with pytest.raises(errors.ReconcileError) as caught:
        reconcile_once(oci, kube, run)
    assert oci.creates == 0 and oci.run is None  # no CreateJobRun
    assert "createAttemptedAt" not in kube.status  # nor an attempt recorded: nothing was tried
    return caught.value.outcome


@pytest.mark.parametrize(
    ("job", "run", "field"),
    [
        ({}, {"infrastructure": {"shape": "VM.Standard.E9.Flex", "ocpus": 2, "memoryInGBs": 16}},
         "spec.infrastructure.shape"),
        (MULTI_NODE, {"nodeGroups": [{"name": "workers", "infrastructure": {"shape": "BM.GPU.Z9.8"}}]},
         "spec.nodeGroups[workers].infrastructure.shape"),
    ],
)  # fmt: skip
def test_a_run_override_with_a_shape_not_offered_is_refused_before_create_job_run(
    job: dict[str, Any], run: dict[str, Any], field: str
) -> None:
    oci = ShapeOci(["VM.Standard2.1", "VM.Standard.E4.Flex"])
    outcome = refused(oci, JobKube(job_with(job)), run_with(run))
    assert outcome.reason == errors.UNKNOWN_SHAPE
    assert outcome.message.startswith(f"{field}: shape ")
    assert f"is not offered in compartment {COMPARTMENT}; closest: " in outcome.message
    assert oci.shape_reads == [False, True]  # the cached answer, then one fresh read before refusing


def test_the_tenancy_gate_comes_first_a_compartment_not_granted_is_never_asked_for_shapes() -> None:
    oci, kube = ShapeOci(["VM.Standard2.1"]), Kube()

    async def scenario() -> None:
        rt = runtime(oci, kube)
        rt = dataclasses.replace(
            rt, settings=OperatorSettings(compartment_policy="annotated"), namespaces=Namespaces()
        )
        body = run_with({"infrastructure": {"shape": "VM.Standard.E9.Flex", "ocpus": 2, "memoryInGBs": 16}})
        try:
            with pytest.raises(errors.ReconcileError) as caught:
                await run_workflow.reconcile(rt, body)
            assert caught.value.outcome.reason == errors.COMPARTMENT_NOT_ALLOWED
        finally:
            await rt.poller.stop()

    asyncio.run(scenario())
    assert oci.shape_reads == [] and oci.creates == 0


class Namespaces:
    """A namespace an admin granted nothing."""

    async def annotations(self, namespace: str) -> dict[str, str]:
        return {}


def test_a_run_override_with_an_offered_shape_is_created_and_a_plain_run_reads_no_catalog() -> None:
    oci = ShapeOci(["VM.Standard2.1", "VM.Standard2.2"])
    reconcile_once(oci, Kube(), run_with({"infrastructure": {"shape": "VM.Standard2.2"}}))
    assert oci.creates == 1 and oci.shape_reads == [False]
    plain = ShapeOci([])
    reconcile_once(plain, Kube())
    assert plain.creates == 1 and plain.shape_reads == []  # no override: the job's shape was checked


def test_an_unknown_shape_leaves_the_run_pending_and_rechecked_not_failed() -> None:
    outcome = errors.ErrorOutcome(errors.OutcomeKind.STALLED, errors.UNKNOWN_SHAPE, "shape ...")
    status = error_status(outcome, {}, 1, "2026-01-01T00:00:00Z", TRAINING_JOB_RUN_KIND)
    assert status["phase"] == "Pending"
    assert errors.UNKNOWN_SHAPE in errors.RECHECKED_WHILE_STALLED
    assert errors.NO_FAST_LAUNCH_CONFIG in errors.RECHECKED_WHILE_STALLED


@pytest.mark.parametrize(
    ("job", "run", "says"),
    [
        ({}, {"container": {"args": ["--fast"]}},
         "spec.container: TrainingJob attrition has no spec.container"),
        ({}, {"nodeGroups": [{"name": "workers", "replicas": 2}]},
         "spec.nodeGroups (workers): TrainingJob attrition is single-node"),
        (MULTI_NODE, {"nodeGroups": [{"name": "ps", "replicas": 2}]},
         'spec.nodeGroups[ps]: TrainingJob attrition has no node group "ps" (it has: workers)'),
        # Admission compares the two only when the run sets both: the job's replicas count too.
        (MULTI_NODE, {"nodeGroups": [{"name": "workers", "minimumSuccessReplicas": 5}]},
         "spec.nodeGroups[workers].minimumSuccessReplicas: 5 is more than the group's 3 replicas"),
        (MULTI_NODE, {"infrastructure": {"shape": "VM.Standard2.1"}},
         "spec.infrastructure: TrainingJob attrition is multi-node"),
    ],
)  # fmt: skip
def test_an_override_the_training_job_cannot_take_is_refused_with_no_oci_call(
    job: dict[str, Any], run: dict[str, Any], says: str
) -> None:
    oci = ShapeOci([])
    outcome = refused(oci, JobKube(job_with(job)), run_with(run))
    assert outcome.reason == errors.INVALID_OVERRIDE
    assert outcome.message.startswith(says)
    assert oci.shape_reads == []


def test_node_count_takes_the_runs_replicas_over_the_groups() -> None:
    job = TrainingJobSpec.model_validate(
        job_with({"nodes": {"groups": [{"name": "a", "replicas": 2}, {"name": "b", "replicas": 3}]}})["spec"]
    )
    run = TrainingJobRunSpec.model_validate(
        {"jobRef": {"name": "j"}, "nodeGroups": [{"name": "b", "replicas": 1}]}
    )
    assert node_count(run, job) == 3
    assert node_count(run, TrainingJobSpec.model_validate(TRAINING_JOB["spec"])) is None
    assert override_problem(run, job, "j") is None


def test_a_multi_node_run_records_its_node_count_and_infrastructure_type() -> None:
    oci, kube = ShapeOci([]), JobKube(job_with(MULTI_NODE))
    created: list[RunRequest] = []
    original = oci.create_job_run

    async def create(request: RunRequest) -> RunView:
        created.append(request)
        return await original(request)

    oci.create_job_run = create  # type: ignore[method-assign]
    reconcile_once(oci, kube)
    assert kube.status["nodeCount"] == 3
    assert kube.status["infrastructureType"] == "MULTI_NODE"
    single = JobKube(job_with({}))
    reconcile_once(ShapeOci([]), single)
    assert "nodeCount" not in single.status
    assert single.status["infrastructureType"] == "ME_STANDALONE"


# Multi-node runs: node groups only come with a GET ------------------------------------------------
def test_a_multi_node_run_is_read_with_a_get_on_each_change_and_a_single_node_one_is_not() -> None:
    from ocids_operator.workflows.run_poller import TrackedRun, has_news, plan_tick

    def tracked(multi_node: bool) -> TrackedRun:
        return TrackedRun(
            "r",
            COMPARTMENT,
            "ml",
            "n",
            "u",
            1,
            {},
            0.0,
            "ACCEPTED",
            expects_logs=False,
            multi_node=multi_node,
        )

    listed = {"r": RunView("r", "j", COMPARTMENT, "IN_PROGRESS")}
    assert plan_tick({"r": tracked(True)}, listed, 10.0).fetch == ("r",)
    single = plan_tick({"r": tracked(False)}, listed, 10.0)
    assert single.fetch == () and [run_id for run_id, _ in single.updates] == ["r"]
    # A GET whose node groups moved on is news even when the run's own state did not.
    run = tracked(True)
    run.node_groups = (("workers", "CREATING", None),)
    moved = RunView("r", "j", COMPARTMENT, "ACCEPTED", node_groups=(("workers", "ACTIVE", None),))
    assert has_news(run, moved)
    assert not has_news(run, RunView("r", "j", COMPARTMENT, "ACCEPTED", node_groups=run.node_groups))


def test_node_groups_read_from_oci_reach_the_run_status() -> None:
    from ocids_operator.core.run_status import run_status

    failed = "Job run artifact execution failed with exit code 1."
    groups = (("workers", "ACTIVE", None), ("ps", "FAILED", failed))
    view = RunView("r", "j", COMPARTMENT, "IN_PROGRESS", node_groups=groups)
    status = run_status(view, "us-ashburn-1", {}, 1, "2026-01-01T00:00:00Z")
    assert status["nodeGroups"] == [
        {"name": "workers", "lifecycleState": "ACTIVE"},
        {"name": "ps", "lifecycleState": "FAILED", "lifecycleDetails": failed},
    ]
    plain = run_status(RunView("r", "j", COMPARTMENT, "IN_PROGRESS"), "x", {}, 1, "2026-01-01T00:00:00Z")
    assert "nodeGroups" not in plain


def test_a_runs_own_shape_on_a_compute_target_job_records_what_it_runs_on() -> None:
    """The run's infrastructure override leaves the job's compute target behind (as the request does):
    status says the managed egress network the run really got, not the job's compute target."""
    on_target = {
        "infrastructure": {
            "computeTargetId": "ocid1.datasciencecomputetarget.oc1..target",
            "resources": {"requests": {"ocpus": 1, "memoryInGBs": 8}},
        }
    }
    kube = JobKube(job_with(on_target))
    reconcile_once(ShapeOci([]), kube)
    assert kube.status["infrastructureType"] == "MANAGED_COMPUTE_CLUSTER"
    own_shape = JobKube(job_with(on_target))
    reconcile_once(
        ShapeOci(["VM.Standard2.1"]), own_shape, run_with({"infrastructure": {"shape": "VM.Standard2.1"}})
    )
    assert own_shape.status["infrastructureType"] == "ME_STANDALONE"


# Fast launch on an existing job: resolved for writes, not re-chosen on every resync ----------------
FL_SMALL = FastLaunchConfig("fl-small", "VM.Standard.E4.Flex", 2, 16, "REQUIRED")
FL_TINY = FastLaunchConfig("fl-tiny", "VM.Standard.E4.Flex", 1, 8, "SUPPORTED")
FL_SPEC = {
    "compartmentId": COMPARTMENT,
    "projectId": "ocid1.datascienceproject.oc1..proj",
    "artifact": {"inline": {"fileName": "train.py", "content": "print('hi')"}},
    "infrastructure": {"fastLaunch": True},
}


def fl_reconcile(
    oci: FakeDataScience, spec: dict[str, Any], status: dict[str, Any], generation: int
) -> dict[str, Any]:
    body = {
        "metadata": {"namespace": "ml", "name": "fl", "uid": "uid-fl", "generation": generation},
        "spec": spec,
        "status": status,
    }
    rt = Runtime(OperatorSettings(cluster_name="test"), oci, SecretKube("x"), None)  # type: ignore[arg-type]
    return dict(asyncio.run(job_workflow.reconcile(rt, body)).status)


def active_fast_launch_job(oci: FakeDataScience) -> dict[str, Any]:
    oci.fast_launch_configs = [FL_SMALL]
    status: dict[str, Any] = {}
    for _ in range(3):
        status = {**status, **fl_reconcile(oci, FL_SPEC, status, 1)}
        if status.get("phase") == "Active":
            break
    assert status["phase"] == "Active" and status["fastLaunchConfig"] == "fl-small"
    oci.calls.clear()
    return status


@pytest.mark.parametrize("change", ["config-withdrawn", "smaller-config-added", "list-fails"])
def test_a_healthy_fast_launch_job_keeps_its_shape_when_the_configs_change_or_cannot_be_read(
    change: str,
) -> None:
    oci = FakeDataScience()
    status = active_fast_launch_job(oci)
    if change == "config-withdrawn":
        oci.fast_launch_configs = []
    elif change == "smaller-config-added":
        oci.fast_launch_configs = [FL_TINY, FL_SMALL]
    else:

        async def outage(compartment_id: str, fresh: bool = False) -> list[FastLaunchConfig]:
            raise errors.retry("ServiceUnavailable", "ListFastLaunchJobConfigs: 503")

        oci.list_fast_launch_job_configs = outage  # type: ignore[method-assign]
    after = fl_reconcile(oci, FL_SPEC, status, 1)
    assert after["phase"] == "Active" and after["fastLaunchConfig"] == "fl-small"
    assert after["shape"] == "VM.Standard.E4.Flex (2 OCPU, 16 GB)"
    assert "update_job" not in oci.calls and "create_job" not in oci.calls


def test_an_edited_fast_launch_spec_still_needs_a_config_that_fits() -> None:
    oci = FakeDataScience()
    status = active_fast_launch_job(oci)
    oci.fast_launch_configs = []
    with pytest.raises(errors.ReconcileError) as caught:
        fl_reconcile(oci, {**FL_SPEC, "args": ["--epochs", "3"]}, status, 2)
    assert caught.value.outcome.reason == errors.NO_FAST_LAUNCH_CONFIG
    assert "create_job" not in oci.calls


def test_fast_launch_with_ocpus_or_memory_takes_only_a_config_of_that_size() -> None:
    configs = [FL_TINY, FL_SMALL]
    pick = choose_fast_launch(configs, "VM.Standard.E4.Flex", True, ocpus=2)
    assert pick == FL_SMALL
    assert choose_fast_launch(configs, None, True, memory_in_gbs=8) == FL_TINY
    assert choose_fast_launch(configs, None, True, ocpus=4, memory_in_gbs=64) is None
    message = no_fast_launch_message(
        configs, "VM.Standard.E4.Flex", True, COMPARTMENT, ocpus=4, memory_in_gbs=64
    )
    assert 'fits shape "VM.Standard.E4.Flex" of 4 OCPU, 64 GB with managed egress' in message
    assert "fl-tiny (VM.Standard.E4.Flex, 1 OCPU, 8 GB, egress SUPPORTED)" in message
    # The config already in use wins over a smaller one while it still fits.
    assert choose_fast_launch(configs, None, True, prefer="fl-small") == FL_SMALL
    assert choose_fast_launch(configs, None, True, prefer="gone") == FL_TINY
