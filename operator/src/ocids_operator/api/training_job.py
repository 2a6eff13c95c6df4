"""TrainingJob: a template that maps to one OCI Data Science job (a new one per revision)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from .base import ApiModel, KubeObject, StatusModel
from .common import (
    MAX_ARGS,
    MAX_ENV,
    MAX_STORAGE_MOUNTS,
    UNIQUE_MOUNTS_RULE,
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
    unique_mounts,
)
from .cost import JobSpend
from .markers import Atomic, ExactlyOne, Immutable, ListMap, Rule
from .nodes import NodeConfiguration
from .run_policies import ArchiveStatus, Metrics

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


# Scheme checked by a CEL rule (so the message can say why ssh:// is refused); the pattern only keeps
# out control characters and whitespace.
GitUrl = Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=r"^[^\x00-\x20\x7f]+$")]
# A branch, a tag, refs/..., or a 40-hex commit: what git check-ref-format allows, roughly.
GitRef = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00-\x20\x7f~^:?*\[\\]+$")
]
GIT_SCHEMES = ("https://", "git://", "file://")
GIT_SCHEME_MESSAGE = (
    "artifact.git.url must start with https://, git:// or file:// (ssh:// and user@host:path are not "
    "supported: the operator fetches the code and has no ssh client)"
)
# Clients disagree where such a host ends (urllib3 stops at '?', '#', '\\'): the host checked
# would not be the host connected to.
GIT_AMBIGUOUS_HOST = r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*[?#\\]"
GIT_HOST_MESSAGE = (
    "artifact.git.url must not contain '?', '#' or a backslash in its host part (before the path): "
    "Git clients do not agree where such a host ends"
)
GIT_CREDENTIALS_MESSAGE = (
    "artifact.git.url must not contain credentials (user:token@host): put them in a Secret named by "
    "artifact.git.secretRef"
)


class GitSecretRef(ApiModel):
    """A Secret in the same namespace with the credentials of an https:// Git URL."""

    name: KubeName
    """Secret name. Keys: `token` (sent as the password, e.g. a personal access token), or
    `password`; `username` is optional."""


class GitArtifact(ApiModel):
    """Code from a Git repository. The operator resolves `ref` to a commit, fetches that commit and
    packs its files (without .git) into the artifact it uploads, so what ran is pinned
    (status.artifact.commit) and the job run needs no network access to the Git host."""

    cel_rules = (
        Rule(
            rule="[" + ", ".join(f"self.url.startsWith('{s}')" for s in GIT_SCHEMES) + "].exists(x, x)",
            message=GIT_SCHEME_MESSAGE,
            field_path=".url",
            name="scheme",
        ),
        Rule(
            rule="!self.url.matches('^[A-Za-z][A-Za-z0-9+.-]*://[^/]*@')",
            message=GIT_CREDENTIALS_MESSAGE,
            field_path=".url",
            name="no-credentials",
        ),
        Rule(
            rule="!self.url.matches('" + GIT_AMBIGUOUS_HOST.replace("\\", "\\\\") + "')",
            message=GIT_HOST_MESSAGE,
            field_path=".url",
            name="unambiguous-host",
        ),
    )

    url: GitUrl
    """Repository URL: https://host/owner/repo.git (credentials from secretRef), git://host/repo
    (git daemon), or file:///path/to/bare.git (only when the operator allows it:
    OCIDS_GIT_ALLOW_FILE_URLS)."""
    ref: GitRef
    """A branch, a tag, or a full 40-hex commit. A branch that moves is a new commit, hence a new
    revision, noticed at the next resync."""
    secret_ref: GitSecretRef | None = None
    """Credentials for an https:// URL."""

    @model_validator(mode="after")
    def _url_fits(self) -> Self:
        if not self.url.startswith(GIT_SCHEMES):
            raise ValueError(self.cel_rule("scheme").message)
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*@", self.url):
            raise ValueError(self.cel_rule("no-credentials").message)
        if re.match(GIT_AMBIGUOUS_HOST, self.url):
            raise ValueError(self.cel_rule("unambiguous-host").message)
        return self


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
        ExactlyOne("inline", "configMapRef", "url", "urlFrom", "git", name="one-source"),
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
    git: GitArtifact | None = None
    """A Git repository at a branch, tag or commit; `entrypoint` names the file to run in it."""

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.url is not None and self.url_from is not None:
            raise ValueError(self.cel_rule("url-or-url-from").message)
        sources = (self.inline, self.config_map_ref, self.url, self.url_from, self.git)
        if sum(x is not None for x in sources) != 1:
            raise ValueError(self.cel_rule("one-source").message)
        return self


ModuleName = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=255, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
    ),
]
FunctionName = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
]
# A path inside the code (relative to where the artifact is unpacked).
CodePath = Annotated[
    str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[^/\x00-\x1f\x7f][^\x00-\x1f\x7f]*$")
]
NotebookTag = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^,\x00-\x1f\x7f]+$")]
OutputsUri = Annotated[
    str,
    StringConstraints(
        max_length=1024, pattern=r"^oci://[^/@\x00-\x1f\x7f]+@[^/\x00-\x1f\x7f]+(/[^\x00-\x1f\x7f]*)?$"
    ),
]
MAX_PYTHON_PATH = 20
MAX_EXCLUDE_TAGS = 50


class PythonRuntime(ApiModel):
    """Call a Python function, as ADS's PythonRuntime does: the code directory and pythonPath are put
    on sys.path, the working directory is entered, and `function` of `module` (or of the file
    spec.entrypoint) is called with the arguments: `--key value` becomes the keyword argument
    key="value", other words positional arguments. Its return value is printed."""

    module: ModuleName | None = None
    """Module to import, e.g. pkg.train; unset: the file spec.entrypoint."""
    function: FunctionName
    """Function to call, e.g. main."""
    python_path: Annotated[list[CodePath], Atomic(), Field(max_length=MAX_PYTHON_PATH)] = []
    """More directories for sys.path, relative to the code."""
    working_dir: CodePath | None = None
    """Directory to run in, relative to the code; unset: the code's top directory."""


class NotebookRuntime(ApiModel):
    """Run a Jupyter notebook's code cells in order; the executed notebook is an output."""

    path: CodePath
    """The .ipynb file, relative to the code (replaces spec.entrypoint)."""
    exclude_tags: Annotated[list[NotebookTag], Atomic(), Field(max_length=MAX_EXCLUDE_TAGS)] = []
    """Cells tagged with any of these are skipped."""
    encoding: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")] = (
        "utf-8"
    )
    """Text encoding of the notebook file."""


class Runtime(ApiModel):
    """How the code runs, through the operator's driver (see operator/README.md); at most one of
    python and notebook. Empty: the entrypoint runs as a script, as without runtime."""

    cel_rules = (
        Rule(
            rule="!(has(self.python) && has(self.notebook))",
            message="runtime: set at most one of python and notebook",
            field_path=".notebook",
            reason="FieldValueForbidden",
            name="one-kind",
        ),
    )

    python: PythonRuntime | None = None
    """Call a function of a module or of the entrypoint file."""
    notebook: NotebookRuntime | None = None
    """Execute a notebook."""

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if self.python is not None and self.notebook is not None:
            raise ValueError(self.cel_rule("one-kind").message)
        return self


class Outputs(ApiModel):
    """Files the run leaves behind, uploaded to Object Storage when the run ends (success or failure)."""

    directory: (
        Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[^\x00-\x1f\x7f]+$")]
        | None
    ) = None
    """Directory whose files are uploaded: absolute, or relative to the working directory; unset:
    `outputs` under the working directory."""
    uri: OutputsUri
    """oci://bucket@namespace/prefix/: each file goes to <prefix>/<job run OCID>/<relative path>
    (the run's status.outputs.uri), written with the job run's resource principal."""


_DRIVER_FEATURES_MESSAGE = "cannot be combined with container: the container's image runs the code"


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
            rule="!(has(self.runtime) && has(self.container))",
            message="runtime " + _DRIVER_FEATURES_MESSAGE,
            field_path=".runtime",
            reason="FieldValueForbidden",
            name="runtime-not-container",
        ),
        Rule(
            rule="!(has(self.outputs) && has(self.container))",
            message="outputs " + _DRIVER_FEATURES_MESSAGE,
            field_path=".outputs",
            reason="FieldValueForbidden",
            name="outputs-not-container",
        ),
        Rule(
            rule="!has(self.container) || !has(self.artifact) || !has(self.artifact.git)",
            message="artifact.git " + _DRIVER_FEATURES_MESSAGE,
            field_path=".artifact.git",
            reason="FieldValueForbidden",
            name="git-not-container",
        ),
        Rule(
            rule="!has(self.container) || !has(self.env) || "
            "self.env.all(e, !has(e.valueFrom) || !has(e.valueFrom.vaultSecretRef))",
            message="env[].valueFrom.vaultSecretRef cannot be used with container: the operator's driver "
            "that reads Vault secrets does not run in a container job",
            field_path=".env",
            reason="FieldValueForbidden",
            name="vault-not-container",
        ),
        Rule(
            rule="!has(self.runtime) || !has(self.runtime.python) || has(self.entrypoint) || "
            "has(self.runtime.python.module)",
            message="runtime.python needs entrypoint (a .py file in the code) or runtime.python.module",
            field_path=".runtime.python",
            reason="FieldValueRequired",
            name="python-needs-entry",
        ),
        Rule(
            rule="!has(self.runtime) || !has(self.runtime.notebook) || !has(self.entrypoint)",
            message="entrypoint cannot be set with runtime.notebook: "
            "runtime.notebook.path names the notebook",
            field_path=".entrypoint",
            reason="FieldValueForbidden",
            name="notebook-replaces-entrypoint",
        ),
        Rule(
            rule="!has(self.artifact) || !has(self.artifact.git) || has(self.entrypoint) || "
            "(has(self.runtime) && (has(self.runtime.notebook) || "
            "(has(self.runtime.python) && has(self.runtime.python.module))))",
            message="artifact.git needs entrypoint (the file to run in the repository), "
            "runtime.python.module or runtime.notebook",
            field_path=".entrypoint",
            reason="FieldValueRequired",
            name="git-needs-entry",
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
    """File to run inside an archive artifact or a Git repository (JOB_RUN_ENTRYPOINT), e.g.
    train/main.py; with runtime.python, the file whose function is called."""
    runtime: Runtime | None = None
    """Run the code through the operator's driver: call a Python function (python) or execute a
    notebook (notebook). Not with container."""
    outputs: Outputs | None = None
    """Upload a directory to Object Storage when each run ends. Not with container."""
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
    storage_mounts: Annotated[
        list[StorageMount],
        Field(max_length=MAX_STORAGE_MOUNTS),
        UNIQUE_MOUNTS_RULE,
        AfterValidator(unique_mounts),
    ] = []
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
    metrics: Metrics = []
    """Metrics read from each run's log into the TrainingJobRun's status.metrics (a run may replace
    them), e.g. {name: accuracy, regex: 'test accuracy=([0-9.]+)'}. Needs logging enabled."""
    successful_runs_history_limit: int | None = Field(default=None, ge=0, le=10000)
    """Keep at most this many Succeeded TrainingJobRuns of this TrainingJob; older ones are deleted
    (their OCI runs follow their deletionPolicy) and archived (status.archive). Unset: keep all."""
    failed_runs_history_limit: int | None = Field(default=None, ge=0, le=10000)
    """The same for Failed, Canceled and Deleted TrainingJobRuns. Unset: keep all."""

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
        self._check_driver_features()
        return self

    def _check_driver_features(self) -> None:
        git = self.artifact.git if self.artifact else None
        if self.container is not None:
            if self.runtime is not None:
                raise ValueError(self.cel_rule("runtime-not-container").message)
            if self.outputs is not None:
                raise ValueError(self.cel_rule("outputs-not-container").message)
            if git is not None:
                raise ValueError(self.cel_rule("git-not-container").message)
            if any(var.vault_secret_id for var in self.env):
                raise ValueError(self.cel_rule("vault-not-container").message)
        python = self.runtime.python if self.runtime else None
        notebook = self.runtime.notebook if self.runtime else None
        if python is not None and self.entrypoint is None and python.module is None:
            raise ValueError(self.cel_rule("python-needs-entry").message)
        if notebook is not None and self.entrypoint is not None:
            raise ValueError(self.cel_rule("notebook-replaces-entrypoint").message)
        module_entry = python is not None and python.module is not None
        if git is not None and self.entrypoint is None and notebook is None and not module_entry:
            raise ValueError(self.cel_rule("git-needs-entry").message)

    @property
    def is_multi_node(self) -> bool:
        return self.nodes is not None

    @property
    def total_replicas(self) -> int:
        """Nodes a run of this job has: the groups' replicas added up, 1 for a single-node job."""
        return self.nodes.total_replicas if self.nodes is not None else 1


class ArtifactProvenance(StatusModel):
    """Which artifact the current OCI job was created with."""

    source: Literal["inline", "configMap", "url", "git"]
    """Where the artifact came from."""
    file_name: str | None = None
    """File name given to OCI."""
    digest: str | None = None
    """sha256:<hex> of the uploaded bytes."""
    size_bytes: int | None = None
    """Size of the uploaded artifact."""
    url: str | None = None
    """The URL it was fetched from (url and git sources), without credentials."""
    ref: str | None = None
    """The Git ref asked for (git source)."""
    commit: str | None = None
    """The commit `ref` resolved to, whose files the artifact holds (git source)."""
    driver_version: str | None = None
    """Version of the operator's driver packed into the artifact (jobs with a runtime, a Git source,
    outputs or Vault secrets); a new driver version makes a new revision."""


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
    retired_job_count: int | None = None
    """How many earlier revisions' OCI jobs remain (retiredJobIds); they are deleted once no kept run
    uses them."""
    archive: ArchiveStatus | None = None
    """Where records of TrainingJobRuns removed by history limits or TTL are kept."""
    spend: JobSpend | None = None
    """What its runs cost: in all, and this month."""
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
