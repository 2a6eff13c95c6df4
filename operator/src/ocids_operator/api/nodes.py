"""Multi-node jobs: node groups of a TrainingJob, their per-run overrides, and what OCI reports of them."""

from __future__ import annotations

from typing import Annotated, Literal, Protocol, Self, TypeVar

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from .base import ApiModel, StatusModel
from .common import MAX_ARGS, MAX_ENV, Arg, EnvVarName, Infrastructure, NodeInfrastructure
from .markers import Atomic, ListMap, Rule

MAX_NODE_GROUPS = 10
MAX_REPLICAS = 128

GroupName = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]
Replicas = Annotated[int, Field(ge=1, le=MAX_REPLICAS)]

StartupOrder = Literal["IN_PARALLEL", "IN_ORDER"]
"""IN_PARALLEL: all groups start together. IN_ORDER: a group starts once the previous one's nodes started."""

MIN_SUCCESS_RULE = Rule(
    rule="!has(self.minimumSuccessReplicas) || !has(self.replicas) || "
    "self.minimumSuccessReplicas <= self.replicas",
    message="minimumSuccessReplicas must be at most replicas",
    field_path=".minimumSuccessReplicas",
    name="min-success-le-replicas",
)


class NodeEnvVar(ApiModel):
    """An environment variable of a node group's nodes (a literal value)."""

    name: EnvVarName
    """Variable name: letters, digits and underscores, not starting with a digit."""
    value: Annotated[str, StringConstraints(max_length=20000)]
    """Literal value."""


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_N = TypeVar("_N", bound=_Named)


def unique_names(items: list[_N]) -> list[_N]:
    """Same check as the CRD's list-map on name: a duplicate would silently shadow an entry."""
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            raise ValueError(f"duplicate name {item.name!r}")
        seen.add(item.name)
    return items


NodeEnv = Annotated[
    list[NodeEnvVar], ListMap("name"), Field(max_length=MAX_ENV), AfterValidator(unique_names)
]
NodeArgs = Annotated[list[Arg], Atomic(), Field(max_length=MAX_ARGS)]


class NodeGroup(ApiModel):
    """A group of identical nodes of a multi-node job."""

    cel_rules = (MIN_SUCCESS_RULE,)

    name: GroupName
    """Group name, unique in the job (lowercase letters, digits and '-')."""
    replicas: Replicas
    """How many nodes the group has."""
    minimum_success_replicas: Replicas | None = None
    """How many of the group's nodes must succeed for the group to succeed; unset: all of them."""
    infrastructure: NodeInfrastructure | None = None
    """Compute of each node; unset: spec.infrastructure's shape, ocpus, memoryInGBs, cpuBaseline and
    blockStorageSizeInGBs."""
    env: NodeEnv = []
    """Environment variables of this group's nodes, merged over spec.env (same name: this value wins)."""
    args: NodeArgs | None = None
    """Command-line arguments of this group's nodes, replacing spec.args; unset: spec.args."""

    @model_validator(mode="after")
    def _min_success(self) -> Self:
        if self.minimum_success_replicas is not None and self.minimum_success_replicas > self.replicas:
            raise ValueError(f"node group {self.name}: {self.cel_rule('min-success-le-replicas').message}")
        return self

    def effective_infrastructure(self, job_infra: Infrastructure) -> NodeInfrastructure:
        """The compute of this group's nodes: the group's own (block storage defaulting to the job's),
        else the job's shape, ocpus, memoryInGBs, cpuBaseline and blockStorageSizeInGBs. The job's
        subnetId and capacityReservationId are job-wide and not part of it."""
        default = _default_node_infrastructure(job_infra)
        return default if self.infrastructure is None else self.infrastructure.over(default)

    def with_override(self, override: NodeGroupOverride) -> NodeGroup:
        """This group as a run asks for it: replicas, minimumSuccessReplicas, infrastructure and args
        replace when set, env merges by name. A job's minimumSuccessReplicas above the run's replicas
        is lowered to them."""
        replicas = override.replicas or self.replicas
        minimum = override.minimum_success_replicas or self.minimum_success_replicas
        if minimum is not None and override.minimum_success_replicas is None:
            minimum = min(minimum, replicas)
        infrastructure = self.infrastructure
        if override.infrastructure is not None:
            infrastructure = (
                override.infrastructure
                if self.infrastructure is None
                else override.infrastructure.over(self.infrastructure)
            )
        return NodeGroup(
            name=self.name,
            replicas=replicas,
            minimum_success_replicas=minimum,
            infrastructure=infrastructure,
            env=merge_node_env(self.env, override.env),
            args=override.args if override.args is not None else self.args,
        )


def _default_node_infrastructure(job_infra: Infrastructure) -> NodeInfrastructure:
    if job_infra.shape is None:
        # The CRD forbids fastLaunch and computeTargetId with spec.nodes, and one of them is needed to
        # leave the shape unset: only a spec that skipped validation gets here.
        raise ValueError("spec.infrastructure.shape is required with spec.nodes")
    return NodeInfrastructure(
        **job_infra.sizing(), block_storage_size_in_gbs=job_infra.block_storage_size_in_gbs
    )


def merge_node_env(base: list[NodeEnvVar], over: list[NodeEnvVar]) -> list[NodeEnvVar]:
    """`base` with `over`'s variables replacing same-named ones (in place) or appended."""
    replaced = {v.name: v for v in over}
    merged = [replaced.pop(v.name, v) for v in base]
    return merged + [v for v in over if v.name in replaced]


class NodeConfiguration(ApiModel):
    """A multi-node job (OCI's MULTI_NODE): groups of nodes that run the artifact together."""

    startup_order: StartupOrder = "IN_PARALLEL"
    """IN_PARALLEL: all groups start together. IN_ORDER: each group starts after the previous group's
    nodes have started (passed the startup probe, when one is set)."""
    groups: Annotated[
        list[NodeGroup],
        ListMap("name"),
        Field(min_length=1, max_length=MAX_NODE_GROUPS),
        AfterValidator(unique_names),
    ]
    """The node groups, 1 to 10, in order (node ranks are numbered across groups in this order)."""

    @property
    def total_replicas(self) -> int:
        return sum(g.replicas for g in self.groups)

    def with_overrides(self, overrides: list[NodeGroupOverride] | None) -> NodeConfiguration:
        """The node configuration a run gets: each override merged over the job's group of that name.
        Raises ValueError naming a group the job does not have."""
        if not overrides:
            return self
        by_name = {o.name: o for o in overrides}
        unknown = [name for name in by_name if name not in {g.name for g in self.groups}]
        if unknown:
            raise ValueError(
                f"spec.nodeGroups: the TrainingJob has no node group named {', '.join(unknown)} "
                f"(it has {', '.join(g.name for g in self.groups)})"
            )
        groups = [g.with_override(by_name[g.name]) if g.name in by_name else g for g in self.groups]
        return NodeConfiguration(startup_order=self.startup_order, groups=groups)


class NodeGroupOverride(ApiModel):
    """Per-run changes to one of the TrainingJob's node groups, matched by name."""

    cel_rules = (MIN_SUCCESS_RULE,)

    name: GroupName
    """Name of the TrainingJob's node group to change."""
    replicas: Replicas | None = None
    """Nodes in the group for this run; unset: the TrainingJob's."""
    minimum_success_replicas: Replicas | None = None
    """Nodes that must succeed; unset: the TrainingJob's (lowered to replicas if above them)."""
    infrastructure: NodeInfrastructure | None = None
    """Compute of each node for this run; unset: the group's."""
    env: NodeEnv = []
    """Environment variables merged over the group's (same name: this value wins)."""
    args: NodeArgs | None = None
    """Command-line arguments that replace the group's; unset: the group's."""

    @model_validator(mode="after")
    def _min_success(self) -> Self:
        if (
            self.minimum_success_replicas is not None
            and self.replicas is not None
            and self.minimum_success_replicas > self.replicas
        ):
            raise ValueError(f"node group {self.name}: {self.cel_rule('min-success-le-replicas').message}")
        return self


class NodeGroupStatus(StatusModel):
    """A node group of the OCI job run, as OCI reports it."""

    name: str
    """Group name."""
    lifecycle_state: str | None = None
    """OCI's state of the group, e.g. CREATING, ACTIVE, FAILED, DELETED."""
    lifecycle_details: str | None = None
    """OCI's detail of that state."""
