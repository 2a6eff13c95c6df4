"""Per-namespace OCI identities, so that OCI IAM, not the operator, decides what a team may touch.

An object works in OCI as the first of:
- oke_workload_identity: its TrainingJob's `spec.serviceAccountName`, else the namespace's
  `ocids.io/service-account` annotation. The operator mints a short-lived token of that
  ServiceAccount (TokenRequest, the API server's default audience, as the kubelet's projected token
  that OKE's proxymux reviews) and exchanges it as a Pod would: OCI sees the team's namespace and
  ServiceAccount (`request.principal.namespace` / `.service_account`).
- api_key: the namespace's `ocids.io/oci-config-secret` annotation, naming a Secret in the
  operator's own namespace (out of the team's reach; admins own Namespaces) with an OCI config
  (`config`, profile DEFAULT) and its key file (as ACK's CARM maps namespaces to accounts).
- else the operator's own identity, unless OCIDS_REQUIRE_NAMESPACE_IDENTITY refuses the namespace.

Each identity has its own SDK clients (signer, session token, connection pool), built on first use.
"""

from __future__ import annotations

import asyncio
import base64
import configparser
import dataclasses
import datetime
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import oci

from ..core.errors import (
    ErrorOutcome,
    OutcomeKind,
    Principal,
    ReconcileError,
    stalled,
)
from ..settings import AuthMode, OperatorSettings
from .kube import KubeClient, KubeError
from .namespaces import NamespaceDirectory
from .object_storage import ObjectReader, ObjectStore
from .oci_client import DataScience, OciGateway
from .oci_sdk import SdkAuth, session_cluster_id, workload_principal, workload_signer

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_ANNOTATION = "ocids.io/service-account"
CONFIG_SECRET_ANNOTATION = "ocids.io/oci-config-secret"
# On a TrainingJobRun: its TrainingJob's spec.serviceAccountName, so that deleting the run after its
# TrainingJob is gone still uses the identity the run was created with.
RUN_SERVICE_ACCOUNT_ANNOTATION = "ocids.io/job-service-account"
CONFIG_KEY = "config"
DEFAULT_KEY_FILE_KEY = "key.pem"
CONFIG_PROFILE = "DEFAULT"
SERVICE_ACCOUNT_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

NAMESPACE_IDENTITY_REQUIRED = "NamespaceIdentityRequired"
SERVICE_ACCOUNT_NOT_FOUND = "ServiceAccountNotFound"
TOKEN_REQUEST_DENIED = "TokenRequestDenied"
TOKEN_REQUEST_FAILED = "TokenRequestFailed"
SERVICE_ACCOUNT_NOT_SUPPORTED = "ServiceAccountNameNotSupported"
CONFIG_SECRET_NOT_FOUND = "OCIConfigSecretNotFound"
CONFIG_SECRET_INVALID = "OCIConfigSecretInvalid"

# The API server's minimum is 10 minutes; an hour keeps TokenRequests rare. A token is replaced once
# half its life is gone, so the exchange never presents one about to expire.
TOKEN_SECONDS = 3600
# How long an SDK thread waits for a token minted on the event loop.
MINT_TIMEOUT_SECONDS = 30.0


@dataclasses.dataclass(frozen=True)
class IdentityKey:
    """Which OCI principal: the operator's (all empty), a ServiceAccount, or an OCI config Secret."""

    namespace: str = ""
    service_account: str = ""
    config_secret: str = ""

    @property
    def is_operator(self) -> bool:
        return not (self.service_account or self.config_secret)

    def __str__(self) -> str:
        if self.service_account:
            return f"ServiceAccount {self.namespace}/{self.service_account}"
        if self.config_secret:
            return f"OCI config Secret {self.config_secret}"
        return "the operator's identity"


OPERATOR = IdentityKey()


def operator_namespace(
    environ: Mapping[str, str] = os.environ, namespace_file: Path = SERVICE_ACCOUNT_NAMESPACE_FILE
) -> str:
    """The operator Pod's namespace (POD_NAMESPACE, the ServiceAccount's namespace file), else "default"."""
    if environ.get("POD_NAMESPACE"):
        return environ["POD_NAMESPACE"]
    if namespace_file.is_file():
        return namespace_file.read_text().strip() or "default"
    return "default"


def _credentials(reason: str, message: str) -> ReconcileError:
    """Fixed outside the spec (a ServiceAccount, a Secret, RBAC): Stalled, re-checked slowly."""
    return ReconcileError(ErrorOutcome(OutcomeKind.CREDENTIALS, reason, message))


class MintedTokens:
    """ServiceAccount tokens from the TokenRequest API, for the SDK's OKE exchange (`get_sa_token`).

    `fresh()` (on the event loop, before a handler or poll cycle) keeps a token with more than half
    its life left; the SDK, refreshing its session on one of its threads, gets that token, or one
    minted on the loop meanwhile.
    """

    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        name: str,
        seconds: int = TOKEN_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kube = kube
        self.namespace, self.name = namespace, name
        self._seconds = seconds
        self._clock = clock
        self._token: str | None = None
        self._issued = self._expires = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self.minted = 0

    def _current(self) -> str | None:
        now = self._clock()
        if self._token is None or now >= self._issued + (self._expires - self._issued) / 2:
            return None
        return self._token

    async def fresh(self) -> str:
        self._loop = asyncio.get_running_loop()
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            return self._current() or await self._mint()

    def get_sa_token(self) -> str:
        """Called by the SDK on its own thread at every exchange."""
        token = self._current()
        if token is not None:
            return token
        if self._loop is None or self._loop.is_closed():
            raise RuntimeError(f"no token of ServiceAccount {self.namespace}/{self.name} was minted yet")
        return asyncio.run_coroutine_threadsafe(self.fresh(), self._loop).result(MINT_TIMEOUT_SECONDS)

    async def _mint(self) -> str:
        who = f"ServiceAccount {self.namespace}/{self.name}"
        path = f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{self.name}/token"
        # No audiences: the API server's own, as in the Pod's projected token OKE's proxymux reviews.
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": self._seconds},
        }
        try:
            answer = await self._kube.request("POST", path, request)
        except KubeError as exc:
            if exc.status == 403:
                raise _credentials(
                    TOKEN_REQUEST_DENIED,
                    f"the operator may not create tokens of {who} (TokenRequest answered 403); "
                    "grant it `create` on `serviceaccounts/token` in that namespace (the chart does)",
                ) from None
            raise ReconcileError(
                ErrorOutcome(
                    OutcomeKind.RETRY,
                    TOKEN_REQUEST_FAILED,
                    f"a token of {who} could not be minted (retried): {exc}",
                )
            ) from None
        except (OSError, TimeoutError) as exc:
            raise ReconcileError(
                ErrorOutcome(
                    OutcomeKind.RETRY,
                    TOKEN_REQUEST_FAILED,
                    f"a token of {who} could not be minted (retried): {type(exc).__name__}: {exc}",
                )
            ) from None
        if answer is None:
            raise _credentials(
                SERVICE_ACCOUNT_NOT_FOUND,
                f"{who} does not exist: create it, or name another in spec.serviceAccountName "
                f"(or the namespace annotation {SERVICE_ACCOUNT_ANNOTATION})",
            )
        status = answer.get("status") or {}
        self._token = str(status["token"])
        self._issued = self._clock()
        self._expires = _expiry(status.get("expirationTimestamp"), self._issued + self._seconds)
        self.minted += 1
        return self._token


def _expiry(value: object, default: float) -> float:
    if not isinstance(value, str):
        return default
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return default


class WorkloadSource:
    """A namespace's ServiceAccount, exchanged as OKE workload identity (an `AuthSource`)."""

    def __init__(self, settings: OperatorSettings, tokens: MintedTokens) -> None:
        self._settings = settings
        self.tokens = tokens

    def build(self) -> tuple[dict[str, Any], Any]:
        signer = workload_signer(self._settings, self.tokens)
        return {"region": self._settings.region or getattr(signer, "region", None)}, signer

    def principal(self, config: dict[str, Any] | None, signer: Any) -> Principal:
        return workload_principal(self.tokens.namespace, self.tokens.name, session_cluster_id(signer))

    def what_to_check(self, signer: Any) -> str:
        policy = self.principal(None, signer).policy(None)
        return (
            f"check that the ServiceAccount {self.tokens.name} exists in namespace {self.tokens.namespace}, "
            "that the cluster type is enhanced (OKE workload identity needs an enhanced cluster), and "
            f"that a policy grants it, e.g. '{policy}'"
        )


class ConfigSecretSource:
    """An OCI config read from a Secret in the operator's namespace (an `AuthSource`)."""

    def __init__(self, where: str, config: dict[str, Any]) -> None:
        self.where = where
        self.config = config

    def build(self) -> tuple[dict[str, Any], Any]:
        config = self.config
        signer = oci.signer.Signer(
            tenancy=config["tenancy"],
            user=config["user"],
            fingerprint=config["fingerprint"],
            private_key_file_location=None,
            pass_phrase=oci.config.get_config_value_or_default(config, "pass_phrase"),
            private_key_content=config["key_content"],
        )
        return config, signer

    def principal(self, config: dict[str, Any] | None, signer: Any) -> Principal:
        user = self.config.get("user") or "<the config's user>"
        return Principal(f"user {user} (api_key, {self.where})", f"Allow group <a group of {user}>")

    def what_to_check(self, signer: Any) -> str:
        return f"check the OCI config, key and fingerprint in {self.where}"


def parse_config_secret(data: dict[str, str], where: str, region: str | None) -> dict[str, Any]:
    """The SDK config of a Secret's `config` (profile DEFAULT) with the key its key_file names, read
    from the Secret's key of that file name (else `key.pem`). Raises ReconcileError naming the Secret."""

    def invalid(why: str) -> ReconcileError:
        return _credentials(CONFIG_SECRET_INVALID, f"{where} {why}")

    values = {key: base64.b64decode(value).decode("utf-8", "replace") for key, value in data.items()}
    if CONFIG_KEY not in values:
        raise invalid(f"has no key {CONFIG_KEY!r} (an OCI config file)")
    # Parsed here, not with the SDK's from_file: that wants the key at key_file's path on this disk.
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(values[CONFIG_KEY])
    except configparser.Error as exc:
        raise invalid(f"has an unreadable {CONFIG_KEY!r}: {exc}") from None
    if not parser.defaults():
        raise invalid(f"has no usable [{CONFIG_PROFILE}] profile in {CONFIG_KEY!r}")
    config: dict[str, Any] = {**oci.config.DEFAULT_CONFIG, **parser.defaults()}
    key_name = os.path.basename(str(config.pop("key_file", "") or "")) or DEFAULT_KEY_FILE_KEY
    if not config.get("key_content"):
        if key_name not in values:
            raise invalid(f"has no key {key_name!r} (the private key its config names)")
        config["key_content"] = values[key_name]
    if region:
        config["region"] = region
    try:
        oci.config.validate_config(config)
    except oci.exceptions.InvalidConfig as exc:
        raise invalid(f"holds an invalid OCI config: {exc}") from None
    return config


@dataclasses.dataclass
class Identity:
    key: IdentityKey
    oci: DataScience
    objects: ObjectReader | None
    tokens: MintedTokens | None = None
    version: str = ""  # the config Secret's resourceVersion it was built from
    checked_at: float = 0.0

    async def ready(self) -> None:
        """A ServiceAccount token with half its life left, so the SDK's exchange never waits long."""
        if self.tokens is not None:
            await self.tokens.fresh()


class Identities:
    """The identities in use, by key; the operator's own always among them."""

    def __init__(
        self,
        settings: OperatorSettings,
        kube: KubeClient,
        namespaces: NamespaceDirectory | None,
        operator: DataScience,
        objects: ObjectReader | None,
        secret_namespace: str = "default",
        ttl: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._kube = kube
        self._namespaces = namespaces
        self._secret_namespace = settings.oci_config_secret_namespace or secret_namespace
        self._ttl = settings.poll_interval_seconds if ttl is None else ttl
        self._clock = clock
        self._by_key: dict[IdentityKey, Identity] = {OPERATOR: Identity(OPERATOR, operator, objects)}
        self._locks: dict[IdentityKey, asyncio.Lock] = {}

    async def key_for(self, namespace: str, service_account: str | None = None) -> IdentityKey:
        """Whose identity an object of `namespace` uses (`service_account`: its spec's). Raises
        ReconcileError when the namespace may not work (OCIDS_REQUIRE_NAMESPACE_IDENTITY)."""
        mode = self._settings.auth
        if service_account and mode is not AuthMode.OKE_WORKLOAD_IDENTITY:
            raise stalled(
                SERVICE_ACCOUNT_NOT_SUPPORTED,
                f"spec.serviceAccountName ({service_account}) needs OCIDS_AUTH=oke_workload_identity; "
                f"the operator runs with {mode.value}"
                + (
                    " (an admin maps a namespace to an OCI config with the annotation "
                    f"{CONFIG_SECRET_ANNOTATION})"
                    if mode is AuthMode.API_KEY
                    else ""
                ),
            )
        annotations = await self._namespaces.annotations(namespace) if self._namespaces else {}
        if mode is AuthMode.OKE_WORKLOAD_IDENTITY:
            account = service_account or annotations.get(SERVICE_ACCOUNT_ANNOTATION, "").strip()
            if account:
                return IdentityKey(namespace, service_account=account)
        if mode is AuthMode.API_KEY:
            secret = annotations.get(CONFIG_SECRET_ANNOTATION, "").strip()
            if secret:
                return IdentityKey(config_secret=secret)
        if self._settings.require_namespace_identity:
            raise _credentials(NAMESPACE_IDENTITY_REQUIRED, self._required_message(namespace))
        return OPERATOR

    def _required_message(self, namespace: str) -> str:
        mode = self._settings.auth
        start = (
            f"namespace {namespace} has no OCI identity of its own and OCIDS_REQUIRE_NAMESPACE_IDENTITY "
            "refuses to work for it with the operator's; nothing was sent to OCI: "
        )
        if mode is AuthMode.OKE_WORKLOAD_IDENTITY:
            return start + (
                "set spec.serviceAccountName of the TrainingJob, or have an admin annotate the namespace "
                f"{SERVICE_ACCOUNT_ANNOTATION}=<ServiceAccount>"
            )
        if mode is AuthMode.API_KEY:
            return start + (
                f"have an admin annotate the namespace {CONFIG_SECRET_ANNOTATION}=<Secret in "
                f"{self._secret_namespace} with an OCI config>"
            )
        return start + f"OCIDS_AUTH={mode.value} has no per-namespace identity"

    async def get(self, key: IdentityKey) -> Identity:
        """The identity of `key`, built on first use (and a config Secret re-read every ttl)."""
        identity = self._by_key.get(key)
        if key.is_operator and identity is not None:
            return identity
        if identity is not None and (key.service_account or self._clock() - identity.checked_at < self._ttl):
            await identity.ready()
            return identity
        async with self._locks.setdefault(key, asyncio.Lock()):
            identity = self._by_key.get(key)
            if identity is None or (key.config_secret and self._clock() - identity.checked_at >= self._ttl):
                identity = await self._build(key, identity)
                self._by_key[key] = identity
        await identity.ready()
        return identity

    def known(self, key: IdentityKey) -> Identity | None:
        """An identity already built (the poller's runs were registered by a handler that built it)."""
        return self._by_key.get(key)

    @property
    def operator(self) -> Identity:
        return self._by_key[OPERATOR]

    async def _build(self, key: IdentityKey, previous: Identity | None) -> Identity:
        if key.service_account:
            tokens = MintedTokens(self._kube, key.namespace, key.service_account)
            auth = SdkAuth(self._settings, WorkloadSource(self._settings, tokens))
            return self._identity(key, auth, tokens=tokens)
        where = f"Secret {self._secret_namespace}/{key.config_secret}"
        secret = await self._kube.request(
            "GET", f"/api/v1/namespaces/{self._secret_namespace}/secrets/{key.config_secret}"
        )
        if secret is None:
            raise _credentials(
                CONFIG_SECRET_NOT_FOUND,
                f"{where}, named by the namespace annotation {CONFIG_SECRET_ANNOTATION}, does not exist",
            )
        version = str((secret.get("metadata") or {}).get("resourceVersion") or "")
        if previous is not None and previous.version == version:
            previous.checked_at = self._clock()
            return previous
        config = parse_config_secret(secret.get("data") or {}, where, self._settings.region)
        auth = SdkAuth(self._settings, ConfigSecretSource(where, config))
        if previous is not None:
            log.info("%s changed: its OCI clients are built again", where)
        return self._identity(key, auth, version=version)

    def _identity(self, key: IdentityKey, auth: SdkAuth, **fields: Any) -> Identity:
        gateway = OciGateway(self._settings, auth=auth)
        shared = self.operator.objects
        # One spool (one byte budget) for every identity's downloads.
        spool = shared.spool if isinstance(shared, ObjectStore) else None
        objects = ObjectStore(self._settings, auth=auth, spool=spool) if shared is not None else None
        return Identity(key, gateway, objects, checked_at=self._clock(), **fields)


__all__ = [
    "CONFIG_SECRET_ANNOTATION",
    "NAMESPACE_IDENTITY_REQUIRED",
    "OPERATOR",
    "RUN_SERVICE_ACCOUNT_ANNOTATION",
    "SERVICE_ACCOUNT_ANNOTATION",
    "Identities",
    "Identity",
    "IdentityKey",
    "MintedTokens",
]
