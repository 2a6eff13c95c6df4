"""Resolve what a spec points at: env `valueFrom` refs and the artifact bytes.

Resolved secret values live only in memory for the duration of one reconcile: they go into
the OCI request and the template hash, never into status, events or logs.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import oci
from pydantic import ValidationError

from ..adapters.artifact_fetch import (
    ArtifactFetcher,
    BadUrl,
    FetchTimeout,
    HttpStatus,
    SlotWaitTimeout,
    SpoolFull,
    TooLarge,
    Unreachable,
    UrlRefused,
)
from ..adapters.kube import KubeClient, KubeError, MissingReference
from ..adapters.object_storage import ObjectReader, ObjectTooLarge
from ..adapters.oci_errors import classify
from ..api import Artifact, EnvVar
from ..core.errors import ReconcileError, retry, stalled
from ..core.links import shown_url, without_url_secrets
from ..core.model import ObjectRef, ResolvedArtifact
from ..settings import OperatorSettings

# oci://bucket@namespace/path/to/object (the object name may contain slashes).
_OCI_URL = re.compile(r"^oci://(?P<bucket>[^@/]+)@(?P<namespace>[^@/]+)/(?P<name>.+)$")
# What the CRD's pattern lets into artifact.url; a URL read from a Secret gets the same check.
_ARTIFACT_URL = re.compile(r"^(https://|oci://)[^\x00-\x1f\x7f]*$")
MAX_URL_LENGTH = 2048


def parse_spec(model: type[Any], spec: Mapping[str, Any]) -> Any:
    """Validate a spec; the error names fields and never echoes values (they may be secrets)."""
    try:
        return model.model_validate(dict(spec))
    except ValidationError as exc:
        problems = [
            f"spec.{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
        ]
        raise stalled("InvalidSpec", "; ".join(problems)) from None


def object_ref(body: Mapping[str, Any], cluster: str) -> ObjectRef:
    meta = body["metadata"]
    return ObjectRef(meta["namespace"], meta["name"], meta["uid"], cluster)


async def resolve_env(kube: KubeClient, namespace: str, env: Sequence[EnvVar]) -> dict[str, str]:
    """The env's values the operator knows; vaultSecretRef vars are left to the job run's driver
    (their names go into OCIDS_DRIVER_VAULT_SECRETS: core.driver_env)."""
    resolved: dict[str, str] = {}
    for var in env:
        if var.value_from is None:
            resolved[var.name] = var.value or ""
            continue
        if var.vault_secret_id is not None:
            continue
        try:
            value: str | None
            if var.value_from.secret_key_ref is not None:
                ref = var.value_from.secret_key_ref
                value = await kube.read_secret_key(namespace, ref.name, ref.key, ref.optional)
            else:
                ref = var.value_from.config_map_key_ref  # type: ignore[assignment]
                assert ref is not None
                raw = await kube.read_config_map_key(namespace, ref.name, ref.key, ref.optional)
                value = raw.decode("utf-8") if raw is not None else None
        except MissingReference as exc:
            # Missing refs may appear later (created after the CR): retry, do not stall for good.
            raise retry("EnvReferenceMissing", f"env {var.name}: {exc}") from None
        except KubeError as exc:
            raise retry("KubernetesError", f"env {var.name}: {exc}") from None
        except UnicodeDecodeError:
            # The codec's message quotes a byte of the value: say which variable, never what it holds.
            raise retry(
                "EnvReferenceInvalid", f"env {var.name}: the referenced value is not UTF-8 text"
            ) from None
        if value is not None:
            resolved[var.name] = value
    return resolved


async def resolve_artifact(
    kube: KubeClient,
    namespace: str,
    artifact: Artifact,
    *,
    max_bytes: int,
    timeout_seconds: float,
    object_storage: ObjectReader | None,
    fetcher: ArtifactFetcher | None = None,
) -> ResolvedArtifact:
    if artifact.inline is not None:
        return ResolvedArtifact("inline", artifact.inline.file_name, artifact.inline.content.encode("utf-8"))
    if artifact.config_map_ref is not None:
        ref = artifact.config_map_ref
        try:
            content = await kube.read_config_map_key(namespace, ref.name, ref.key)
        except MissingReference as exc:
            raise retry("ArtifactMissing", f"artifact: {exc}") from None
        assert content is not None
        return ResolvedArtifact("configMap", ref.key, content)
    url, field = await artifact_url(kube, namespace, artifact)
    return await fetch_url(
        url,
        max_bytes=max_bytes,
        timeout_seconds=timeout_seconds,
        object_storage=object_storage,
        fetcher=fetcher,
        namespace=namespace,
        field=field,
    )


async def artifact_url(kube: KubeClient, namespace: str, artifact: Artifact) -> tuple[str, str]:
    """The artifact's URL, from the spec or its Secret, and the field to name in messages."""
    if artifact.url is not None:
        return artifact.url, "artifact.url"
    assert artifact.url_from is not None
    ref = artifact.url_from.secret_key_ref
    field = f"artifact.urlFrom (Secret {ref.name}, key {ref.key})"
    try:
        value = await kube.read_secret_key(namespace, ref.name, ref.key)
    except MissingReference as exc:
        # The Secret may be created after the TrainingJob (GitOps ordering): retry, do not stall.
        raise retry("ArtifactMissing", f"artifact.urlFrom: {exc}") from None
    except KubeError as exc:
        raise retry("KubernetesError", f"artifact.urlFrom: {exc}") from None
    url = (value or "").strip()
    if len(url) > MAX_URL_LENGTH or not _ARTIFACT_URL.match(url):
        # Never echo the value: it is a credential, and it is not the URL it should be.
        raise stalled(
            "InvalidArtifactURL",
            f"{field} must hold one https:// or oci:// URL of at most {MAX_URL_LENGTH} characters, "
            "without control characters",
        )
    return url, field


async def source_url(kube: KubeClient, namespace: str, artifact: Artifact) -> str | None:
    """The artifact's URL if it has one and it can be read now, else None."""
    if artifact.url is None and artifact.url_from is None:
        return None
    try:
        return (await artifact_url(kube, namespace, artifact))[0]
    except ReconcileError:
        return None


def file_name_of(url: str) -> str:
    path = url.split("?", 1)[0].split("#", 1)[0]
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return name or "artifact"


async def fetch_url(
    url: str,
    *,
    max_bytes: int,
    timeout_seconds: float,
    object_storage: ObjectReader | None,
    fetcher: ArtifactFetcher | None = None,
    namespace: str = "",
    field: str = "artifact.url",
) -> ResolvedArtifact:
    fetcher = fetcher or _default_fetcher()
    if url.startswith("oci://"):
        try:
            async with fetcher.slot(namespace):
                return await fetch_object(url, max_bytes=max_bytes, gateway=object_storage, field=field)
        except SlotWaitTimeout as exc:
            raise retry("ArtifactFetchSlotsBusy", f"{field} {url}: {exc}") from None
    if not url.startswith("https://"):
        raise stalled("ArtifactSourceUnsupported", f"{field} must start with https:// or oci://")
    shown = shown_url(url)
    try:
        spooled = await fetcher.fetch(
            url, max_bytes=max_bytes, timeout_seconds=timeout_seconds, namespace=namespace
        )
    except UrlRefused as exc:
        raise stalled("ArtifactURLRefused", f"{field} {shown}: {without_url_secrets(str(exc))}") from None
    except HttpStatus as exc:
        if exc.status in (401, 403, 404, 410):
            raise stalled("ArtifactNotFetchable", f"{field} {shown} answered HTTP {exc.status}") from None
        raise retry("ArtifactFetchFailed", f"{field} {shown} answered HTTP {exc.status}") from None
    except TooLarge as exc:
        size = (
            f"is {exc.size} bytes (limit {max_bytes})" if exc.size else f"is over the {max_bytes}-byte limit"
        )
        raise stalled("ArtifactTooLarge", f"{field} {shown} {size}") from None
    except SlotWaitTimeout as exc:
        raise retry("ArtifactFetchSlotsBusy", f"{field} {shown}: {exc}") from None
    except SpoolFull as exc:
        raise retry("ArtifactSpoolFull", f"{field} {shown}: {exc}") from None
    except (aiohttp.InvalidURL, BadUrl):
        # aiohttp's message is the whole URL, tokens included: never echo it.
        raise stalled("InvalidArtifactURL", f"spec.{field} {shown} is not a valid URL") from None
    except (FetchTimeout, Unreachable) as exc:
        raise retry("ArtifactFetchFailed", f"{field} {shown}: {exc}") from None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        detail = without_url_secrets(f"{type(exc).__name__}: {exc}")
        raise retry("ArtifactFetchFailed", f"{field} {shown}: {detail}") from None
    return ResolvedArtifact("url", file_name_of(url), url=shown, spooled=spooled)


_DEFAULT_FETCHER: ArtifactFetcher | None = None


def _default_fetcher() -> ArtifactFetcher:
    """For callers without a Runtime (tools, tests): default settings, one per process."""
    global _DEFAULT_FETCHER
    if _DEFAULT_FETCHER is None:
        _DEFAULT_FETCHER = ArtifactFetcher(OperatorSettings())
    return _DEFAULT_FETCHER


# Kept under their old names: the helpers moved to core/links (URL display is a pure decision).
_without_url_secrets = without_url_secrets


def parse_oci_url(url: str, field: str = "artifact.url") -> tuple[str, str, str]:
    """``oci://bucket@namespace/path`` -> (namespace, bucket, object name)."""
    match = _OCI_URL.match(url)
    if match is None:
        raise stalled(
            "InvalidArtifactURL",
            f"spec.{field} {url} must look like oci://bucket@namespace/path/to/object",
        )
    return match["namespace"], match["bucket"], match["name"]


async def fetch_object(
    url: str, *, max_bytes: int, gateway: ObjectReader | None, field: str = "artifact.url"
) -> ResolvedArtifact:
    """An `oci://` artifact, read with the operator's own OCI credentials."""
    namespace, bucket, name = parse_oci_url(url, field)
    field = f"spec.{field}"
    if gateway is None:
        raise stalled(
            "ArtifactSourceUnsupported",
            f"{field} {url}: oci:// artifacts need the operator's OCI client, not set up here",
        )
    try:
        stored = await gateway.fetch(namespace, bucket, name, max_bytes)
    except ObjectTooLarge as exc:
        size = f"{exc.size} bytes (limit {max_bytes})" if exc.size else f"over the {max_bytes}-byte limit"
        raise stalled("ArtifactTooLarge", f"{field} {url}: object {name} is {size}") from None
    except SpoolFull as exc:
        raise retry("ArtifactSpoolFull", f"{field} {url}: {exc}") from None
    except oci.exceptions.ServiceError as exc:
        if exc.status == 404:
            if exc.code == "BucketNotFound":
                what = f"bucket {bucket} does not exist in namespace {namespace} (or is not readable)"
            else:
                what = f"object {name} does not exist in bucket {bucket} (or is not readable)"
            raise stalled("ArtifactNotFound", f"{field} {url}: {what}") from None
        raise _about_url(url, exc, field) from None
    except ReconcileError:
        raise
    except Exception as exc:  # config errors, connection errors, timeouts: classified like any OCI call
        raise _about_url(url, exc, field) from None
    return ResolvedArtifact("url", file_name_of(name), url=url, spooled=stored.content)


def _about_url(url: str, exc: BaseException, field: str) -> ReconcileError:
    outcome = classify(exc, "get_object")
    return ReconcileError(dataclasses.replace(outcome, message=f"{field} {url}: {outcome.message}"))
