"""Resolving env refs and artifacts: missing refs retry naming the variable; values stay inside."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from ocids_operator.adapters.artifact_fetch import ArtifactFetcher
from ocids_operator.adapters.kube import MissingReference
from ocids_operator.api import Artifact, EnvVar
from ocids_operator.core.errors import OutcomeKind, ReconcileError
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows.inputs import file_name_of, parse_spec, resolve_artifact, resolve_env


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


class UrlSecrets:
    """Secrets holding artifact URLs; `par` is a pre-authenticated request URL (a bearer credential)."""

    PAR = "https://127.0.0.1:1/p/PARTOKEN-secret/n/ns1/b/bucket/o/train.py"

    def __init__(self, values: dict[tuple[str, str], str]) -> None:
        self.values = values
        self.reads: list[tuple[str, str, str]] = []

    async def read_secret_key(
        self, namespace: str, name: str, key: str, optional: bool = False
    ) -> str | None:
        self.reads.append((namespace, name, key))
        if (name, key) not in self.values:
            raise MissingReference(f"Secret {namespace}/{name} does not exist")
        return self.values[(name, key)]


def url_from(name: str = "artifact-par", key: str = "url") -> Artifact:
    return Artifact.model_validate({"urlFrom": {"secretKeyRef": {"name": name, "key": key}}})


def _resolve_from(kube: UrlSecrets, artifact: Artifact, tmp_path: Path) -> Any:
    settings = OperatorSettings(artifact_url_allow_loopback=True, artifact_spool_dir=str(tmp_path))
    return asyncio.run(
        resolve_artifact(
            kube,  # type: ignore[arg-type]
            "ml",
            artifact,
            max_bytes=100,
            timeout_seconds=2,
            object_storage=None,
            fetcher=ArtifactFetcher(settings),
        )
    )


def test_url_from_a_secret_is_read_in_the_namespace_and_its_token_never_shown(tmp_path: Path) -> None:
    kube = UrlSecrets({("artifact-par", "url"): UrlSecrets.PAR + "\n"})  # files end with a newline
    with pytest.raises(ReconcileError) as info:
        _resolve_from(kube, url_from(), tmp_path)  # nothing listens on port 1: the fetch itself fails
    assert kube.reads == [("ml", "artifact-par", "url")]
    message = info.value.outcome.message
    assert info.value.outcome.reason == "ArtifactFetchFailed", info.value.outcome
    assert "artifact.urlFrom (Secret artifact-par, key url)" in message
    assert "/p/***/n/ns1/b/bucket/o/train.py" in message and "PARTOKEN" not in message


def test_a_missing_url_secret_is_retried_and_a_bad_value_stalls_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(ReconcileError) as missing:
        _resolve_from(UrlSecrets({}), url_from(), tmp_path)
    assert missing.value.outcome.kind is OutcomeKind.RETRY
    assert missing.value.outcome.reason == "ArtifactMissing"
    assert "Secret ml/artifact-par does not exist" in missing.value.outcome.message
    for bad in ("ftp://host/x SECRETVALUE", "https://h/x\r\nX-Injected: SECRETVALUE", "SECRETVALUE"):
        with pytest.raises(ReconcileError) as info:
            _resolve_from(UrlSecrets({("artifact-par", "url"): bad}), url_from(), tmp_path)
        assert info.value.outcome.kind is OutcomeKind.STALLED
        assert info.value.outcome.reason == "InvalidArtifactURL"
        assert "artifact.urlFrom (Secret artifact-par, key url)" in info.value.outcome.message
        assert "SECRETVALUE" not in info.value.outcome.message


def test_url_and_url_from_are_one_source_named_in_the_error() -> None:
    with pytest.raises(ReconcileError) as both:
        parse_spec(
            Artifact,
            {"url": "https://h/a.py", "urlFrom": {"secretKeyRef": {"name": "s", "key": "url"}}},
        )
    assert "urlFrom" in both.value.outcome.message and both.value.outcome.reason == "InvalidSpec"


@pytest.mark.parametrize("field", ["url", "conda"])
def test_urls_with_control_characters_are_refused_naming_the_field(field: str) -> None:
    from ocids_operator.api import Conda

    with pytest.raises(ReconcileError) as info:
        if field == "url":
            parse_spec(Artifact, {"url": "https://h/a.py\r\nX-Evil: 1"})
        else:
            parse_spec(Conda, {"type": "published", "uri": "oci://b@ns/env\n.tar.gz"})
    expected = "spec.url" if field == "url" else "spec.uri"
    assert expected in info.value.outcome.message, info.value.outcome.message
