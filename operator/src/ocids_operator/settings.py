"""Operator settings: environment variables (prefix OCIDS_) and command-line flags.

Validated before kopf starts, so a bad value stops start-up with a message naming it.
"""

from __future__ import annotations

import enum
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
    # instance_principal: the X.509 federation endpoint (".../v1/x509"); unset: the region's.
    federation_endpoint: str | None = None
    datascience_endpoint: str | None = None
    logging_endpoint: str | None = None
    # Object Storage endpoint for `oci://` artifacts; unset: the SDK's regional endpoint.
    object_storage_endpoint: str | None = None
    # Empty: watch all namespaces.
    namespaces: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Run polling: fast while runs are starting, slow once every tracked run is long past start.
    poll_interval_seconds: float = Field(default=10.0, gt=0, le=3600)
    # How long deleting a TrainingJobRun waits for OCI to stop its run (a CANCELING that never ends, a
    # NEEDS_ATTENTION run OCI will not cancel) before it lets the object go, leaving the run in OCI.
    run_cancel_timeout_seconds: float = Field(default=900.0, gt=0, le=86400)
    poll_slow_interval_seconds: float = Field(default=60.0, gt=0, le=3600)
    poll_fast_window_seconds: float = Field(default=600.0, ge=0)
    # How often a TrainingJob is compared with its OCI job (drift, retired revisions).
    resync_interval_seconds: float = Field(default=300.0, gt=0, le=86400)
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
    # Benchmark only: "per_run" follows each run with its own timer and one GetJobRun per interval
    # (the naive design), so `make bench` can show what the compartment poller saves.
    poll_mode: Literal["list", "per_run"] = "list"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Test-only: exit right after this OCI create call returns, before any status write.
    debug_crash_after: Literal["create_job", "create_job_run"] | None = None

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator(
        "datascience_endpoint", "logging_endpoint", "object_storage_endpoint", "federation_endpoint"
    )
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator(
        "debug_crash_after",
        "region",
        "artifact_spool_dir",
        "leader_election_namespace",
        "leader_election_identity",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

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
