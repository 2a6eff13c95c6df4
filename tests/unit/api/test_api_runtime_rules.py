"""Issue 16's fields (artifact.git, runtime, outputs, vaultSecretRef, the new status) checked twice, by
the CRD's CEL (evaluated offline) and by the pydantic model: same inputs refused, same words, the
field named."""

from __future__ import annotations

from typing import Any

import pytest
from api_cel_eval import violations
from api_samples import job_spec
from ocids_codegen.crdgen import crd
from ocids_operator.api import (
    MAX_LOG_TAIL_BYTES,
    TRAINING_JOB,
    TRAINING_JOB_RUN,
    ArtifactProvenance,
    TrainingJobRunSpec,
    TrainingJobRunStatus,
    TrainingJobSpec,
)
from pydantic import ValidationError

JOB_SCHEMA = crd(TRAINING_JOB)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
JOB_SPEC_SCHEMA = JOB_SCHEMA["properties"]["spec"]
RUN_SCHEMA = crd(TRAINING_JOB_RUN)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
RUN_SPEC_SCHEMA = RUN_SCHEMA["properties"]["spec"]

REPO = "https://git.example.com/team/train.git"
GIT = {"git": {"url": REPO, "ref": "main"}}
INLINE = {"inline": {"fileName": "train.py", "content": "def main(): pass"}}
IMAGE = {"image": "iad.ocir.io/ns/train:1"}
VAULT_ENV = [{"name": "TOKEN", "valueFrom": {"vaultSecretRef": {"secretId": "ocid1.vaultsecret.oc1..s"}}}]
OUTPUTS = {"uri": "oci://bucket@namespace/prefix/"}

# (id, spec, path the API server names, message)
INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "git-and-url",
        job_spec(artifact={**GIT, "url": "https://example.com/a.zip"}, entrypoint="a.py"),
        "spec.artifact",
        "exactly one of inline, configMapRef, url, urlFrom or git must be set",
    ),
    (
        "git-ssh-url",
        job_spec(artifact={"git": {"url": "ssh://git@host/repo.git", "ref": "main"}}, entrypoint="a.py"),
        "spec.artifact.git.url",
        "artifact.git.url must start with https://, git:// or file://",
    ),
    (
        "git-scp-like-url",
        job_spec(artifact={"git": {"url": "git@github.com:o/r.git", "ref": "main"}}, entrypoint="a.py"),
        "spec.artifact.git.url",
        "artifact.git.url must start with https://, git:// or file://",
    ),
    (
        "git-token-in-url",
        job_spec(
            artifact={"git": {"url": "https://user:ghp_secret@github.com/o/r.git", "ref": "main"}},
            entrypoint="a.py",
        ),
        "spec.artifact.git.url",
        "artifact.git.url must not contain credentials",
    ),
    (
        "git-user-in-url",
        job_spec(artifact={"git": {"url": "https://token@github.com/o/r.git", "ref": "v1"}}, entrypoint="a"),
        "spec.artifact.git.url",
        "artifact.git.url must not contain credentials",
    ),
    (
        "git-query-in-host",
        job_spec(
            artifact={"git": {"url": "https://169.254.169.254?/opc/v2.git", "ref": "main"}}, entrypoint="a.py"
        ),
        "spec.artifact.git.url",
        "artifact.git.url must not contain '?', '#' or a backslash in its host part",
    ),
    (
        "git-fragment-in-host",
        job_spec(artifact={"git": {"url": "https://127.0.0.1#/r.git", "ref": "main"}}, entrypoint="a.py"),
        "spec.artifact.git.url",
        "artifact.git.url must not contain '?', '#' or a backslash in its host part",
    ),
    (
        "git-daemon-query-in-host",
        job_spec(artifact={"git": {"url": "git://127.0.0.1?/r.git", "ref": "main"}}, entrypoint="a.py"),
        "spec.artifact.git.url",
        "artifact.git.url must not contain '?', '#' or a backslash in its host part",
    ),
    (
        "git-backslash-in-host",
        job_spec(
            artifact={"git": {"url": "https://169.254.169.254\\x/opc.git", "ref": "main"}}, entrypoint="a.py"
        ),
        "spec.artifact.git.url",
        "artifact.git.url must not contain '?', '#' or a backslash in its host part",
    ),
    (
        "git-allow-list-bypass",
        job_spec(
            artifact={"git": {"url": "https://evil.example?.allowed.com/r.git", "ref": "main"}},
            entrypoint="a.py",
        ),
        "spec.artifact.git.url",
        "artifact.git.url must not contain '?', '#' or a backslash in its host part",
    ),
    (
        "git-without-entry",
        job_spec(artifact=GIT),
        "spec.entrypoint",
        "artifact.git needs entrypoint (the file to run in the repository), runtime.python.module or "
        "runtime.notebook",
    ),
    (
        "git-with-container",
        job_spec(artifact=GIT, entrypoint="a.py", container=IMAGE),
        "spec.artifact.git",
        "artifact.git cannot be combined with container",
    ),
    (
        "python-and-notebook",
        job_spec(
            artifact=INLINE,
            runtime={"python": {"module": "train", "function": "main"}, "notebook": {"path": "n.ipynb"}},
        ),
        "spec.runtime.notebook",
        "runtime: set at most one of python and notebook",
    ),
    (
        "python-without-entry",
        job_spec(artifact=INLINE, runtime={"python": {"function": "main"}}),
        "spec.runtime.python",
        "runtime.python needs entrypoint (a .py file in the code) or runtime.python.module",
    ),
    (
        "notebook-with-entrypoint",
        job_spec(artifact=INLINE, entrypoint="train.py", runtime={"notebook": {"path": "n.ipynb"}}),
        "spec.entrypoint",
        "entrypoint cannot be set with runtime.notebook",
    ),
    (
        "runtime-with-container",
        job_spec(container=IMAGE, runtime={"python": {"module": "train", "function": "main"}}),
        "spec.runtime",
        "runtime cannot be combined with container",
    ),
    (
        "outputs-with-container",
        job_spec(container=IMAGE, outputs=OUTPUTS),
        "spec.outputs",
        "outputs cannot be combined with container",
    ),
    (
        "vault-with-container",
        job_spec(container=IMAGE, env=VAULT_ENV),
        "spec.env",
        "env[].valueFrom.vaultSecretRef cannot be used with container",
    ),
    (
        "vault-and-secret",
        job_spec(
            env=[
                {
                    "name": "A",
                    "valueFrom": {
                        "secretKeyRef": {"name": "s", "key": "k"},
                        "vaultSecretRef": {"secretId": "ocid1.vaultsecret.oc1..s"},
                    },
                }
            ]
        ),
        "spec.env[0].valueFrom",
        "exactly one of secretKeyRef, configMapKeyRef or vaultSecretRef must be set",
    ),
]


@pytest.mark.parametrize(("spec", "path", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_cel_refuses_naming_the_field(spec: dict[str, Any], path: str, message: str) -> None:
    found = violations(JOB_SPEC_SCHEMA, spec, path="spec")
    assert any(p == path and message in m for p, m in found), found


@pytest.mark.parametrize(("spec", "path", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_model_refuses_with_the_same_words(spec: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        TrainingJobSpec.model_validate(spec)
    assert message in str(raised.value)


SCHEMA_INVALID = [
    (
        "vault-id-not-a-secret",
        job_spec(env=[{"name": "A", "valueFrom": {"vaultSecretRef": {"secretId": "x"}}}]),
    ),
    ("outputs-not-oci", job_spec(outputs={"uri": "s3://bucket/prefix/"})),
    ("outputs-without-namespace", job_spec(outputs={"uri": "oci://bucket/prefix/"})),
    ("module-with-dash", job_spec(runtime={"python": {"module": "my-pkg", "function": "main"}})),
    ("function-dotted", job_spec(entrypoint="a.py", runtime={"python": {"function": "a.b"}})),
    (
        "python-path-absolute",
        job_spec(entrypoint="a.py", runtime={"python": {"function": "m", "pythonPath": ["/x"]}}),
    ),
    ("notebook-without-path", job_spec(runtime={"notebook": {}})),
    ("git-ref-with-space", job_spec(artifact={"git": {"url": REPO, "ref": "my branch"}}, entrypoint="a")),
    (
        "git-url-with-newline",
        job_spec(artifact={"git": {"url": REPO + "\nX", "ref": "main"}}, entrypoint="a"),
    ),
    ("exclude-tag-with-comma", job_spec(runtime={"notebook": {"path": "n.ipynb", "excludeTags": ["a,b"]}})),
]


@pytest.mark.parametrize("spec", [c[1] for c in SCHEMA_INVALID], ids=[c[0] for c in SCHEMA_INVALID])
def test_model_refuses_what_the_schema_refuses(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TrainingJobSpec.model_validate(spec)


VALID = [
    ("git-https", job_spec(artifact=GIT, entrypoint="train/main.py")),
    (
        "git-with-secret",
        job_spec(artifact={"git": {**GIT["git"], "secretRef": {"name": "gh"}}}, entrypoint="a"),
    ),
    (
        "git-query-after-the-path",
        job_spec(
            artifact={"git": {"url": "https://git.example.com:8443/o/r.git?x=1#y", "ref": "v1"}},
            entrypoint="a",
        ),
    ),
    (
        "git-daemon",
        job_spec(artifact={"git": {"url": "git://127.0.0.1/repo", "ref": "v1.0"}}, entrypoint="a"),
    ),
    (
        "git-file",
        job_spec(artifact={"git": {"url": "file:///srv/repo.git", "ref": "a" * 40}}, entrypoint="a"),
    ),
    # An '@' in the path is not a credential.
    (
        "git-at-in-path",
        job_spec(artifact={"git": {"url": "https://h/o/r@v2.git", "ref": "main"}}, entrypoint="a"),
    ),
    ("git-module", job_spec(artifact=GIT, runtime={"python": {"module": "pkg.train", "function": "main"}})),
    ("git-notebook", job_spec(artifact=GIT, runtime={"notebook": {"path": "nb/train.ipynb"}})),
    (
        "python-entrypoint",
        job_spec(
            artifact=INLINE,
            entrypoint="train.py",
            runtime={"python": {"function": "main", "pythonPath": ["lib"], "workingDir": "src"}},
        ),
    ),
    (
        "notebook-with-tags",
        job_spec(artifact=INLINE, runtime={"notebook": {"path": "n.ipynb", "excludeTags": ["skip", "slow"]}}),
    ),
    ("empty-runtime", job_spec(artifact=INLINE, runtime={})),
    ("outputs", job_spec(outputs={"directory": "/home/datascience/outputs", **OUTPUTS})),
    ("outputs-bucket-root", job_spec(outputs={"uri": "oci://bucket@namespace"})),
    ("vault-env", job_spec(env=VAULT_ENV)),
    ("container-with-plain-secret-env", job_spec(container=IMAGE, env=[{"name": "A", "value": "1"}])),
]


@pytest.mark.parametrize("spec", [c[1] for c in VALID], ids=[c[0] for c in VALID])
def test_valid_specs_pass_cel_and_model(spec: dict[str, Any]) -> None:
    assert violations(JOB_SPEC_SCHEMA, spec, path="spec") == []
    TrainingJobSpec.model_validate(spec)


def test_notebook_defaults() -> None:
    spec = TrainingJobSpec.model_validate(job_spec(runtime={"notebook": {"path": "n.ipynb"}}))
    assert spec.runtime is not None and spec.runtime.notebook is not None
    assert spec.runtime.notebook.encoding == "utf-8"
    assert spec.runtime.notebook.exclude_tags == []
    notebook = JOB_SPEC_SCHEMA["properties"]["runtime"]["properties"]["notebook"]
    assert notebook["properties"]["encoding"]["default"] == "utf-8"
    assert notebook["required"] == ["path"]


def test_a_run_may_read_vault_secrets() -> None:
    run = {"jobRef": {"name": "tj"}, "env": VAULT_ENV}
    assert violations(RUN_SPEC_SCHEMA, run, path="spec") == []
    parsed = TrainingJobRunSpec.model_validate(run)
    assert parsed.env[0].vault_secret_id == "ocid1.vaultsecret.oc1..s"


def test_status_carries_git_provenance_outputs_and_log_tail() -> None:
    artifact = JOB_SCHEMA["properties"]["status"]["properties"]["artifact"]["properties"]
    assert {"ref", "commit", "driverVersion"} <= artifact.keys()
    assert "git" in artifact["source"]["enum"]
    provenance = ArtifactProvenance.model_validate(
        {"source": "git", "url": REPO, "ref": "main", "commit": "a" * 40, "driverVersion": "1"}
    )
    assert provenance.commit == "a" * 40 and provenance.driver_version == "1"
    run_status = RUN_SCHEMA["properties"]["status"]["properties"]
    assert run_status["outputs"]["properties"]["uri"]["type"] == "string"
    assert run_status["logTail"]["maxLength"] == MAX_LOG_TAIL_BYTES
    assert "off by default" in run_status["logTail"]["description"].lower()
    status = TrainingJobRunStatus.model_validate(
        {"outputs": {"uri": "oci://b@n/p/ocid1.datasciencejobrun.x/"}}
    )
    assert status.outputs is not None and status.outputs.uri.endswith("jobrun.x/")  # type: ignore[union-attr]
