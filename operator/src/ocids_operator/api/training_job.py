"""TrainingJob: a template that maps to one OCI Data Science job (a new one per revision)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from .base import ApiModel, KubeObject, StatusModel
from .common import (
    MAX_ARGS,
    MAX_ENV,
    MAX_STORAGE_MOUNTS,
    Arg,
    ArtifactUrl,
    CompartmentId,
    Conda,
    Condition,
    ConfigKey,
    Container,
    DefinedTags,
    DeletionPolicy,
    Description,
    DisplayName,
    EnvVar,
    FreeformTags,
    Infrastructure,
    InfrastructureType,
    JobId,
    KubeName,
    LoggingConfig,
    ProjectId,
    SecretKeySelector,
    StartupProbe,
    StorageMount,
    unique_env_names,
)
from .markers import Atomic, ExactlyOne, Immutable, ListMap, Rule
from .nodes import NodeConfiguration

# A ServiceAccount name (a DNS subdomain).
ServiceAccountName = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    ),
]
FileName = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^/\\]+$")]

# `kubectl apply` copies the whole object into the last-applied-configuration annotation, and the
# API server caps all annotations together at 256 KiB: 224 KiB of script leaves room for the rest
# of the spec and the operator's own (small) annotations. Larger artifacts: a ConfigMap or a URL.
MAX_INLINE_BYTES = 224 * 1024

TrainingJobPhase = Literal["Pending", "Creating", "Active", "Updating", "Failed", "Deleting"]

JobType = Literal["DEFAULT", "EMPTY"]
"""DEFAULT: OCI runs the artifact with env, args and the rest. EMPTY: OCI gets no job configuration and
runs the container as its image and container fields say."""

# Fields an EMPTY job has no place for (OCI's EmptyJobConfigurationDetails carries nothing).
_EMPTY_JOB_UNSET = ("env", "args", "entrypoint", "conda", "maximumRuntimeInMinutes", "startupProbe")


class InlineArtifact(ApiModel):
    """A small script kept in the TrainingJob itself."""

    file_name: FileName
    """File name the artifact gets in OCI (the extension decides how it runs: .py, .sh, .zip, .tar.gz)."""
    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_INLINE_BYTES)]
    """The script's text, at most 224 Ki characters (with `kubectl apply` the JSON-escaped text
    counts against the 256 KiB annotation limit); use a ConfigMap or a URL for larger artifacts."""


class ConfigMapArtifactRef(ApiModel):
    """An artifact stored in a ConfigMap key (data, or binaryData for archives) in the same namespace."""

    name: KubeName
    """ConfigMap name."""
    key: ConfigKey
    """Key holding the artifact; its name is the artifact's file name."""


class ArtifactUrlSource(ApiModel):
    """Where the artifact's URL is kept instead of the spec: a pre-authenticated request URL is a
    bearer credential, and a Secret keeps it out of the spec, annotations and Git."""

    secret_key_ref: SecretKeySelector
    """A Secret key holding one https:// or oci:// URL (surrounding whitespace is ignored)."""


class Artifact(ApiModel):
    """The code to run; exactly one source."""

    cel_rules = (
        Rule(
            rule="!has(self.url) || !has(self.urlFrom)",
            message="url and urlFrom cannot both be set: write the URL in the spec or read it from a Secret",
            field_path=".urlFrom",
            reason="FieldValueForbidden",
            name="url-or-url-from",
        ),
        ExactlyOne("inline", "configMapRef", "url", "urlFrom", name="one-source"),
    )

    inline: InlineArtifact | None = None
    """A script written into the TrainingJob."""
    config_map_ref: ConfigMapArtifactRef | None = None
    """A ConfigMap key holding the artifact."""
    url: ArtifactUrl | None = None
    """https:// URL or oci://bucket@namespace/object of the artifact, fetched by the operator."""
    url_from: ArtifactUrlSource | None = None
    """The artifact's URL read from a Secret (e.g. a pre-authenticated request URL); status shows it
    without its secret parts. A changed Secret is picked up at the next resync, like a changed url."""

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.url is not None and self.url_from is not None:
            raise ValueError(self.cel_rule("url-or-url-from").message)
        sources = (self.inline, self.config_map_ref, self.url, self.url_from)
        if sum(x is not None for x in sources) != 1:
            raise ValueError(self.cel_rule("one-source").message)
        return self


class TrainingJobSpec(ApiModel):
    """Desired state of an OCI Data Science job. Changing the artifact, entrypoint, conda, container, env,
    args, jobType, startupProbe, maximumRuntimeInMinutes, logging or nodes (or, in a multi-node job, the
    infrastructure) creates a new OCI job (a new revision); other changes are applied to the current OCI
    job in place."""

    cel_rules = (
        Rule(
            rule="!(has(self.conda) && has(self.container))",
            message="conda and container cannot both be set: choose one runtime environment",
            field_path=".container",
            reason="FieldValueForbidden",
            name="one-runtime",
        ),
        Rule(
            rule="has(self.artifact) || has(self.container)",
            message="artifact is required unless container is set",
            field_path=".artifact",
            reason="FieldValueRequired",
            name="artifact-or-container",
        ),
        Rule(
            rule="self.jobType != 'EMPTY' || has(self.nodes) || !("
            "(has(self.env) && size(self.env) > 0) || (has(self.args) && size(self.args) > 0) || "
            "has(self.entrypoint) || has(self.conda) || has(self.maximumRuntimeInMinutes) || "
            "has(self.startupProbe))",
            message="jobType EMPTY takes no "
            + ", ".join(_EMPTY_JOB_UNSET[:-1])
            + " or "
            + _EMPTY_JOB_UNSET[-1],
            field_path=".jobType",
            reason="FieldValueForbidden",
            name="empty-takes-nothing",
        ),
        Rule(
            rule="self.jobType != 'EMPTY' || has(self.nodes) || has(self.container)",
            message="jobType EMPTY needs container",
            field_path=".container",
            reason="FieldValueRequired",
            name="empty-needs-container",
        ),
        Rule(
            rule="!has(self.nodes) || "
            "(!self.infrastructure.fastLaunch && !has(self.infrastructure.computeTargetId))",
            message="nodes cannot be combined with infrastructure.fastLaunch or "
            "infrastructure.computeTargetId",
            field_path=".nodes",
            reason="FieldValueForbidden",
            name="nodes-on-shapes",
        ),
        Rule(
            rule="has(self.adoptJobId) == has(oldSelf.adoptJobId) && "
            "(!has(self.adoptJobId) || self.adoptJobId == oldSelf.adoptJobId)",
            message="adoptJobId is immutable",
            field_path=".adoptJobId",
            reason="FieldValueForbidden",
        ),
        Rule(
            rule="has(self.serviceAccountName) == has(oldSelf.serviceAccountName) && "
            "(!has(self.serviceAccountName) || self.serviceAccountName == oldSelf.serviceAccountName)",
            message="serviceAccountName is immutable: the OCI resources are deleted as they were created",
            field_path=".serviceAccountName",
            reason="FieldValueForbidden",
        ),
    )

    compartment_id: Annotated[CompartmentId, Immutable("compartmentId")]
    """Compartment OCID of the OCI job (immutable)."""
    project_id: Annotated[ProjectId, Immutable("projectId")]
    """Data Science project OCID (immutable)."""
    display_name: DisplayName | None = None
    """Name of the OCI job; default <namespace>-<name>."""
    description: Description | None = None
    """Description of the OCI job."""
    artifact: Artifact | None = None
    """The code to run; optional with a container (the image then holds the code)."""
    job_type: JobType = "DEFAULT"
    """DEFAULT runs the artifact with env, args, entrypoint, conda, startupProbe and
    maximumRuntimeInMinutes. EMPTY (with container only) sends OCI no job configuration: the container's
    image, command and args say what runs, and those fields stay unset. Ignored with nodes."""
    entrypoint: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None
    """File to run inside an archive artifact (JOB_RUN_ENTRYPOINT), e.g. train/main.py."""
    conda: Conda | None = None
    """Conda environment to run in (not with container)."""
    container: Container | None = None
    """Container image to run (not with conda)."""
    infrastructure: Infrastructure
    """Compute shape, size and network. With nodes: the node groups' default compute, and the network
    of all nodes."""
    nodes: NodeConfiguration | None = None
    """Makes this a multi-node job (OCI's MULTI_NODE): node groups whose nodes all run the artifact;
    each node gets NODE_RANK and the other multi-node environment variables. Not with
    infrastructure.fastLaunch or infrastructure.computeTargetId."""
    startup_probe: StartupProbe | None = None
    """A command OCI runs until it succeeds before the run counts as started; failing it fails the run."""
    env: Annotated[
        list[EnvVar], ListMap("name"), Field(max_length=MAX_ENV), AfterValidator(unique_env_names)
    ] = []
    """Environment variables of every run; names are unique."""
    args: Annotated[list[Arg], Atomic(), Field(max_length=MAX_ARGS)] = []
    """Command-line arguments, quoted into OCI's single commandLineArguments string."""
    maximum_runtime_in_minutes: int | None = Field(default=None, ge=1)
    """OCI cancels a run that takes longer than this."""
    logging: LoggingConfig | None = None
    """Where runs' output goes in OCI Logging."""
    storage_mounts: Annotated[list[StorageMount], Field(max_length=MAX_STORAGE_MOUNTS)] = []
    """Object Storage buckets or File Storage exports to mount into runs."""
    freeform_tags: FreeformTags = {}
    """Free-form tags on the OCI job. Keys starting with ocids.io/ are the operator's own tags, which it
    adds to every job."""
    defined_tags: DefinedTags = {}
    """Defined tags on the OCI job: {namespace: {key: value}} (required by tenancies that enforce tag
    namespaces); changed in place."""
    deletion_policy: DeletionPolicy = "Delete"
    """Delete: deleting the TrainingJob deletes its OCI jobs. Retain: they are left in OCI."""
    adopt_job_id: JobId | None = None
    """Take over this existing OCI job instead of creating one (immutable)."""
    service_account_name: ServiceAccountName | None = None
    """oke_workload_identity: the ServiceAccount of this namespace whose OCI identity creates, reads and
    deletes this job and its runs (immutable); default: the namespace's ocids.io/service-account
    annotation, then the operator's own identity."""

    @model_validator(mode="after")
    def _one_runtime(self) -> Self:
        if self.conda is not None and self.container is not None:
            raise ValueError(self.cel_rule("one-runtime").message)
        if self.artifact is None and self.container is None:
            raise ValueError(self.cel_rule("artifact-or-container").message)
        if self.job_type == "EMPTY" and self.nodes is None:
            unset = (
                self.env,
                self.args,
                self.entrypoint,
                self.conda,
                self.maximum_runtime_in_minutes,
                self.startup_probe,
            )
            if any(v is not None and v != [] for v in unset):
                raise ValueError(self.cel_rule("empty-takes-nothing").message)
            if self.container is None:
                raise ValueError(self.cel_rule("empty-needs-container").message)
        if self.nodes is not None and (
            self.infrastructure.fast_launch or self.infrastructure.compute_target_id is not None
        ):
            raise ValueError(self.cel_rule("nodes-on-shapes").message)
        return self

    @property
    def is_multi_node(self) -> bool:
        return self.nodes is not None

    @property
    def total_replicas(self) -> int:
        """Nodes a run of this job has: the groups' replicas added up, 1 for a single-node job."""
        return self.nodes.total_replicas if self.nodes is not None else 1


class ArtifactProvenance(StatusModel):
    """Which artifact the current OCI job was created with."""

    source: Literal["inline", "configMap", "url"]
    """Where the artifact came from."""
    file_name: str | None = None
    """File name given to OCI."""
    digest: str | None = None
    """sha256:<hex> of the uploaded bytes."""
    size_bytes: int | None = None
    """Size of the uploaded artifact."""
    url: str | None = None
    """The URL it was fetched from (url source)."""


class TrainingJobStatus(StatusModel):
    """Observed state, written by the operator."""

    phase: TrainingJobPhase | None = None
    """Pending: not in OCI yet (waiting for inputs, capacity or a retry; see message). Creating, Updating:
    an OCI job (revision) is being created. Active: runs can start. Failed: cannot be created as specified
    (see message). Deleting: the OCI jobs are being cleaned up."""
    job_id: str | None = None
    """OCID of the current OCI job."""
    revision: int | None = None
    """How many OCI jobs this TrainingJob has created."""
    retired_job_ids: Annotated[list[str], Atomic()] = []
    """Earlier revisions' OCI jobs still kept for runs that use them."""
    artifact: ArtifactProvenance | None = None
    """The artifact the current OCI job holds."""
    shape: str | None = None
    """Shape the current OCI job uses, e.g. VM.Standard.E4.Flex (2 OCPU, 32 GB), also when fast launch
    picked it."""
    infrastructure_type: InfrastructureType | None = None
    """OCI's infrastructure type of the current OCI job: STANDALONE (own subnet), ME_STANDALONE
    (service-managed egress network), MULTI_NODE or MANAGED_COMPUTE_CLUSTER."""
    fast_launch_config: str | None = None
    """Name of the fast-launch configuration the current OCI job uses (infrastructure.fastLaunch)."""
    compute_target_id: str | None = None
    """OCID of the compute target the current OCI job runs on."""
    node_count: int | None = None
    """Nodes each run has, for a multi-node job (the groups' replicas added up)."""
    console_url: str | None = None
    """The OCI job in the OCI Console."""
    cancel_requested_at: datetime | None = None
    """When deleting this object first sent CancelJobRun to its runs. Its wait for OCI to stop them
    (OCIDS_RUN_CANCEL_TIMEOUT_SECONDS) counts from here."""
    observed_generation: int | None = None
    """metadata.generation last reconciled."""
    conditions: Annotated[list[Condition], ListMap("type")] = []
    """Ready, Reconciling and Stalled (kstatus)."""
    message: str | None = None
    """Last error or notable event, for humans."""


class TrainingJob(KubeObject):
    """A whole TrainingJob object as the API server returns it."""

    kind: Literal["TrainingJob"] = "TrainingJob"
    """Kind."""
    spec: TrainingJobSpec
    """Desired state."""
    status: TrainingJobStatus | None = None
    """Observed state."""
