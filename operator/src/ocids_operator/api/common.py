"""Building blocks shared by TrainingJob and TrainingJobRun."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AfterValidator, Field, GetJsonSchemaHandler, StringConstraints, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from .. import shapes
from .base import ApiModel, StatusModel
from .markers import Atomic, ExactlyOne, Rule

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
VaultSecretId = Annotated[str, StringConstraints(max_length=255, pattern=r"^ocid1\.vaultsecret\.")]
# URL fields take no control characters (a CR/LF would split a log line or an HTTP header).
NO_CONTROL = r"[^\x00-\x1f\x7f]"
ArtifactUrl = Annotated[str, StringConstraints(max_length=2048, pattern=rf"^(https://|oci://){NO_CONTROL}*$")]
ObjectStorageUri = Annotated[
    str,
    StringConstraints(
        max_length=1024, pattern=r"^oci://[^/@\x00-\x1f\x7f]+@[^/\x00-\x1f\x7f]+/" + NO_CONTROL + "+$"
    ),
]
ShapeName = Annotated[str, StringConstraints(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
CapacityReservationId = Annotated[
    str, StringConstraints(max_length=255, pattern=r"^ocid1\.capacityreservation\.")
]

# registry[:port]/repository[/more][:tag][@sha256:<64 hex>], the reference grammar OCI's
# OCIR_CONTAINER environment takes: a bare "busybox" is refused here rather than by CreateJob.
_IMAGE_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REFERENCE_PATTERN = (
    rf"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?/{_IMAGE_COMPONENT}(?:/{_IMAGE_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)
ImageRef = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=IMAGE_REFERENCE_PATTERN)]
ImageDigest = Annotated[str, StringConstraints(max_length=255, pattern=r"^sha256:[0-9a-f]{64}$")]

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


class VaultSecretRef(ApiModel):
    """An OCI Vault secret the job run reads itself, with its resource principal."""

    secret_id: VaultSecretId
    """OCID of the Vault secret (ocid1.vaultsecret...); its current version's content becomes the
    variable's value. The job runs need `allow dynamic-group <job runs> to read secret-bundles in
    compartment <secret's compartment>`."""


class EnvVarSource(ApiModel):
    """Where an environment variable's value comes from; exactly one source."""

    cel_rules = (ExactlyOne("secretKeyRef", "configMapKeyRef", "vaultSecretRef", name="one-source"),)

    secret_key_ref: KeySelector | None = None
    """A key of a Secret; the operator reads it when it creates the OCI job or run (the value is
    then stored in the OCI job's definition: prefer vaultSecretRef for secrets)."""
    config_map_key_ref: KeySelector | None = None
    """A key of a ConfigMap."""
    vault_secret_ref: VaultSecretRef | None = None
    """An OCI Vault secret, read by the job run at run time (the operator's driver fetches it before
    the code starts): the value never appears in the OCI job's definition, nor does the operator
    read it. Not with a container job."""

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        sources = (self.secret_key_ref, self.config_map_key_ref, self.vault_secret_ref)
        if sum(x is not None for x in sources) != 1:
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
    """Read the value from a Secret or ConfigMap key, or an OCI Vault secret, instead."""

    @model_validator(mode="after")
    def _value_xor_value_from(self) -> Self:
        if (self.value is None) == (self.value_from is None):
            raise ValueError(f"env {self.name}: {self.cel_rule('one-value').message}")
        return self

    @property
    def vault_secret_id(self) -> str | None:
        """The Vault secret OCID this variable is read from at run time, if any."""
        source = self.value_from
        return source.vault_secret_ref.secret_id if source and source.vault_secret_ref else None


def _flex_rules(*, fast_launch: bool = False) -> tuple[Rule, ...]:
    """CEL for what is knowable offline: the `.Flex` naming, and the ranges of the flex shapes in the
    catalog. A shape the catalog does not know passes here; the operator asks OCI about it. With
    `fast_launch` (the job's own infrastructure) a fast-launch flex shape may leave its size to the
    chosen configuration."""
    flex = f"self.shape.endsWith('{shapes.FLEX_SUFFIX}')"
    sized = "(has(self.ocpus) && has(self.memoryInGBs))"
    if fast_launch:
        sized = f"({sized} || (self.fastLaunch && !has(self.ocpus) && !has(self.memoryInGBs)))"
    rules = [
        Rule(
            rule=f"!has(self.shape) || !{flex} || {sized}",
            message=shapes.flex_required_message(),
            field_path=".shape",
            reason="FieldValueRequired",
            name="flex-needs-size",
        ),
        Rule(
            rule=f"(has(self.shape) && {flex}) || (!has(self.ocpus) && !has(self.memoryInGBs))",
            message=shapes.flex_only_message(),
            field_path=".shape",
            reason="FieldValueForbidden",
            name="fixed-forbids-size",
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
        Rule(
            rule="!has(self.cpuBaseline) || has(self.ocpus)",
            message=CPU_BASELINE_MESSAGE,
            field_path=".cpuBaseline",
            reason="FieldValueForbidden",
            name="baseline-needs-ocpus",
        ),
    ]
    for s in shapes.FLEX_SHAPES:
        assert s.flex is not None
        r = s.flex
        rules.append(
            Rule(
                rule=f"!has(self.shape) || self.shape != '{s.name}' || !has(self.ocpus) || "
                f"(self.ocpus >= {float(r.min_ocpus)!r} && self.ocpus <= {float(r.max_ocpus)!r})",
                message=shapes.ocpu_range_message(s),
                field_path=".ocpus",
            )
        )
        rules.append(
            Rule(
                rule=f"!has(self.shape) || self.shape != '{s.name}' || !has(self.memoryInGBs) || "
                f"(self.memoryInGBs >= {float(r.min_memory_gbs)!r} && "
                f"self.memoryInGBs <= {float(r.max_memory_gbs)!r})",
                message=shapes.memory_range_message(s),
                field_path=".memoryInGBs",
            )
        )
    return tuple(rules)


CPU_BASELINE_MESSAGE = "cpuBaseline can only be set with ocpus (a flex shape)"
FLEX_RULES = _flex_rules()

InfrastructureType = Literal["STANDALONE", "ME_STANDALONE", "MULTI_NODE", "MANAGED_COMPUTE_CLUSTER"]
"""OCI's jobInfrastructureType: own subnet, service-managed egress, multi-node, or a compute target."""

CpuBaseline = Literal["BASELINE_1_8", "BASELINE_1_2", "BASELINE_1_1"]
"""A burstable instance's guaranteed share of its OCPUs (1/8, 1/2 or all)."""


def _block_storage(default: int | None) -> Any:
    return Field(
        default=default,
        ge=50,
        le=10240,
        validation_alias="blockStorageSizeInGBs",
        serialization_alias="blockStorageSizeInGBs",
    )


def _memory_field() -> Any:
    return Field(
        default=None,
        ge=1,
        le=shapes.MEMORY_LIMIT_GBS,
        validation_alias="memoryInGBs",
        serialization_alias="memoryInGBs",
    )


class _Compute(ApiModel):
    """Shape, OCPUs, memory and CPU baseline: the part a job, a run override and a node group share,
    checked offline as far as the shape catalog knows."""

    cel_rules = FLEX_RULES

    shape: ShapeName | None = None
    """OCI compute shape, e.g. VM.Standard.E4.Flex (a name ending in .Flex: set ocpus and memoryInGBs)
    or VM.GPU.A10.1. Any shape OCI offers in the compartment; the operator checks the name with OCI
    before using it and reports an unknown one as Stalled."""
    ocpus: float | None = Field(default=None, ge=1, le=shapes.OCPUS_LIMIT)
    """OCPUs of a flex shape (required with a flex shape, forbidden with a fixed one)."""
    memory_in_gbs: float | None = _memory_field()
    """Memory in GB of a flex shape, 1 to 64 GB per OCPU (required with a flex shape)."""
    cpu_baseline: CpuBaseline | None = None
    """Burstable instance: the guaranteed share of the OCPUs, BASELINE_1_8, BASELINE_1_2 or
    BASELINE_1_1 (only with ocpus); unset: not burstable."""

    def _size_from_fast_launch(self) -> bool:
        """Whether an unsized flex shape takes its size from a fast-launch configuration."""
        return False

    def sizing(self) -> dict[str, Any]:
        """shape, ocpus, memory_in_gbs and cpu_baseline: they only ever go together (a size means
        nothing on another shape), e.g. from a run's override into the compute it gets."""
        return {
            "shape": self.shape,
            "ocpus": self.ocpus,
            "memory_in_gbs": self.memory_in_gbs,
            "cpu_baseline": self.cpu_baseline,
        }

    @model_validator(mode="after")
    def _shape_fits(self) -> Self:
        if self.shape is None:
            problems = (
                [] if self.ocpus is None and self.memory_in_gbs is None else [shapes.flex_only_message()]
            )
        else:
            problems = shapes.shape_problems(self.shape, self.ocpus, self.memory_in_gbs)
            if self._size_from_fast_launch() and self.ocpus is None and self.memory_in_gbs is None:
                problems = [p for p in problems if p != shapes.flex_required_message()]
        if self.ocpus and self.memory_in_gbs and self.memory_in_gbs < self.ocpus * MIN_MEMORY_GB_PER_OCPU:
            problems.append(MEMORY_FLOOR_MESSAGE)
        if self.cpu_baseline is not None and self.ocpus is None:
            problems.append(self.cel_rule("baseline-needs-ocpus").message)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class ResourceRequests(ApiModel):
    """What a run reserves on a compute target's nodes (OCI requires ocpus and memoryInGBs)."""

    ocpus: float = Field(gt=0, le=shapes.OCPUS_LIMIT)
    """OCPUs to reserve."""
    memory_in_gbs: float = Field(
        gt=0,
        le=shapes.MEMORY_LIMIT_GBS,
        validation_alias="memoryInGBs",
        serialization_alias="memoryInGBs",
    )
    """Memory in GB to reserve."""
    gpus: int | None = Field(default=None, gt=0, le=64)
    """GPUs to reserve."""


class ResourceLimits(ApiModel):
    """The most a run may use on a compute target's nodes (OCI requires both fields when limits are set)."""

    ocpus: float = Field(gt=0, le=shapes.OCPUS_LIMIT)
    """OCPU limit."""
    memory_in_gbs: float = Field(
        gt=0,
        le=shapes.MEMORY_LIMIT_GBS,
        validation_alias="memoryInGBs",
        serialization_alias="memoryInGBs",
    )
    """Memory limit in GB."""


class ComputeResources(ApiModel):
    """Requests and limits of each run on a compute target
    (OCI: ManagedComputeClusterJobResourceConfiguration)."""

    requests: ResourceRequests
    """What each run reserves."""
    limits: ResourceLimits | None = None
    """The most each run may use."""


_COMPUTE_TARGET_EXCLUSIVE = (
    "shape",
    "ocpus",
    "memoryInGBs",
    "cpuBaseline",
    "subnetId",
    "capacityReservationId",
)


class Infrastructure(_Compute):
    """The compute the job runs on: a shape (set subnetId for your own network, leave it unset for the
    service-managed egress network), a fast-launch shape, or a compute target."""

    cel_rules = (
        *_flex_rules(fast_launch=True),
        Rule(
            rule="has(self.shape) || self.fastLaunch || has(self.computeTargetId)",
            message="shape is required unless fastLaunch or computeTargetId is set",
            field_path=".shape",
            reason="FieldValueRequired",
            name="shape-required",
        ),
        Rule(
            rule="!has(self.computeTargetId) || !("
            + " || ".join(f"has(self.{f})" for f in _COMPUTE_TARGET_EXCLUSIVE)
            + " || self.fastLaunch)",
            message="computeTargetId cannot be combined with shape, ocpus, memoryInGBs, cpuBaseline, "
            "subnetId, capacityReservationId or fastLaunch: the compute target provides the compute",
            field_path=".computeTargetId",
            reason="FieldValueForbidden",
            name="compute-target-alone",
        ),
        Rule(
            rule="!has(self.computeTargetId) || has(self.resources)",
            message="resources.requests (ocpus and memoryInGBs) are required with computeTargetId: "
            "OCI sizes each run on the compute target by them",
            field_path=".resources",
            reason="FieldValueRequired",
            name="compute-target-needs-resources",
        ),
        Rule(
            rule="!has(self.resources) || has(self.computeTargetId)",
            message="resources can only be set with computeTargetId",
            field_path=".resources",
            reason="FieldValueForbidden",
            name="resources-need-compute-target",
        ),
    )

    block_storage_size_in_gbs: int = _block_storage(50)
    """Block volume size in GB, at least 50 (not used on a compute target)."""
    subnet_id: SubnetId | None = None
    """Subnet OCID: set for custom networking (STANDALONE); unset for the service-managed egress network
    (ME_STANDALONE). In a multi-node job: set, the nodes share this subnet; unset, OCI's default network."""
    capacity_reservation_id: CapacityReservationId | None = None
    """Run on this capacity reservation's instances."""
    fast_launch: bool = False
    """Run on a shape OCI keeps warm, so runs start in seconds: the operator picks one of the
    compartment's fast-launch configurations (one for shape when shape is set, else one that fits the
    network) and status.fastLaunchConfig names it; a flex shape may then leave ocpus and memoryInGBs
    unset (the configuration's size). Not with computeTargetId or spec.nodes."""
    compute_target_id: Ocid | None = None
    """OCID of a Managed Compute Cluster to run on (MANAGED_COMPUTE_CLUSTER): the cluster provides the
    compute, so shape, ocpus, memoryInGBs, cpuBaseline, subnetId, capacityReservationId and fastLaunch
    stay unset; size runs with resources."""
    resources: ComputeResources | None = None
    """Requests and limits of each run on the compute target (only with computeTargetId)."""

    def _size_from_fast_launch(self) -> bool:
        return self.fast_launch

    @model_validator(mode="after")
    def _one_kind_of_compute(self) -> Self:
        if self.shape is None and not self.fast_launch and self.compute_target_id is None:
            raise ValueError(self.cel_rule("shape-required").message)
        if self.compute_target_id is not None:
            exclusive = (
                self.shape,
                self.ocpus,
                self.memory_in_gbs,
                self.cpu_baseline,
                self.subnet_id,
                self.capacity_reservation_id,
            )
            if any(v is not None for v in exclusive) or self.fast_launch:
                raise ValueError(self.cel_rule("compute-target-alone").message)
        if self.resources is not None and self.compute_target_id is None:
            raise ValueError(self.cel_rule("resources-need-compute-target").message)
        if self.compute_target_id is not None and self.resources is None:
            raise ValueError(self.cel_rule("compute-target-needs-resources").message)
        return self

    def with_override(self, override: InfrastructureOverride | None) -> Infrastructure:
        """The infrastructure a run gets. Shape, ocpus, memory and cpuBaseline come together from the
        override; block storage, subnet and capacity reservation fall back to this (the job's) value
        when the override leaves them unset. An override always names a shape, so the run uses it as
        given: neither fast launch nor the job's compute target applies to it."""
        if override is None:
            return self
        return Infrastructure(
            **override.sizing(),
            block_storage_size_in_gbs=override.block_storage_size_in_gbs or self.block_storage_size_in_gbs,
            subnet_id=override.subnet_id or self.subnet_id,
            capacity_reservation_id=override.capacity_reservation_id or self.capacity_reservation_id,
        )


class ShapeOverride(_Compute):
    """Compute that replaces a default's as a whole: a run's over its TrainingJob's, a node group's
    over the job's. The shape is always named and brings its ocpus, memoryInGBs and cpuBaseline;
    block storage left unset is the default's. `descriptions` words the fields for each use
    (what `kubectl explain` prints), so the fields themselves are declared once, here."""

    descriptions: ClassVar[Mapping[str, str]] = {}

    shape: ShapeName
    """OCI compute shape; the operator checks the name with OCI before using it."""
    block_storage_size_in_gbs: int | None = _block_storage(None)
    """Block volume size in GB, at least 50; unset: the default's."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = super().__get_pydantic_json_schema__(core_schema, handler)
        properties = handler.resolve_ref_schema(schema)["properties"]
        for name, text in cls.descriptions.items():
            properties[name]["description"] = text
        return schema


class InfrastructureOverride(ShapeOverride):
    """Per-run compute. The shape (with its ocpus, memoryInGBs and cpuBaseline) replaces the job's;
    block storage, subnet and capacity reservation are taken from the TrainingJob when left unset."""

    descriptions = {
        "shape": "OCI compute shape, e.g. VM.Standard.E4.Flex (a name ending in .Flex: set ocpus and "
        "memoryInGBs) or VM.GPU.A10.1; the operator checks the name with OCI before using it.",
        "blockStorageSizeInGBs": "Block volume size in GB, at least 50; unset: the TrainingJob's.",
    }

    subnet_id: SubnetId | None = None
    """Subnet OCID; unset: the TrainingJob's."""
    capacity_reservation_id: CapacityReservationId | None = None
    """Capacity reservation OCID; unset: the TrainingJob's."""


class NodeInfrastructure(ShapeOverride):
    """The compute of each node of a group. The shape (with its ocpus, memoryInGBs and cpuBaseline)
    replaces the default; block storage is the default's when left unset."""

    descriptions = {
        "shape": "OCI compute shape of each node, e.g. VM.GPU.A10.2 or VM.Standard.E4.Flex (then set "
        "ocpus and memoryInGBs); the operator checks the name with OCI before using it.",
        "blockStorageSizeInGBs": "Block volume size in GB of each node, at least 50; unset: the default's.",
    }

    def over(self, base: NodeInfrastructure) -> NodeInfrastructure:
        """This infrastructure with an unset block storage taken from `base`."""
        if self.block_storage_size_in_gbs is not None:
            return self
        return self.model_copy(update={"block_storage_size_in_gbs": base.block_storage_size_in_gbs})


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

    image: ImageRef
    """Image in OCI Container Registry, e.g. iad.ocir.io/namespace/train:1.0."""
    command: Annotated[list[Arg], Field(max_length=MAX_ARGS)] = []
    """Overrides the image's ENTRYPOINT (OCI: entrypoint)."""
    args: Annotated[list[Arg], Field(max_length=MAX_ARGS)] = []
    """Overrides the image's CMD (OCI: cmd)."""
    image_digest: ImageDigest | None = None
    """Pin the image to this digest (sha256:...)."""
    image_signature_id: Ocid | None = None
    """OCID of the image's signature in OCI (Container Registry image signing), checked when the run
    pulls the image."""

    def with_override(self, override: ContainerOverride | None) -> Container:
        """The container a run gets: each field the override sets replaces this (the job's) one."""
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_none=True))


class ContainerOverride(ApiModel):
    """Per-run container fields; each one set replaces the TrainingJob's (no new revision is created).
    The TrainingJob must run a container."""

    cel_rules = (
        Rule(
            rule="has(self.image) || has(self.command) || has(self.args) || has(self.imageDigest) || "
            "has(self.imageSignatureId)",
            message="container: set at least one of image, command, args, imageDigest or imageSignatureId",
            reason="FieldValueRequired",
            name="not-empty",
        ),
    )

    image: ImageRef | None = None
    """Image to run instead of the TrainingJob's."""
    command: Annotated[list[Arg], Atomic(), Field(max_length=MAX_ARGS)] | None = None
    """Replaces the TrainingJob's container command (the image's ENTRYPOINT)."""
    args: Annotated[list[Arg], Atomic(), Field(max_length=MAX_ARGS)] | None = None
    """Replaces the TrainingJob's container args (the image's CMD)."""
    image_digest: ImageDigest | None = None
    """Replaces the TrainingJob's image digest."""
    image_signature_id: Ocid | None = None
    """Replaces the TrainingJob's image signature OCID."""

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if all(
            v is None
            for v in (self.image, self.command, self.args, self.image_digest, self.image_signature_id)
        ):
            raise ValueError(self.cel_rule("not-empty").message)
        return self


class StartupProbe(ApiModel):
    """A command OCI runs in the job run's environment until it succeeds; the artifact counts as started
    then. Failing it failureThreshold times fails the run."""

    command: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=4000)]],
        Atomic(),
        Field(min_length=1, max_length=20),
    ]
    """Command and its arguments, e.g. ["cat", "/tmp/ready"]; exit code 0 means ready."""
    period_in_seconds: int | None = Field(default=None, ge=1, le=3600)
    """Seconds between attempts; unset: OCI's default."""
    failure_threshold: int | None = Field(default=None, ge=1, le=100)
    """Failed attempts before the run fails; unset: OCI's default."""
    initial_delay_in_seconds: int | None = Field(default=None, ge=0, le=3600)
    """Seconds to wait before the first attempt; unset: OCI's default."""


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


DEFAULT_MOUNT_PATH = "/mnt"
UNIQUE_MOUNTS_MESSAGE = "storageMounts: two mounts at the same destinationPath/destinationDirectoryName"
# One rule for both kinds' lists: OCI refuses two mounts at one place (the default path counts).
UNIQUE_MOUNTS_RULE = Rule(
    rule="self.all(a, self.exists_one(b, (has(b.destinationPath) ? b.destinationPath : '/mnt') + '/' + "
    "b.destinationDirectoryName == (has(a.destinationPath) ? a.destinationPath : '/mnt') + '/' + "
    "a.destinationDirectoryName))",
    message=UNIQUE_MOUNTS_MESSAGE,
)


def unique_mounts(mounts: list[StorageMount] | None) -> list[StorageMount] | None:
    """The pydantic twin of UNIQUE_MOUNTS_RULE (trailing slashes aside, as the CEL compares strings)."""
    places = [mount.mounted_at for mount in mounts or ()]
    if len(places) != len(set(places)):
        raise ValueError(UNIQUE_MOUNTS_MESSAGE)
    return mounts


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
        Rule(
            rule="self.destinationDirectoryName != '.' && self.destinationDirectoryName != '..'",
            message="destinationDirectoryName must name a directory, not . or ..",
            field_path=".destinationDirectoryName",
            name="directory-name",
        ),
        Rule(
            rule="!has(self.destinationPath) || !self.destinationPath.matches('(^|/)[.][.](/|$)')",
            message="destinationPath must not contain a .. segment",
            field_path=".destinationPath",
            name="no-parent-segment",
        ),
    )

    storage_type: Literal["OBJECT_STORAGE", "FILE_STORAGE"]
    """OBJECT_STORAGE (a bucket) or FILE_STORAGE (an export of a mount target)."""
    destination_directory_name: Annotated[
        str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^/]+$")
    ]
    """Directory name of the mount (no /), under destinationPath."""
    destination_path: Annotated[str, StringConstraints(max_length=1024, pattern=r"^/")] | None = None
    """Parent path of the mount (default /mnt)."""

    @property
    def mounted_at(self) -> str:
        """Where the run sees it: destinationPath (default /mnt) / destinationDirectoryName."""
        return (
            f"{(self.destination_path or DEFAULT_MOUNT_PATH).rstrip('/')}/{self.destination_directory_name}"
        )

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
        if self.destination_directory_name in (".", ".."):
            raise ValueError(self.cel_rule("directory-name").message)
        if self.destination_path is not None and ".." in self.destination_path.split("/"):
            raise ValueError(self.cel_rule("no-parent-segment").message)
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


OPERATOR_TAG_PREFIX = "ocids.io/"
OPERATOR_TAGS_RULE = Rule(
    rule=f"self.all(k, !k.startsWith('{OPERATOR_TAG_PREFIX}'))",
    message=f"freeformTags keys starting with {OPERATOR_TAG_PREFIX} are the operator's own",
    reason="FieldValueForbidden",
)


def _no_operator_tags(tags: dict[str, str]) -> dict[str, str]:
    if any(k.startswith(OPERATOR_TAG_PREFIX) for k in tags):
        raise ValueError(OPERATOR_TAGS_RULE.message)
    return tags


TagValue = Annotated[str, StringConstraints(max_length=256)]
FreeformTags = Annotated[
    dict[str, TagValue], Field(max_length=64), OPERATOR_TAGS_RULE, AfterValidator(_no_operator_tags)
]
"""OCI free-form tags; the ocids.io/ keys are the operator's."""
DefinedTags = Annotated[
    dict[
        str,
        Annotated[
            dict[str, TagValue], Field(max_length=64, description="The tags of one namespace: {key: value}.")
        ],
    ],
    Field(max_length=64),
]
"""OCI defined tags: {namespace: {key: value}}."""


def unique_env_names(env: list[EnvVar]) -> list[EnvVar]:
    """Same check as the CRD's list-map on name: a duplicate would silently shadow a value."""
    seen: set[str] = set()
    for var in env:
        if var.name in seen:
            raise ValueError(f"duplicate env var name {var.name!r}")
        seen.add(var.name)
    return env
