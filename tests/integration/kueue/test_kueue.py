"""TrainingJobRuns under a real Kueue (built from source, run against the test API server with its
webhooks): GPU quota shared by two teams, fair sharing, priority preemption, and runs without the
queue label untouched. OCI is the emulator; "active in OCI" is read from its job runs' own times."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import operator_scripts as scripts
import pytest
from kueue_process import KueueProcess
from operator_harness import Scenario, condition, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("kueue")]

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "kueue"
KUEUE = "kueue.x-k8s.io/v1beta2"
WORKLOADS = "workloads.kueue.x-k8s.io"
GPU_SHAPE = "VM.GPU.A10.1"  # one GPU per run (the number ending the shape's name)
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"


@pytest.fixture
def kueue_world(kueue: KueueProcess, e2e: Scenario) -> Iterator[Scenario]:
    """The usual world, with Kueue running; the test's cluster-scoped Kueue objects are removed after."""
    made: list[tuple[str, str]] = []
    e2e.kueue_objects = made  # type: ignore[attr-defined]
    yield e2e
    for kind, name in reversed(made):
        e2e.kube.kubectl("delete", kind, name, "--ignore-not-found", "--wait=false", check=False)


def cluster_object(
    world: Scenario, kind: str, name: str, spec: dict[str, Any] | None = None
) -> dict[str, Any]:
    world.kueue_objects.append((f"{kind.lower()}s.kueue.x-k8s.io", name))  # type: ignore[attr-defined]
    body: dict[str, Any] = {"apiVersion": KUEUE, "kind": kind, "metadata": {"name": name}}
    if spec is not None:
        body["spec"] = spec
    return body


def gpu_queue(name: str, flavor: str, gpus: int, **spec: Any) -> dict[str, Any]:
    """`gpus` A10 GPUs, with the OCPUs and memory of as many VM.GPU.A10.1 nodes (15 OCPUs, 240 GB
    each): a run declares all three, and Kueue admits nothing a flavor does not cover."""
    quota = [
        {"name": "cpu", "nominalQuota": 15 * gpus},
        {"name": "memory", "nominalQuota": f"{240 * gpus}Gi"},
        {"name": "nvidia.com/gpu", "nominalQuota": gpus},
    ]
    return {
        "namespaceSelector": {},
        "resourceGroups": [
            {
                "coveredResources": ["cpu", "memory", "nvidia.com/gpu"],
                "flavors": [{"name": flavor, "resources": quota}],
            }
        ],
        **spec,
    }


def local_queue(world: Scenario, name: str, cluster_queue: str) -> dict[str, Any]:
    return {
        "apiVersion": KUEUE,
        "kind": "LocalQueue",
        "metadata": {"name": name, "namespace": world.namespace},
        "spec": {"clusterQueue": cluster_queue},
    }


def gpu_job(world: Scenario) -> dict[str, Any]:
    return world.job("gpu", scripts.GATED, shape=GPU_SHAPE, ocpus=None, memory_in_gbs=None)


def gpu_run(world: Scenario, name: str, queue: str | None, priority: str | None = None) -> dict[str, Any]:
    env = {"MARKER": name, "RELEASE_FILE": str(world.release_file(name)), "GATE_TIMEOUT": "600"}
    run = world.run(name, "gpu", env=env)
    labels = {}
    if queue:
        labels[QUEUE_LABEL] = queue
    if priority:
        labels[PRIORITY_LABEL] = priority
    if labels:
        run["metadata"]["labels"] = labels
    return run


def release(world: Scenario, name: str) -> None:
    world.release_file(name).touch()


def ready_reason(world: Scenario, name: str) -> str | None:
    return (condition(world.get_run(name), "Ready") or {}).get("reason")


def wait_held(world: Scenario, *names: str) -> None:
    for name in names:
        wait_for(
            lambda name=name: ready_reason(world, name) == "WaitingForQuota",
            timeout=60,
            message=lambda name=name: f"{name} held WaitingForQuota; reason {ready_reason(world, name)}",
        )


def started(world: Scenario, name: str) -> bool:
    return bool(((world.get_run(name) or {}).get("status") or {}).get("createAttemptedAt"))


def _time(value: Any) -> datetime.datetime:
    return value if isinstance(value, datetime.datetime) else datetime.datetime.fromisoformat(str(value))


def most_active_at_once(world: Scenario) -> int:
    """The most OCI job runs that were active at the same moment, from OCI's own accept/finish times."""
    now = datetime.datetime.now(datetime.UTC)
    edges = []
    for run in world.oci_runs():
        begin = _time(run.time_accepted)
        end = _time(run.time_finished) if run.time_finished else now
        edges += [(begin, 1), (end, -1)]
    active = peak = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):  # an end before a start at the same instant
        active += step
        peak = max(peak, active)
    return peak


def test_gpu_quota_shared_by_two_teams_fair_sharing_alternates(kueue_world: Scenario) -> None:
    """Two teams share 2 GPUs (a cohort of two ClusterQueues, one GPU each, lending to each other, fair
    sharing on): team A fills both while B has nothing queued; then each freed GPU goes to the team
    using less, although team A queued first: B, A, B, ... and never more than 2 GPU runs in OCI."""
    w = kueue_world
    ns = w.namespace
    flavor, cohort = f"{ns}-gpu", f"{ns}-cohort"
    # A team's runs never preempt the other's (reclaim: Never): this test is about who goes next.
    share = {
        "cohortName": cohort,
        "preemption": {"reclaimWithinCohort": "Never"},
        "fairSharing": {"weight": 1},
    }
    w.apply(
        cluster_object(w, "ResourceFlavor", flavor, {}),
        cluster_object(w, "ClusterQueue", f"{ns}-a", gpu_queue(f"{ns}-a", flavor, 1, **share)),
        cluster_object(w, "ClusterQueue", f"{ns}-b", gpu_queue(f"{ns}-b", flavor, 1, **share)),
    )
    w.apply(local_queue(w, "team-a", f"{ns}-a"), local_queue(w, "team-b", f"{ns}-b"), gpu_job(w))
    w.wait_job_active("gpu")

    w.apply(gpu_run(w, "a1", "team-a"), gpu_run(w, "a2", "team-a"))  # B has nothing: A borrows its GPU
    w.wait_run("a1", "InProgress")
    w.wait_run("a2", "InProgress")
    for name in ("a3", "a4"):  # queued first
        w.apply(gpu_run(w, name, "team-a"))
        wait_held(w, name)
    w.apply(gpu_run(w, "b1", "team-b"), gpu_run(w, "b2", "team-b"))
    wait_held(w, "b1", "b2")
    # Why it waits, in Kueue's words (its QuotaReserved=False message, which Kueue rewords as it
    # looks again), on the run.
    base = "waiting for Kueue to admit Workload tjr-a3 (LocalQueue team-a): "
    wait_for(
        lambda: (w.get_run("a3") or {}).get("status", {}).get("message", "").startswith(base),
        timeout=30,
        message=lambda: f"a3's message gives Kueue's reason: {(w.get_run('a3') or {}).get('status')}",
    )
    workload = w.kube.get(WORKLOADS, "tjr-a3", ns)
    # VM.GPU.A10.1's node: 15 OCPUs, 240 GB and its GPU (a fixed shape declares all three).
    assert workload is not None and workload["spec"]["podSets"][0]["template"]["spec"]["containers"][0][
        "resources"
    ]["requests"] == {"cpu": "15", "memory": "240Gi", "nvidia.com/gpu": "1"}, workload

    # Which run of a team Kueue picks is its own affair (runs made in the same second tie); which
    # team gets the freed GPU is what fair sharing decides.
    queued = ["a3", "a4", "b1", "b2"]
    running = ["a1", "a2"]
    teams = []
    for ending in ("a", "a", "b", "a"):
        done = next(n for n in running if n.startswith(ending))
        release(w, done)
        w.wait_run(done, "Succeeded")
        running.remove(done)
        nxt = wait_for(
            lambda: next((n for n in queued if started(w, n)), None),
            timeout=60,
            message=f"a run started after {done} ended",
        )
        queued.remove(nxt)
        running.append(nxt)
        teams.append(nxt[0])
    assert teams == ["b", "a", "b", "a"], teams
    for name in running:
        release(w, name)
        w.wait_run(name, "Succeeded")
    assert most_active_at_once(w) == 2
    # Each ended run gave its quota back: its Workload is Finished.
    finished = w.kube.get(WORKLOADS, "tjr-a1", ns)
    assert (condition(finished, "Finished") or {}).get("status") == "True", finished


def test_high_priority_run_preempts_a_low_priority_one(kueue_world: Scenario) -> None:
    w = kueue_world
    ns = w.namespace
    flavor = f"{ns}-gpu"
    w.apply(
        cluster_object(w, "ResourceFlavor", flavor, {}),
        cluster_object(
            w,
            "ClusterQueue",
            f"{ns}-gpus",
            gpu_queue(f"{ns}-gpus", flavor, 2, preemption={"withinClusterQueue": "LowerPriority"}),
        ),
        {**cluster_object(w, "WorkloadPriorityClass", f"{ns}-low"), "value": 100},
        {**cluster_object(w, "WorkloadPriorityClass", f"{ns}-high"), "value": 1000},
    )
    w.apply(local_queue(w, "gpus", f"{ns}-gpus"), gpu_job(w))
    w.wait_job_active("gpu")
    w.apply(gpu_run(w, "low-1", "gpus", f"{ns}-low"))
    w.wait_run("low-1", "InProgress")
    w.apply(gpu_run(w, "low-2", "gpus", f"{ns}-low"))
    w.wait_run("low-2", "InProgress")

    w.apply(gpu_run(w, "urgent", "gpus", f"{ns}-high"))
    # Kueue preempts one low-priority run (the one admitted last); the operator cancels it in OCI.
    w.wait_run("low-2", "Canceled", timeout=90)
    # The poller writes the end as for any canceled run; the Kueue handler then says whose cancel it was.
    preempted = wait_for(
        lambda: (run := w.get_run("low-2")) and ready_reason(w, "low-2") == "Preempted" and run,
        timeout=30,
        message=lambda: f"low-2 Ready reason Preempted; have {ready_reason(w, 'low-2')}",
    )
    ready = condition(preempted, "Ready") or {}
    assert preempted["status"]["phase"] == "Canceled"
    assert (condition(preempted, "Failed") or {}).get("reason") == "Preempted", preempted["status"]
    assert ready.get("message", "").startswith(
        "preempted by Kueue: Kueue evicted Workload tjr-low-2 (Preempted)"
    ), ready
    assert preempted["metadata"]["annotations"]["ocids.io/preempted"], preempted["metadata"]
    oci_run = w.oci.get_job_run(preempted["status"]["jobRunId"])
    assert oci_run is not None and oci_run.lifecycle_state == "CANCELED", oci_run
    w.wait_run("urgent", "InProgress")
    assert w.get_run("low-1")["status"]["phase"] == "InProgress"
    assert most_active_at_once(w) == 2
    w.wait_event("low-2", "Preempted")
    for name in ("low-1", "urgent"):
        release(w, name)
        w.wait_run(name, "Succeeded")


def test_a_workload_deleted_by_hand_cancels_its_run_and_a_removed_label_changes_nothing(
    kueue_world: Scenario,
) -> None:
    """One GPU: `first` runs, `second` waits. The label is removed from `second`: it still waits for
    its Workload (it used to start at its next look, without quota). `first`'s Workload is deleted by
    hand: nothing reserves its capacity any more, so its OCI run is canceled (Preempted; it used to
    go on) and `second` is admitted; when `second` ends, its Workload is Finished although it has no
    label (it used to stay admitted)."""
    w = kueue_world
    ns = w.namespace
    flavor = f"{ns}-gpu"
    w.apply(
        cluster_object(w, "ResourceFlavor", flavor, {}),
        cluster_object(w, "ClusterQueue", f"{ns}-one", gpu_queue(f"{ns}-one", flavor, 1)),
    )
    w.apply(local_queue(w, "one", f"{ns}-one"), gpu_job(w))
    w.wait_job_active("gpu")
    w.apply(gpu_run(w, "first", "one"))
    w.wait_run("first", "InProgress")
    w.apply(gpu_run(w, "second", "one"))
    wait_held(w, "second")
    w.kube.kubectl("label", "trainingjobrun", "second", "-n", ns, f"{QUEUE_LABEL}-")
    time.sleep(3.0)  # three poll intervals in which it must not start: no condition to wait for
    assert not started(w, "second")
    deleted_at = datetime.datetime.now(datetime.UTC)
    w.kube.kubectl("delete", WORKLOADS, "tjr-first", "-n", ns)
    w.wait_run("first", "Canceled", timeout=90)
    wait_for(
        lambda: ready_reason(w, "first") == "Preempted",
        timeout=30,
        message=lambda: f"first Ready reason Preempted; have {ready_reason(w, 'first')}",
    )
    message = (condition(w.get_run("first"), "Ready") or {}).get("message", "")
    assert message.startswith("preempted by Kueue: its Kueue Workload tjr-first was deleted"), message
    w.wait_run("second", "InProgress", timeout=90)
    # Admitted once Kueue freed the deleted Workload's quota (Kueue frees it at once: `second` may
    # start while `first`'s OCI run is still being canceled), never before.
    assert _time(w.get_run("second")["status"]["createAttemptedAt"].replace("Z", "+00:00")) > deleted_at
    release(w, "second")
    w.wait_run("second", "Succeeded")
    wait_for(
        lambda: (
            (condition(w.kube.get(WORKLOADS, "tjr-second", ns), "Finished") or {}).get("status") == "True"
        ),
        timeout=30,
        message="tjr-second Finished",
    )


def test_runs_without_the_queue_label_are_not_queued(kueue_world: Scenario) -> None:
    """A ClusterQueue with no GPU at all: a labelled run waits for ever, an unlabelled one just runs."""
    w = kueue_world
    ns = w.namespace
    flavor = f"{ns}-gpu"
    w.apply(
        cluster_object(w, "ResourceFlavor", flavor, {}),
        cluster_object(w, "ClusterQueue", f"{ns}-none", gpu_queue(f"{ns}-none", flavor, 0)),
    )
    w.apply(local_queue(w, "none", f"{ns}-none"), gpu_job(w))
    w.wait_job_active("gpu")
    w.apply(gpu_run(w, "queued", "none"), gpu_run(w, "plain", None))
    release(w, "plain")
    w.wait_run("plain", "Succeeded")
    wait_held(w, "queued")
    assert w.kube.get(WORKLOADS, "tjr-plain", ns) is None
    assert not started(w, "queued")
    assert w.operator is not None
    held = f'ocids_runs_held{{budget="",namespace="{ns}",reason="WaitingForQuota"}} 1.0'
    wait_for(lambda: held in w.operator.metrics_text(), timeout=30, message=held)


def test_the_example_queues_pass_kueues_own_validation(
    kueue: KueueProcess, kube: Any, namespace: str
) -> None:
    """examples/kueue/queues.yaml, through the API server and Kueue's webhooks (a server-side dry run)."""
    text = (EXAMPLE / "queues.yaml").read_text().replace("namespace: ocids-demo", f"namespace: {namespace}")
    done = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=text)
    assert done.stdout.count("(server dry run)") == 7, done.stdout
