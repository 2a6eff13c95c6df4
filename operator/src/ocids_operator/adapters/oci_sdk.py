"""SDK plumbing shared by every OCI client: auth, bounded retries, lazily built clients, call counting."""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import oci

from .. import metrics
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
    """SDK config dict and signer for the configured auth mode. Raises the SDK's config errors."""
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
        signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
    elif settings.auth is AuthMode.RESOURCE_PRINCIPAL:
        signer = oci.auth.signers.get_resource_principals_signer()
    else:
        signer = oci.auth.signers.get_oke_workload_identity_resource_principal_signer()
    region = settings.region or getattr(signer, "region", None)
    return {"region": region}, signer


class SdkAuth:
    """One config and signer for every SDK client, built on first use.

    Principal signers reach the network when constructed, so nothing is built at start-up.
    """

    def __init__(self, settings: OperatorSettings) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self._auth: tuple[dict[str, Any], Any] | None = None

    def client_args(self, endpoint: str | None, read_timeout: float) -> tuple[dict[str, Any], dict[str, Any]]:
        """(config, kwargs) for an SDK client; call with `lock` held."""
        if self._auth is None:
            self._auth = config_and_signer(self.settings)
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
