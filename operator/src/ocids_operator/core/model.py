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
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pydantic.alias_generators import to_camel

from ..api import (
    Conda,
    Container,
    InfrastructureOverride,
    NodeGroupOverride,
    NodeInfrastructure,
    StartupProbe,
    TrainingJobRunSpec,
    TrainingJobSpec,
)
from .driver_env import VAULT_SECRETS, DriverContext, driver_env, needs_driver, vault_secrets

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
    # Git sources: the ref asked for and the commit it resolved to; driver artifacts: its version.
    ref: str | None = None
    commit: str | None = None
    driver_version: str | None = None

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


def run_tags(run: TrainingJobRunSpec, ref: ObjectRef) -> dict[str, str]:
    return {**run.freeform_tags, **ownership_tags(ref)}


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


def run_retry_token(uid: str, refusals: int = 0, attempt: int = 1) -> str:
    """One token per attempt: a new one only after OCI refused the last outright (created nothing),
    and one per retry of the run (spec.retryPolicy: each attempt is a new OCI run)."""
    parts = ("run", uid) if refusals == 0 else ("run", uid, str(refusals))
    return retry_token(*parts) if attempt <= 1 else retry_token(*parts, f"attempt-{attempt}")


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


def job_environment(
    spec: TrainingJobSpec, user_env: Mapping[str, str], driver: DriverContext | None = None
) -> dict[str, str]:
    """The job's environmentVariables: conda + entrypoint, then the user's (resolved) env on top,
    then, for a job that runs through the driver, the driver's contract (it names the entrypoint)."""
    env = conda_env(spec.conda)
    if spec.entrypoint:
        env["JOB_RUN_ENTRYPOINT"] = spec.entrypoint
    env.update(user_env)
    env.update(_driver_env(spec, None, driver))
    return env


def run_environment(
    job: TrainingJobSpec,
    job_user_env: Mapping[str, str],
    run: TrainingJobRunSpec,
    run_user_env: Mapping[str, str],
    driver: DriverContext | None = None,
) -> dict[str, str]:
    """A single-node run's whole environment: the job's, the run's (resolved) env over it, and the
    run's Vault variables merged with the job's. Sent whole, so it is right whether OCI replaces the
    job's variables with an override or merges it over them (the emulator merges; OCI's choice is
    undocumented)."""
    env = {**job_environment(job, job_user_env, driver), **run_user_env}
    return _with_run_driver_env(env, job, run, driver)


def _driver_env(
    spec: TrainingJobSpec,
    run: TrainingJobRunSpec | None,
    driver: DriverContext | None,
    shadowed: Collection[str] = (),
) -> dict[str, str]:
    if not needs_driver(spec):
        return {}
    if driver is None:
        # A driver job's env without the driver's contract would run the zip's entrypoint wrongly.
        raise ValueError("this TrainingJob runs through the driver: pass its DriverContext")
    return driver_env(
        spec,
        run,
        version=driver.version,
        endpoints=dict(driver.endpoints),
        code_file=driver.code_file,
        shadowed=shadowed,
    )


def _with_run_driver_env(
    env: dict[str, str],
    job: TrainingJobSpec,
    run: TrainingJobRunSpec,
    driver: DriverContext | None,
    shadowed: Collection[str] = (),
) -> dict[str, str]:
    """The driver's variables for this run win over the run's own env; a run (or a `shadowed` node
    group literal) that sets a job's Vault variable otherwise leaves no OCIDS_DRIVER_VAULT_SECRETS
    entry for it."""
    run_driver = _driver_env(job, run, driver, shadowed)
    if run_driver:
        env.pop(VAULT_SECRETS, None)
        env.update(run_driver)
    return env


def command_line(args: Sequence[str]) -> str | None:
    return shlex.join(args) if args else None


# Normalized keys: the same value from a spec and from the OCI job it made --------------------------
def num(value: float | None) -> float | None:
    """OCI answers 2 for 2.0 and the reverse: numbers compare as floats."""
    return None if value is None else float(value)


@dataclasses.dataclass(frozen=True)
class Probe:
    """A startup probe (OCI: JobExecProbeDetails); unset fields are OCI's defaults."""

    command: tuple[str, ...]
    period_in_seconds: int | None = None
    failure_threshold: int | None = None
    initial_delay_in_seconds: int | None = None


@dataclasses.dataclass(frozen=True)
class ContainerImage:
    """An OCIR_CONTAINER environment as sent."""

    image: str
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    image_digest: str | None = None
    image_signature_id: str | None = None


@dataclasses.dataclass(frozen=True)
class NodeCompute:
    """A node group's MULTI_NODE infrastructure as sent (the network is the node configuration's)."""

    shape: str | None
    ocpus: float | None = None
    memory_in_gbs: float | None = None
    cpu_baseline: str | None = None
    block_storage_size_in_gbs: int | None = None
    capacity_reservation_ids: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class NodeGroupConfig:
    """One node group as OCI gets it: its configuration is whole (the job's env merged with the
    group's, the group's args or the job's), since OCI keeps no job-level configuration beside it."""

    name: str
    replicas: int
    minimum_success_replicas: int
    compute: NodeCompute
    env: tuple[tuple[str, str], ...]
    command_line_arguments: str | None
    startup_probe: Probe | None
    container: ContainerImage | None


@dataclasses.dataclass(frozen=True)
class NodeConfig:
    """A multi-node job's (or run's) jobNodeConfigurationDetails; `subnet_id` None: DEFAULT_NETWORK."""

    startup_order: str
    maximum_runtime_in_minutes: int | None
    subnet_id: str | None
    groups: tuple[NodeGroupConfig, ...]

    @property
    def node_count(self) -> int:
        return sum(group.replicas for group in self.groups)

    def differences(self, other: NodeConfig | None) -> list[str]:
        """Names (never values), e.g. nodes.startupOrder, nodes.groups[workers].env."""
        if other is None:
            return ["nodes"]
        top = {
            "startup_order": "nodes.startupOrder",
            "maximum_runtime_in_minutes": "maximumRuntimeInMinutes",
            "subnet_id": "infrastructure.subnetId",
        }
        names = [name for name in changed_fields(self, other, top) if name != "groups"]
        ours = {group.name: group for group in self.groups}
        theirs = {group.name: group for group in other.groups}
        if list(ours) != list(theirs):
            names.append("nodes.groups")
        renamed = {"compute": "infrastructure", "command_line_arguments": "args"}
        for name, group in ours.items():
            if name in theirs and group != theirs[name]:
                names += [
                    f"nodes.groups[{name}].{field}" for field in changed_fields(group, theirs[name], renamed)
                ]
        return names


def probe_of(probe: StartupProbe | None) -> Probe | None:
    if probe is None:
        return None
    return Probe(
        tuple(probe.command), probe.period_in_seconds, probe.failure_threshold, probe.initial_delay_in_seconds
    )


def container_of(container: Container | None) -> ContainerImage | None:
    if container is None:
        return None
    return ContainerImage(
        container.image,
        tuple(container.command),
        tuple(container.args),
        container.image_digest,
        container.image_signature_id,
    )


def node_compute(infra: NodeInfrastructure, capacity_reservation_id: str | None) -> NodeCompute:
    return NodeCompute(
        shape=infra.shape,
        ocpus=num(infra.ocpus),
        memory_in_gbs=num(infra.memory_in_gbs),
        cpu_baseline=infra.cpu_baseline,
        block_storage_size_in_gbs=infra.block_storage_size_in_gbs,
        capacity_reservation_ids=(capacity_reservation_id,) if capacity_reservation_id else (),
    )


def node_config(
    spec: TrainingJobSpec,
    user_env: Mapping[str, str],
    run: TrainingJobRunSpec | None = None,
    run_user_env: Mapping[str, str] | None = None,
    driver: DriverContext | None = None,
) -> NodeConfig | None:
    """The node configuration of a multi-node job (None: single-node), or of a run of it.

    A run's overrides, most specific first: env run's group > run > group > job; args the same;
    compute run's group > run's infrastructure > group > job; the run's container fields replace
    the job's; replicas and minimumSuccessReplicas as `NodeGroup.with_override` says. A run naming a
    group the job lacks raises ValueError (the run workflow refuses it before building a request).
    """
    job_nodes = spec.nodes
    if job_nodes is None:
        return None
    nodes = job_nodes
    infra = spec.infrastructure
    subnet_id = infra.subnet_id
    reservation = infra.capacity_reservation_id
    max_runtime = spec.maximum_runtime_in_minutes
    container = spec.container
    run_groups: dict[str, NodeGroupOverride] = {}
    if run is not None:
        nodes = nodes.with_overrides(run.node_groups)
        run_groups = {group.name: group for group in run.node_groups or ()}
        if run.infrastructure is not None:
            subnet_id = run.infrastructure.subnet_id or subnet_id
            reservation = run.infrastructure.capacity_reservation_id or reservation
        max_runtime = run.maximum_runtime_in_minutes or max_runtime
        if container is not None:
            container = container.with_override(run.container)
    job_env = job_environment(spec, user_env, driver)
    job_groups = {group.name: group for group in job_nodes.groups}
    groups = []
    for group in nodes.groups:
        own, override = job_groups[group.name], run_groups.get(group.name)
        env = {**job_env, **{var.name: var.value for var in own.env}}
        # A group's literal takes a less specific Vault variable of its name out (run: a run's Vault
        # variable is more specific than the job's group, its group override's literal more still).
        shadowed = {var.name for var in own.env}
        args = own.args if own.args is not None else spec.args
        compute = group.effective_infrastructure(infra)
        if run is not None:
            env.update(run_user_env or {})
            args = run.args if run.args is not None else args
            if run.infrastructure is not None and (override is None or override.infrastructure is None):
                compute = run_node_infrastructure(run.infrastructure, compute)
        if override is not None:
            env.update({var.name: var.value for var in override.env})
            args = override.args if override.args is not None else args
        if run is not None:
            shadowed -= {var.name for var in run.env}
            shadowed |= {var.name for var in override.env} if override is not None else set()
            env = _with_run_driver_env(env, spec, run, driver, shadowed)
        elif needs_driver(spec):
            env.pop(VAULT_SECRETS, None)
            secrets = vault_secrets(spec, None, shadowed)
            if secrets is not None:
                env[VAULT_SECRETS] = secrets
        groups.append(
            NodeGroupConfig(
                name=group.name,
                replicas=group.replicas,
                # Sent explicitly (OCI's default is every replica), so the job reads back as written.
                minimum_success_replicas=group.minimum_success_replicas or group.replicas,
                compute=node_compute(compute, reservation),
                env=tuple(sorted(env.items())),
                command_line_arguments=command_line(args),
                startup_probe=probe_of(spec.startup_probe),
                container=container_of(container),
            )
        )
    return NodeConfig(nodes.startup_order, max_runtime, subnet_id, tuple(groups))


def run_node_infrastructure(
    override: InfrastructureOverride, group: NodeInfrastructure
) -> NodeInfrastructure:
    """A run's infrastructure override as every node's compute (block storage: the group's if unset)."""
    return NodeInfrastructure(
        **override.sizing(),
        block_storage_size_in_gbs=override.block_storage_size_in_gbs or group.block_storage_size_in_gbs,
    )


# Template: what OCI cannot change on an existing job ----------------------------------------------
# Fields added after jobs were made with the first five: left out of the hash while unset, so an
# upgrade of the operator does not make every existing job look changed (a new revision each).
LATER_TEMPLATE_FIELDS = ("job_type", "startup_probe", "image_signature_id", "nodes")


@dataclasses.dataclass(frozen=True)
class Template:
    """The immutable part of a job, normalized so a spec and an OCI job compare equal.

    A multi-node job has no job-level configuration, environment or probe: all of it is in `nodes`.
    """

    env: tuple[tuple[str, str], ...]
    command_line_arguments: str | None
    maximum_runtime_in_minutes: int | None
    container: tuple[Any, ...] | None
    logging: tuple[Any, ...] | None
    job_type: str | None = None  # EMPTY only; DEFAULT is None
    startup_probe: Probe | None = None
    image_signature_id: str | None = None
    nodes: NodeConfig | None = None

    @classmethod
    def of_nodes(cls, nodes: NodeConfig, logging: tuple[Any, ...] | None) -> Template:
        """A multi-node job's: whatever OCI shows job-level beside the node groups is not what runs."""
        return cls(
            env=(),
            command_line_arguments=None,
            maximum_runtime_in_minutes=None,
            container=None,
            logging=logging,
            nodes=nodes,
        )

    def differences(self, other: Template) -> list[str]:
        """Names (never values) of the fields that differ."""
        names = changed_fields(self, other, {"command_line_arguments": "args"})
        if "nodes" in names and self.nodes is not None:
            index = names.index("nodes")
            names[index : index + 1] = self.nodes.differences(other.nodes)
        return names


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


def container_key(container: ContainerImage | None) -> tuple[Any, ...] | None:
    """The first template's container (the signature is a later field of its own)."""
    if container is None:
        return None
    return (container.image, container.entrypoint, container.cmd, container.image_digest)


def desired_template(
    spec: TrainingJobSpec, user_env: Mapping[str, str], driver: DriverContext | None = None
) -> Template:
    """What the job should be. A job that runs through the driver has the driver's version in its
    env (OCIDS_DRIVER_VERSION), so a new driver is a new revision; other jobs hash as before."""
    logging = (
        log_key(
            spec.logging.enabled,
            spec.logging.auto_create_log,
            spec.logging.log_group_id,
            spec.logging.log_id,
        )
        if spec.logging
        else None
    )
    nodes = node_config(spec, user_env, driver=driver)
    if nodes is not None:
        return Template.of_nodes(nodes, logging)
    container = container_of(spec.container)
    return Template(
        env=tuple(sorted(job_environment(spec, user_env, driver).items())),
        command_line_arguments=command_line(spec.args),
        maximum_runtime_in_minutes=spec.maximum_runtime_in_minutes,
        container=container_key(container),
        logging=logging,
        job_type="EMPTY" if spec.job_type == "EMPTY" else None,
        startup_probe=probe_of(spec.startup_probe),
        image_signature_id=container.image_signature_id if container else None,
    )


def template_hash(template: Template, artifact_digest: str | None) -> str:
    """A short stable hash of the template and artifact, stored only as the OCI job's tag.

    Secret values are inside `template.env`. The hash stays off the Kubernetes object: anyone who
    can read a TrainingJob sees every other input, so the hash would let them test guesses of a
    secret offline. OCI readers gain nothing from it: the job's env values are visible to them.
    `artifact_digest` None: a container job without an artifact.
    """
    fields = dataclasses.asdict(template)
    for name in LATER_TEMPLATE_FIELDS:
        if fields[name] is None:
            del fields[name]
    payload = json.dumps([fields, artifact_digest], sort_keys=True, default=list)
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
    driver: DriverContext | None = None  # set for a job that `needs_driver`

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
    driver: DriverContext | None = None  # the job's, for a job that `needs_driver`
    attempt: int = 1  # status.attempt: a retry (spec.retryPolicy) is a new run with its own token

    @property
    def retry_token(self) -> str:
        return run_retry_token(self.ref.uid, self.refusals, self.attempt)
