"""Caps on active OCI runs and the required maximum runtime, against the real API server and the
emulator: runs over a namespace's cap (annotation ocids.io/max-active-runs) or the operator's
(OCIDS_MAX_ACTIVE_RUNS) wait Pending in the order they were made, saying so, and start one by one as
places free up; OCIDS_REQUIRE_MAXIMUM_RUNTIME refuses a TrainingJob without
spec.maximumRuntimeInMinutes, in the operator and through the chart's ValidatingAdmissionPolicy.
"""

from __future__ import annotations

import datetime
import itertools
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import operator_scripts as scripts
import pytest
import yaml
from harness_kube import JOBS, status_summary
from operator_harness import Scenario, wait_for

pytestmark = pytest.mark.integration
CAP = "ocids.io/max-active-runs"
CHART = Path(__file__).resolve().parents[3] / "charts" / "ocids-operator"


def ready_reason(run: dict[str, Any] | None) -> str | None:
    for condition in ((run or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("reason")
    return None


def wait_held(world: Scenario, name: str, message: str, timeout: float = 60) -> dict[str, Any]:
    """The run once it is held by a cap with this message (it is rewritten as the queue moves)."""
    seen: dict[str, Any] = {}

    def held() -> dict[str, Any] | None:
        seen["run"] = run = world.get_run(name)
        status = (run or {}).get("status") or {}
        pending = status.get("phase") == "Pending" and ready_reason(run) == "ActiveRunLimit"
        return run if pending and status.get("message") == message else None

    found: dict[str, Any] = wait_for(
        held, timeout=timeout, message=lambda: f"{name} held; {status_summary(seen.get('run'))}"
    )
    return found


def created(world: Scenario, name: str) -> bool:
    return bool(((world.get_run(name) or {}).get("status") or {}).get("createAttemptedAt"))


def gated_run(world: Scenario, name: str) -> dict[str, Any]:
    return world.run(name, "train", env={"RELEASE_FILE": str(world.release_file(name)), "MARKER": name})


def apply_after_a_second(world: Scenario, previous: str, manifest: dict[str, Any]) -> None:
    """Applied in a later second than `previous` (creationTimestamp has whole seconds), so the queue
    order is the order of creation, not the names'."""
    stamp = (world.get_run(previous) or {})["metadata"]["creationTimestamp"]
    made = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    wait_for(
        lambda: datetime.datetime.now(datetime.UTC) >= made + datetime.timedelta(seconds=1),
        timeout=5,
        message="the next second",
    )
    world.apply(manifest)


def oci_run_of(world: Scenario, name: str) -> Any:
    run_id = (world.get_run(name) or {})["status"]["jobRunId"]
    return world.oci.ds.get_job_run(run_id).data


def test_a_namespace_cap_queues_runs_in_the_order_they_were_made(
    world: Scenario, start_operator: Any
) -> None:
    world.kube.kubectl("annotate", "namespace", world.namespace, f"{CAP}=1", "--overwrite")
    start_operator()
    world.apply(world.job("train", scripts.GATED))
    world.wait_job_active("train")
    world.apply(gated_run(world, "z-first"))
    wait_for(lambda: created(world, "z-first"), timeout=60, message="z-first created")
    apply_after_a_second(world, "z-first", gated_run(world, "m-second"))
    apply_after_a_second(world, "m-second", gated_run(world, "a-third"))  # first by name, last made

    where = f"1 of 1 active runs in namespace {world.namespace} ({CAP})"
    wait_held(world, "m-second", f"{where}; no run ahead of this one")
    wait_held(world, "a-third", f"{where}; 1 run ahead of this one")
    event = world.wait_event("a-third", "ActiveRunLimit")
    assert event["type"] == "Normal" and CAP in event["message"], event
    assert len(world.oci_runs()) == 1  # nothing held was sent to OCI

    world.release_file("z-first").touch()
    wait_for(lambda: created(world, "m-second"), timeout=60, message="m-second created once z-first ended")
    assert world.wait_run("z-first", "Succeeded")
    assert not created(world, "a-third")
    wait_held(world, "a-third", f"{where}; no run ahead of this one")

    world.release_file("m-second").touch()
    wait_for(lambda: created(world, "a-third"), timeout=60, message="a-third created once m-second ended")
    world.release_file("a-third").touch()
    for name in ("m-second", "a-third"):
        world.wait_run(name, "Succeeded")
    # OCI saw them one at a time, in the order they were made.
    runs = [oci_run_of(world, name) for name in ("z-first", "m-second", "a-third")]
    for earlier, later in itertools.pairwise(runs):
        assert later.time_accepted >= earlier.time_finished, (earlier, later)


def test_the_operator_wide_cap_holds_runs_until_a_place_frees(world: Scenario, start_operator: Any) -> None:
    start_operator(env={"OCIDS_MAX_ACTIVE_RUNS": "1"})
    world.apply(world.job("train", scripts.GATED))
    world.wait_job_active("train")
    world.apply(gated_run(world, "one"))
    wait_for(lambda: created(world, "one"), timeout=60, message="one created")
    world.apply(gated_run(world, "two"))

    wait_held(
        world, "two", "1 of 1 active runs operator-wide (OCIDS_MAX_ACTIVE_RUNS); no run ahead of this one"
    )
    assert len(world.oci_runs()) == 1
    # Looked at every poll interval (1 s here) by the in-process wake-up, and held as before: no write
    # to the run at all (kopf's own retry, which patched its progress annotation on every look, waits
    # OCIDS_RETRY_MAX_SECONDS, 8 s here). Measured over 4 polls, from a second after it was held.
    time.sleep(1.0)
    before = world.get_run("two")["metadata"]["resourceVersion"]
    time.sleep(4.0)  # watching for writes that must not come: no condition to wait for
    assert world.get_run("two")["metadata"]["resourceVersion"] == before

    world.release_file("one").touch()
    world.release_file("two").touch()
    world.wait_run("two", "Succeeded")
    first, second = oci_run_of(world, "one"), oci_run_of(world, "two")
    assert second.time_accepted >= first.time_finished


def test_a_bad_namespace_cap_is_warned_about_and_caps_nothing(world: Scenario, start_operator: Any) -> None:
    world.kube.kubectl("annotate", "namespace", world.namespace, f"{CAP}=two", "--overwrite")
    start_operator()
    world.apply(world.job("train", scripts.TRAIN), world.run("r1", "train"), world.run("r2", "train"))
    for name in ("r1", "r2"):
        world.wait_run(name, "Succeeded")
    events = [ev for ev in world.kube.events(world.namespace) if ev.get("reason") == "InvalidAnnotation"]
    assert events and all(ev["type"] == "Warning" for ev in events), events
    assert f"{CAP}: 'two' is not a whole number" in events[0]["message"], events[0]


def test_the_operator_refuses_a_training_job_without_a_maximum_runtime(
    world: Scenario, start_operator: Any
) -> None:
    start_operator(env={"OCIDS_REQUIRE_MAXIMUM_RUNTIME": "true"})
    world.apply(world.job("train", scripts.TRAIN), world.run("r1", "train"))
    seen: dict[str, Any] = {}

    def stalled() -> str | None:
        seen["job"] = job = world.get_job("train")
        for condition in ((job or {}).get("status") or {}).get("conditions") or []:
            if condition.get("type") == "Stalled" and condition.get("reason") == "MaximumRuntimeRequired":
                return str(condition["message"])
        return None

    message = wait_for(stalled, timeout=60, message=lambda: f"refused; {status_summary(seen.get('job'))}")
    assert "spec.maximumRuntimeInMinutes is required (OCIDS_REQUIRE_MAXIMUM_RUNTIME=true)" in message
    assert world.oci_jobs() == [] and world.oci_runs() == []  # nothing was sent to OCI

    world.kube.patch(JOBS, "train", world.namespace, {"spec": {"maximumRuntimeInMinutes": 30}})
    world.wait_run("r1", "Succeeded")


@pytest.fixture
def require_maximum_runtime_policy(world: Scenario, tmp_path: Path) -> Iterator[list[dict[str, Any]]]:
    """The chart's policy and binding, rendered by `helm template` for this test's namespace only
    (the API server is shared), applied, and deleted afterwards."""
    from ocids_controlplane import binaries

    env = {f"HELM_{k}_HOME": str(tmp_path / "helm" / k.lower()) for k in ("CACHE", "CONFIG", "DATA")}
    release = f"vap-{world.namespace}"[:40]
    rendered = subprocess.run(
        [
            str(binaries.binary("helm")),
            "template",
            release,
            str(CHART),
            "--set",
            "requireMaximumRuntime=true",
            "--set",
            f"watchNamespaces={{{world.namespace}}}",
            "--show-only",
            "templates/require-maximum-runtime.yaml",
        ],
        capture_output=True,
        text=True,
        env={**env, "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=True,
    ).stdout
    docs = [doc for doc in yaml.safe_load_all(rendered) if doc]
    assert [doc["kind"] for doc in docs] == ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
    world.kube.kubectl("apply", "-f", "-", input=rendered)
    yield docs
    for doc in docs:
        world.kube.kubectl(
            "delete", doc["kind"].lower(), doc["metadata"]["name"], "--ignore-not-found", check=False
        )


def test_the_charts_admission_policy_refuses_a_training_job_without_a_maximum_runtime(
    world: Scenario, require_maximum_runtime_policy: list[dict[str, Any]]
) -> None:
    without = world.job("no-limit", scripts.TRAIN)

    def refused() -> str | None:
        # A server-side dry run goes through admission and creates nothing.
        proc = world.kube.kubectl(
            "create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(without), check=False
        )
        return proc.stderr if proc.returncode != 0 else None

    error = wait_for(refused, timeout=30, message="the policy in force")
    assert "spec.maximumRuntimeInMinutes is required" in error, error
    assert "ValidatingAdmissionPolicy" in error, error
    assert world.get_job("no-limit") is None

    # A single-node jobType EMPTY job cannot carry one (its runs must): the policy lets it through.
    empty = world.job("empty", scripts.TRAIN, jobType="EMPTY", container={"image": "iad.ocir.io/ns/train:1"})
    empty["spec"].pop("env")
    world.kube.kubectl("create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(empty))
    world.apply(world.job("limited", scripts.TRAIN, maximumRuntimeInMinutes=30))
    assert world.get_job("limited") is not None
    # An edit that leaves spec alone passes (a TrainingJob made before the policy stays deletable);
    # one that removes the field does not.
    world.kube.kubectl("label", JOBS, "limited", "-n", world.namespace, "team=a")
    proc = world.kube.kubectl(
        "patch",
        JOBS,
        "limited",
        "-n",
        world.namespace,
        "--type=json",
        "-p",
        '[{"op": "remove", "path": "/spec/maximumRuntimeInMinutes"}]',
        check=False,
    )
    assert proc.returncode != 0 and "spec.maximumRuntimeInMinutes is required" in proc.stderr, proc.stderr
