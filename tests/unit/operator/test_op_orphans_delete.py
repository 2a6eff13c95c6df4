"""`orphans --delete` (workflows/orphans.delete, cli/orphans.py) on fakes: it cancels the active
orphan runs and deletes the orphans, re-reads each one first and leaves one whose tags changed since
the listing (tagged Retain meanwhile); it is refused while the cluster name is the default; in
all-namespaces mode the compartments every namespace is allowed are scanned."""

from __future__ import annotations

import asyncio
import io
import types
from typing import Any

import pytest
from ocids_operator.cli import orphans as orphans_cli
from ocids_operator.core.deletion_plan import RETAINED, TAG_RETAINED
from ocids_operator.core.model import TAG_CLUSTER, TAG_NAMESPACE, TAG_UID
from ocids_operator.core.orphans import OciJob
from ocids_operator.core.run_plan import RunView
from ocids_operator.runtime import Runtime
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows import orphans


def _tags(uid: str, **extra: str) -> dict[str, str]:
    return {TAG_CLUSTER: "c1", TAG_NAMESPACE: "ml", TAG_UID: uid, **extra}


class FakeOci:
    def __init__(self) -> None:
        self.jobs = {
            "job-gone": OciJob("job-gone", "comp", "ACTIVE", _tags("tj-gone")),
            "job-owned": OciJob("job-owned", "comp", "ACTIVE", _tags("tj")),
            "job-retagged": OciJob("job-retagged", "comp", "ACTIVE", _tags("tj-gone-2")),
        }
        self.runs = {
            "run-active": RunView("run-active", "job-owned", "comp", "IN_PROGRESS", tags=_tags("tjr-gone")),
            "run-ended": RunView("run-ended", "job-owned", "comp", "SUCCEEDED", tags=_tags("tjr-gone-2")),
            "run-of-gone-job": RunView(
                "run-of-gone-job", "job-gone", "comp", "SUCCEEDED", tags=_tags("tjr-x")
            ),
        }
        self.done: list[str] = []

    async def list_jobs_page(self, compartment_id: str, page: str | None) -> tuple[list[OciJob], str | None]:
        return list(self.jobs.values()), None

    async def list_job_runs_page(
        self, compartment_id: str, page: str | None = None, **filters: str
    ) -> tuple[list[RunView], str | None]:
        return list(self.runs.values()), None

    async def run_sizes(self, job_run_id: str) -> Any:
        return None

    async def get_job(self, job_id: str) -> Any:
        job = self.jobs.get(job_id)
        return (
            None if job is None else types.SimpleNamespace(tags=job.tags, lifecycle_state=job.lifecycle_state)
        )

    async def get_job_run(self, job_run_id: str) -> RunView | None:
        return self.runs.get(job_run_id)

    async def cancel_job_run(self, job_run_id: str, compartment_id: str) -> None:
        self.done.append(f"cancel {job_run_id}")
        run = self.runs[job_run_id]
        self.runs[job_run_id] = RunView(run.id, run.job_id, run.compartment_id, "CANCELED", tags=run.tags)

    async def delete_job_run(self, job_run_id: str, compartment_id: str) -> None:
        self.done.append(f"delete {job_run_id}")

    async def delete_job(self, job_id: str, compartment_id: str) -> bool:
        self.done.append(f"delete {job_id}")
        return True


class FakeKube:
    def __init__(self, namespaces: list[dict[str, Any]] | None = None) -> None:
        self.namespaces = namespaces or []

    async def request(self, method: str, path: str, *_: Any, **__: Any) -> dict[str, Any]:
        if path.startswith("/api/v1/namespaces"):
            return {"items": self.namespaces}
        if "/trainingjobs" in path:
            return {"items": [{"metadata": {"uid": "tj"}, "spec": {"compartmentId": "comp"}}]}
        return {"items": []}


def test_delete_cancels_and_deletes_orphans_and_leaves_one_retagged_since_the_listing() -> None:
    oci = FakeOci()
    rt = Runtime(OperatorSettings(cluster_name="c1"), oci, FakeKube(), None)  # type: ignore[arg-type]
    found = asyncio.run(orphans.scan(rt, ["comp"]))
    assert {f.id for f in found.report.findings} == {
        "job-gone",
        "job-retagged",
        "run-active",
        "run-ended",
        "run-of-gone-job",
    }
    # Its TrainingJob's finalizer tagged it Retain after the listing: it must not be deleted.
    oci.jobs["job-retagged"] = OciJob(
        "job-retagged", "comp", "ACTIVE", _tags("tj-gone-2", **{TAG_RETAINED: RETAINED})
    )
    lines: list[str] = []
    failed = asyncio.run(orphans.delete(rt, found, lines.append, cancel_wait=5))
    assert failed == 0, lines
    assert oci.done == ["cancel run-active", "delete run-active", "delete run-ended", "delete job-gone"]
    assert "not deleted: job job-retagged: it is tagged ocids.io/deletion-policy=Retain now" in lines
    assert "deleted job job-gone (ml/) and its run(s) run-of-gone-job" in lines


def test_all_namespaces_mode_scans_the_compartments_every_namespace_is_allowed() -> None:
    """It used to read the annotation only with OCIDS_NAMESPACES set."""
    orphans._seen_compartments.clear()
    namespaces = [
        {"metadata": {"name": "team-a", "annotations": {"ocids.io/allowed-compartments": "comp-a, comp-b"}}},
        {"metadata": {"name": "team-b"}},
    ]
    rt = Runtime(OperatorSettings(cluster_name="c1"), FakeOci(), FakeKube(namespaces), None)  # type: ignore[arg-type]
    assert asyncio.run(orphans.default_compartments(rt)) == ["comp", "comp-a", "comp-b"]
    # A namespace deleted since (its annotation and TrainingJobs gone): still scanned by this process.
    rt = Runtime(OperatorSettings(cluster_name="c1"), FakeOci(), FakeKube(), None)  # type: ignore[arg-type]
    assert asyncio.run(orphans.default_compartments(rt)) == ["comp", "comp-a", "comp-b"]
    orphans._seen_compartments.clear()


def test_delete_is_refused_while_the_cluster_name_is_the_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OCIDS_CLUSTER_NAME", raising=False)
    assert orphans_cli.main(["--delete"], out=io.StringIO()) == 2
    error = capsys.readouterr().err
    assert "--delete refused: OCIDS_CLUSTER_NAME is 'default'" in error
    assert "--cluster default" in error
