"""SDK mapping: core requests -> oci.data_science request bodies, SDK responses -> core views.

The only module that knows the SDK's model classes; `oci_client.py` sends what this builds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from oci.data_science import models as ds

from ..api import Container, Infrastructure, LoggingConfig, StorageMount
from ..core.job_plan import MOUNT_FIELDS, InPlace, ObservedJob, infrastructure_key, mounts_key
from ..core.model import (
    JobRequest,
    JobUpdate,
    RunRequest,
    Template,
    command_line,
    job_environment,
    job_tags,
    log_key,
    ownership_tags,
)
from ..core.run_plan import RunView


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
            log_key(
                log_cfg.enable_logging, log_cfg.enable_auto_log_creation, log_cfg.log_group_id, log_cfg.log_id
            )
            if log_cfg
            else None
        ),
    )


# Whole requests ---------------------------------------------------------------------------------
def create_job_details(request: JobRequest) -> ds.CreateJobDetails:
    spec, ref = request.spec, request.ref
    return ds.CreateJobDetails(
        project_id=spec.project_id,
        compartment_id=spec.compartment_id,
        display_name=spec.display_name or ref.default_display_name,
        description=spec.description,
        job_configuration_details=job_configuration(
            job_environment(spec, request.user_env), spec.args, spec.maximum_runtime_in_minutes
        ),
        job_infrastructure_configuration_details=infrastructure_details(spec.infrastructure),
        job_environment_configuration_details=container_details(spec.container),
        job_log_configuration_details=log_details(spec.logging),
        job_storage_mount_configuration_details_list=storage_mount_details(spec.storage_mounts),
        freeform_tags=job_tags(spec, ref, request.revision, request.template_hash),
    )


def update_job_details(update: JobUpdate) -> ds.UpdateJobDetails:
    spec, ref = update.spec, update.ref
    return ds.UpdateJobDetails(
        display_name=spec.display_name or ref.default_display_name,
        description=spec.description,
        job_infrastructure_configuration_details=infrastructure_details(spec.infrastructure),
        # An empty list (not None) so removing the last mount removes it in OCI too.
        job_storage_mount_configuration_details_list=storage_mount_details(spec.storage_mounts) or [],
        freeform_tags=job_tags(spec, ref, update.revision, update.template_hash),
    )


def create_job_run_details(request: RunRequest) -> ds.CreateJobRunDetails:
    """A run of the job with the run's overrides: env merged over the job's, args replace."""
    run, job, ref = request.run, request.job, request.ref
    config_override = None
    if run.env or run.args is not None or run.maximum_runtime_in_minutes is not None:
        # OCI replaces the job's configuration with the override as a whole, so send all of it.
        env = {**job_environment(job, request.job_user_env), **request.run_user_env}
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
        job_id=request.job_id,
        display_name=run.display_name or ref.default_display_name,
        job_configuration_override_details=config_override,
        job_infrastructure_configuration_override_details=infra_override,
        job_log_configuration_override_details=log_details(run.logging),
        freeform_tags=ownership_tags(ref),
    )


# Responses --------------------------------------------------------------------------------------
def observed_infrastructure(infra: Any) -> tuple[Any, ...]:
    if infra is None:
        return ()
    shape_config = getattr(infra, "job_shape_config_details", None)
    return infrastructure_key(
        getattr(infra, "job_infrastructure_type", None),
        getattr(infra, "shape_name", None),
        getattr(shape_config, "ocpus", None),
        getattr(shape_config, "memory_in_gbs", None),
        getattr(infra, "block_storage_size_in_gbs", None),
        getattr(infra, "subnet_id", None),
    )


def observed_mounts(mounts: Sequence[Any] | None) -> tuple[Any, ...]:
    return mounts_key({key: getattr(mount, key, None) for key in MOUNT_FIELDS} for mount in mounts or ())


def observe_job(job: ds.Job, artifact_digest: str | None = None, etag: str | None = None) -> ObservedJob:
    return ObservedJob(
        id=job.id,
        lifecycle_state=str(job.lifecycle_state),
        in_place=InPlace(
            display_name=job.display_name,
            description=job.description,
            infrastructure=observed_infrastructure(job.job_infrastructure_configuration_details),
            storage_mounts=observed_mounts(job.job_storage_mount_configuration_details_list),
            freeform_tags=tuple(sorted((job.freeform_tags or {}).items())),
        ),
        template=observed_template(job),
        tags=dict(job.freeform_tags or {}),
        artifact_digest=artifact_digest,
        etag=etag,
        compartment_id=job.compartment_id,
    )


def run_view(run: Any) -> RunView:
    """From an oci JobRun or JobRunSummary (a summary carries no logDetails)."""
    log_details = getattr(run, "log_details", None)
    return RunView(
        id=run.id,
        job_id=run.job_id,
        compartment_id=run.compartment_id,
        lifecycle_state=str(run.lifecycle_state),
        lifecycle_details=run.lifecycle_details,
        time_accepted=run.time_accepted,
        time_started=run.time_started,
        time_finished=run.time_finished,
        log_group_id=getattr(log_details, "log_group_id", None),
        log_id=getattr(log_details, "log_id", None),
        tags=dict(getattr(run, "freeform_tags", None) or {}),
    )
