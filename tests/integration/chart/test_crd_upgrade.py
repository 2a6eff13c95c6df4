"""CRD upgrades: Helm installs crds/ once and never upgrades them; `kubectl apply --server-side` does,
in place, keeping every existing object as it was.

The "older" CRDs are today's minus what a newer version added (as commit f399989 added the Duration
column and status.duration; plus an optional spec field) and plus what it removed (as 07d503b removed
TrainingJob status.templateHash). Runs on a control plane of its own: replacing the CRDs under the
other tests of a worker would change what they see.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_helm import CHART, REPO, Release, get_json
from ocids_controlplane import Cluster, ControlPlane, MissingBinaryError
from ocids_controlplane.waiting import wait_until
from operator_manifests import training_job, training_job_run

pytestmark = pytest.mark.integration

RUNS_CRD = "trainingjobruns.ocids.io"
JOBS_CRD = "trainingjobs.ocids.io"
REMOVED_STATUS_FIELD = "templateHash"
NEW_SPEC_FIELD = "maximumRuntimeInMinutes"
NS = "ml"
COMPARTMENT = "ocid1.compartment.oc1..aaaaexample"
PROJECT = "ocid1.datascienceproject.oc1.iad.aaaaexample"
FINISHED = {
    "phase": "Succeeded",
    "jobRunId": "ocid1.datasciencejobrun.oc1.iad.aaaaexample",
    "timeStarted": "2026-01-01T10:00:00Z",
    "timeFinished": "2026-01-01T10:04:12Z",
    "exitCode": 0,
}


def older_runs_crd() -> dict[str, Any]:
    crd = yaml.safe_load((REPO / "crds" / "trainingjobruns.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    version["additionalPrinterColumns"] = [
        c for c in version["additionalPrinterColumns"] if c["name"] != "Duration"
    ]
    schema = version["schema"]["openAPIV3Schema"]["properties"]
    del schema["status"]["properties"]["duration"]
    del schema["spec"]["properties"][NEW_SPEC_FIELD]
    # That release's spec rule could not name a field its schema lacked: it had the plain one.
    schema["spec"]["x-kubernetes-validations"] = [
        {"rule": "self == oldSelf", "message": "spec is immutable: create a new TrainingJobRun instead"}
    ]
    return dict(crd)


def older_jobs_crd() -> dict[str, Any]:
    crd = yaml.safe_load((REPO / "crds" / "trainingjobs.yaml").read_text())
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    status["properties"][REMOVED_STATUS_FIELD] = {"type": "string", "description": "Template hash."}
    return dict(crd)


def older_chart(tmp_path: Path) -> Path:
    """The chart as an older release shipped it: version 0.0.9 with the older CRDs in crds/."""
    chart = tmp_path / "ocids-operator-0.0.9"
    shutil.copytree(CHART, chart, ignore=shutil.ignore_patterns("argocd"))
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    (chart / "Chart.yaml").write_text(yaml.safe_dump({**meta, "version": "0.0.9", "appVersion": "0.0.9"}))
    (chart / "crds" / "trainingjobruns.yaml").write_text(yaml.safe_dump(older_runs_crd()))
    (chart / "crds" / "trainingjobs.yaml").write_text(yaml.safe_dump(older_jobs_crd()))
    return chart


@pytest.fixture
def plane(tmp_path: Path) -> Any:
    try:
        with ControlPlane.start(tmp_path / "control-plane") as plane:
            yield plane
    except MissingBinaryError as exc:
        pytest.fail(str(exc), pytrace=False)


def runs_crd(cluster: Cluster) -> dict[str, Any]:
    crd = get_json(cluster, "crd", RUNS_CRD)
    assert crd is not None
    return crd


def columns(crd: dict[str, Any]) -> list[str]:
    return [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]


def status_properties(crd: dict[str, Any]) -> dict[str, Any]:
    return dict(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"])


def table_header(cluster: Cluster) -> list[str]:
    return cluster.kubectl("get", "trainingjobruns", "-n", NS).stdout.splitlines()[0].split()


def apply(cluster: Cluster, *docs: dict[str, Any], check: bool = True) -> Any:
    return cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(list(docs)), check=check)


def write_status(cluster: Cluster, name: str, status: dict[str, Any]) -> dict[str, Any]:
    """What the operator does: a merge patch of the status subresource; returns the stored status."""
    cluster.kubectl(
        "patch", "trainingjobrun", name, "-n", NS, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip
    run = get_json(cluster, "trainingjobrun", name, "-n", NS)
    assert run is not None
    return dict(run["status"])


def test_crds_upgrade_in_place_and_keep_every_object(plane: ControlPlane, tmp_path: Path) -> None:
    plane.kubectl("create", "namespace", NS)
    release = Release(plane, "ocids", NS, chart=older_chart(tmp_path))
    release.install("--set", f"watchNamespaces={{{NS}}}")
    old = runs_crd(plane)
    assert "Duration" not in columns(old)
    old_jobs = get_json(plane, "crd", JOBS_CRD)
    assert old_jobs is not None
    assert REMOVED_STATUS_FIELD in status_properties(old_jobs)

    job = training_job(
        "logreg", NS, compartment_id=COMPARTMENT, project_id=PROJECT, script="print(1)",
        logging={"enabled": False},
    )  # fmt: skip
    apply(plane, job, training_job_run("logreg-1", NS, "logreg"))
    # The older schema: a newer client's field is refused, a newer operator's status field dropped.
    newer_run = training_job_run("logreg-2", NS, "logreg", **{NEW_SPEC_FIELD: 30})
    refused = apply(plane, newer_run, check=False)
    assert refused.returncode != 0 and NEW_SPEC_FIELD in refused.stderr, refused.stderr
    assert "duration" not in write_status(plane, "logreg-1", {**FINISHED, "duration": "4m12s"})
    before = {
        (kind, name): get_json(plane, kind, name, "-n", NS)
        for kind, name in (("trainingjob", "logreg"), ("trainingjobrun", "logreg-1"))
    }

    # Upgrading the release, or installing the new chart, leaves existing CRDs as they are.
    release.upgrade(chart=CHART)
    assert runs_crd(plane)["metadata"]["resourceVersion"] == old["metadata"]["resourceVersion"]

    # The documented upgrade. Helm created the CRDs and owns spec.versions: a plain server-side apply
    # is refused as a conflict; forced, kubectl owns the whole list, removals included.
    crds = str(REPO / "crds")
    conflict = plane.kubectl("apply", "--server-side", "-f", crds, check=False)
    assert conflict.returncode != 0 and 'conflict with "helm"' in conflict.stderr, conflict.stderr
    assert runs_crd(plane)["metadata"]["resourceVersion"] == old["metadata"]["resourceVersion"]
    plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", crds)
    new = runs_crd(plane)
    assert new["metadata"]["uid"] == old["metadata"]["uid"]
    assert "Duration" in columns(new)
    assert new["status"]["storedVersions"] == old["status"]["storedVersions"]
    # Exactly the files now, including what the newer version removed.
    for name, file in ((RUNS_CRD, "trainingjobruns.yaml"), (JOBS_CRD, "trainingjobs.yaml")):
        live = get_json(plane, "crd", name)
        wanted = yaml.safe_load((REPO / "crds" / file).read_text())
        assert live is not None and live["spec"]["versions"] == wanted["spec"]["versions"], name
    wait_until(lambda: "DURATION" in table_header(plane), timeout=30, message="the DURATION column")

    for (kind, name), was in before.items():
        now = get_json(plane, kind, name, "-n", NS)
        assert now is not None and was is not None
        for part in ("uid", "resourceVersion", "generation", "creationTimestamp"):
            assert now["metadata"][part] == was["metadata"][part], (kind, part)
        assert now["spec"] == was["spec"] and now.get("status") == was.get("status"), kind

    assert write_status(plane, "logreg-1", {"duration": "4m12s"}) == {**FINISHED, "duration": "4m12s"}
    row = plane.kubectl("get", "trainingjobruns", "logreg-1", "-n", NS, "--no-headers").stdout.split()
    assert "4m12s" in row, row
    apply(plane, newer_run)
    stored = get_json(plane, "trainingjobrun", "logreg-2", "-n", NS)
    assert stored is not None and stored["spec"][NEW_SPEC_FIELD] == 30

    # Uninstalling keeps the CRDs and the objects, as Helm does with crds/.
    release.uninstall()
    assert get_json(plane, "crd", RUNS_CRD) is not None
    assert get_json(plane, "trainingjobrun", "logreg-1", "-n", NS) is not None
