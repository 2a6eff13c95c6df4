"""The operator's TrainingJobRun status writes against the real API server: what each costs, and
that the uid and version guards hold (a run's first write is one request, never a refused patch
and a GET; a stale view never wipes what is there; a re-created object gets no old status).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import kopf
import pytest
from ocids_operator.adapters.kube import KubeClient
from operator_manifests import training_job_run

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


class CountingKube(KubeClient):
    def __init__(self, connection: kopf.ConnectionInfo) -> None:
        super().__init__(connection)
        self.requests: list[tuple[str, str]] = []

    async def request(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        self.requests.append((method, path))
        return await super().request(method, path, *args, **kwargs)


@pytest.fixture
def new_run(cluster: Any, namespace: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    cluster.kubectl("wait", "--for=condition=Established", "crd/trainingjobruns.ocids.io", "--timeout=60s")
    manifest = training_job_run("first", namespace, "some-job")
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    return get_run(cluster, namespace, "first")


def get_run(cluster: Any, namespace: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl("get", "trainingjobruns.ocids.io", name, "-n", namespace, "-o", "json")
    return dict(json.loads(out.stdout))


def write(run: dict[str, Any], status: dict[str, Any], **kwargs: Any) -> tuple[Any, list[tuple[str, str]]]:
    async def go() -> tuple[Any, list[tuple[str, str]]]:
        kube = CountingKube(kopf.login_with_kubeconfig(settings=kopf.OperatorSettings()))  # type: ignore[arg-type]
        try:
            meta = run["metadata"]
            result = await kube.patch_run_status(
                meta["namespace"], meta["name"], meta["uid"], status, **kwargs
            )
            return result, kube.requests
        finally:
            await kube.close()

    return asyncio.run(go())


def test_a_new_runs_first_status_write_is_one_request(cluster: Any, new_run: dict[str, Any]) -> None:
    assert not new_run.get("status")
    rv = new_run["metadata"]["resourceVersion"]
    result, requests = write(new_run, {"createAttemptedAt": "2026-12-02T10:00:00Z"}, empty_at=rv)
    assert result is not None
    assert requests == [("PATCH", requests[0][1])], requests
    status = get_run(cluster, new_run["metadata"]["namespace"], "first")["status"]
    assert status == {"createAttemptedAt": "2026-12-02T10:00:00Z"}


def test_a_stale_view_of_an_empty_status_never_wipes_what_is_there(
    cluster: Any, new_run: dict[str, Any]
) -> None:
    stale_rv = new_run["metadata"]["resourceVersion"]
    write(new_run, {"createAttemptedAt": "2026-12-02T10:00:00Z"}, empty_at=stale_rv)
    # The same "no status yet" view, now out of date: the version guard refuses the whole-status
    # write and the field-wise one merges instead.
    result, requests = write(new_run, {"jobRunId": "ocid1.datasciencejobrun.oc1..x"}, empty_at=stale_rv)
    assert result is not None
    status = get_run(cluster, new_run["metadata"]["namespace"], "first")["status"]
    assert status == {
        "createAttemptedAt": "2026-12-02T10:00:00Z",
        "jobRunId": "ocid1.datasciencejobrun.oc1..x",
    }
    assert [method for method, _ in requests] == ["PATCH", "PATCH"], requests


def test_a_recreated_object_gets_no_status_meant_for_the_old_one(
    cluster: Any, namespace: str, new_run: dict[str, Any]
) -> None:
    cluster.kubectl("delete", "trainingjobruns.ocids.io", "first", "-n", namespace, "--wait=true")
    cluster.kubectl("create", "-f", "-", input=json.dumps(training_job_run("first", namespace, "some-job")))
    result, _ = write(new_run, {"createAttemptedAt": "2026-12-02T10:00:00Z"}, empty_at="1")
    assert result is None
    assert not get_run(cluster, namespace, "first").get("status")
