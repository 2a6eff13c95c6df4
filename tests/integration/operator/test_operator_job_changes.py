"""Editing a TrainingJob: in-place updates keep the OCI job, template changes make a new revision."""

from __future__ import annotations

import json

import operator_scripts as scripts
import pytest
from operator_harness import JOBS, RUNS, Scenario, wait_for

pytestmark = pytest.mark.integration


def _shape(oci_job: object) -> tuple[str, float | None, float | None]:
    infra = oci_job.job_infrastructure_configuration_details  # type: ignore[attr-defined]
    cfg = infra.job_shape_config_details
    return infra.shape_name, cfg and cfg.ocpus, cfg and cfg.memory_in_gbs


def test_shape_edit_updates_the_same_oci_job(e2e: Scenario) -> None:
    e2e.apply(e2e.job("resize", scripts.TRAIN, shape="VM.Standard.E4.Flex", ocpus=1, memory_in_gbs=16))
    job_id = e2e.wait_job_active("resize")["status"]["jobId"]

    e2e.kube.patch(
        JOBS,
        "resize",
        e2e.namespace,
        {"spec": {"infrastructure": {"shape": "VM.Standard3.Flex", "ocpus": 2, "memoryInGBs": 32}}},
    )
    wait_for(
        lambda: _shape(e2e.oci.get_job(job_id)) == ("VM.Standard3.Flex", 2, 32),
        timeout=60,
        message="OCI job shape updated in place",
    )
    job = e2e.wait_job_status(
        "resize",
        lambda s: s.get("phase") == "Active" and "VM.Standard3.Flex" in (s.get("shape") or ""),
        "status.shape shows the new shape",
    )
    assert job["status"]["jobId"] == job_id
    assert job["status"]["revision"] == 1
    assert [j.id for j in e2e.oci_jobs()] == [job_id]


def test_env_edit_makes_revision_2_while_running_run_finishes_on_revision_1(e2e: Scenario) -> None:
    e2e.apply(e2e.job("evolve", scripts.GATED, env={"STAGE": "a"}))
    old_job_id = e2e.wait_job_active("evolve")["status"]["jobId"]
    release = e2e.release_file("r1")
    e2e.apply(e2e.run("r1", "evolve", env={"MARKER": "r1", "RELEASE_FILE": str(release)}))
    e2e.wait_run("r1", "InProgress")

    e2e.kube.patch(JOBS, "evolve", e2e.namespace, {"spec": {"env": [{"name": "STAGE", "value": "b"}]}})
    job = e2e.wait_job_status(
        "evolve", lambda s: s.get("revision") == 2 and s.get("phase") == "Active", "revision 2 Active"
    )
    new_job_id = job["status"]["jobId"]
    assert new_job_id != old_job_id
    assert old_job_id in (job["status"].get("retiredJobIds") or []), job["status"]
    env = e2e.oci.get_job(new_job_id).job_configuration_details.environment_variables
    assert env.get("STAGE") == "b", env

    # The run in flight keeps its OCI job and finishes there.
    r1 = e2e.get_run("r1")
    assert r1 is not None and r1["status"]["phase"] == "InProgress", r1 and r1["status"]
    release.touch()
    r1 = e2e.wait_run("r1", "Succeeded")
    assert r1["status"]["jobId"] == old_job_id
    assert r1["status"]["jobRevision"] == 1
    assert any(f"job={old_job_id}" in line for line in e2e.run_log(r1, "finished marker=r1"))

    # New runs go to revision 2.
    release2 = e2e.release_file("r2")
    release2.touch()
    e2e.apply(e2e.run("r2", "evolve", env={"MARKER": "r2", "RELEASE_FILE": str(release2)}))
    r2 = e2e.wait_run("r2", "Succeeded")
    assert r2["status"]["jobId"] == new_job_id
    assert r2["status"]["jobRevision"] == 2

    r1 = e2e.get_run("r1")
    assert r1 is not None and r1["status"]["phase"] == "Succeeded", "a finished run must stay Succeeded"
    # The retired job keeps r1's history while r1 exists; once r1 is deleted (and its OCI run with
    # it, deletionPolicy Delete), the retired job goes too.
    assert old_job_id in (e2e.get_job("evolve")["status"].get("retiredJobIds") or [])  # type: ignore[index]
    e2e.kube.delete(RUNS, "r1", e2e.namespace, timeout=60)
    wait_for(
        lambda: (j := e2e.oci.get_job(old_job_id)) is None or j.lifecycle_state in ("DELETED", "DELETING"),
        timeout=60,
        message="retired OCI job deleted",
    )
    e2e.wait_job_status("evolve", lambda s: not s.get("retiredJobIds"), "retiredJobIds emptied")


def test_two_runs_of_one_job_run_at_once_each_with_its_env(e2e: Scenario) -> None:
    e2e.apply(e2e.job("sweep", scripts.GATED))
    job_id = e2e.wait_job_active("sweep")["status"]["jobId"]
    releases = {m: e2e.release_file(m) for m in ("alpha", "beta")}
    e2e.apply(
        *(
            e2e.run(f"sweep-{m}", "sweep", env={"MARKER": m, "RELEASE_FILE": str(p)})
            for m, p in releases.items()
        )
    )

    # Both are running at the same time before either is let go.
    for marker in releases:
        e2e.wait_run(f"sweep-{marker}", "InProgress")
    for path in releases.values():
        path.touch()
    for marker, other in (("alpha", "beta"), ("beta", "alpha")):
        run = e2e.wait_run(f"sweep-{marker}", "Succeeded")
        assert run["status"]["jobId"] == job_id
        lines = e2e.run_log(run, f"finished marker={marker}")
        assert not any(f"marker={other}" in line for line in lines), lines
    assert len(e2e.oci_jobs()) == 1
    assert len(e2e.oci_runs(job_id)) == 2


def test_config_map_artifact_edit_makes_a_new_revision(e2e: Scenario) -> None:
    def code(version: str) -> str:
        return f"print('code version {version}', flush=True)\n"

    e2e.kube.kubectl(
        "create", "configmap", "train-code", "-n", e2e.namespace, f"--from-literal=train.py={code('one')}"
    )
    e2e.apply(e2e.job("from-cm", "", artifact={"configMapRef": {"name": "train-code", "key": "train.py"}}))
    first = e2e.wait_job_active("from-cm")["status"]
    assert first["artifact"]["source"] == "configMap", first
    e2e.apply(e2e.run("from-cm-1", "from-cm"))
    e2e.run_log(e2e.wait_run("from-cm-1", "Succeeded"), "code version one")

    # Users change code by editing the ConfigMap: later runs must run the new code.
    patch = {"data": {"train.py": code("two")}}
    e2e.kube.kubectl(
        "patch", "configmap", "train-code", "-n", e2e.namespace, "--type", "merge", "-p", json.dumps(patch)
    )
    second = e2e.wait_job_status(
        "from-cm",
        lambda s: s.get("revision") == 2 and s.get("phase") == "Active",
        "revision 2 for the new code",
    )["status"]
    assert second["artifact"]["digest"] != first["artifact"]["digest"]
    e2e.apply(e2e.run("from-cm-2", "from-cm"))
    e2e.run_log(e2e.wait_run("from-cm-2", "Succeeded"), "code version two")
