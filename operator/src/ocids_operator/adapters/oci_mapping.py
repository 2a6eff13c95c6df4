"""Spec -> OCI request bodies (oci.data_science.models). Pure: no I/O, no kopf.

Secret values only pass through here into the request body OCI needs; they are hashed into
the template hash and never returned in anything that reaches status, events or logs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from oci.data_science import models as ds
from pydantic.alias_generators import to_camel

from ..api import (
    Conda,
    Container,
    Infrastructure,
    LoggingConfig,
    StorageMount,
    TrainingJobRunSpec,
    TrainingJobSpec,
)

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
class ResolvedArtifact:
    source: str  # inline | configMap | url
    file_name: str
    content: bytes
    url: str | None = None

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.content).hexdigest()

    @property
    def size_bytes(self) -> int:
        return len(self.content)


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


def run_retry_token(uid: str) -> str:
    return retry_token("run", uid)


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


# Building blocks --------------------------------------------------------------------------------
def infrastructure_details(infra: Infrastructure) -> ds.JobInfrastructureConfigurationDetails:
    shape_config = None
    if infra.ocpus is not None or infra.memory_in_gbs is not None:
        shape_config = ds.JobShapeConfigDetails(ocpus=infra.ocpus, memory_in_gbs=infra.memory_in_gbs)
    if infra.subnet_id:
        return ds.StandaloneJobInfrastructureConfigurationDetails(
            job_infrastructure_type="STANDALONE",
            shape_name=infra.shape,
            subnet_id=infra.subnet_id,
            block_storage_size_in_gbs=infra.block_storage_size_in_gbs,
            job_shape_config_details=shape_config,
        )
    return ds.ManagedEgressStandaloneJobInfrastructureConfigurationDetails(
        job_infrastructure_type="ME_STANDALONE",
        shape_name=infra.shape,
        block_storage_size_in_gbs=infra.block_storage_size_in_gbs,
        job_shape_config_details=shape_config,
    )


def log_details(logging: LoggingConfig | None) -> ds.JobLogConfigurationDetails | None:
    if logging is None:
        return None
    return ds.JobLogConfigurationDetails(
        enable_logging=logging.enabled,
        enable_auto_log_creation=logging.auto_create_log,
        log_group_id=logging.log_group_id,
        log_id=logging.log_id,
    )


def container_details(
    container: Container | None,
) -> ds.OcirContainerJobEnvironmentConfigurationDetails | None:
    if container is None:
        return None
    return ds.OcirContainerJobEnvironmentConfigurationDetails(
        job_environment_type="OCIR_CONTAINER",
        image=container.image,
        entrypoint=list(container.command) or None,
        cmd=list(container.args) or None,
        image_digest=container.image_digest,
    )


def storage_mount_details(mounts: Sequence[StorageMount]) -> list[ds.StorageMountConfigurationDetails] | None:
    if not mounts:
        return None
    result: list[ds.StorageMountConfigurationDetails] = []
    for mount in mounts:
        where = {
            "storage_type": mount.storage_type,
            "destination_directory_name": mount.destination_directory_name,
            "destination_path": mount.destination_path,
        }
        if mount.storage_type == "OBJECT_STORAGE":
            result.append(
                ds.ObjectStorageMountConfigurationDetails(
                    **where, namespace=mount.namespace, bucket=mount.bucket, prefix=mount.prefix
                )
            )
        else:
            result.append(
                ds.FileStorageMountConfigurationDetails(
                    **where, mount_target_id=mount.mount_target_id, export_id=mount.export_id
                )
            )
    return result


def job_configuration(
    env: Mapping[str, str], args: Sequence[str], maximum_runtime_in_minutes: int | None
) -> ds.DefaultJobConfigurationDetails:
    return ds.DefaultJobConfigurationDetails(
        job_type="DEFAULT",
        environment_variables=dict(env) or None,
        command_line_arguments=command_line(args),
        maximum_runtime_in_minutes=maximum_runtime_in_minutes,
    )


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


def _log_tuple(
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
            _log_tuple(
                spec.logging.enabled,
                spec.logging.auto_create_log,
                spec.logging.log_group_id,
                spec.logging.log_id,
            )
            if spec.logging
            else None
        ),
    )


def observed_template(job: ds.Job) -> Template:
    config = job.job_configuration_details
    env_cfg = job.job_environment_configuration_details
    log_cfg = job.job_log_configuration_details
    container = None
    if env_cfg is not None and getattr(env_cfg, "image", None):
        container = (
            env_cfg.image,
            tuple(env_cfg.entrypoint or ()),
            tuple(env_cfg.cmd or ()),
            env_cfg.image_digest,
        )
    return Template(
        env=tuple(sorted((getattr(config, "environment_variables", None) or {}).items())),
        command_line_arguments=getattr(config, "command_line_arguments", None) or None,
        maximum_runtime_in_minutes=getattr(config, "maximum_runtime_in_minutes", None),
        container=container,
        logging=(
            _log_tuple(
                log_cfg.enable_logging, log_cfg.enable_auto_log_creation, log_cfg.log_group_id, log_cfg.log_id
            )
            if log_cfg
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


# Whole requests ---------------------------------------------------------------------------------
def create_job_details(
    spec: TrainingJobSpec,
    ref: ObjectRef,
    user_env: Mapping[str, str],
    revision: int,
    template_hash_value: str,
) -> ds.CreateJobDetails:
    return ds.CreateJobDetails(
        project_id=spec.project_id,
        compartment_id=spec.compartment_id,
        display_name=spec.display_name or ref.default_display_name,
        description=spec.description,
        job_configuration_details=job_configuration(
            job_environment(spec, user_env), spec.args, spec.maximum_runtime_in_minutes
        ),
        job_infrastructure_configuration_details=infrastructure_details(spec.infrastructure),
        job_environment_configuration_details=container_details(spec.container),
        job_log_configuration_details=log_details(spec.logging),
        job_storage_mount_configuration_details_list=storage_mount_details(spec.storage_mounts),
        freeform_tags=job_tags(spec, ref, revision, template_hash_value),
    )


def update_job_details(
    spec: TrainingJobSpec, ref: ObjectRef, revision: int, template_hash_value: str
) -> ds.UpdateJobDetails:
    return ds.UpdateJobDetails(
        display_name=spec.display_name or ref.default_display_name,
        description=spec.description,
        job_infrastructure_configuration_details=infrastructure_details(spec.infrastructure),
        # An empty list (not None) so removing the last mount removes it in OCI too.
        job_storage_mount_configuration_details_list=storage_mount_details(spec.storage_mounts) or [],
        freeform_tags=job_tags(spec, ref, revision, template_hash_value),
    )


def create_job_run_details(
    run: TrainingJobRunSpec,
    job: TrainingJobSpec,
    ref: ObjectRef,
    job_id: str,
    job_user_env: Mapping[str, str],
    run_user_env: Mapping[str, str],
) -> ds.CreateJobRunDetails:
    """A run of `job_id` with the run's overrides: env merged over the job's, args replace."""
    config_override = None
    if run.env or run.args is not None or run.maximum_runtime_in_minutes is not None:
        # OCI replaces the job's configuration with the override as a whole, so send all of it.
        env = {**job_environment(job, job_user_env), **run_user_env}
        config_override = job_configuration(
            env,
            run.args if run.args is not None else job.args,
            run.maximum_runtime_in_minutes or job.maximum_runtime_in_minutes,
        )
    infra_override = None
    if run.infrastructure is not None:
        infra_override = infrastructure_details(job.infrastructure.with_override(run.infrastructure))
    return ds.CreateJobRunDetails(
        project_id=job.project_id,
        compartment_id=job.compartment_id,
        job_id=job_id,
        display_name=run.display_name or ref.default_display_name,
        job_configuration_override_details=config_override,
        job_infrastructure_configuration_override_details=infra_override,
        job_log_configuration_override_details=log_details(run.logging),
        freeform_tags=ownership_tags(ref),
    )


def to_wire(model: Any) -> Any:
    """A request model as the JSON OCI receives (camelCase), for scenario tables and debugging."""
    if model is None:
        return None
    if isinstance(model, list):
        return [to_wire(item) for item in model]
    if isinstance(model, dict):
        return {key: to_wire(value) for key, value in model.items()}
    attribute_map = getattr(model, "attribute_map", None)
    if attribute_map is None:
        return model
    result = {}
    for attr, wire in attribute_map.items():
        value = getattr(model, attr)
        if value is not None:
            result[wire] = to_wire(value)
    return result
