"""SDK plumbing shared by every OCI client: auth, bounded retries, lazily built clients, call counting."""

from __future__ import annotations

import base64
import collections
import functools
import json
import os
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import oci
from oci._vendor import requests as oci_requests

from .. import metrics
from ..core.errors import (
    CREDENTIALS_HINT,
    CREDENTIALS_INVALID,
    NOT_AUTHORIZED,
    TOKEN_EXCHANGE_FAILED,
    ErrorOutcome,
    OutcomeKind,
    Principal,
    ReconcileError,
)
from ..settings import AuthMode, OperatorSettings
from .oci_errors import is_not_found

T = TypeVar("T")


def retry_strategy(settings: OperatorSettings) -> oci.retry.RetryStrategy:
    return oci.retry.RetryStrategyBuilder(
        max_attempts_check=True,
        max_attempts=settings.oci_max_attempts,
        total_elapsed_time_check=True,
        total_elapsed_time_seconds=int(settings.oci_max_elapsed_seconds),
        retry_max_wait_between_calls_seconds=min(10, int(settings.oci_max_elapsed_seconds)),
        retry_base_sleep_time_seconds=1,
        service_error_check=True,
        backoff_type=oci.retry.BACKOFF_DECORRELATED_JITTER_VALUE,
    ).get_retry_strategy()


def config_and_signer(settings: OperatorSettings) -> tuple[dict[str, Any], Any]:
    """SDK config dict and signer for the configured auth mode. Raises the SDK's config errors.

    Principal signers reach the network here (metadata, token exchange): the SDK's own retries of
    those calls are bounded like every other call.
    """
    if settings.auth is AuthMode.API_KEY:
        config = oci.config.from_file(os.path.expanduser(settings.oci_config_file), settings.oci_profile)
        if settings.region:
            config["region"] = settings.region
        oci.config.validate_config(config)
        signer = oci.signer.Signer(
            tenancy=config["tenancy"],
            user=config["user"],
            fingerprint=config["fingerprint"],
            private_key_file_location=config.get("key_file"),
            pass_phrase=oci.config.get_config_value_or_default(config, "pass_phrase"),
            private_key_content=config.get("key_content"),
        )
        return config, signer
    if settings.auth is AuthMode.INSTANCE_PRINCIPAL:
        # OCI_METADATA_BASE_URL (the SDK's) moves the metadata service; the federation endpoint
        # defaults to the region's auth service.
        kwargs: dict[str, Any] = {"federation_client_retry_strategy": retry_strategy(settings)}
        if settings.federation_endpoint:
            kwargs["federation_endpoint"] = settings.federation_endpoint
        signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner(**kwargs)
    elif settings.auth is AuthMode.RESOURCE_PRINCIPAL:
        # OCI_RESOURCE_PRINCIPAL_VERSION (2.2), _RPST, _PRIVATE_PEM, _REGION: the SDK reads them.
        signer = oci.auth.signers.get_resource_principals_signer()
    else:
        # KUBERNETES_SERVICE_HOST (proxymux on :12250), OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH
        # (default the Pod's ca.crt) and OCI_RESOURCE_PRINCIPAL_REGION: the SDK reads them.
        signer = oci.auth.signers.get_oke_workload_identity_resource_principal_signer(
            service_account_token_path=settings.service_account_token_file,
            retry_strategy=retry_strategy(settings),
        )
    guard_token_refresh(settings, signer)
    region = settings.region or getattr(signer, "region", None)
    return {"region": region}, signer


def guard_token_refresh(settings: OperatorSettings, signer: Any, source: AuthSource | None = None) -> None:
    """Classify a failed session-token refresh where it happens (the SDK refreshes inside any call:
    before half the token's lifetime, and on a 401): a refused exchange is `NotAuthorized`, an outage
    `TokenExchangeFailed` (retried), instead of an anonymous error of whichever call was running."""

    def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except ReconcileError:
                raise
            except Exception as exc:
                failure = _auth_failure(settings, exc, signer, source)
                if failure is None:
                    raise
                raise failure from exc

        return call

    for target in (signer, getattr(signer, "federation_client", None)):
        for name in ("get_security_token", "refresh_security_token"):
            fn = getattr(target, name, None) if target is not None else None
            if callable(fn):
                setattr(target, name, guarded(fn))


def _jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified (to name the principal in messages only); {} if unreadable."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _session_claims(signer: Any) -> dict[str, Any]:
    token = getattr(getattr(signer, "security_token", None), "security_token", None)
    if not isinstance(token, str):
        token = getattr(signer, "security_token", None)
    return _jwt_claims(token) if isinstance(token, str) else {}


def _service_account(settings: OperatorSettings, claims: dict[str, Any]) -> tuple[str, str]:
    """(namespace, service account) from the session token, else the ServiceAccount token file."""
    if claims.get("namespace") and claims.get("service_account"):
        return str(claims["namespace"]), str(claims["service_account"])
    try:
        with open(os.path.expanduser(settings.service_account_token_file), encoding="utf-8") as f:
            sa = _jwt_claims(f.read().strip())
    except OSError:
        sa = {}
    parts = str(sa.get("sub", "")).split(":")
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
        return parts[2], parts[3]
    return "<namespace>", "<service account>"


def describe_principal(settings: OperatorSettings, config: dict[str, Any] | None, signer: Any) -> Principal:
    """Who the operator is to OCI (from what is at hand: never a network call)."""
    if settings.auth is AuthMode.API_KEY:
        user = (config or {}).get("user") or "<the config file's user>"
        return Principal(
            f"user {user} (api_key, {settings.oci_config_file})", f"Allow group <a group of {user}>"
        )
    claims = _session_claims(signer)
    if settings.auth is AuthMode.OKE_WORKLOAD_IDENTITY:
        namespace, account = _service_account(settings, claims)
        return workload_principal(namespace, account, claims.get("cluster_id"))
    if settings.auth is AuthMode.INSTANCE_PRINCIPAL:
        tenancy = getattr(signer, "tenancy_id", None) or claims.get("res_tenant") or "<tenancy>"
        instance = claims.get("sub") or claims.get("opc-instance")
        named = f" ({instance})" if instance else ""
        return Principal(
            f"instance principal of {tenancy}{named}",
            "Allow dynamic-group <a dynamic group matching this instance>",
        )
    resource = claims.get("res_id") or claims.get("sub") or os.environ.get("OCI_RESOURCE_PRINCIPAL_RPST_ID")
    res_type = claims.get("res_type")
    if resource and res_type:
        where = f"all {{request.principal.type='{res_type}', request.principal.id='{resource}'}}"
    else:
        where = "all {request.principal.type='<resource type>', request.principal.id='<resource OCID>'}"
    return Principal(
        f"resource principal {resource or '(OCI_RESOURCE_PRINCIPAL_RPST)'}", "Allow any-user", where
    )


def workload_principal(namespace: str, account: str, cluster_id: object = None) -> Principal:
    where = (
        "all {request.principal.type='workload', "
        f"request.principal.namespace='{namespace}', request.principal.service_account='{account}'"
    )
    # Always named: a statement without cluster_id grants every cluster of the tenancy (docs/iam.md).
    where += f", request.principal.cluster_id='{cluster_id or '<cluster OCID>'}'"
    description = f"OKE workload identity {namespace}/{account} (namespace/service account)"
    return Principal(description, "Allow any-user", where + "}")


def session_cluster_id(signer: Any) -> object:
    """The cluster a workload session token names (None before the first exchange)."""
    return _session_claims(signer).get("cluster_id")


def workload_signer(settings: OperatorSettings, token_provider: Any) -> Any:
    """OKE's exchange with ServiceAccount tokens from `token_provider` (`get_sa_token()`, read at each
    exchange), as `get_oke_workload_identity_resource_principal_signer` builds it from a token file."""
    from oci.auth.signers.oke_workload_identity_resource_principal_signer import (
        OkeWorkloadIdentityResourcePrincipalSigner,
    )
    from oci.auth.signers.resource_principals_signer import (
        DEFAULT_OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH,
        OCI_KUBERNETES_PROXYMUX_SERVICE_PORT,
    )

    return OkeWorkloadIdentityResourcePrincipalSigner(
        sa_token_provider=token_provider,
        sa_cert_path=os.environ.get(
            "OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH", DEFAULT_OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH
        ),
        service_host=os.environ.get("KUBERNETES_SERVICE_HOST"),
        service_port=OCI_KUBERNETES_PROXYMUX_SERVICE_PORT,
        region=settings.region or os.environ.get("OCI_RESOURCE_PRINCIPAL_REGION"),
        retry_strategy=retry_strategy(settings),
    )


def what_to_check(settings: OperatorSettings, signer: Any = None) -> str:
    """What to look at when OCI refuses the principal's token (exchange or session token)."""
    policy = describe_principal(settings, None, signer).policy(None)
    if settings.auth is AuthMode.OKE_WORKLOAD_IDENTITY:
        namespace, account = _service_account(settings, _session_claims(signer))
        return (
            f"check that the ServiceAccount {account} exists in namespace {namespace} and "
            f"OCIDS_SERVICE_ACCOUNT_TOKEN_FILE ({settings.service_account_token_file}) holds a current "
            "token of it, that the cluster type is enhanced (OKE workload identity needs an enhanced "
            f"cluster), and that a policy grants it, e.g. '{policy}'"
        )
    if settings.auth is AuthMode.INSTANCE_PRINCIPAL:
        return (
            "check that the instance matches a dynamic group (its matching rule) and that a policy "
            f"grants it, e.g. '{policy}'"
        )
    if settings.auth is AuthMode.RESOURCE_PRINCIPAL:
        return (
            "check that the OCI_RESOURCE_PRINCIPAL_RPST token and OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM "
            f"key are current and match, and that a policy grants the resource, e.g. '{policy}'"
        )
    return CREDENTIALS_HINT


def _auth_failure(
    settings: OperatorSettings, exc: Exception, signer: Any = None, source: AuthSource | None = None
) -> ReconcileError | None:
    """Building a principal signer, or refreshing its token, failed: what it means (None: unknown)."""
    mode = settings.auth.value
    principal = source.principal(None, signer) if source else describe_principal(settings, None, signer)
    check = source.what_to_check(signer) if source else what_to_check(settings, signer)
    if isinstance(exc, oci.exceptions.ServiceError) and exc.status in (401, 403, 404):
        return ReconcileError(
            ErrorOutcome(
                OutcomeKind.CREDENTIALS,
                NOT_AUTHORIZED,
                f"OCI refused the {mode} token exchange for {principal.description}: {exc.status} "
                f"{exc.code}: {exc.message}; {check}",
                exc.status,
                exc.code,
            )
        )
    if isinstance(exc, oci.exceptions.ServiceError):
        return ReconcileError(
            ErrorOutcome(
                OutcomeKind.RETRY,
                TOKEN_EXCHANGE_FAILED,
                f"the {mode} token exchange for {principal.description} failed (retried): {exc.status} "
                f"{exc.code}: {exc.message}",
                exc.status,
                exc.code,
            )
        )
    # Before OSError: the SDK's vendored requests errors (the exchange endpoint unreachable) are OSErrors.
    unreachable = oci.exceptions.RequestException | oci_requests.exceptions.RequestException
    if isinstance(exc, unreachable | ConnectionError | TimeoutError):
        return ReconcileError(
            ErrorOutcome(
                OutcomeKind.RETRY,
                TOKEN_EXCHANGE_FAILED,
                f"the {mode} token exchange for {principal.description} failed (retried): "
                f"{type(exc).__name__}: {exc}",
            )
        )
    if isinstance(exc, OSError | ValueError | RuntimeError | KeyError | TypeError):
        return ReconcileError(
            ErrorOutcome(
                OutcomeKind.CREDENTIALS,
                CREDENTIALS_INVALID,
                f"cannot authenticate as {principal.description} ({mode}): {type(exc).__name__}: {exc}; "
                f"{check if source else CREDENTIALS_HINT}",
            )
        )
    return None


class AuthSource(Protocol):
    """An identity other than the operator's own (a namespace's; `adapters/oci_identities.py`)."""

    def build(self) -> tuple[dict[str, Any], Any]:
        """SDK config and signer; may reach the network (a token exchange)."""
        ...

    def principal(self, config: dict[str, Any] | None, signer: Any) -> Principal: ...

    def what_to_check(self, signer: Any) -> str: ...


class SdkAuth:
    """One config and signer for every SDK client, built on first use.

    Principal signers reach the network when constructed, so nothing is built at start-up.
    `source`: a namespace's identity; None: the operator's own (OCIDS_AUTH).
    """

    def __init__(self, settings: OperatorSettings, source: AuthSource | None = None) -> None:
        self.settings = settings
        self.source = source
        self.lock = threading.Lock()
        self._auth: tuple[dict[str, Any], Any] | None = None

    def principal(self) -> Principal:
        """Who the operator is to OCI (named in NotAuthorized messages); never reaches the network."""
        config, signer = self._auth or (None, None)
        if self.source is not None:
            return self.source.principal(config, signer)
        if config is None and self.settings.auth is AuthMode.API_KEY:
            try:
                config = oci.config.from_file(
                    os.path.expanduser(self.settings.oci_config_file), self.settings.oci_profile
                )
            except Exception:
                config = None
        return describe_principal(self.settings, config, signer)

    def what_to_check(self) -> str:
        """What to look at when OCI refuses the principal's session token; never reaches the network."""
        _, signer = self._auth or (None, None)
        if self.source is not None:
            return self.source.what_to_check(signer)
        return what_to_check(self.settings, signer)

    def built(self) -> tuple[dict[str, Any] | None, Any]:
        """(config, signer) once a client was made with them, else (None, None)."""
        return self._auth or (None, None)

    def client_args(self, endpoint: str | None, read_timeout: float) -> tuple[dict[str, Any], dict[str, Any]]:
        """(config, kwargs) for an SDK client; call with `lock` held."""
        if self._auth is None and self.source is not None:
            self._auth = self._build_source(self.source)
        if self._auth is None:
            try:
                self._auth = config_and_signer(self.settings)
            except Exception as exc:
                failure = (
                    _auth_failure(self.settings, exc) if self.settings.auth is not AuthMode.API_KEY else None
                )
                if failure is None:
                    raise
                raise failure from exc
        config, signer = self._auth
        kwargs: dict[str, Any] = {
            "signer": signer,
            "retry_strategy": retry_strategy(self.settings),
            "timeout": (10.0, read_timeout),
            # kopf already backs off per object; a shared breaker would fail healthy objects too.
            "circuit_breaker_strategy": oci.circuit_breaker.NoCircuitBreakerStrategy(),
        }
        if endpoint:
            kwargs["service_endpoint"] = endpoint
        return config, kwargs

    def _build_source(self, source: AuthSource) -> tuple[dict[str, Any], Any]:
        try:
            config, signer = source.build()
        except ReconcileError:
            raise
        except Exception as exc:
            failure = _auth_failure(self.settings, exc, None, source)
            if failure is None:
                raise
            raise failure from exc
        guard_token_refresh(self.settings, signer, source)
        return config, signer


class CallCounter:
    """Counts every call by operation and outcome (Prometheus, and `calls` for tests and the benchmark)."""

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()

    def call(self, operation: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        outcome = "ok"
        try:
            return fn(*args, **kwargs)
        except oci.exceptions.ServiceError as exc:
            outcome = str(exc.status)
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            self.calls[operation] += 1
            metrics.OCI_CALLS.labels(operation, outcome).inc()

    def call_unless_missing(
        self, operation: str, fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T | None:
        """`call`, but None when OCI answers 404 (the resource is gone, or was never there)."""
        try:
            return self.call(operation, fn, *args, **kwargs)
        except oci.exceptions.ServiceError as exc:
            if is_not_found(exc):
                return None
            raise
