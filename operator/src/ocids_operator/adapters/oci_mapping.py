"""SDK mapping: core requests -> oci.data_science request bodies, SDK responses -> core views.

The only module that knows the SDK's model classes; `oci_client.py` sends what this builds.
Every request reads back (observe_job) to the key the spec gives: a field read differently
would update the job in place, or make a new revision, at every reconcile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from oci.data_science import models as ds

from ..api import ComputeResources, Infrastructure, LoggingConfig, StorageMount, TrainingJobSpec
from ..core.driver_env import DriverContext
from ..core.job_plan import (
    MANAGED_COMPUTE_CLUSTER,
    MOUNT_FIELDS,
    InPlace,
    ObservedJob,
    defined_tags_key,
    infrastructure_key,
    infrastructure_type,
    mounts_key,
)
from ..core.metric_lines import LogLine
from ..core.model import (
    ContainerImage,
    JobRequest,
    JobUpdate,
    NodeCompute,
    NodeConfig,
    NodeGroupConfig,
    Probe,
    RunRequest,
    Template,
    command_line,
    container_key,
    container_of,
    job_environment,
    job_tags,
    log_key,
    node_config,
    num,
    probe_of,
    run_environment,
    run_tags,
)
from ..core.run_plan import RunView
from ..core.times import parse_time

MULTI_NODE = "MULTI_NODE"
DEFAULT_NETWORK = "DEFAULT_NETWORK"
CUSTOM_NETWORK = "CUSTOM_NETWORK"


# Building blocks --------------------------------------------------------------------------------
def shape_config(
    ocpus: float | None, memory_in_gbs: float | None, cpu_baseline: str | None
) -> ds.JobShapeConfigDetails | None:
    if ocpus is None and memory_in_gbs is None and cpu_baseline is None:
        return None
    return ds.JobShapeConfigDetails(ocpus=ocpus, memory_in_gbs=memory_in_gbs, cpu_baseline=cpu_baseline)


def resource_configuration(
    resources: ComputeResources | None,
) -> ds.ManagedComputeClusterJobResourceConfiguration | None:
    if resources is None:
        return None
    requests, limits = resources.requests, resources.limits
    return ds.ManagedComputeClusterJobResourceConfiguration(
        resource_request_configuration=ds.ResourceRequestConfiguration(
            ocpus=requests.ocpus, memory_in_gbs=requests.memory_in_gbs, gpus=requests.gpus
        )
        if requests
        else None,
        resource_limit_configuration=ds.ResourceLimitConfiguration(
            ocpus=limits.ocpus, memory_in_gbs=limits.memory_in_gbs
        )
        if limits
        else None,
    )


def infrastructure_details(infra: Infrastructure) -> ds.JobInfrastructureConfigurationDetails:
    """A single-node job's (or run's) infrastructure. A fast-launch spec arrives with its shape
    filled in by the workflow; only a compute target has none."""
    kind = infrastructure_type(infra)
    if kind == MANAGED_COMPUTE_CLUSTER:
        return ds.ManagedComputeClusterJobInfrastructureConfigurationDetails(
            job_infrastructure_type=MANAGED_COMPUTE_CLUSTER,
            compute_target_id=infra.compute_target_id,
            resource_configuration=resource_configuration(infra.resources),
        )
    if infra.shape is None:
        raise ValueError(
            "spec.infrastructure.shape: no shape to send (a fast-launch shape is resolved first)"
        )
    common = {
        "shape_name": infra.shape,
        "block_storage_size_in_gbs": infra.block_storage_size_in_gbs,
        "capacity_reservation_id": infra.capacity_reservation_id,
        "job_shape_config_details": shape_config(infra.ocpus, infra.memory_in_gbs, infra.cpu_baseline),
    }
    if kind == "STANDALONE":
        return ds.StandaloneJobInfrastructureConfigurationDetails(
            job_infrastructure_type=kind, subnet_id=infra.subnet_id, **common
        )
    return ds.ManagedEgressStandaloneJobInfrastructureConfigurationDetails(
        job_infrastructure_type=kind, **common
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
    container: ContainerImage | None,
) -> ds.OcirContainerJobEnvironmentConfigurationDetails | None:
    if container is None:
        return None
    return ds.OcirContainerJobEnvironmentConfigurationDetails(
        job_environment_type="OCIR_CONTAINER",
        image=container.image,
        entrypoint=list(container.entrypoint) or None,
        cmd=list(container.cmd) or None,
        image_digest=container.image_digest,
        image_signature_id=container.image_signature_id,
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


def probe_details(probe: Probe | None) -> ds.JobExecProbeDetails | None:
    if probe is None:
        return None
    return ds.JobExecProbeDetails(
        job_probe_check_type="EXEC",
        command=list(probe.command),
        period_in_seconds=probe.period_in_seconds,
        failure_threshold=probe.failure_threshold,
        initial_delay_in_seconds=probe.initial_delay_in_seconds,
    )


def job_configuration(
    env: Mapping[str, str],
    args: Sequence[str],
    maximum_runtime_in_minutes: int | None,
    probe: Probe | None = None,
) -> ds.DefaultJobConfigurationDetails:
    return ds.DefaultJobConfigurationDetails(
        job_type="DEFAULT",
        environment_variables=dict(env) or None,
        command_line_arguments=command_line(args),
        maximum_runtime_in_minutes=maximum_runtime_in_minutes,
        startup_probe_details=probe_details(probe),
    )


def top_level_configuration(
    spec: TrainingJobSpec, user_env: Mapping[str, str], driver: DriverContext | None = None
) -> ds.JobConfigurationDetails:
    if spec.job_type == "EMPTY":
        return ds.EmptyJobConfigurationDetails(job_type="EMPTY")
    return job_configuration(
        job_environment(spec, user_env, driver),
        spec.args,
        spec.maximum_runtime_in_minutes,
        probe_of(spec.startup_probe),
    )


def node_group_details(group: NodeGroupConfig) -> ds.JobNodeGroupConfigurationDetails:
    compute = group.compute
    return ds.JobNodeGroupConfigurationDetails(
        name=group.name,
        replicas=group.replicas,
        minimum_success_replicas=group.minimum_success_replicas,
        job_infrastructure_configuration_details=ds.MultiNodeJobInfrastructureConfigurationDetails(
            job_infrastructure_type=MULTI_NODE,
            shape_name=compute.shape,
            block_storage_size_in_gbs=compute.block_storage_size_in_gbs,
            capacity_reservation_ids=list(compute.capacity_reservation_ids) or None,
            job_shape_config_details=shape_config(compute.ocpus, compute.memory_in_gbs, compute.cpu_baseline),
        ),
        job_configuration_details=ds.DefaultJobConfigurationDetails(
            job_type="DEFAULT",
            environment_variables=dict(group.env) or None,
            command_line_arguments=group.command_line_arguments,
            startup_probe_details=probe_details(group.startup_probe),
        ),
        job_environment_configuration_details=container_details(group.container),
    )


def node_configuration_details(nodes: NodeConfig) -> ds.MultiNodeJobNodeConfigurationDetails:
    network: ds.JobNetworkConfiguration = (
        ds.JobCustomNetworkConfiguration(job_network_type=CUSTOM_NETWORK, subnet_id=nodes.subnet_id)
        if nodes.subnet_id
        else ds.JobDefaultNetworkConfiguration(job_network_type=DEFAULT_NETWORK)
    )
    return ds.MultiNodeJobNodeConfigurationDetails(
        job_node_type=MULTI_NODE,
        startup_order=nodes.startup_order,
        maximum_runtime_in_minutes=nodes.maximum_runtime_in_minutes,
        job_network_configuration=network,
        job_node_group_configuration_details_list=[node_group_details(group) for group in nodes.groups],
    )


# Whole requests ---------------------------------------------------------------------------------
def create_job_details(request: JobRequest) -> ds.CreateJobDetails:
    """Single-node: the job-level configuration, infrastructure and container. Multi-node: none of
    them (as ADS sends it), everything in the node configuration's groups."""
    spec, ref = request.spec, request.ref
    nodes = node_config(spec, request.user_env, driver=request.driver)
    return ds.CreateJobDetails(
        project_id=spec.project_id,
        compartment_id=spec.compartment_id,
        display_name=spec.display_name or ref.default_display_name,
        description=spec.description,
        job_configuration_details=None
        if nodes
        else top_level_configuration(spec, request.user_env, request.driver),
        job_infrastructure_configuration_details=None
        if nodes
        else infrastructure_details(spec.infrastructure),
        job_environment_configuration_details=None
        if nodes
        else container_details(container_of(spec.container)),
        job_node_configuration_details=node_configuration_details(nodes) if nodes else None,
        job_log_configuration_details=log_details(spec.logging),
        job_storage_mount_configuration_details_list=storage_mount_details(spec.storage_mounts),
        freeform_tags=job_tags(spec, ref, request.revision, request.template_hash),
        defined_tags=dict(spec.defined_tags) or None,
    )


def update_job_details(update: JobUpdate) -> ds.UpdateJobDetails:
    spec, ref = update.spec, update.ref
    return ds.UpdateJobDetails(
        display_name=spec.display_name or ref.default_display_name,
        description=spec.description,
        # A multi-node job's compute is in its node configuration, which UpdateJob cannot change.
        job_infrastructure_configuration_details=None
        if spec.nodes
        else infrastructure_details(spec.infrastructure),
        # An empty list (not None) so removing the last mount removes it in OCI too.
        job_storage_mount_configuration_details_list=storage_mount_details(spec.storage_mounts) or [],
        freeform_tags=job_tags(spec, ref, update.revision, update.template_hash),
        # None leaves OCI's as they are: a spec without defined tags does not manage them.
        defined_tags=dict(spec.defined_tags) or None,
    )


def create_job_run_details(request: RunRequest) -> ds.CreateJobRunDetails:
    """A run of the job with the run's overrides: env merged over the job's, args replace.

    OCI replaces a configuration block with its override as a whole, so an override sends all of
    it: the job's probe with the run's env, the job's container with the run's fields, every node
    group of a multi-node job (jobNodeConfigurationOverrideDetails) with the run's changes.
    """
    run, job, ref = request.run, request.job, request.ref
    config_override = infra_override = container_override = node_override = None
    if job.nodes is not None:
        overridden = (
            run.env
            or run.args is not None
            or run.maximum_runtime_in_minutes is not None
            or run.infrastructure is not None
            or run.container is not None
            or run.node_groups
        )
        if overridden:
            nodes = node_config(job, request.job_user_env, run, request.run_user_env, request.driver)
            assert nodes is not None
            node_override = node_configuration_details(nodes)
    else:
        if run.env or run.args is not None or run.maximum_runtime_in_minutes is not None:
            env = run_environment(job, request.job_user_env, run, request.run_user_env, request.driver)
            config_override = job_configuration(
                env,
                run.args if run.args is not None else job.args,
                run.maximum_runtime_in_minutes or job.maximum_runtime_in_minutes,
                probe_of(job.startup_probe),
            )
        if run.infrastructure is not None:
            infra_override = infrastructure_details(job.infrastructure.with_override(run.infrastructure))
        if run.container is not None and job.container is not None:
            container_override = container_details(container_of(job.container.with_override(run.container)))
    return ds.CreateJobRunDetails(
        project_id=job.project_id,
        compartment_id=job.compartment_id,
        job_id=request.job_id,
        display_name=run.display_name or ref.default_display_name,
        job_configuration_override_details=config_override,
        job_infrastructure_configuration_override_details=infra_override,
        job_environment_configuration_override_details=container_override,
        job_node_configuration_override_details=node_override,
        job_log_configuration_override_details=log_details(run.logging),
        # An empty list replaces the job's mounts with none; None keeps the job's.
        job_storage_mount_configuration_override_details_list=None
        if run.storage_mounts is None
        else storage_mount_details(run.storage_mounts) or [],
        freeform_tags=run_tags(run, ref),
        defined_tags=dict(run.defined_tags) or None,
    )


# Responses --------------------------------------------------------------------------------------
def observed_probe(config: Any) -> Probe | None:
    probe = getattr(config, "startup_probe_details", None)
    if probe is None:
        return None
    return Probe(
        tuple(getattr(probe, "command", None) or ()),
        getattr(probe, "period_in_seconds", None),
        getattr(probe, "failure_threshold", None),
        getattr(probe, "initial_delay_in_seconds", None),
    )


def observed_container(env_cfg: Any) -> ContainerImage | None:
    if env_cfg is None or not getattr(env_cfg, "image", None):
        return None
    return ContainerImage(
        env_cfg.image,
        tuple(env_cfg.entrypoint or ()),
        tuple(env_cfg.cmd or ()),
        env_cfg.image_digest,
        getattr(env_cfg, "image_signature_id", None),
    )


def observed_nodes(nodes: Any) -> NodeConfig | None:
    if nodes is None or getattr(nodes, "job_node_type", None) != MULTI_NODE:
        return None
    network = nodes.job_network_configuration
    groups = []
    for group in nodes.job_node_group_configuration_details_list or ():
        infra, config = group.job_infrastructure_configuration_details, group.job_configuration_details
        shape = getattr(infra, "job_shape_config_details", None)
        groups.append(
            NodeGroupConfig(
                name=group.name,
                replicas=group.replicas,
                minimum_success_replicas=group.minimum_success_replicas or group.replicas,
                compute=NodeCompute(
                    shape=getattr(infra, "shape_name", None),
                    ocpus=num(getattr(shape, "ocpus", None)),
                    memory_in_gbs=num(getattr(shape, "memory_in_gbs", None)),
                    cpu_baseline=getattr(shape, "cpu_baseline", None),
                    block_storage_size_in_gbs=getattr(infra, "block_storage_size_in_gbs", None),
                    capacity_reservation_ids=tuple(getattr(infra, "capacity_reservation_ids", None) or ()),
                ),
                env=tuple(sorted((getattr(config, "environment_variables", None) or {}).items())),
                command_line_arguments=getattr(config, "command_line_arguments", None) or None,
                startup_probe=observed_probe(config),
                container=observed_container(group.job_environment_configuration_details),
            )
        )
    return NodeConfig(
        startup_order=nodes.startup_order,
        maximum_runtime_in_minutes=nodes.maximum_runtime_in_minutes,
        subnet_id=getattr(network, "subnet_id", None)
        if getattr(network, "job_network_type", None) == CUSTOM_NETWORK
        else None,
        groups=tuple(groups),
    )


def observed_template(job: ds.Job) -> Template:
    log_cfg = job.job_log_configuration_details
    logging = (
        log_key(
            log_cfg.enable_logging, log_cfg.enable_auto_log_creation, log_cfg.log_group_id, log_cfg.log_id
        )
        if log_cfg
        else None
    )
    nodes = observed_nodes(job.job_node_configuration_details)
    if nodes is not None:
        return Template.of_nodes(nodes, logging)
    config = job.job_configuration_details
    container = observed_container(job.job_environment_configuration_details)
    return Template(
        env=tuple(sorted((getattr(config, "environment_variables", None) or {}).items())),
        command_line_arguments=getattr(config, "command_line_arguments", None) or None,
        maximum_runtime_in_minutes=getattr(config, "maximum_runtime_in_minutes", None),
        container=container_key(container),
        logging=logging,
        job_type="EMPTY" if getattr(config, "job_type", None) == "EMPTY" else None,
        startup_probe=observed_probe(config),
        image_signature_id=container.image_signature_id if container else None,
    )


def observed_resources(resources: Any) -> tuple[Any, ...] | None:
    if resources is None:
        return None
    requests = getattr(resources, "resource_request_configuration", None)
    limits = getattr(resources, "resource_limit_configuration", None)
    return (
        num(getattr(requests, "ocpus", None)),
        num(getattr(requests, "memory_in_gbs", None)),
        getattr(requests, "gpus", None),
        num(getattr(limits, "ocpus", None)),
        num(getattr(limits, "memory_in_gbs", None)),
    )


def observed_infrastructure(infra: Any) -> tuple[Any, ...]:
    if infra is None:
        return ()
    kind = getattr(infra, "job_infrastructure_type", None)
    if kind == MANAGED_COMPUTE_CLUSTER:
        return infrastructure_key(
            kind,
            None,
            None,
            None,
            None,
            None,
            compute_target_id=getattr(infra, "compute_target_id", None),
            resources=observed_resources(getattr(infra, "resource_configuration", None)),
        )
    shape_config = getattr(infra, "job_shape_config_details", None)
    return infrastructure_key(
        kind,
        getattr(infra, "shape_name", None),
        getattr(shape_config, "ocpus", None),
        getattr(shape_config, "memory_in_gbs", None),
        getattr(infra, "block_storage_size_in_gbs", None),
        getattr(infra, "subnet_id", None),
        getattr(infra, "capacity_reservation_id", None),
        getattr(shape_config, "cpu_baseline", None),
    )


def observed_mounts(mounts: Sequence[Any] | None) -> tuple[Any, ...]:
    return mounts_key({key: getattr(mount, key, None) for key in MOUNT_FIELDS} for mount in mounts or ())


def is_multi_node(job: ds.Job) -> bool:
    return getattr(job.job_node_configuration_details, "job_node_type", None) == MULTI_NODE


def observe_job(job: ds.Job, artifact_digest: str | None = None, etag: str | None = None) -> ObservedJob:
    return ObservedJob(
        id=job.id,
        lifecycle_state=str(job.lifecycle_state),
        in_place=InPlace(
            display_name=job.display_name,
            description=job.description,
            # A multi-node job's job-level infrastructure (absent, or OCI's placeholder) is not its compute.
            infrastructure=()
            if is_multi_node(job)
            else observed_infrastructure(job.job_infrastructure_configuration_details),
            storage_mounts=observed_mounts(job.job_storage_mount_configuration_details_list),
            freeform_tags=tuple(sorted((job.freeform_tags or {}).items())),
            defined_tags=defined_tags_key(job.defined_tags),
        ),
        template=observed_template(job),
        tags=dict(job.freeform_tags or {}),
        artifact_digest=artifact_digest,
        etag=etag,
        compartment_id=job.compartment_id,
    )


def run_view(run: Any) -> RunView:
    """From an oci JobRun or JobRunSummary (a summary carries no logDetails nor node groups)."""
    log_details = getattr(run, "log_details", None)
    node_groups = getattr(run, "node_group_details_list", None)
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
        created_by=getattr(run, "created_by", None),
        node_groups=tuple(
            (group.name, str(group.lifecycle_state), group.lifecycle_details) for group in node_groups or ()
        ),
    )


def log_line(data: Any) -> LogLine | None:
    """A Logging search record (`SearchResult.data`) as a log line; None when it is not one (no
    message, or a record of an aggregation)."""
    if not isinstance(data, Mapping):
        return None
    content = data.get("logContent") or {}
    message = (content.get("data") or {}).get("message") if isinstance(content, Mapping) else None
    if message is None:
        return None
    stamp = data.get("datetime")
    if not isinstance(stamp, int | float):
        parsed = parse_time(content.get("time"))
        if parsed is None:
            return None
        stamp = parsed.timestamp() * 1000
    source = str(content.get("source") or "")
    return LogLine(id=str(content.get("id") or ""), time_ms=int(stamp), source=source, message=str(message))
