"""Building blocks shared by TrainingJob and TrainingJobRun."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from .. import shapes
from .base import ApiModel, StatusModel
from .markers import Enum, ExactlyOne, Rule

# Lengths bound every string and list: CEL cost estimates need them, and they keep a CR small.
KubeName = Annotated[str, StringConstraints(min_length=1, max_length=253)]
ConfigKey = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]
EnvVarName = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
]
DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Description = Annotated[str, StringConstraints(max_length=400)]
Arg = Annotated[str, StringConstraints(max_length=4000)]
CompartmentId = Annotated[str, StringConstraints(max_length=255, pattern=r"^ocid1\.(compartment|tenancy)\.")]
ProjectId = Annotated[str, StringConstraints(max_length=255, pattern=r"^ocid1\.datascienceproject\.")]
JobId = Annotated[str, StringConstraints(max_length=255, pattern=r"^ocid1\.datasciencejob\.")]
SubnetId = Annotated[str, StringConstraints(max_length=255, pattern=r"^ocid1\.subnet\.")]
LogGroupId = Annotated[str, StringConstraints(max_length=255, pattern=r"^ocid1\.loggroup\.")]
LogId = Annotated[str, StringConstraints(max_length=255, pattern=r"^ocid1\.log\.")]
Ocid = Annotated[str, StringConstraints(max_length=255, pattern=r"^ocid1\.")]
# URL fields take no control characters (a CR/LF would split a log line or an HTTP header).
NO_CONTROL = r"[^\x00-\x1f\x7f]"
ArtifactUrl = Annotated[str, StringConstraints(max_length=2048, pattern=rf"^(https://|oci://){NO_CONTROL}*$")]
ObjectStorageUri = Annotated[
    str,
    StringConstraints(
        max_length=1024, pattern=r"^oci://[^/@\x00-\x1f\x7f]+@[^/\x00-\x1f\x7f]+/" + NO_CONTROL + "+$"
    ),
]
ShapeName = Annotated[str, Enum(shapes.SHAPE_NAMES), StringConstraints(max_length=64)]

DeletionPolicy = Literal["Delete", "Retain"]
"""What deleting the custom resource does in OCI: Delete removes the OCI resource, Retain leaves it."""

MAX_ENV = 100
MAX_ARGS = 100
# OCI's floor for every flex shape in the catalog: a smaller memory is refused by CreateJob (400).
MIN_MEMORY_GB_PER_OCPU = 1.0
MEMORY_FLOOR_MESSAGE = f"memoryInGBs must be at least {MIN_MEMORY_GB_PER_OCPU:g} GB per OCPU"
MAX_STORAGE_MOUNTS = 5


class KeySelector(ApiModel):
    """A key of a Secret or ConfigMap in the same namespace."""

    name: KubeName
    """Name of the Secret or ConfigMap."""
    key: ConfigKey
    """The key to read."""
    optional: bool = False
    """When true a missing object or key leaves the variable unset instead of failing."""


class SecretKeySelector(ApiModel):
    """A key of a Secret in the same namespace."""

    name: KubeName
    """Name of the Secret."""
    key: ConfigKey
    """The key to read."""


class EnvVarSource(ApiModel):
    """Where an environment variable's value comes from; exactly one source."""

    cel_rules = (ExactlyOne("secretKeyRef", "configMapKeyRef", name="one-source"),)

    secret_key_ref: KeySelector | None = None
    """A key of a Secret; the operator reads it when it creates the OCI job or run."""
    config_map_key_ref: KeySelector | None = None
    """A key of a ConfigMap."""

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.secret_key_ref is None) == (self.config_map_key_ref is None):
            raise ValueError(self.cel_rule("one-source").message)
        return self


class EnvVar(ApiModel):
    """An environment variable of the OCI job run."""

    cel_rules = (ExactlyOne("value", "valueFrom", name="one-value"),)

    name: EnvVarName
    """Variable name: letters, digits and underscores, not starting with a digit."""
    value: Annotated[str, StringConstraints(max_length=20000)] | None = None
    """Literal value."""
    value_from: EnvVarSource | None = None
    """Read the value from a Secret or ConfigMap key instead."""

    @model_validator(mode="after")
    def _value_xor_value_from(self) -> Self:
        if (self.value is None) == (self.value_from is None):
            raise ValueError(f"env {self.name}: {self.cel_rule('one-value').message}")
        return self


def _flex_rules() -> tuple[Rule, ...]:
    """CEL over the shape catalog: the API server rejects a bad OCPU/memory combination up front."""
    flex_names = "[" + ", ".join(f"'{s.name}'" for s in shapes.FLEX_SHAPES) + "]"
    rules = [
        Rule(
            rule=f"!(self.shape in {flex_names}) || (has(self.ocpus) && has(self.memoryInGBs))",
            message=shapes.flex_required_message(),
            field_path=".shape",
            reason="FieldValueRequired",
        ),
        Rule(
            rule=f"self.shape in {flex_names} || (!has(self.ocpus) && !has(self.memoryInGBs))",
            message=shapes.flex_only_message(),
            field_path=".shape",
            reason="FieldValueForbidden",
        ),
        Rule(
            rule="!has(self.ocpus) || !has(self.memoryInGBs) || "
            f"self.memoryInGBs <= self.ocpus * {shapes.MAX_MEMORY_GB_PER_OCPU!r}",
            message=shapes.memory_per_ocpu_message(),
            field_path=".memoryInGBs",
        ),
        Rule(
            rule="!has(self.ocpus) || !has(self.memoryInGBs) || "
            f"self.memoryInGBs >= self.ocpus * {MIN_MEMORY_GB_PER_OCPU!r}",
            message=MEMORY_FLOOR_MESSAGE,
            field_path=".memoryInGBs",
        ),
    ]
    for s in shapes.FLEX_SHAPES:
        assert s.flex is not None
        r = s.flex
        rules.append(
            Rule(
                rule=f"self.shape != '{s.name}' || !has(self.ocpus) || "
                f"(self.ocpus >= {float(r.min_ocpus)!r} && self.ocpus <= {float(r.max_ocpus)!r})",
                message=shapes.ocpu_range_message(s),
                field_path=".ocpus",
            )
        )
        rules.append(
            Rule(
                rule=f"self.shape != '{s.name}' || !has(self.memoryInGBs) || "
                f"(self.memoryInGBs >= {float(r.min_memory_gbs)!r} && "
                f"self.memoryInGBs <= {float(r.max_memory_gbs)!r})",
                message=shapes.memory_range_message(s),
                field_path=".memoryInGBs",
            )
        )
    return tuple(rules)


FLEX_RULES = _flex_rules()


class _Compute(ApiModel):
    """Shape, OCPUs and memory: the part a job and a run override share, checked against the catalog."""

    cel_rules = FLEX_RULES

    shape: ShapeName
    """OCI compute shape, e.g. VM.Standard.E4.Flex (flex: set ocpus and memoryInGBs) or VM.GPU.A10.1."""
    ocpus: float | None = Field(default=None, ge=1, le=shapes.MAX_OCPUS)
    """OCPUs of a flex shape (required with a flex shape, forbidden with a fixed one)."""
    memory_in_gbs: float | None = Field(
        default=None,
        ge=1,
        le=shapes.MAX_MEMORY_GBS,
        validation_alias="memoryInGBs",
        serialization_alias="memoryInGBs",
    )
    """Memory in GB of a flex shape, 1 to 64 GB per OCPU (required with a flex shape)."""

    @model_validator(mode="after")
    def _shape_fits(self) -> Self:
        problems = shapes.shape_problems(self.shape, self.ocpus, self.memory_in_gbs)
        if self.ocpus and self.memory_in_gbs and self.memory_in_gbs < self.ocpus * MIN_MEMORY_GB_PER_OCPU:
            problems.append(MEMORY_FLOOR_MESSAGE)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _block_storage(default: int | None) -> Any:
    return Field(
        default=default,
        ge=50,
        le=10240,
        validation_alias="blockStorageSizeInGBs",
        serialization_alias="blockStorageSizeInGBs",
    )


class Infrastructure(_Compute):
    """The compute the job runs on."""

    block_storage_size_in_gbs: int = _block_storage(50)
    """Block volume size in GB, at least 50."""
    subnet_id: SubnetId | None = None
    """Subnet OCID: set for custom networking (STANDALONE); unset for the service-managed egress network."""

    def with_override(self, override: InfrastructureOverride | None) -> Infrastructure:
        """The infrastructure a run gets: shape, ocpus and memory come together from the override;
        block storage and subnet fall back to this (the job's) value when the override leaves them unset."""
        if override is None:
            return self
        return Infrastructure(
            shape=override.shape,
            ocpus=override.ocpus,
            memory_in_gbs=override.memory_in_gbs,
            block_storage_size_in_gbs=override.block_storage_size_in_gbs or self.block_storage_size_in_gbs,
            subnet_id=override.subnet_id or self.subnet_id,
        )


class InfrastructureOverride(_Compute):
    """Per-run compute. The shape (with its ocpus and memoryInGBs) replaces the job's; block storage
    and subnet are taken from the TrainingJob when left unset."""

    block_storage_size_in_gbs: int | None = _block_storage(None)
    """Block volume size in GB, at least 50; unset: the TrainingJob's."""
    subnet_id: SubnetId | None = None
    """Subnet OCID; unset: the TrainingJob's."""


class Conda(ApiModel):
    """A conda environment to run the artifact in."""

    cel_rules = (
        Rule(
            rule="self.type != 'service' || has(self.slug)",
            message="slug is required for a service conda environment",
            field_path=".slug",
            reason="FieldValueRequired",
            name="service-needs-slug",
        ),
        Rule(
            rule="self.type != 'published' || has(self.uri)",
            message="uri is required for a published conda environment",
            field_path=".uri",
            reason="FieldValueRequired",
            name="published-needs-uri",
        ),
    )

    type: Literal["service", "published"]
    """service: an environment Oracle publishes (by slug); published: one you published to Object Storage."""
    slug: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    """Slug of the environment, e.g. generalml_p38_cpu_v1."""
    uri: ObjectStorageUri | None = None
    """Object Storage location of a published environment: oci://bucket@namespace/path."""
    region: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    """Region of the bucket of a published environment, when it differs from the job's."""

    @model_validator(mode="after")
    def _needs_source(self) -> Self:
        if self.type == "service" and self.slug is None:
            raise ValueError(self.cel_rule("service-needs-slug").message)
        if self.type == "published" and self.uri is None:
            raise ValueError(self.cel_rule("published-needs-uri").message)
        return self


class Container(ApiModel):
    """A container image to run instead of a conda environment (OCI's OCIR_CONTAINER environment)."""

    image: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    """Image in OCI Container Registry, e.g. iad.ocir.io/namespace/train:1.0."""
    command: Annotated[list[Arg], Field(max_length=MAX_ARGS)] = []
    """Overrides the image's ENTRYPOINT (OCI: entrypoint)."""
    args: Annotated[list[Arg], Field(max_length=MAX_ARGS)] = []
    """Overrides the image's CMD (OCI: cmd)."""
    image_digest: (
        Annotated[str, StringConstraints(max_length=255, pattern=r"^sha256:[0-9a-f]{64}$")] | None
    ) = None
    """Pin the image to this digest (sha256:...)."""


class LoggingConfig(ApiModel):
    """Where the run's stdout and stderr go in OCI Logging."""

    cel_rules = (
        Rule(
            rule="!self.enabled || has(self.logGroupId)",
            message="logGroupId is required when logging is enabled",
            field_path=".logGroupId",
            reason="FieldValueRequired",
            name="enabled-needs-log-group",
        ),
        Rule(
            rule="!self.enabled || has(self.logId) || self.autoCreateLog",
            message="set logId or autoCreateLog when logging is enabled",
            field_path=".logId",
            reason="FieldValueRequired",
            name="enabled-needs-log",
        ),
    )

    enabled: bool = False
    """Send the run's output to OCI Logging."""
    log_group_id: LogGroupId | None = None
    """Log group OCID."""
    log_id: LogId | None = None
    """Log OCID; with autoCreateLog and no logId, OCI creates a log per run."""
    auto_create_log: bool = False
    """Let OCI create the log when logId is not set."""

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.enabled and self.log_group_id is None:
            raise ValueError(self.cel_rule("enabled-needs-log-group").message)
        if self.enabled and self.log_id is None and not self.auto_create_log:
            raise ValueError(self.cel_rule("enabled-needs-log").message)
        return self


class StorageMount(ApiModel):
    """An Object Storage bucket or File Storage export mounted into the run."""

    cel_rules = (
        Rule(
            rule="self.storageType != 'OBJECT_STORAGE' || (has(self.namespace) && has(self.bucket) "
            "&& !has(self.mountTargetId) && !has(self.exportId))",
            message="OBJECT_STORAGE takes namespace and bucket (and optionally prefix), "
            "not mountTargetId or exportId",
            name="object-storage-fields",
        ),
        Rule(
            rule="self.storageType != 'FILE_STORAGE' || (has(self.mountTargetId) && has(self.exportId) "
            "&& !has(self.namespace) && !has(self.bucket) && !has(self.prefix))",
            message="FILE_STORAGE takes mountTargetId and exportId, not namespace, bucket or prefix",
            name="file-storage-fields",
        ),
    )

    storage_type: Literal["OBJECT_STORAGE", "FILE_STORAGE"]
    """OBJECT_STORAGE (a bucket) or FILE_STORAGE (an export of a mount target)."""
    destination_directory_name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    """Directory name of the mount, under destinationPath."""
    destination_path: Annotated[str, StringConstraints(max_length=1024, pattern=r"^/")] | None = None
    """Parent path of the mount (default /mnt)."""
    namespace: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    """Object Storage namespace (OBJECT_STORAGE)."""
    bucket: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    """Bucket name (OBJECT_STORAGE)."""
    prefix: Annotated[str, StringConstraints(max_length=1024)] | None = None
    """Object name prefix to mount (OBJECT_STORAGE)."""
    mount_target_id: Ocid | None = None
    """Mount target OCID (FILE_STORAGE)."""
    export_id: Ocid | None = None
    """Export OCID (FILE_STORAGE)."""

    @model_validator(mode="after")
    def _fits_type(self) -> Self:
        if self.storage_type == "OBJECT_STORAGE":
            ok = self.namespace and self.bucket and not (self.mount_target_id or self.export_id)
            if not ok:
                raise ValueError(self.cel_rule("object-storage-fields").message)
        else:
            ok = (
                self.mount_target_id
                and self.export_id
                and not (self.namespace or self.bucket or self.prefix is not None)
            )
            if not ok:
                raise ValueError(self.cel_rule("file-storage-fields").message)
        return self


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(StatusModel):
    """A kstatus-style condition (Ready, Reconciling, Stalled; Succeeded/Failed on runs)."""

    type: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    """Condition type, unique in the list."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: Annotated[str, StringConstraints(max_length=128)] | None = None
    """One CamelCase word saying why."""
    message: Annotated[str, StringConstraints(max_length=4096)] | None = None
    """Human-readable detail."""
    last_transition_time: datetime | None = None
    """When status last changed (RFC 3339)."""
    observed_generation: int | None = None
    """metadata.generation this condition was computed from."""


def unique_env_names(env: list[EnvVar]) -> list[EnvVar]:
    """Same check as the CRD's list-map on name: a duplicate would silently shadow a value."""
    seen: set[str] = set()
    for var in env:
        if var.name in seen:
            raise ValueError(f"duplicate env var name {var.name!r}")
        seen.add(var.name)
    return env
