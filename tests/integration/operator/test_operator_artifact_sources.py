"""Hardened artifact sources, end to end against the API server and the emulator:

- `artifact.urlFrom.secretKeyRef`: a pre-authenticated request URL kept in a Secret is used, shown
  without its token, and a changed Secret is a new source (a new revision at the next resync);
- the CRD refuses url together with urlFrom, and control characters in URL fields, naming the field;
- an `oci://` object stored with `Content-Encoding: gzip` reaches OCI byte-exact (not decoded).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from operator_harness import OperatorProcess, Scenario
from test_operator_artifact_defects import ArtifactHost, _zip, operator_env, serve

pytestmark = pytest.mark.integration


@pytest.fixture
def artifact_host(tmp_path: Path) -> Iterator[tuple[ArtifactHost, str, str]]:
    host = ArtifactHost()
    with serve(host, tmp_path) as (https, plain):
        yield host, https, plain


def _secret(namespace: str, name: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {"url": url + "\n"},  # as `kubectl create secret --from-file` keeps a file's newline
    }


def _url_from_job(world: Scenario, name: str, secret: str) -> dict[str, Any]:
    job = world.job(name, "unused", entrypoint="main.py")
    job["spec"]["artifact"] = {"urlFrom": {"secretKeyRef": {"name": secret, "key": "url"}}}
    return job


def test_a_par_url_from_a_secret_is_used_never_shown_and_a_changed_secret_makes_a_new_revision(
    world: Scenario, start_operator: Callable[..., OperatorProcess], artifact_host: Any
) -> None:
    host, https, _ = artifact_host
    token, token2 = "pA9" + secrets.token_urlsafe(40), "pB7" + secrets.token_urlsafe(40)
    first, second = _zip("v1 from a PAR in a Secret"), _zip("v2 from a new PAR")
    host.files[f"/p/{token}/n/ns1/b/bucket/o/jobs/train.zip"] = first
    host.files[f"/p/{token2}/n/ns1/b/bucket/o/jobs/train.zip"] = second
    op = start_operator(env=operator_env(host))
    world.operator = op

    world.apply(_secret(world.namespace, "train-par", f"{https}/p/{token}/n/ns1/b/bucket/o/jobs/train.zip"))
    world.apply(_url_from_job(world, "from-secret", "train-par"))
    job = world.wait_job_active("from-secret")
    artifact = job["status"]["artifact"]
    assert artifact["url"] == f"{https}/p/***/n/ns1/b/bucket/o/jobs/train.zip", artifact
    assert artifact["digest"] == "sha256:" + hashlib.sha256(first).hexdigest()
    assert job["status"]["revision"] == 1

    # Rotating the PAR in the Secret: the next resync (every 3 s here) reads it, and new bytes
    # make a new revision like a changed url would.
    world.apply(_secret(world.namespace, "train-par", f"{https}/p/{token2}/n/ns1/b/bucket/o/jobs/train.zip"))
    job = world.wait_job_status(
        "from-secret",
        lambda s: (
            s.get("revision") == 2
            and (s.get("artifact") or {}).get("digest") == "sha256:" + hashlib.sha256(second).hexdigest()
        ),
        "revision 2 from the rotated Secret",
    )

    # Neither token reaches the TrainingJob (spec, annotations), status, Events or the log.
    shown = json.dumps([world.get_job("from-secret"), world.kube.events(world.namespace)])
    assert "/p/***/n/" in shown
    for secret_part in (token, token2):
        assert secret_part not in shown, "a PAR token reached the object, status or Events"
        assert secret_part not in op.log_text(), "a PAR token reached the operator log"


def test_a_missing_url_secret_waits_and_the_job_starts_once_it_exists(
    world: Scenario, start_operator: Callable[..., OperatorProcess], artifact_host: Any
) -> None:
    host, https, _ = artifact_host
    host.files["/late.zip"] = _zip("late Secret")
    world.operator = start_operator(env=operator_env(host))

    world.apply(_url_from_job(world, "waits", "not-yet"))
    pending = world.wait_job_status(
        "waits", lambda s: "not-yet" in (s.get("message") or ""), "a message naming the missing Secret"
    )
    assert pending["status"].get("phase") != "Failed", pending["status"]
    assert world.oci_jobs() == []
    world.apply(_secret(world.namespace, "not-yet", f"{https}/late.zip"))
    assert world.wait_job_active("waits", timeout=120)["status"]["artifact"]["url"] == f"{https}/late.zip"


@pytest.mark.parametrize(
    ("artifact", "named"),
    [
        (
            {"url": "https://h.example/a.py", "urlFrom": {"secretKeyRef": {"name": "s", "key": "url"}}},
            "spec.artifact.urlFrom",
        ),
        ({"url": "https://h.example/a.py\r\nX-Injected: 1"}, "spec.artifact.url"),
    ],
)
def test_the_api_server_refuses_two_url_sources_and_control_characters_naming_the_field(
    world: Scenario, artifact: dict[str, Any], named: str
) -> None:
    job = world.job("bad-url", "unused")
    job["spec"]["artifact"] = artifact
    proc = world.kube.apply(job, check=False)
    assert proc.returncode != 0 and named in proc.stderr, proc.stderr
    assert world.get_job("bad-url") is None


def test_a_published_conda_uri_with_a_newline_is_refused_naming_the_field(world: Scenario) -> None:
    job = world.job("bad-conda", "print(1)")
    job["spec"]["conda"] = {"type": "published", "uri": "oci://envs@ns/conda\n/env.tar.gz"}
    proc = world.kube.apply(job, check=False)
    assert proc.returncode != 0 and "spec.conda.uri" in proc.stderr, proc.stderr


def test_a_gzip_encoded_object_reaches_oci_byte_exact(e2e: Scenario, emulator: Any) -> None:
    store = emulator.object_storage_client(retries=False)
    namespace, bucket = emulator.ids["OBJECT_STORAGE_NAMESPACE"], emulator.ids["OBJECT_STORAGE_BUCKET"]
    served = gzip.compress(b"print('stored as served', flush=True)\n")
    store.put_object(namespace, bucket, "gz/train.py.gz", served, content_encoding="gzip")

    job = e2e.job("gz", "unused")
    job["spec"]["artifact"] = {"url": f"oci://{bucket}@{namespace}/gz/train.py.gz"}
    e2e.apply(job)
    artifact = e2e.wait_job_active("gz")["status"]["artifact"]
    # Decoded, it would be the 38 bytes of the script: OCI must get the object as stored.
    assert artifact["digest"] == "sha256:" + hashlib.sha256(served).hexdigest(), artifact
    assert artifact["sizeBytes"] == len(served)
    job_id = str((e2e.get_job("gz") or {})["status"]["jobId"])
    assert e2e.oci.ds.get_job_artifact_content(job_id).data.content == served
