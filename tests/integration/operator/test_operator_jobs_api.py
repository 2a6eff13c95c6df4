"""The whole OCI Jobs API end to end: the operator against the real API server and the emulator.

Multi-node jobs, container jobs without an artifact and per-run container overrides, defined tags,
startup probes and NEEDS_ATTENTION, managed egress and compute targets, storage mounts. Each case is
what a user sees: the resources' status, the OCI side through the SDK, and the run's log lines read
back through the Logging search its status links to. Runs are simulated by the emulator
(OCIDS_EMULATOR_SIMULATE) where the process itself is not what is tested. Shapes, fast launch and
unknown shapes are in test_operator_shapes.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import oci
import operator_scripts as scripts
import pytest
from operator_harness import JOBS, RUNS, Scenario, condition, log_query_from_url, wait_for

pytestmark = pytest.mark.integration

# Runs whose process does not matter: the emulator walks the same states in a fraction of a second.
SIMULATED = {"OCIDS_EMULATOR_SIMULATE": "0.2:0"}

RANKS = """\
import os
rank, count, group = os.environ["NODE_RANK"], os.environ["NODE_COUNT"], os.environ["NODE_GROUP_NAME"]
print(f"rank={rank} of {count} group={group} greeting={os.environ.get('GREETING', '-')}", flush=True)
"""

IMAGE = "iad.ocir.io/ns/trainer:1"


def printer_column(kube_output: str, column: str, row_name: str) -> str:
    """The value `kubectl get` prints under `column` in the row of `row_name` (columns are left-aligned)."""
    lines = kube_output.splitlines()
    start = lines[0].index(column)
    row = next(line for line in lines[1:] if line.split()[0] == row_name)
    return row[start:].split()[0]


def log_records(e2e: Scenario, run: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, message) of every record the run's status.logs.url search returns."""
    query = log_query_from_url(run["status"]["logs"]["url"])
    now = datetime.now(UTC)
    details = oci.loggingsearch.models.SearchLogsDetails(
        time_start=now - timedelta(hours=1), time_end=now + timedelta(minutes=5), search_query=query
    )
    results = e2e.oci.log_search.search_logs(details, limit=1000).data.results or []
    records = []
    for item in results:
        content = (item.data or {}).get("logContent") or {}
        records.append((str(content.get("source")), str((content.get("data") or {}).get("message"))))
    return records


def rank_records(e2e: Scenario, run: dict[str, Any], nodes: int) -> list[tuple[str, str]]:
    """(message, source) of the run's `nodes` rank lines, in rank order, once all are searchable."""

    def found() -> list[tuple[str, str]] | None:
        ranks = sorted((m, s) for s, m in log_records(e2e, run) if m.startswith("rank="))
        return ranks if len(ranks) >= nodes else None

    return list(wait_for(found, timeout=30, message=f"{nodes} rank lines in the run's log search"))


def assert_settled(e2e: Scenario, jobs: int) -> None:
    """Two resyncs of each job change nothing in OCI: the operator reads back what it wrote (were
    any variant read back differently, it would update or make a new revision on every resync)."""
    e2e.admin.reset_stats()
    wait_for(
        lambda: e2e.admin.stats()["operations"].get("get_job", {}).get("total", 0) >= 2 * jobs,
        timeout=60,
        message="two resyncs of each TrainingJob",
    )
    operations = e2e.admin.stats()["operations"]
    assert not operations.get("create_job") and not operations.get("update_job"), operations


# --- multi-node ------------------------------------------------------------------------------


def test_a_three_node_run_logs_three_ranks_and_reports_its_node_group(e2e: Scenario) -> None:
    group = {"name": "workers", "replicas": 3, "env": [{"name": "GREETING", "value": "hello"}]}
    nodes = {"startupOrder": "IN_PARALLEL", "groups": [group]}
    e2e.apply(e2e.job("dist", RANKS, nodes=nodes))
    job = e2e.wait_job_active("dist")
    assert job["status"]["infrastructureType"] == "MULTI_NODE", job["status"]
    assert job["status"]["nodeCount"] == 3, job["status"]
    oci_job = e2e.oci.get_job(job["status"]["jobId"])
    groups = oci_job.job_node_configuration_details.job_node_group_configuration_details_list
    assert [(g.name, g.replicas) for g in groups] == [("workers", 3)]
    # What ADS sends for a multi-node job: no top-level configuration (OCI shows it as EMPTY).
    top = oci_job.job_configuration_details
    assert top is None or top.job_type == "EMPTY", top

    e2e.apply(e2e.run("dist-1", "dist"))
    run = e2e.wait_run("dist-1", "Succeeded")
    status = run["status"]
    assert status["nodeCount"] == 3, status
    assert status["infrastructureType"] == "MULTI_NODE", status
    # Per group, what OCI reports for the run (GetJobRun's nodeGroupDetailsList).
    reported = e2e.oci.get_job_run(status["jobRunId"]).node_group_details_list
    assert [g.name for g in reported] == ["workers"] and reported[0].lifecycle_state != "FAILED", reported
    shown = [(g["name"], g.get("lifecycleState"), g.get("lifecycleDetails")) for g in status["nodeGroups"]]
    assert shown == [(g.name, g.lifecycle_state, g.lifecycle_details) for g in reported], status

    # The run's log link finds every node, each under its own log source.
    ranks = rank_records(e2e, run, 3)
    assert [m for m, _ in ranks] == [f"rank={i} of 3 group=workers greeting=hello" for i in range(3)], ranks
    sources = {s for _, s in ranks}
    assert len(sources) == 3 and all(s.endswith(status["jobRunId"]) for s in sources), sources

    # `kubectl get` shows the node count in a NODES column, for runs and jobs alike.
    runs_table = e2e.kube.kubectl("get", RUNS, "-n", e2e.namespace).stdout
    assert printer_column(runs_table, "NODES", "dist-1") == "3", runs_table
    jobs_table = e2e.kube.kubectl("get", JOBS, "-n", e2e.namespace).stdout
    assert printer_column(jobs_table, "NODES", "dist") == "3", jobs_table

    # A run overrides its group by name: two nodes, another greeting; the same OCI job.
    override = {"name": "workers", "replicas": 2, "env": [{"name": "GREETING", "value": "override"}]}
    e2e.apply(e2e.run("dist-2", "dist", nodeGroups=[override]))
    two = e2e.wait_run("dist-2", "Succeeded")
    assert two["status"]["nodeCount"] == 2 and two["status"]["jobId"] == job["status"]["jobId"], two["status"]
    ranks = rank_records(e2e, two, 2)
    assert [m for m, _ in ranks] == [f"rank={i} of 2 group=workers greeting=override" for i in range(2)]

    # A group the TrainingJob does not have: refused before OCI, naming it.
    e2e.admin.reset_stats()
    e2e.apply(e2e.run("dist-3", "dist", nodeGroups=[{"name": "ps", "replicas": 1}]))
    stalled = wait_for(
        lambda: (c := condition(e2e.get_run("dist-3"), "Stalled")) and c.get("status") == "True" and c,
        timeout=30,
        message="dist-3 Stalled",
    )
    assert stalled["reason"] == "InvalidOverride" and 'no node group "ps"' in stalled["message"], stalled
    assert "jobRunId" not in (e2e.get_run("dist-3") or {})["status"]
    assert e2e.admin.stats()["operations"].get("create_job_run", {}).get("total", 0) == 0

    # OCI cannot update a node configuration: more replicas make a new revision, once, and it settles.
    group["replicas"] = 4
    e2e.kube.patch(JOBS, "dist", e2e.namespace, {"spec": {"nodes": nodes}})
    job = e2e.wait_job_status(
        "dist", lambda s: s.get("revision") == 2 and s.get("phase") == "Active", "revision 2 Active"
    )
    assert job["status"]["nodeCount"] == 4, job["status"]
    new = e2e.oci.get_job(job["status"]["jobId"]).job_node_configuration_details
    assert [g.replicas for g in new.job_node_group_configuration_details_list] == [4]
    assert_settled(e2e, jobs=1)


# --- containers ------------------------------------------------------------------------------


def test_a_container_job_without_artifact_runs_and_a_run_overrides_its_cmd(e2e: Scenario) -> None:
    manifest = e2e.job("boxed", "unused")
    del manifest["spec"]["artifact"]
    manifest["spec"]["container"] = {
        "image": IMAGE,
        "command": ["python"],
        "args": ["train.py", "--epochs", "3"],
    }
    e2e.apply(manifest)
    job = e2e.wait_job_active("boxed")
    assert "artifact" not in job["status"] or not job["status"]["artifact"], job["status"]

    e2e.apply(
        e2e.run("boxed-default", "boxed"),
        e2e.run("boxed-override", "boxed", container={"args": ["train.py", "--epochs", "9"]}),
    )
    plain = e2e.wait_run("boxed-default", "Succeeded")
    overridden = e2e.wait_run("boxed-override", "Succeeded")
    # The same OCI job (no new revision): the cmd is the run's override, the rest the job's container.
    assert plain["status"]["jobId"] == overridden["status"]["jobId"] == job["status"]["jobId"]
    assert e2e.get_job("boxed")["status"]["revision"] == 1

    default = e2e.admin.effective_configuration(plain["status"]["jobRunId"])["effective"]
    assert default["jobEnvironmentConfigurationDetails"]["cmd"] == ["train.py", "--epochs", "3"]
    effective = e2e.admin.effective_configuration(overridden["status"]["jobRunId"])["effective"]
    container = effective["jobEnvironmentConfigurationDetails"]
    assert container["cmd"] == ["train.py", "--epochs", "9"], container
    assert container["image"] == IMAGE and container["entrypoint"] == ["python"], container
    assert_settled(e2e, jobs=1)


# --- tags ------------------------------------------------------------------------------------


def test_defined_tags_round_trip_in_place_and_runs_carry_user_tags_under_the_operators(
    e2e: Scenario,
) -> None:
    first = {"Operations": {"CostCenter": "42"}}
    e2e.apply(
        e2e.job("tagged", "print('x')\n", env=SIMULATED, definedTags=first, freeformTags={"team": "risk"})
    )
    job = e2e.wait_job_active("tagged")
    job_id = job["status"]["jobId"]
    oci_job = e2e.oci.get_job(job_id)
    assert oci_job.defined_tags == first
    assert oci_job.freeform_tags["team"] == "risk" and oci_job.freeform_tags["ocids.io/name"] == "tagged"

    # An edit of definedTags is an UpdateJob of the same OCI job, not a new revision.
    second = {"Operations": {"CostCenter": "43"}, "Finance": {"Project": "churn"}}
    e2e.kube.patch(JOBS, "tagged", e2e.namespace, {"spec": {"definedTags": second}})
    wait_for(
        lambda: e2e.oci.get_job(job_id).defined_tags == second,
        timeout=60,
        message=lambda: f"defined tags updated in place; have {e2e.oci.get_job(job_id).defined_tags}",
    )
    job = e2e.wait_job_status("tagged", lambda s: s.get("observedGeneration") == 2, "generation 2 observed")
    assert job["status"]["jobId"] == job_id and job["status"]["revision"] == 1, job["status"]
    assert len(e2e.oci_jobs()) == 1
    assert e2e.admin.stats()["operations"]["create_job"]["total"] == 1
    assert e2e.wait_event("tagged", "UpdatedInPlace")["type"] == "Normal"
    assert_settled(e2e, jobs=1)

    run_tags = {"Operations": {"CostCenter": "7"}}
    e2e.apply(e2e.run("tagged-1", "tagged", freeformTags={"experiment": "lr-sweep"}, definedTags=run_tags))
    run = e2e.wait_run("tagged-1", "Succeeded")
    oci_run = e2e.oci.get_job_run(run["status"]["jobRunId"])
    assert oci_run.defined_tags == run_tags
    tags = oci_run.freeform_tags
    assert tags["experiment"] == "lr-sweep", tags
    # The operator's ownership tags are there too (they find the run again after a crash).
    assert tags["ocids.io/uid"] == run["metadata"]["uid"] and tags["ocids.io/name"] == "tagged-1", tags


# --- startup probe and NEEDS_ATTENTION ----------------------------------------------------------


def test_a_failing_startup_probe_fails_the_run_with_ocis_message(e2e: Scenario) -> None:
    probe = {"command": ["sh", "-c", "exit 1"], "periodInSeconds": 1, "failureThreshold": 2}
    # The artifact would wait 90 s: only the probe can end the run this soon.
    e2e.apply(e2e.job("probed", scripts.GATED, env={"RELEASE_FILE": "/nonexistent"}, startupProbe=probe))
    job = e2e.wait_job_active("probed")
    oci_probe = e2e.oci.get_job(job["status"]["jobId"]).job_configuration_details.startup_probe_details
    assert oci_probe.command == ["sh", "-c", "exit 1"] and oci_probe.failure_threshold == 2, oci_probe
    assert_settled(e2e, jobs=1)

    e2e.apply(e2e.run("probed-1", "probed"))
    run = e2e.wait_run("probed-1", {"Failed", "Succeeded"}, timeout=60)
    status = run["status"]
    assert status["phase"] == "Failed", status
    oci_details = e2e.oci.get_job_run(status["jobRunId"]).lifecycle_details
    # failureThreshold 2: the second failed check ends the run, in OCI's words.
    assert oci_details == "Job run startup probe failed 2 times: command exited with 1.", oci_details
    assert status["lifecycleDetails"] == oci_details
    assert oci_details in condition(run, "Failed")["message"], run["status"]["conditions"]
    assert (condition(run, "Stalled") or {}).get("status") == "True"


def test_needs_attention_is_stalled_with_ocis_message_until_oci_recovers(e2e: Scenario) -> None:
    """The phase alone is covered by test_operator_run_defects.py; here: the conditions and the way back."""
    e2e.apply(e2e.job("attend", scripts.GATED))
    e2e.wait_job_active("attend")
    release = e2e.release_file("attend-1")
    e2e.apply(e2e.run("attend-1", "attend", env={"RELEASE_FILE": str(release)}))
    run_id = e2e.wait_run("attend-1", "InProgress")["status"]["jobRunId"]
    details = "Job run needs attention: the node stopped reporting (test)."
    e2e.admin.needs_attention(run_id, lifecycle_details=details)
    try:
        run = e2e.wait_run("attend-1", "NeedsAttention", timeout=60)
        stalled = condition(run, "Stalled") or {}
        assert stalled.get("status") == "True" and stalled.get("reason") == "NeedsAttention", stalled
        assert details in stalled.get("message", ""), stalled
        assert run["status"]["lifecycleDetails"] == details
        assert (condition(run, "Ready") or {}).get("status") == "False"
    finally:
        e2e.admin.clear_needs_attention()
        release.touch()
    run = e2e.wait_run("attend-1", "Succeeded", timeout=60)
    assert (condition(run, "Stalled") or {}).get("status") != "True", run["status"]["conditions"]


# --- managed egress and compute targets --------------------------------------------------------


def test_managed_egress_and_compute_target_jobs_succeed_and_say_which_was_used(e2e: Scenario) -> None:
    # No subnetId: OCI's managed egress network.
    e2e.apply(e2e.job("egress", "print('x')\n", env=SIMULATED))
    compute = e2e.job("on-target", "print('x')\n", env=SIMULATED)
    target = e2e.ids["COMPUTE_TARGET_ID"]
    compute["spec"]["infrastructure"] = {
        "computeTargetId": target,
        "resources": {"requests": {"ocpus": 1, "memoryInGBs": 8}, "limits": {"ocpus": 2, "memoryInGBs": 16}},
    }
    e2e.apply(compute)

    egress = e2e.wait_job_active("egress")["status"]
    assert egress["infrastructureType"] == "ME_STANDALONE", egress
    assert "computeTargetId" not in egress, egress
    on_target = e2e.wait_job_active("on-target")["status"]
    assert on_target["infrastructureType"] == "MANAGED_COMPUTE_CLUSTER", on_target
    assert on_target["computeTargetId"] == target, on_target
    oci_infra = e2e.oci.get_job(on_target["jobId"]).job_infrastructure_configuration_details
    assert oci_infra.job_infrastructure_type == "MANAGED_COMPUTE_CLUSTER"
    assert oci_infra.compute_target_id == target
    assert e2e.oci.get_job(
        egress["jobId"]
    ).job_infrastructure_configuration_details.job_infrastructure_type == ("ME_STANDALONE")

    e2e.apply(e2e.run("egress-1", "egress"), e2e.run("on-target-1", "on-target"))
    assert e2e.wait_run("egress-1", "Succeeded")["status"]["infrastructureType"] == "ME_STANDALONE"
    ran = e2e.wait_run("on-target-1", "Succeeded")["status"]
    assert ran["infrastructureType"] == "MANAGED_COMPUTE_CLUSTER", ran
    assert_settled(e2e, jobs=2)


# --- storage mounts --------------------------------------------------------------------------

READ_MOUNT = """\
import pathlib
path = pathlib.Path("/mnt/inputs/greeting.txt")
if path.is_file():
    print(f"read {path}: {path.read_text().strip()}", flush=True)
else:
    print(f"missing {path}; the folder has {sorted(p.name for p in path.parent.glob('*'))}", flush=True)
"""


def test_a_script_reads_an_object_storage_mount_and_a_run_mounts_another_prefix(
    e2e: Scenario, emulator: Any
) -> None:
    namespace, bucket = emulator.ids["OBJECT_STORAGE_NAMESPACE"], emulator.ids["OBJECT_STORAGE_BUCKET"]
    store = emulator.object_storage_client(retries=False)
    store.put_object(namespace, bucket, "inputs/a/greeting.txt", b"hello from prefix a\n")
    store.put_object(namespace, bucket, "inputs/b/greeting.txt", b"hello from prefix b\n")

    def mount(prefix: str) -> dict[str, Any]:
        return {
            "storageType": "OBJECT_STORAGE",
            "namespace": namespace,
            "bucket": bucket,
            "prefix": prefix,
            "destinationPath": "/mnt",
            "destinationDirectoryName": "inputs",
        }

    e2e.apply(e2e.job("mounted", READ_MOUNT, storageMounts=[mount("inputs/a")]))
    e2e.wait_job_active("mounted")
    e2e.apply(
        e2e.run("mounted-job", "mounted"),
        e2e.run("mounted-override", "mounted", storageMounts=[mount("inputs/b")]),
    )
    from_job = e2e.wait_run("mounted-job", "Succeeded")
    lines = e2e.run_log(from_job, "greeting.txt")
    assert "read /mnt/inputs/greeting.txt: hello from prefix a" in lines, lines

    overridden = e2e.wait_run("mounted-override", "Succeeded")
    lines = e2e.run_log(overridden, "greeting.txt")
    assert "read /mnt/inputs/greeting.txt: hello from prefix b" in lines, lines
    oci_run = e2e.oci.get_job_run(overridden["status"]["jobRunId"])
    sent = oci_run.job_storage_mount_configuration_override_details_list
    assert [m.prefix.strip("/") for m in sent] == ["inputs/b"], sent
    assert e2e.get_job("mounted")["status"]["revision"] == 1
    assert_settled(e2e, jobs=1)
