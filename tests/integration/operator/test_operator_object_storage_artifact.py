"""`artifact.url: oci://bucket@namespace/path`: the operator reads the zip from Object Storage.

The zip is uploaded with the real SDK to the emulator's Object Storage; the operator fetches it
with its own signed ObjectStorageClient, and a replaced object makes revision 2 on resync.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

import pytest
from operator_harness import JOBS, Scenario, condition, wait_for

pytestmark = pytest.mark.integration
OBJECT = "team-a/jobs/train.zip"


def _zip(message: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("train/helper.py", f"MESSAGE = {message!r}\n")
        archive.writestr("train/main.py", "from helper import MESSAGE\nprint(MESSAGE, flush=True)\n")
    return buffer.getvalue()


def _oci_job(e2e: Scenario, emulator: Any, name: str, url: str) -> dict[str, Any]:
    job = e2e.job(name, "unused", entrypoint="main.py")
    job["spec"]["artifact"] = {"url": url}
    return job


def test_oci_url_artifact_runs_and_a_replaced_object_makes_revision_2(e2e: Scenario, emulator: Any) -> None:
    store = emulator.object_storage_client(retries=False)
    namespace, bucket = emulator.ids["OBJECT_STORAGE_NAMESPACE"], emulator.ids["OBJECT_STORAGE_BUCKET"]
    url = f"oci://{bucket}@{namespace}/{OBJECT}"
    first = _zip("hello from object storage v1")
    store.put_object(namespace, bucket, OBJECT, first)

    e2e.apply(_oci_job(e2e, emulator, "from-bucket", url))
    job = e2e.wait_job_active("from-bucket")
    artifact = job["status"]["artifact"]
    assert artifact["source"] == "url" and artifact["url"] == url, artifact
    assert artifact["digest"] == "sha256:" + hashlib.sha256(first).hexdigest()
    assert artifact["fileName"] == "train.zip" and artifact["sizeBytes"] == len(first)

    e2e.apply(e2e.run("r1", "from-bucket"))
    run = e2e.wait_run("r1", "Succeeded")
    assert any("hello from object storage v1" in line for line in e2e.run_log(run, "v1"))

    # Resyncs of an unchanged object cost a HEAD each, not a download.
    counts = wait_for(
        lambda: (ops := emulator.admin.stats()["operations"]).get("head_object", {}).get("total") and ops,
        timeout=30,
        message="a resync's head_object",
    )
    assert counts["get_object"]["total"] == 1, counts

    second = _zip("hello from object storage v2")
    store.put_object(namespace, bucket, OBJECT, second)
    job = e2e.wait_job_status(
        "from-bucket",
        lambda s: s.get("revision") == 2 and s.get("phase") == "Active",
        "revision 2 after the object was replaced (resync every 3 s)",
    )
    assert job["status"]["artifact"]["digest"] == "sha256:" + hashlib.sha256(second).hexdigest()
    e2e.apply(e2e.run("r2", "from-bucket"))
    run = e2e.wait_run("r2", "Succeeded")
    assert run["status"]["jobRevision"] == 2
    assert any("hello from object storage v2" in line for line in e2e.run_log(run, "v2"))


def test_missing_object_stalls_naming_the_url_and_object_then_recovers(e2e: Scenario, emulator: Any) -> None:
    namespace, bucket = emulator.ids["OBJECT_STORAGE_NAMESPACE"], emulator.ids["OBJECT_STORAGE_BUCKET"]
    url = f"oci://{bucket}@{namespace}/missing/train.zip"
    e2e.apply(_oci_job(e2e, emulator, "not-there", url))

    def stalled() -> dict[str, Any] | None:
        stall = condition(e2e.get_job("not-there"), "Stalled")
        return stall if stall and stall.get("status") == "True" else None

    stall = wait_for(stalled, timeout=60, message="Stalled condition for the missing object")
    assert "spec.artifact.url" in stall["message"] and url in stall["message"], stall
    assert "object missing/train.zip does not exist" in stall["message"], stall
    assert e2e.oci_jobs() == []

    wrong_bucket = f"oci://nope@{namespace}/x.zip"
    e2e.kube.patch(JOBS, "not-there", e2e.namespace, {"spec": {"artifact": {"url": wrong_bucket}}})
    wait_for(
        lambda: (s := stalled()) and "bucket nope does not exist" in s["message"],
        timeout=60,
        message="Stalled condition naming the missing bucket",
    )

    emulator.object_storage_client(retries=False).put_object(
        namespace, bucket, "missing/train.zip", _zip("ok")
    )
    e2e.kube.patch(JOBS, "not-there", e2e.namespace, {"spec": {"artifact": {"url": url}}})
    assert e2e.wait_job_active("not-there")["status"]["artifact"]["url"] == url
