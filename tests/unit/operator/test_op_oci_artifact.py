"""`oci://bucket@namespace/path` artifacts: parsing, error outcomes, the etag cache, the endpoint setting."""

from __future__ import annotations

import asyncio
import io
import tracemalloc
from pathlib import Path
from typing import Any

import oci
import pytest
from ocids_operator.adapters.object_storage import ObjectStore, ObjectTooLarge, StoredObject
from ocids_operator.core.errors import OutcomeKind, ReconcileError
from ocids_operator.core.model import SpooledContent, content_digest
from ocids_operator.settings import OperatorSettings, SettingsError, load_settings
from ocids_operator.workflows.inputs import fetch_object, fetch_url, parse_oci_url

URL = "oci://models@axns/team a/train.zip"


def service_error(
    status: int, code: str | None, operation: str = "get_object"
) -> oci.exceptions.ServiceError:
    return oci.exceptions.ServiceError(status, code, {}, f"{code} message", operation_name=operation)


class Reader:
    """Stands in for ObjectStore.fetch."""

    def __init__(self, result: StoredObject | BaseException) -> None:
        self.result = result
        self.calls: list[tuple[str, str, str, int]] = []

    async def fetch(self, namespace: str, bucket: str, name: str, max_bytes: int) -> StoredObject:
        self.calls.append((namespace, bucket, name, max_bytes))
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


def fetch(result: StoredObject | BaseException, url: str = URL) -> Any:
    reader = Reader(result)
    resolved = asyncio.run(fetch_object(url, max_bytes=100, gateway=reader))  # type: ignore[arg-type]
    return resolved, reader


def failure(result: BaseException, url: str = URL) -> Any:
    with pytest.raises(ReconcileError) as info:
        fetch(result, url)
    return info.value.outcome


def test_parse_keeps_slashes_and_spaces_in_the_object_name() -> None:
    assert parse_oci_url(URL) == ("axns", "models", "team a/train.zip")


@pytest.mark.parametrize("url", ["oci://models/train.zip", "oci://@ns/x", "oci://b@ns/", "oci://b@ns"])
def test_malformed_oci_urls_stall_naming_the_field(url: str) -> None:
    outcome = failure(AssertionError("never read"), url)
    assert (outcome.kind, outcome.reason) == (OutcomeKind.STALLED, "InvalidArtifactURL")
    assert "spec.artifact.url" in outcome.message and "oci://bucket@namespace/" in outcome.message


def test_object_becomes_a_url_artifact_with_digest_and_url_kept() -> None:
    resolved, reader = fetch(StoredObject("etag-1", SpooledContent("/spool/x", "sha256:ab", 7)))
    assert reader.calls == [("axns", "models", "team a/train.zip", 100)]
    assert (resolved.source, resolved.file_name, resolved.url) == ("url", "train.zip", URL)
    assert resolved.digest == "sha256:ab" and resolved.size_bytes == 7


def test_missing_object_and_missing_bucket_stall_naming_url_and_what_is_missing() -> None:
    obj = failure(service_error(404, "ObjectNotFound"))
    assert (obj.kind, obj.reason) == (OutcomeKind.STALLED, "ArtifactNotFound")
    assert f"spec.artifact.url {URL}" in obj.message
    assert "object team a/train.zip does not exist in bucket models" in obj.message
    bucket = failure(service_error(404, "BucketNotFound"))
    assert "bucket models does not exist in namespace axns" in bucket.message


def test_rejected_credentials_and_outages_are_classified_like_other_oci_calls() -> None:
    denied = failure(service_error(401, "NotAuthenticated", "head_object"))
    assert (denied.kind, denied.reason) == (OutcomeKind.CREDENTIALS, "CredentialsRejected")
    assert denied.message.startswith(f"spec.artifact.url {URL}: ")
    busy = failure(service_error(503, "ServiceUnavailable"))
    assert busy.kind is OutcomeKind.RETRY
    down = failure(ConnectionError("refused"))
    assert (down.kind, down.reason) == (OutcomeKind.RETRY, "OCIUnreachable")


def test_an_object_over_the_cap_stalls() -> None:
    outcome = failure(ObjectTooLarge(500))
    assert (outcome.kind, outcome.reason) == (OutcomeKind.STALLED, "ArtifactTooLarge")
    assert "500 bytes (limit 100)" in outcome.message


def test_without_an_object_storage_gateway_oci_urls_stall() -> None:
    with pytest.raises(ReconcileError) as info:
        asyncio.run(fetch_url(URL, max_bytes=10, timeout_seconds=1, object_storage=None))
    assert info.value.outcome.kind is OutcomeKind.STALLED and URL in info.value.outcome.message


# The store's read: HEAD while the etag is unchanged, GET when it changed -----------------------
class Response:
    def __init__(self, headers: dict[str, str], content: bytes = b"") -> None:
        self.headers = headers
        self.data = FakeStream(content)


class Raw(io.BytesIO):
    def read(self, size: int | None = -1, decode_content: bool = False) -> bytes:  # type: ignore[override]
        return super().read(size)


class FakeStream:
    def __init__(self, content: bytes) -> None:
        self.raw = Raw(content)
        self.closed = False

    def close(self) -> None:
        self.closed = True


class FakeObjectStorage:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[str, bytes]] = {}
        self.calls: list[str] = []

    def _find(self, operation: str, name: str) -> tuple[str, bytes]:
        self.calls.append(operation)
        if name not in self.objects:
            # HEAD answers have no body, so no code, as with the real service.
            raise service_error(404, None if operation == "head_object" else "ObjectNotFound", operation)
        return self.objects[name]

    def head_object(self, namespace: str, bucket: str, name: str) -> Response:
        etag, content = self._find("head_object", name)
        return Response({"etag": etag, "content-length": str(len(content))})

    def get_object(self, namespace: str, bucket: str, name: str) -> Response:
        etag, content = self._find("get_object", name)
        return Response({"etag": etag, "content-length": str(len(content))}, content)


@pytest.fixture
def gateway(tmp_path: Path) -> tuple[ObjectStore, FakeObjectStorage]:
    store = FakeObjectStorage()
    settings = OperatorSettings(artifact_spool_dir=str(tmp_path))
    return ObjectStore(settings, client=store), store  # type: ignore[arg-type]


def held(stored: StoredObject) -> tuple[str, bytes]:
    """(etag, bytes) of a stored object, checking the digest it was spooled with."""
    content = Path(stored.content.path).read_bytes()
    assert stored.content.digest == content_digest(content) and stored.content.size == len(content)
    return stored.etag, content


def test_unchanged_objects_cost_a_head_and_replaced_ones_are_downloaded_again(
    gateway: tuple[ObjectStore, FakeObjectStorage],
) -> None:
    gw, store = gateway
    store.objects["a.zip"] = ("e1", b"one")
    assert held(gw.read_object("ns", "b", "a.zip", 10)) == ("e1", b"one")
    assert held(gw.read_object("ns", "b", "a.zip", 10)) == ("e1", b"one")
    assert store.calls == ["get_object", "head_object"]
    store.objects["a.zip"] = ("e2", b"two")
    assert held(gw.read_object("ns", "b", "a.zip", 10)) == ("e2", b"two")
    assert store.calls == ["get_object", "head_object", "head_object", "get_object"]
    assert gw.calls["get_object"] == 2 and gw.calls["head_object"] == 2


def test_a_deleted_object_reports_the_code_from_a_get_and_big_objects_are_refused(
    gateway: tuple[ObjectStore, FakeObjectStorage],
) -> None:
    gw, store = gateway
    store.objects["a.zip"] = ("e1", b"one")
    gw.read_object("ns", "b", "a.zip", 10)
    del store.objects["a.zip"]
    with pytest.raises(oci.exceptions.ServiceError) as err:
        gw.read_object("ns", "b", "a.zip", 10)
    assert (err.value.status, err.value.code) == (404, "ObjectNotFound")
    store.objects["big.zip"] = ("e3", b"x" * 11)
    with pytest.raises(ObjectTooLarge) as big:
        gw.read_object("ns", "b", "big.zip", 10)
    assert big.value.size == 11


def test_object_storage_endpoint_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIDS_OBJECT_STORAGE_ENDPOINT", "http://127.0.0.1:12000/")
    assert load_settings().object_storage_endpoint == "http://127.0.0.1:12000"
    monkeypatch.setenv("OCIDS_OBJECT_STORAGE_ENDPOINT", "localhost:1")
    with pytest.raises(SettingsError, match="OCIDS_OBJECT_STORAGE_ENDPOINT"):
        load_settings()


def test_objects_are_streamed_to_disk_and_the_cache_keeps_none_in_memory(
    gateway: tuple[ObjectStore, FakeObjectStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ocids_operator.adapters.object_storage as object_storage

    monkeypatch.setattr(object_storage, "OBJECT_CACHE_ENTRIES", 2)
    gw, store = gateway
    big = b"PK" + bytes(range(256)) * (16 << 10)  # 4 MiB
    store.objects["big"] = ("e-big", big)
    tracemalloc.start()
    try:
        stored = gw.read_object("ns", "b", "big", len(big))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held(stored) == ("e-big", big)
    assert peak < len(big) // 4, f"peak traced memory {peak} for a {len(big)}-byte object"

    for name in ("a", "c"):
        store.objects[name] = ("e-" + name, b"x" * 4)
        gw.read_object("ns", "b", name, 100)
    assert not Path(stored.content.path).exists()  # "big" was evicted, and its file went with it
    store.calls.clear()
    gw.read_object("ns", "b", "c", 100)  # the most recent one is still served from the cache
    gw.read_object("ns", "b", "big", len(big))  # the evicted one is downloaded again
    assert store.calls == ["head_object", "get_object"]
