"""The core's own words for what goes to OCI: identity, tags, the artifact, the job template.

No SDK types here: `adapters/oci_mapping.py` turns these into request bodies. Secret values
pass through `Template.env` and the requests only: they are hashed into the template hash and
never returned in anything that reaches status, events or logs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic.alias_generators import to_camel

from ..api import Conda, TrainingJobRunSpec, TrainingJobSpec

TAG_UID = "ocids.io/uid"
TAG_NAMESPACE = "ocids.io/namespace"
TAG_NAME = "ocids.io/name"
TAG_CLUSTER = "ocids.io/cluster"
TAG_REVISION = "ocids.io/revision"
TAG_TEMPLATE = "ocids.io/template-hash"
OPERATOR_TAGS = (TAG_UID, TAG_NAMESPACE, TAG_NAME, TAG_CLUSTER, TAG_REVISION, TAG_TEMPLATE)


@dataclasses.dataclass(frozen=True)
class ObjectRef:
    """Identity of the Kubernetes object behind an OCI resource."""

    namespace: str
    name: str
    uid: str
    cluster: str

    @property
    def default_display_name(self) -> str:
        return f"{self.namespace}-{self.name}"[:255]


@dataclasses.dataclass(frozen=True)
class SpooledContent:
    """Artifact bytes in a file, hashed while they were written: URL artifacts may be as large as
    the size cap, and several held in memory at once would outgrow the operator's memory limit."""

    path: str
    digest: str
    size: int


@dataclasses.dataclass(frozen=True)
class ResolvedArtifact:
    source: str  # inline | configMap | url
    file_name: str
    content: bytes = b""  # inline and ConfigMap artifacts (small: a Kubernetes object holds them)
    url: str | None = None  # as shown: no secrets
    spooled: SpooledContent | None = None  # URL artifacts: the bytes on disk, `content` unused

    @property
    def digest(self) -> str:
        return self.spooled.digest if self.spooled else content_digest(self.content)

    @property
    def size_bytes(self) -> int:
        return self.spooled.size if self.spooled else len(self.content)


def content_digest(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


def ownership_tags(ref: ObjectRef) -> dict[str, str]:
    return {TAG_UID: ref.uid, TAG_NAMESPACE: ref.namespace, TAG_NAME: ref.name, TAG_CLUSTER: ref.cluster}


def job_tags(spec: TrainingJobSpec, ref: ObjectRef, revision: int, template_hash: str) -> dict[str, str]:
    # The user's tags first, so they can never overwrite the operator's own.
    return {
        **spec.freeform_tags,
        **ownership_tags(ref),
        TAG_REVISION: str(revision),
        TAG_TEMPLATE: template_hash,
    }


def retry_token(*parts: str) -> str:
    """opc-retry-token (at most 64 chars): the same object and step always send the same token."""
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:64]


def job_retry_token(uid: str, revision: int) -> str:
    return retry_token("job", uid, str(revision))


def run_retry_token(uid: str, refusals: int = 0) -> str:
    """One token per attempt: a new one only after OCI refused the last outright (created nothing)."""
    return retry_token("run", uid) if refusals == 0 else retry_token("run", uid, str(refusals))


# Environment ----------------------------------------------------------------------------------
def conda_env(conda: Conda | None) -> dict[str, str]:
    if conda is None:
        return {}
    if conda.type == "service":
        return {"CONDA_ENV_TYPE": "service", "CONDA_ENV_SLUG": conda.slug or ""}
    # oci://bucket@namespace/path/to/env
    assert conda.uri is not None
    bucket_ns, _, object_name = conda.uri.removeprefix("oci://").partition("/")
    bucket, _, namespace = bucket_ns.partition("@")
    env = {
        "CONDA_ENV_TYPE": "published",
        "CONDA_ENV_BUCKET": bucket,
        "CONDA_ENV_NAMESPACE": namespace,
        "CONDA_ENV_OBJECT_NAME": object_name,
    }
    if conda.slug:
        env["CONDA_ENV_SLUG"] = conda.slug
    if conda.region:
        env["CONDA_ENV_REGION"] = conda.region
    return env


def job_environment(spec: TrainingJobSpec, user_env: Mapping[str, str]) -> dict[str, str]:
    """The job's environmentVariables: conda + entrypoint, then the user's (resolved) env on top."""
    env = conda_env(spec.conda)
    if spec.entrypoint:
        env["JOB_RUN_ENTRYPOINT"] = spec.entrypoint
    env.update(user_env)
    return env


def command_line(args: Sequence[str]) -> str | None:
    return shlex.join(args) if args else None


# Template: what OCI cannot change on an existing job ----------------------------------------------
@dataclasses.dataclass(frozen=True)
class Template:
    """The immutable part of a job, normalized so a spec and an OCI job compare equal."""

    env: tuple[tuple[str, str], ...]
    command_line_arguments: str | None
    maximum_runtime_in_minutes: int | None
    container: tuple[Any, ...] | None
    logging: tuple[Any, ...] | None

    def differences(self, other: Template) -> list[str]:
        """Names (never values) of the fields that differ."""
        return changed_fields(self, other, {"command_line_arguments": "args"})


def changed_fields(ours: Any, theirs: Any, renamed: Mapping[str, str] | None = None) -> list[str]:
    """Spec names (camelCase, or as `renamed`) of the dataclass fields that differ; never values."""
    return [
        (renamed or {}).get(field.name, to_camel(field.name))
        for field in dataclasses.fields(ours)
        if getattr(ours, field.name) != getattr(theirs, field.name)
    ]


def log_key(
    enabled: bool | None, auto: bool | None, group: str | None, log: str | None
) -> tuple[Any, ...] | None:
    if not enabled:
        return None
    # With auto-creation OCI fills logId in itself, so it is not part of what the user asked for.
    return (True, bool(auto), group, None if auto else log)


def desired_template(spec: TrainingJobSpec, user_env: Mapping[str, str]) -> Template:
    container = spec.container
    return Template(
        env=tuple(sorted(job_environment(spec, user_env).items())),
        command_line_arguments=command_line(spec.args),
        maximum_runtime_in_minutes=spec.maximum_runtime_in_minutes,
        container=(
            (container.image, tuple(container.command), tuple(container.args), container.image_digest)
            if container
            else None
        ),
        logging=(
            log_key(
                spec.logging.enabled,
                spec.logging.auto_create_log,
                spec.logging.log_group_id,
                spec.logging.log_id,
            )
            if spec.logging
            else None
        ),
    )


def template_hash(template: Template, artifact_digest: str) -> str:
    """A short stable hash of the template and artifact, stored only as the OCI job's tag.

    Secret values are inside `template.env`. The hash stays off the Kubernetes object: anyone who
    can read a TrainingJob sees every other input, so the hash would let them test guesses of a
    secret offline. OCI readers gain nothing from it: the job's env values are visible to them.
    """
    payload = json.dumps([dataclasses.asdict(template), artifact_digest], sort_keys=True, default=list)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


# What the workflows ask OCI to create or change -----------------------------------------------------
@dataclasses.dataclass(frozen=True)
class JobRequest:
    """CreateJob of one revision (`adapters/oci_mapping.create_job_details` spells it out)."""

    spec: TrainingJobSpec
    ref: ObjectRef
    user_env: Mapping[str, str]
    revision: int
    template_hash: str

    @property
    def retry_token(self) -> str:
        return job_retry_token(self.ref.uid, self.revision)


@dataclasses.dataclass(frozen=True)
class JobUpdate:
    """UpdateJob of the in-place fields; `template_hash` is the tag value to write."""

    spec: TrainingJobSpec
    ref: ObjectRef
    revision: int
    template_hash: str


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """CreateJobRun of `job_id` with the run's overrides."""

    run: TrainingJobRunSpec
    job: TrainingJobSpec
    ref: ObjectRef
    job_id: str
    job_user_env: Mapping[str, str]
    run_user_env: Mapping[str, str]
    refusals: int = 0  # CreateJobRuns OCI refused outright so far (status.createRefusals)

    @property
    def retry_token(self) -> str:
        return run_retry_token(self.ref.uid, self.refusals)
