"""The OCI IAM statements this operator and the job runs it starts need, per auth mode and feature.

One generator for `ocids-operator iam-policy` and docs/iam.md (a unit test keeps the doc equal to
`markdown_doc()`), so what users copy is what the emulator tests prove enough, one statement at a
time (tests/integration/emulator/test_emulator_iam_statements.py).

Three principals act in OCI when the operator runs a job:
- the operator's own principal (per auth mode) creates jobs and runs, and reads `oci://` artifacts;
- each job run is a resource principal (`resource.type = 'datasciencejobrun'`): it pushes its logs,
  pulls its container image, downloads a published conda environment, reads its Vault secrets and
  uploads its outputs as itself;
- the Data Science service (`service datascience`) attaches the run's VNIC to the job's subnet.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable

MODES = ("api_key", "instance_principal", "resource_principal", "oke_workload_identity")


class Feature(enum.StrEnum):
    BASE = "base"
    LOGGING = "logging"
    AUTO_CREATE_LOG = "auto-create-log"
    SUBNET = "subnet"
    CONTAINER = "container"
    OCI_ARTIFACT = "oci-artifact"
    PUBLISHED_CONDA = "published-conda"
    VAULT_SECRETS = "vault-secrets"
    OUTPUTS = "outputs"
    OCI_SCHEDULE = "oci-schedule"
    COST = "cost"


FEATURE_HELP = {
    Feature.BASE: "jobs and job runs (always needed)",
    Feature.LOGGING: "spec.logging with a logId: run output in OCI Logging",
    Feature.AUTO_CREATE_LOG: "spec.logging.autoCreateLog: OCI creates a log per run",
    Feature.SUBNET: "spec.infrastructure.subnetId: runs in your own subnet",
    Feature.CONTAINER: "spec.container: a bring-your-own-container image from OCIR",
    Feature.OCI_ARTIFACT: "spec.artifact.url oci://bucket@namespace/object, read by the operator",
    Feature.PUBLISHED_CONDA: "spec.conda type published: a conda pack in your Object Storage bucket",
    Feature.VAULT_SECRETS: "env valueFrom.vaultSecretRef: the run reads OCI Vault secrets at start",
    Feature.OUTPUTS: "spec.outputs.uri: the run uploads its output directory to Object Storage",
    Feature.OCI_SCHEDULE: "TrainingJobSchedule spec.engine OCI: an OCI Schedule creates the runs as itself",
    Feature.COST: "status.cost.actual: the operator reads runs' actual cost from the Usage API",
}


@dataclasses.dataclass(frozen=True)
class Source:
    title: str
    url: str
    note: str = ""


# Oracle's documents each statement comes from.
SOURCES: dict[str, Source] = {
    "ds-policies": Source(
        "Data Science Policies",
        "https://docs.oracle.com/iaas/data-science/using/policies.htm",
        "resource types (data-science-family), `service datascience` and virtual-network-family",
    ),
    "ds-jobs-troubleshooting": Source(
        "Data Science: Troubleshooting, Jobs",
        "https://docs.cloud.oracle.com/iaas/data-science/using/tshoot-jobs.htm",
        "the job run creator needs `manage log-groups` (autoCreateLog) and `use log-content`; "
        "a container job's image pull needs `read repos`",
    ),
    "ds-logs": Source(
        "Data Science: Logs",
        "https://docs.oracle.com/iaas/data-science/using/log-about.htm",
        "job runs write stdout/stderr to the custom log (source = the job run OCID)",
    ),
    "ds-jobs-conda": Source(
        "Data Science: Other Ways to Run Jobs (custom conda environments)",
        "https://docs.oracle.com/iaas/data-science/using/jobs-other.htm",
        "a published conda environment needs a policy letting job run resources read the bucket",
    ),
    "ads-jobs-policies": Source(
        "Oracle ADS: IAM Policies for Data Science Jobs",
        "https://accelerated-data-science.readthedocs.io/en/v2.8.5/user_guide/jobs/policies.html",
        "the job-run dynamic group `all {resource.type='datasciencejobrun', resource.compartment.id=...}`; "
        "`use virtual-network-family` for the job creator; `target.bucket.name` conditions on objects",
    ),
    "vault-policies": Source(
        "Details for the Vault Service",
        "https://docs.oracle.com/iaas/Content/Identity/Reference/keypolicyreference.htm",
        "`secret-bundles`: `read` lets a principal get a secret's contents (GetSecretBundle)",
    ),
    "object-storage-policies": Source(
        "Details for Object Storage",
        "https://docs.oracle.com/iaas/Content/Identity/Reference/objectstoragepolicyreference.htm",
        "`objects`: PutObject needs OBJECT_CREATE (`manage`); `target.bucket.name` narrows it to a bucket",
    ),
    "ds-scheduler-policies": Source(
        "Data Science: Scheduler Policies",
        "https://docs.oracle.com/iaas/Content/data-science/using/scheduler-policies.htm",
        "a schedule creates its job runs as its resource principal (`resource.type = "
        "'datascienceschedule'`), which needs DATA_SCIENCE_PROJECT_READ, DATA_SCIENCE_JOB_READ and "
        "DATA_SCIENCE_JOB_RUN_CREATE",
    ),
    "usage-policies": Source(
        "Cost Analysis: Required IAM Policy",
        "https://docs.oracle.com/iaas/Content/Billing/Concepts/costanalysisoverview.htm",
        "`Allow group <group> to read usage-report in tenancy` lets a user or API read usage and "
        "costs (RequestSummarizedUsages); it can only be granted in the tenancy",
    ),
    "oke-workload-identity": Source(
        "Granting Workloads Access to OCI Resources (OKE)",
        "https://docs.oracle.com/en-us/iaas/Content/ContEng/Tasks/contenggrantingworkloadaccesstoresources.htm",
        "any-user where request.principal.type='workload', .namespace, .service_account, .cluster_id",
    ),
    "instance-principals": Source(
        "Calling Services from an Instance",
        "https://docs.cloud.oracle.com/Content/Identity/Tasks/callingservicesfrominstances.htm",
        "a dynamic group matching the nodes (instance.compartment.id)",
    ),
    "dynamic-group-policies": Source(
        "Writing Policies for Dynamic Groups",
        "https://docs.oracle.com/iaas/Content/Identity/callresources/Writing_Policies_for_Dynamic_Groups.htm",
        "Allow dynamic-group <name> to <verb> <resource-type> in compartment <name>",
    ),
}


@dataclasses.dataclass(frozen=True)
class Statement:
    text: str
    feature: Feature
    why: str
    source: str


@dataclasses.dataclass(frozen=True)
class DynamicGroup:
    name: str
    rule: str
    why: str
    source: str


@dataclasses.dataclass(frozen=True)
class PolicyRequest:
    """What the statements are for. Placeholders (`<...>`) stay where a value is not known."""

    mode: str = "api_key"
    compartments: tuple[str, ...] = ("<compartment OCID>",)
    features: frozenset[Feature] = frozenset(Feature)
    group: str = "<group>"
    namespace: str = "<namespace>"
    service_account: str = "<service account>"
    cluster_id: str = "<cluster OCID>"
    node_compartment: str = "<worker node compartment OCID>"
    resource_type: str = "<resource type>"
    resource_id: str = "<resource OCID>"
    artifact_bucket: str = "<artifact bucket>"
    conda_bucket: str = "<conda bucket>"
    outputs_bucket: str = "<outputs bucket>"
    # Where OCIR repositories live; OCIR creates a repository in the root compartment on first push.
    repository_compartment: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"auth mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if not self.compartments:
            raise ValueError("at least one compartment is needed")


@dataclasses.dataclass(frozen=True)
class PolicySet:
    dynamic_groups: tuple[DynamicGroup, ...]
    statements: tuple[Statement, ...]

    def text(self) -> str:
        """The form `ocids-operator iam-policy` prints: comments name the feature and the source."""
        lines: list[str] = []
        if self.dynamic_groups:
            lines.append("# Dynamic groups (Identity > Dynamic Groups): name, matching rule")
            for group in self.dynamic_groups:
                lines += [f"#   {group.why} [{SOURCES[group.source].title}]", f"{group.name}: {group.rule}"]
            lines.append("")
        lines.append("# Policy statements")
        feature = None
        for statement in self.statements:
            if statement.feature is not feature:
                feature = statement.feature
                lines.append(f"# --- {feature.value}: {FEATURE_HELP[feature]}")
            lines.append(f"#   {statement.why} [{SOURCES[statement.source].title}]")
            lines.append(statement.text)
        return "\n".join(lines) + "\n"


def parse_features(values: Iterable[str]) -> frozenset[Feature]:
    """`--feature logging,subnet` (repeatable); `all` or nothing: every feature. BASE is always in."""
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if not names or "all" in names:
        return frozenset(Feature)
    known = {f.value: f for f in Feature}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown feature {', '.join(unknown)}: expected all or {', '.join(known)}")
    return frozenset({Feature.BASE, *(known[n] for n in names)})


def _operator_subject(req: PolicyRequest) -> tuple[str, str]:
    """(subject, condition) naming the operator's principal."""
    if req.mode == "api_key":
        return f"group {req.group}", ""
    if req.mode == "instance_principal":
        return "dynamic-group ocids-operator-nodes", ""
    if req.mode == "resource_principal":
        return "dynamic-group ocids-operator-resource", ""
    # Without cluster_id the statement grants that namespace/service account in every cluster.
    return "any-user", (
        f"request.principal.type = 'workload', request.principal.namespace = '{req.namespace}', "
        f"request.principal.service_account = '{req.service_account}', "
        f"request.principal.cluster_id = '{req.cluster_id}'"
    )


def _operator_groups(req: PolicyRequest) -> list[DynamicGroup]:
    if req.mode == "instance_principal":
        return [
            DynamicGroup(
                "ocids-operator-nodes",
                f"ALL {{instance.compartment.id = '{req.node_compartment}'}}",
                "the operator's nodes (every Pod on them gets these rights: prefer workload identity)",
                "instance-principals",
            )
        ]
    if req.mode == "resource_principal":
        return [
            DynamicGroup(
                "ocids-operator-resource",
                f"ALL {{resource.type = '{req.resource_type}', resource.id = '{req.resource_id}'}}",
                "the resource whose principal the operator uses",
                "dynamic-group-policies",
            )
        ]
    return []


def job_run_group_name(req: PolicyRequest, compartment: str) -> str:
    if len(req.compartments) == 1:
        return "ocids-job-runs"
    return f"ocids-job-runs-{req.compartments.index(compartment) + 1}"


def _job_run_groups(req: PolicyRequest) -> list[DynamicGroup]:
    return [
        DynamicGroup(
            job_run_group_name(req, c),
            f"ALL {{resource.type = 'datasciencejobrun', resource.compartment.id = '{c}'}}",
            "the job runs in this compartment (they push logs, pull images and conda packs as themselves)",
            "ads-jobs-policies",
        )
        for c in req.compartments
    ]


def schedule_group_name(req: PolicyRequest, compartment: str) -> str:
    if len(req.compartments) == 1:
        return "ocids-schedules"
    return f"ocids-schedules-{req.compartments.index(compartment) + 1}"


def _schedule_groups(req: PolicyRequest) -> list[DynamicGroup]:
    return [
        DynamicGroup(
            schedule_group_name(req, c),
            f"ALL {{resource.type = 'datascienceschedule', resource.compartment.id = '{c}'}}",
            "the OCI Schedules in this compartment (engine OCI: they create the runs as themselves)",
            "ds-scheduler-policies",
        )
        for c in req.compartments
    ]


def _where(*conditions: str) -> str:
    parts = [c for c in conditions if c]
    if not parts:
        return ""
    if len(parts) == 1 and "," not in parts[0]:
        return f" where {parts[0]}"
    return " where all {" + ", ".join(parts) + "}"


def policy_set(req: PolicyRequest) -> PolicySet:
    """The minimal statements for `req`: the operator's principal, the job runs' dynamic group and
    the Data Science service, each only for the features asked for."""
    subject, principal_condition = _operator_subject(req)
    features = req.features | {Feature.BASE}
    if Feature.AUTO_CREATE_LOG in features:
        features = features | {Feature.LOGGING}
    statements: list[Statement] = []
    runs_needed = bool(
        features
        & {
            Feature.LOGGING,
            Feature.CONTAINER,
            Feature.PUBLISHED_CONDA,
            Feature.VAULT_SECRETS,
            Feature.OUTPUTS,
        }
    )

    def operator(feature: Feature, grant: str, place: str, why: str, source: str, extra: str = "") -> None:
        where = _where(extra, principal_condition)
        statements.append(Statement(f"Allow {subject} to {grant} in {place}{where}", feature, why, source))

    def other(feature: Feature, text: str, why: str, source: str) -> None:
        statements.append(Statement(text, feature, why, source))

    for c in req.compartments:
        place = f"compartment id {c}"
        runs = f"dynamic-group {job_run_group_name(req, c)}"
        operator(
            Feature.BASE,
            "manage data-science-family",
            place,
            "create, update, cancel and delete jobs and runs; read projects and work requests; list the "
            "compartment's job shapes and fast launch configs (the shape check, fastLaunch)",
            "ds-policies",
        )
        if Feature.LOGGING in features:
            if Feature.AUTO_CREATE_LOG in features:
                operator(
                    Feature.AUTO_CREATE_LOG,
                    "manage log-groups",
                    place,
                    "a run with autoCreateLog creates its log on the creator's behalf (this covers the "
                    "`use log-groups` that `--feature logging` alone prints)",
                    "ds-jobs-troubleshooting",
                )
            else:
                operator(
                    Feature.LOGGING,
                    "use log-groups",
                    place,
                    "the run creator must be able to use the log group (unverified: Oracle states "
                    "`manage` for autoCreateLog, not what a given logId needs)",
                    "ds-jobs-troubleshooting",
                )
            operator(
                Feature.LOGGING,
                "use log-content",
                place,
                "the run creator must be able to use the log's content",
                "ds-jobs-troubleshooting",
            )
            other(
                Feature.LOGGING,
                f"Allow {runs} to use log-content in {place}",
                "job runs push their output as themselves; without it they succeed with empty logs",
                "ds-logs",
            )
        if Feature.SUBNET in features:
            operator(
                Feature.SUBNET,
                "use virtual-network-family",
                place,
                "the job creator names the subnet (and the operator reads its compartment)",
                "ads-jobs-policies",
            )
            other(
                Feature.SUBNET,
                f"Allow service datascience to use virtual-network-family in {place}",
                "the Data Science service attaches each run's VNIC to the subnet",
                "ds-policies",
            )
        if Feature.OCI_ARTIFACT in features:
            operator(
                Feature.OCI_ARTIFACT,
                "read objects",
                place,
                "the operator downloads the artifact (HeadObject, GetObject) with its own principal",
                "ads-jobs-policies",
                f"target.bucket.name = '{req.artifact_bucket}'",
            )
        if Feature.PUBLISHED_CONDA in features:
            other(
                Feature.PUBLISHED_CONDA,
                f"Allow {runs} to read objects in {place} where target.bucket.name = '{req.conda_bucket}'",
                "the job run downloads the conda pack as itself (unverified: ADS also lists "
                "`use buckets`, which the emulator does not need)",
                "ds-jobs-conda",
            )
        if Feature.VAULT_SECRETS in features:
            other(
                Feature.VAULT_SECRETS,
                f"Allow {runs} to read secret-bundles in {place}",
                "the run's driver reads each vaultSecretRef (GetSecretBundle) as the run; the value never "
                "sits in the job's definition (secrets in another compartment: name that one)",
                "vault-policies",
            )
        if Feature.OCI_SCHEDULE in features:
            schedules = f"dynamic-group {schedule_group_name(req, c)}"
            for grant, why in (
                ("read data-science-projects", "DATA_SCIENCE_PROJECT_READ: the run's project"),
                ("read data-science-jobs", "DATA_SCIENCE_JOB_READ: the job the run is of"),
                ("manage data-science-job-runs", "DATA_SCIENCE_JOB_RUN_CREATE: the run itself"),
            ):
                other(
                    Feature.OCI_SCHEDULE,
                    f"Allow {schedules} to {grant} in {place}",
                    f"a schedule fires as itself, {why} (the operator's own data-science-family "
                    "statement covers the Schedule's create, update and delete)",
                    "ds-scheduler-policies",
                )
            # The Schedule's CreateJobRun is checked as any CreateJobRun: the log its run writes to
            # must be usable by the schedule's own principal (a job's subnet is checked against a
            # run's creator only when the run overrides it: never here).
            schedule_needs = []
            if Feature.LOGGING in features:
                verb = "manage" if Feature.AUTO_CREATE_LOG in features else "use"
                schedule_needs += [
                    (f"{verb} log-groups", "the run it creates logs to the job's log group"),
                    ("use log-content", "the run it creates writes to that log"),
                ]
            for grant, why in schedule_needs:
                other(
                    Feature.OCI_SCHEDULE,
                    f"Allow {schedules} to {grant} in {place}",
                    f"a schedule fires as itself and {why} (unverified: Oracle's scheduler policies "
                    "name only the project, job and run permissions)",
                    "ds-scheduler-policies",
                )
        if Feature.OUTPUTS in features:
            other(
                Feature.OUTPUTS,
                f"Allow {runs} to manage objects in {place} "
                f"where target.bucket.name = '{req.outputs_bucket}'",
                "the run's driver uploads its output directory (PutObject) as the run when it ends",
                "object-storage-policies",
            )
    if Feature.COST in features:
        operator(
            Feature.COST,
            "read usage-report",
            "tenancy",
            "the operator asks the Usage API (RequestSummarizedUsages) what each ended run cost; usage "
            "reports exist only tenancy-wide",
            "usage-policies",
        )
    if Feature.CONTAINER in features:
        repos = f"compartment id {req.repository_compartment}" if req.repository_compartment else "tenancy"
        for c in req.compartments:
            other(
                Feature.CONTAINER,
                f"Allow dynamic-group {job_run_group_name(req, c)} to read repos in {repos}",
                "the job run pulls its image as itself (a repository made by a first push is in the "
                "root compartment: `in tenancy`)",
                "ds-jobs-troubleshooting",
            )
    order = list(Feature)
    statements.sort(key=lambda s: order.index(s.feature))
    groups = _operator_groups(req) + (_job_run_groups(req) if runs_needed else [])
    if Feature.OCI_SCHEDULE in features:
        groups += _schedule_groups(req)
    return PolicySet(tuple(groups), tuple(statements))


DOC_HEADER = """\
# OCI IAM statements for ocids-operator

<!-- Generated by `ocids-operator iam-policy --markdown-doc > docs/iam.md`
     (operator/src/ocids_operator/core/iam.py); a unit test keeps them equal. -->

Copying only the operator's own statements gives runs that succeed with **empty logs**, container
jobs that **fail pulling their image**, and jobs with a `subnetId` that **fail to provision**:
three principals act in OCI, not one.

- **The operator** (per `OCIDS_AUTH`) creates jobs and runs and reads `oci://` artifacts: a
  `group`, a `dynamic-group`, or `any-user where request.principal.type = 'workload' ...`.
- **Each job run**, a resource principal, pushes its logs, pulls its image, downloads a
  published conda pack, reads its Vault secrets and uploads its outputs as itself: a
  `dynamic-group` with `resource.type = 'datasciencejobrun'`.
- **The Data Science service** attaches the run's VNIC to your subnet: `service datascience`.
- **An OCI Schedule** (a TrainingJobSchedule with `engine: OCI`) creates its runs as itself: a
  `dynamic-group` with `resource.type = 'datascienceschedule'`.

`ocids-operator iam-policy` prints the statements for your settings (no cluster or OCI access
needed): `--auth` (or `OCIDS_AUTH`), `--compartment` (repeatable; default
`OCIDS_DEFAULT_ALLOWED_COMPARTMENTS`), `--namespace`, `--service-account`, `--cluster-id`,
`--group`, `--feature logging,subnet,...` (default `all`). Add only the features you use; each
statement says which feature needs it. Log groups, subnets and buckets are assumed to be in the
jobs' compartment; where yours are elsewhere, name that compartment in their statements. In
tenancies with identity domains, write a group as `'<domain>'/'<group>'`.

Each statement set is tested alone in the emulator: with it the features work, and with any one
statement removed the feature that needs it fails, naming the missing permission
(`tests/integration/emulator/test_emulator_iam_statements.py`). The emulator enforces what the
documents below say; where Oracle leaves a detail open the statement says "unverified".
"""

MODE_TITLES = {
    "api_key": "API key (`OCIDS_AUTH=api_key`): a group the config file's user is in",
    "instance_principal": "Instance principal (`OCIDS_AUTH=instance_principal`)",
    "resource_principal": "Resource principal (`OCIDS_AUTH=resource_principal`)",
    "oke_workload_identity": (
        "OKE workload identity (`OCIDS_AUTH=oke_workload_identity`): the operator's namespace, "
        "ServiceAccount and cluster"
    ),
}


def markdown_doc() -> str:
    """docs/iam.md: every mode with placeholders and all features, then the sources."""
    parts = [DOC_HEADER]
    for mode in MODES:
        chosen = policy_set(PolicyRequest(mode=mode))
        parts.append(f"## {MODE_TITLES[mode]}\n\n```text\n{chosen.text()}```\n")
    parts.append(
        "`request.principal.cluster_id` matters: without it a workload-identity statement grants that "
        "namespace and ServiceAccount name in **every** cluster of the tenancy.\n"
    )
    rows = "\n".join(f"| {s.title} | {s.url} | {s.note} |" for s in SOURCES.values())
    parts.append(f"## Sources\n\n| document | address | what it says |\n|---|---|---|\n{rows}\n")
    return "\n".join(parts)
