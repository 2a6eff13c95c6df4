"""Operator settings: environment variables (prefix OCIDS_) and command-line flags.

Validated before kopf starts, so a bad value stops start-up with a message naming it.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import urllib.parse
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .core.tenancy import CompartmentPolicy

ENV_PREFIX = "OCIDS_"
DEFAULT_SERVICE_ACCOUNT_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"


class AuthMode(enum.StrEnum):
    API_KEY = "api_key"
    INSTANCE_PRINCIPAL = "instance_principal"
    RESOURCE_PRINCIPAL = "resource_principal"
    OKE_WORKLOAD_IDENTITY = "oke_workload_identity"


class OperatorSettings(BaseSettings):
    """Every knob of the operator. Field `x` is read from `OCIDS_X`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    auth: AuthMode = AuthMode.API_KEY
    oci_config_file: str = "~/.oci/config"
    oci_profile: str = "DEFAULT"
    # With api_key the region comes from the config file unless set here; with the principals from
    # the signer (OCI_RESOURCE_PRINCIPAL_REGION, the instance metadata) unless set here.
    region: str | None = None
    # oke_workload_identity: the Pod's ServiceAccount token, exchanged for an OCI session token
    # (reread on every exchange: the kubelet rotates it).
    service_account_token_file: str = Field(default=DEFAULT_SERVICE_ACCOUNT_TOKEN_FILE, min_length=1)
    # Refuse work from namespaces with no OCI identity of their own (a ServiceAccount in
    # oke_workload_identity mode, an OCI config Secret in api_key mode): none uses the operator's.
    require_namespace_identity: bool = False
    # api_key: where the OCI config Secrets named by `ocids.io/oci-config-secret` live (out of the
    # teams' reach). Unset: the Pod's namespace (POD_NAMESPACE, the ServiceAccount's namespace file).
    oci_config_secret_namespace: str | None = None
    # instance_principal: the X.509 federation endpoint (".../v1/x509"); unset: the region's.
    federation_endpoint: str | None = None
    datascience_endpoint: str | None = None
    logging_endpoint: str | None = None
    # Object Storage endpoint for `oci://` artifacts; unset: the SDK's regional endpoint.
    object_storage_endpoint: str | None = None
    # Secrets (Vault secret bundles) endpoint, passed to the job runs' driver only; unset: OCI's regional.
    secrets_endpoint: str | None = None
    # Core Networking endpoint (GetSubnet: a subnet's compartment); unset: the SDK's regional endpoint.
    network_endpoint: str | None = None
    # Empty: watch all namespaces.
    namespaces: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Tenancy isolation (core/tenancy.py): what a namespace without the ocids.io/allowed-compartments
    # annotation may use: `annotated` nothing (or the default list below), `open` any compartment.
    compartment_policy: CompartmentPolicy = CompartmentPolicy.ANNOTATED
    # Compartment OCIDs (comma-separated) for namespaces without the annotation.
    default_allowed_compartments: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Run polling: fast while runs are starting, slow once every tracked run is long past start.
    poll_interval_seconds: float = Field(default=10.0, gt=0, le=3600)
    # How long deleting a TrainingJobRun waits for OCI to stop its run (a CANCELING that never ends, a
    # NEEDS_ATTENTION run OCI will not cancel) before it lets the object go, leaving the run in OCI.
    run_cancel_timeout_seconds: float = Field(default=900.0, gt=0, le=86400)
    poll_slow_interval_seconds: float = Field(default=60.0, gt=0, le=3600)
    poll_fast_window_seconds: float = Field(default=600.0, ge=0)
    # How long a compartment's ListJobShapes / ListFastLaunchJobConfigs answers are reused (per OCI
    # identity); a shape missing from them is looked up once more before it is refused.
    shape_cache_seconds: float = Field(default=600.0, ge=0, le=86400)
    # How often a TrainingJob is compared with its OCI job (drift, retired revisions).
    resync_interval_seconds: float = Field(default=300.0, gt=0, le=86400)
    # How often a TrainingJobSweep looks at its trials (early stopping, the next trials, status).
    sweep_interval_seconds: float = Field(default=10.0, gt=0, le=3600)
    # How often a TrainingJobSchedule looks whether a run is due (and at its unfinished runs).
    schedule_interval_seconds: float = Field(default=10.0, gt=0, le=3600)
    # engine OCI: how often the OCI Schedule is read back and its runs listed when no cron time has
    # passed (a Schedule deleted or changed outside the operator, a run OCI listed late).
    schedule_oci_recheck_seconds: float = Field(default=300.0, gt=0, le=86400)
    # Money and capacity (issue 18). Runs active in OCI at once, operator-wide; unset: no cap (a
    # namespace's ocids.io/max-active-runs annotation caps its own runs either way).
    max_active_runs: int | None = Field(default=None, ge=1)
    # Refuse a TrainingJob or TrainingJobRun whose runs would have no maximumRuntimeInMinutes (the
    # chart's ValidatingAdmissionPolicy refuses them at admission; the operator refuses them too).
    require_maximum_runtime: bool = False
    # The price table: a ConfigMap `<namespace>/<name>` (unset namespace: the operator's own,
    # POD_NAMESPACE). No such ConfigMap: no estimates, and budgets cannot be applied.
    price_table: str = Field(default="ocids-prices", min_length=1)
    # How often OCI's Usage API is asked for the actual cost of runs that ended recently (one
    # summarized-usage request per OCI identity and tenancy per cycle), and for how long after a run
    # ended it is asked (usage arrives hours late, and is then final).
    cost_interval_seconds: float = Field(default=3600.0, gt=0, le=86400)
    cost_settle_hours: float = Field(default=72.0, gt=0, le=24 * 31)
    # OCI Usage API endpoint; unset: the SDK's regional one.
    usage_endpoint: str | None = None
    # How often the leader looks for orphans (OCI jobs and runs this cluster tagged that nothing
    # owns) for the ocids_orphan_* gauges; the first look comes one interval after start. 0: never.
    orphan_check_interval_seconds: float = Field(default=3600.0, ge=0, le=7 * 86400)
    cluster_name: str = Field(default="default", min_length=1, max_length=100)
    # 0 disables the endpoint.
    metrics_port: int = Field(default=9090, ge=0, le=65535)
    health_port: int = Field(default=8080, ge=0, le=65535)
    bind_address: str = "0.0.0.0"
    # The SDK's own retries, bounded so a handler never blocks for minutes.
    oci_max_attempts: int = Field(default=3, ge=1, le=10)
    oci_max_elapsed_seconds: float = Field(default=30.0, gt=0, le=600)
    oci_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # kopf-level backoff for retryable errors: base * 2**retry, capped.
    retry_base_seconds: float = Field(default=5.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0)
    artifact_max_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    artifact_url_timeout_seconds: float = Field(default=60.0, gt=0)
    # URL and oci:// artifacts downloaded at once (each is streamed to a spool file, not memory).
    artifact_fetch_concurrency: int = Field(default=2, ge=1, le=64)
    # Where downloaded artifacts are spooled; unset: <tmp>/ocids-artifacts (the chart's writable /tmp).
    artifact_spool_dir: str | None = None
    # Test and demo only: artifact URLs on loopback addresses. Link-local and cloud metadata
    # addresses are refused whatever this says.
    artifact_url_allow_loopback: bool = False
    # How long a fetch waits for a download slot before it is retried later.
    artifact_fetch_wait_seconds: float = Field(default=120.0, gt=0, le=3600)
    # Bytes the spool may hold (downloads in flight and the files kept for conditional requests);
    # below the chart's /tmp sizeLimit. Cached files are evicted least recently used first.
    artifact_spool_max_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    # Empty: any host. Else only these: exact names, `*.suffix` names, CIDRs (comma-separated).
    artifact_url_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Test and air-gapped mirrors only: artifact.git URLs on file:// (a repository on the operator's disk).
    git_allow_file_urls: bool = False
    # status.logTail of a finished TrainingJobRun: its last lines (0: off; one Logging search per run
    # when on), kept within the byte bound (newest lines first to stay).
    log_tail_lines: int = Field(default=0, ge=0, le=1000)
    log_tail_bytes: int = Field(default=4096, ge=64, le=65536)
    # A running TrainingJobRun's status.metrics alone is written at most this often (phase writes
    # carry them anyway): a thousand runs logging metrics cost ~30 writes a second, not ~100.
    metrics_write_seconds: float = Field(default=30.0, ge=0, le=3600)
    # How late OCI Logging may ingest a line: each metrics search overlaps the last by this much, and
    # an ended run's metrics are final once a search covered this long past its end.
    metrics_ingestion_lag_seconds: float = Field(default=30.0, ge=0, le=600)
    # Records of pruned and expired TrainingJobRuns kept per TrainingJob (the oldest are dropped).
    archive_max_records: int = Field(default=500, ge=1, le=5000)
    # http:// endpoints anywhere but loopback send signed requests (and artifacts) in clear text.
    allow_insecure_endpoints: bool = False
    # High availability: only the holder of a coordination.k8s.io Lease reconciles and polls; the
    # others wait as standbys. Off: a single replica runs without a Lease (and without its RBAC).
    leader_election: bool = False
    # Unset: the Pod's namespace (POD_NAMESPACE, or the ServiceAccount's namespace file), else "default".
    leader_election_namespace: str | None = None
    leader_election_lease_name: str = Field(default="ocids-operator", min_length=1, max_length=253)
    # Unset: <hostname>_<pid>, unique per process.
    leader_election_identity: str | None = None
    # A standby takes over about lease_duration (plus up to one retry period) after the leader stops
    # renewing: 12 s rather than client-go's 15 s keeps failover within 15 s.
    leader_election_lease_duration_seconds: float = Field(default=12.0, gt=0, le=600)
    leader_election_renew_deadline_seconds: float = Field(default=8.0, gt=0, le=600)
    leader_election_retry_period_seconds: float = Field(default=2.0, gt=0, le=60)
    # Run status pushed by OCI Events (workflows/events.py, event_intake.py): the stream an Events
    # rule writes job-run events to (unset: no stream), and the Streaming admin endpoint (GetStream;
    # messages are read at the stream's messagesEndpoint).
    events_stream_id: str | None = None
    streaming_endpoint: str | None = None
    # While events are healthy a compartment is polled this slowly (the fallback), fast only while a
    # followed run is ACCEPTED (OCI emits no event when a run starts).
    events_poll_interval_seconds: float = Field(default=120.0, gt=0, le=86400)
    # An expected event (the create event of a run this operator created) this overdue: the events
    # are taken as silent, and polling is fast again at once.
    events_silence_seconds: float = Field(default=60.0, gt=0, le=86400)
    # Pause after a GetMessages that returned fewer messages than it could.
    events_read_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    # Hints of one (identity, compartment) collected this long, then confirmed with one read.
    events_confirm_batch_seconds: float = Field(default=0.2, ge=0, le=10)
    # Event types that get a confirming read (a run's end); other job-run events only prove the
    # events flow (comma-separated).
    events_run_end_types: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "com.oraclecloud.datascience.succeededjobrun",
            "com.oraclecloud.datascience.failedjobrun",
            "com.oraclecloud.datascience.canceljobrun.end",
            "com.oraclecloud.datascience.deletejobrun.end",
        ]
    )
    # OCI Notifications HTTPS delivery (workflows/notifications.py): its own port (0: off), its
    # TLS certificate and key (unset: plain HTTP behind a TLS-terminating ingress), the Basic
    # credentials file (`user:password`, required with a port), the topics accepted, and the
    # Notifications endpoint a confirmation URL may point at besides OCI's own hosts.
    notifications_port: int = Field(default=0, ge=0, le=65535)
    notifications_tls_cert_file: str | None = None
    notifications_tls_key_file: str | None = None
    notifications_credentials_file: str | None = None
    notifications_topic_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    notifications_endpoint: str | None = None
    # Benchmark only: "per_run" follows each run with its own timer and one GetJobRun per interval
    # (the naive design), so `make bench` can show what the compartment poller saves.
    poll_mode: Literal["list", "per_run"] = "list"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Test-only: exit right after this OCI create call returns, before any status write (one of
    # workflows/crash_point.CrashPoint; a unit test keeps the two lists equal).
    debug_crash_after: (
        Literal[
            "create_job",
            "create_job_run",
            "prune_run",
            "create_trial",
            "create_scheduled_run",
            "create_retry_run",
        ]
        | None
    ) = None

    @field_validator(
        "namespaces",
        "default_allowed_compartments",
        "events_run_end_types",
        "notifications_topic_ids",
        mode="before",
    )
    @classmethod
    def _split_namespaces(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator(
        "datascience_endpoint",
        "logging_endpoint",
        "object_storage_endpoint",
        "secrets_endpoint",
        "federation_endpoint",
        "network_endpoint",
        "usage_endpoint",
        "streaming_endpoint",
        "notifications_endpoint",
    )
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("artifact_url_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list):
            for item in value:
                if not _HOST_PATTERN.match(str(item)) or not _network_or_name(str(item)):
                    raise ValueError(
                        "entries are host names, *.suffix names or CIDRs (10.0.0.0/8), comma-separated"
                    )
        return value

    @field_validator(
        "debug_crash_after",
        "region",
        "artifact_spool_dir",
        "leader_election_namespace",
        "leader_election_identity",
        "oci_config_secret_namespace",
        "events_stream_id",
        "notifications_tls_cert_file",
        "notifications_tls_key_file",
        "notifications_credentials_file",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _check_endpoint_security(self) -> OperatorSettings:
        if self.allow_insecure_endpoints:
            return self
        for name in sorted(type(self).model_fields):
            value = getattr(self, name)
            if name.endswith("_endpoint") and isinstance(value, str) and not _secure_endpoint(value):
                raise ValueError(
                    f"{ENV_PREFIX}{name.upper()} is plain http:// to a host other than loopback: use "
                    f"https://, or set {ENV_PREFIX}ALLOW_INSECURE_ENDPOINTS=true"
                )
        return self

    @model_validator(mode="after")
    def _check_spool_budget(self) -> OperatorSettings:
        if self.artifact_spool_max_bytes < self.artifact_max_bytes:
            raise ValueError(
                f"{ENV_PREFIX}ARTIFACT_SPOOL_MAX_BYTES must be at least {ENV_PREFIX}ARTIFACT_MAX_BYTES "
                "(one artifact must fit the spool)"
            )
        return self

    @field_validator("events_stream_id")
    @classmethod
    def _check_stream_id(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("ocid1."):
            raise ValueError("must be a stream OCID (ocid1.stream...)")
        return value

    @model_validator(mode="after")
    def _check_events(self) -> OperatorSettings:
        if self.notifications_port and not self.notifications_credentials_file:
            raise ValueError(
                f"{ENV_PREFIX}NOTIFICATIONS_PORT needs {ENV_PREFIX}NOTIFICATIONS_CREDENTIALS_FILE "
                "(the Basic credentials OCI Notifications sends)"
            )
        if self.notifications_port and not self.notifications_topic_ids:
            raise ValueError(
                f"{ENV_PREFIX}NOTIFICATIONS_PORT needs {ENV_PREFIX}NOTIFICATIONS_TOPIC_IDS (the topics whose "
                "subscriptions and messages are accepted)"
            )
        for other in ("metrics_port", "health_port"):
            if self.notifications_port and self.notifications_port == getattr(self, other):
                raise ValueError(
                    f"{ENV_PREFIX}NOTIFICATIONS_PORT must differ from {ENV_PREFIX}{other.upper()} "
                    f"(both are {self.notifications_port})"
                )
        if bool(self.notifications_tls_cert_file) != bool(self.notifications_tls_key_file):
            raise ValueError(
                f"{ENV_PREFIX}NOTIFICATIONS_TLS_CERT_FILE and {ENV_PREFIX}NOTIFICATIONS_TLS_KEY_FILE "
                "go together"
            )
        if self.events_stream_id and self.events_poll_interval_seconds < self.poll_interval_seconds:
            raise ValueError(
                f"{ENV_PREFIX}EVENTS_POLL_INTERVAL_SECONDS must be at least {ENV_PREFIX}POLL_INTERVAL_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _check_lease_timing(self) -> OperatorSettings:
        # As client-go insists: a leader must give up before its lease can expire under it.
        if self.leader_election_renew_deadline_seconds >= self.leader_election_lease_duration_seconds:
            raise ValueError(
                "OCIDS_LEADER_ELECTION_RENEW_DEADLINE_SECONDS must be less than "
                "OCIDS_LEADER_ELECTION_LEASE_DURATION_SECONDS"
            )
        if self.leader_election_retry_period_seconds >= self.leader_election_renew_deadline_seconds:
            raise ValueError(
                "OCIDS_LEADER_ELECTION_RETRY_PERIOD_SECONDS must be less than "
                "OCIDS_LEADER_ELECTION_RENEW_DEADLINE_SECONDS"
            )
        return self


_HOST_PATTERN = re.compile(
    r"^(\*\.)?[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$"  # a name or *.suffix
    r"|^[0-9.]+(/[0-9]{1,2})?$"  # an IPv4 address or CIDR
    r"|^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(/[0-9]{1,3})?$"  # an IPv6 address or CIDR
)


def _network_or_name(entry: str) -> bool:
    if "/" not in entry and not entry.replace(".", "").isdigit() and ":" not in entry:
        return True
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True


def _secure_endpoint(url: str) -> bool:
    """https://, or http:// to this machine (the emulator, a local proxy)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http":
        return True
    host = (parts.hostname or "").rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SettingsError(Exception):
    """A setting is invalid; the message names the environment variable."""


def load_settings(**overrides: object) -> OperatorSettings:
    """Read settings from the environment; `overrides` (from flags) win. Raises SettingsError."""
    clean = {key: value for key, value in overrides.items() if value is not None}
    try:
        return OperatorSettings(**clean)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        if not error["loc"]:  # a rule across settings: its message names them
            lines.append(f"invalid settings: {str(error['msg']).removeprefix('Value error, ')}")
            continue
        field = str(error["loc"][0])
        # Never echo the offending value: a misplaced secret must not reach the logs.
        lines.append(f"invalid setting {ENV_PREFIX}{field.upper()}: {error['msg']}")
    return "; ".join(lines)
