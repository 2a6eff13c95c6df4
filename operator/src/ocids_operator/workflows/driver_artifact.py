"""The artifact of a job that runs through the driver: the user's code (any source, a Git commit
included) packed with the driver into one deterministic zip, and the driver's context for the env.

Same inputs, same bytes (core/driver_package): a crash after CreateJob and its replay upload the
same artifact, and an unchanged job hashes the same at every resync. A Git source is re-resolved at
each resync (one ref listing); its files are fetched again only when the commit changed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

from ..adapters.artifact_fetch import ArtifactFetcher, SlotWaitTimeout
from ..adapters.git_source import (
    GitAuthFailed,
    GitCommitNotFound,
    GitCredentials,
    GitError,
    GitRefNotFound,
    GitRefused,
    GitRepositoryMissing,
    GitSource,
    GitTooLarge,
)
from ..adapters.kube import KubeClient, KubeError, MissingReference
from ..adapters.object_storage import ObjectReader
from ..api import GitArtifact, TrainingJobSpec
from ..core.driver_env import ARTIFACT_FILE_NAME, DriverContext, needs_driver
from ..core.driver_package import CodeFile, CodeProblem, build_driver_zip, code_tree, installed_driver_files
from ..core.errors import retry, stalled
from ..core.links import shown_url
from ..core.model import ResolvedArtifact
from ..driver import DRIVER_VERSION
from ..settings import OperatorSettings
from .inputs import _default_fetcher, file_name_of, resolve_artifact

GIT_FIELD = "spec.artifact.git"
SECRET_KEYS = ("username", "password", "token")
# Beside the driver in a Git job's zip: the commit is in the bytes, so a branch that moves to a
# commit with the same files still makes a new revision, and a run can tell which commit it runs.
GIT_SOURCE_FILE = "source.json"


def driver_context(
    settings: OperatorSettings, spec: TrainingJobSpec, code_file: str | None = None
) -> DriverContext | None:
    """The driver's version and the endpoints the runs need (only those the operator has set: a
    private realm, the emulator); None for a job that runs without the driver."""
    if not needs_driver(spec):
        return None
    endpoints = {
        "OCIDS_OBJECT_STORAGE_ENDPOINT": settings.object_storage_endpoint,
        "OCIDS_SECRETS_ENDPOINT": settings.secrets_endpoint,
    }
    return DriverContext.of(DRIVER_VERSION, endpoints, code_file)


def known_code_file(spec: TrainingJobSpec, job_status: Mapping[str, object]) -> str | None:
    """For a run: the single file a urlFrom job's code was, from the URL status shows (the shown
    form keeps the path's last segment). Other sources name it in the spec."""
    artifact = spec.artifact
    known = job_status.get("artifact")
    if artifact is None or artifact.url_from is None or not isinstance(known, Mapping):
        return None
    url = known.get("url")
    return file_name_of(url) if isinstance(url, str) and url else None


async def resolve_driver_artifact(
    kube: KubeClient,
    namespace: str,
    spec: TrainingJobSpec,
    settings: OperatorSettings,
    *,
    object_storage: ObjectReader | None,
    fetcher: ArtifactFetcher | None,
) -> tuple[ResolvedArtifact, str | None]:
    """`ocids-driver.zip` (the driver and the spec's code), and the name of the code's file when it
    is one file (what the driver runs without an entrypoint). Status keeps the code's source (url,
    Git ref and commit) and the driver's version."""
    fetcher = fetcher or _default_fetcher()
    max_bytes = settings.artifact_max_bytes
    artifact = spec.artifact
    code: Mapping[str, CodeFile] = {}
    source, url, ref, commit = "inline", None, None, None
    code_file = None
    if artifact is not None and artifact.git is not None:
        commit, code = await git_code(kube, namespace, artifact.git, fetcher.git)
        source, url, ref = "git", shown_url(artifact.git.url), artifact.git.ref
    elif artifact is not None:
        resolved = await resolve_artifact(
            kube,
            namespace,
            artifact,
            max_bytes=max_bytes,
            timeout_seconds=settings.artifact_url_timeout_seconds,
            object_storage=object_storage,
            fetcher=fetcher,
        )
        source, url, code_file = resolved.source, resolved.url, resolved.file_name
        data = resolved.content
        if resolved.spooled is not None:
            data = await asyncio.to_thread(_read, resolved.spooled.path)
        try:
            code = code_tree(resolved.file_name, data, field="spec.artifact", max_bytes=max_bytes)
        except CodeProblem as exc:
            raise stalled("InvalidArtifact", str(exc)) from None
    driver_files = installed_driver_files()
    if source == "git":
        # Only Git sources: every other job's bytes (and digest, and revision) stay as they were.
        described = {"commit": commit, "ref": ref, "url": url}
        driver_files[GIT_SOURCE_FILE] = json.dumps(described, sort_keys=True).encode("utf-8") + b"\n"
    package = build_driver_zip(driver_files, code)
    if len(package) > max_bytes:
        raise stalled(
            "ArtifactTooLarge",
            f"spec.artifact: the code packed with the driver is {len(package)} bytes "
            f"(limit {max_bytes}, OCIDS_ARTIFACT_MAX_BYTES)",
        )
    packed = ResolvedArtifact(
        source,
        ARTIFACT_FILE_NAME,
        content=package,
        url=url,
        ref=ref,
        commit=commit,
        driver_version=DRIVER_VERSION,
    )
    return packed, code_file


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


async def git_credentials(kube: KubeClient, namespace: str, git: GitArtifact) -> GitCredentials | None:
    if git.secret_ref is None:
        return None
    name = git.secret_ref.name
    values: dict[str, str] = {}
    try:
        for key in SECRET_KEYS:
            value = await kube.read_secret_key(namespace, name, key, True)
            if value:
                values[key] = value.strip()
    except MissingReference as exc:
        # The Secret may come after the TrainingJob (GitOps ordering): retried, not stalled.
        raise retry("ArtifactMissing", f"{GIT_FIELD}.secretRef: {exc}") from None
    except KubeError as exc:
        raise retry("KubernetesError", f"{GIT_FIELD}.secretRef: {exc}") from None
    if not values.get("password") and not values.get("token"):
        raise retry(
            "ArtifactMissing",
            f"{GIT_FIELD}.secretRef: Secret {name} has neither a `token` nor a `password` key",
        )
    return GitCredentials.from_secret(values)


async def git_code(
    kube: KubeClient, namespace: str, git: GitArtifact, source: GitSource
) -> tuple[str, dict[str, CodeFile]]:
    """(commit, files) of the spec's Git ref, as it points now."""
    credentials = await git_credentials(kube, namespace, git)
    where = f"{GIT_FIELD}.url {shown_url(git.url)}"
    try:
        resolved = await source.resolve(git.url, git.ref, credentials, namespace=namespace)
        tree = await source.tree(git.url, resolved, credentials, namespace=namespace)
    except GitRefused as exc:
        raise stalled("ArtifactURLRefused", f"{where}: {exc}") from None
    except GitRefNotFound as exc:
        raise stalled(
            "ArtifactNotFound", f"{GIT_FIELD}.ref {git.ref}: {exc} in {shown_url(git.url)}"
        ) from None
    except GitCommitNotFound as exc:
        raise stalled(
            "ArtifactNotFound", f"{GIT_FIELD}.ref {git.ref}: {exc} ({shown_url(git.url)})"
        ) from None
    except GitRepositoryMissing as exc:
        raise stalled("ArtifactNotFound", f"{where}: {exc}") from None
    except GitAuthFailed as exc:
        secret = f" (Secret {git.secret_ref.name})" if git.secret_ref else " (no secretRef set)"
        raise stalled("ArtifactNotFetchable", f"{where}: {exc}{secret}") from None
    except GitTooLarge as exc:
        raise stalled("ArtifactTooLarge", f"{where}: {exc}") from None
    except SlotWaitTimeout as exc:
        raise retry("ArtifactFetchSlotsBusy", f"{where}: {exc}") from None
    except GitError as exc:  # unreachable, timed out: may work on the next attempt
        raise retry("ArtifactFetchFailed", f"{where}: {exc}") from None
    files = {item.path: CodeFile(item.data, item.executable) for item in tree.files}
    return tree.commit, files
