"""Resolving env refs and artifacts: missing refs retry naming the variable; values stay inside."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from ocids_operator.adapters.artifact_fetch import ArtifactFetcher
from ocids_operator.adapters.kube import MissingReference
from ocids_operator.api import Artifact, EnvVar
from ocids_operator.core.errors import OutcomeKind, ReconcileError
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows.inputs import file_name_of, resolve_artifact, resolve_env


class Kube:
    async def read_secret_key(
        self, namespace: str, name: str, key: str, optional: bool = False
    ) -> str | None:
        if name == "wandb" and key == "token":
            return "s3cret"
        if optional:
            return None
        raise MissingReference(f"Secret {namespace}/{name} does not exist")

    async def read_config_map_key(self, namespace: str, name: str, key: str, optional: bool = False) -> bytes:
        return b"\x50\x4b\x03\x04zip-bytes"


def env(name: str, secret: str, key: str = "token", optional: bool = False) -> EnvVar:
    ref = {"name": secret, "key": key, "optional": optional}
    return EnvVar.model_validate({"name": name, "valueFrom": {"secretKeyRef": ref}})


def test_env_values_and_secret_refs_resolve() -> None:
    variables = [EnvVar(name="A", value="1"), env("KEY", "wandb"), env("OPT", "missing", optional=True)]
    resolved = asyncio.run(resolve_env(Kube(), "ml", variables))  # type: ignore[arg-type]
    assert resolved == {"A": "1", "KEY": "s3cret"}


def test_a_missing_secret_is_retried_with_a_message_naming_the_variable_not_the_value() -> None:
    with pytest.raises(ReconcileError) as info:
        asyncio.run(resolve_env(Kube(), "ml", [env("TOKEN", "absent")]))  # type: ignore[arg-type]
    assert info.value.outcome.kind is OutcomeKind.RETRY
    assert "env TOKEN: Secret ml/absent does not exist" in info.value.outcome.message


def test_config_map_artifact_keeps_binary_bytes_and_takes_the_key_as_file_name() -> None:
    artifact = Artifact.model_validate({"configMapRef": {"name": "code", "key": "train.zip"}})
    resolved = asyncio.run(
        resolve_artifact(Kube(), "ml", artifact, max_bytes=100, timeout_seconds=1, object_storage=None)
    )  # type: ignore[arg-type]
    assert resolved.file_name == "train.zip" and resolved.content.startswith(b"PK")
    assert resolved.digest.startswith("sha256:") and resolved.size_bytes == 13


def test_file_name_of_a_url_ignores_the_query() -> None:
    assert file_name_of("https://example.com/p/train.tar.gz?sig=abc") == "train.tar.gz"


def test_an_unparsable_url_stalls_without_echoing_its_query_token() -> None:
    artifact = Artifact.model_validate(
        {"url": "https://objectstorage.example.com:99999/p/train.py?sig=TOKEN"}
    )
    with pytest.raises(ReconcileError) as info:
        asyncio.run(
            resolve_artifact(Kube(), "ml", artifact, max_bytes=100, timeout_seconds=1, object_storage=None)
        )  # type: ignore[arg-type]
    assert info.value.outcome.reason == "InvalidArtifactURL"
    assert "TOKEN" not in info.value.outcome.message and "sig=" not in info.value.outcome.message
    assert "https://objectstorage.example.com:99999/p/train.py" in info.value.outcome.message


def test_an_unreachable_url_is_retried_naming_it_without_password_or_token(tmp_path: Path) -> None:
    artifact = Artifact.model_validate({"url": "https://bob:PASSWORD@127.0.0.1:1/p/train.py?sig=TOKEN#x"})
    settings = OperatorSettings(artifact_url_allow_loopback=True, artifact_spool_dir=str(tmp_path))
    with pytest.raises(ReconcileError) as info:
        asyncio.run(
            resolve_artifact(
                Kube(),  # type: ignore[arg-type]
                "ml",
                artifact,
                max_bytes=100,
                timeout_seconds=5,
                object_storage=None,
                fetcher=ArtifactFetcher(settings),
            )
        )
    message = info.value.outcome.message
    assert info.value.outcome.kind is OutcomeKind.RETRY and "https://127.0.0.1:1/p/train.py" in message
    assert "PASSWORD" not in message and "bob" not in message and "TOKEN" not in message


def test_fetch_error_details_lose_the_secrets_of_every_url_they_name() -> None:
    from ocids_operator.workflows.inputs import _without_url_secrets

    text = "TooManyRedirects: 302, url='https://u:PASS@h/p/o?sig=TOKEN#frag' (from http://x/?a=TOKEN)"
    assert "TOKEN" not in _without_url_secrets(text) and "PASS" not in _without_url_secrets(text)
    assert "url='https://h/p/o'" in _without_url_secrets(text) and "(from http://x/" in _without_url_secrets(
        text
    )
