"""Object Storage reads for `oci://` artifacts, with the operator's own credentials and an etag cache."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from typing import Protocol

import oci
from oci.object_storage import ObjectStorageClient

from ..settings import OperatorSettings
from .oci_errors import is_not_found
from .oci_sdk import CallCounter, SdkAuth

# Objects kept by etag, so a resync costs a HEAD, not a download, while the object is unchanged.
OBJECT_CACHE_ENTRIES = 16
# ... and at most this many bytes in all: 16 objects of up to OCIDS_ARTIFACT_MAX_BYTES each would be
# a gigabyte held for good, far over the chart's memory limit (an OOM-killed operator re-reads them all).
OBJECT_CACHE_BYTES = 64 << 20


@dataclasses.dataclass(frozen=True)
class StoredObject:
    etag: str
    content: bytes


class ObjectTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size


class ObjectReader(Protocol):
    async def fetch(self, namespace: str, bucket: str, name: str, max_bytes: int) -> StoredObject:
        """The object's bytes and etag. Raises ServiceError (404 with OCI's code) or ObjectTooLarge."""
        ...


class ObjectStore:
    """Same auth as Data Science; endpoint OCIDS_OBJECT_STORAGE_ENDPOINT, else the SDK's regional one."""

    def __init__(
        self,
        settings: OperatorSettings,
        auth: SdkAuth | None = None,
        client: ObjectStorageClient | None = None,
    ) -> None:
        self._settings = settings
        self._auth = auth or SdkAuth(settings)
        self._client = client
        self._counter = CallCounter()
        self.calls = self._counter.calls
        self._objects: collections.OrderedDict[tuple[str, str, str], StoredObject] = collections.OrderedDict()

    @property
    def client(self) -> ObjectStorageClient:
        with self._auth.lock:
            if self._client is None:
                config, kwargs = self._auth.client_args(
                    self._settings.object_storage_endpoint, self._settings.artifact_url_timeout_seconds
                )
                self._client = ObjectStorageClient(config, **kwargs)
            return self._client

    async def fetch(self, namespace: str, bucket: str, name: str, max_bytes: int) -> StoredObject:
        return await asyncio.to_thread(self.read_object, namespace, bucket, name, max_bytes)

    def read_object(self, namespace: str, bucket: str, name: str, max_bytes: int) -> StoredObject:
        """Blocking `fetch`: a known object is checked with HEAD and downloaded again only when its
        etag changed."""
        key = (namespace, bucket, name)
        with self._auth.lock:
            cached = self._objects.get(key)
        if cached is not None:
            try:
                head = self._counter.call("head_object", self.client.head_object, namespace, bucket, name)
            except oci.exceptions.ServiceError as exc:
                # A HEAD answer has no body, so no error code: the GET below reports which part is missing.
                if not is_not_found(exc):
                    raise
            else:
                if head.headers.get("etag") == cached.etag:
                    with self._auth.lock:
                        self._objects.move_to_end(key)
                    return cached
        response = self._counter.call("get_object", self.client.get_object, namespace, bucket, name)
        data = response.data
        try:
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                raise ObjectTooLarge(declared)
            raw = data.raw.read(max_bytes + 1, decode_content=True) if hasattr(data, "raw") else bytes(data)
        finally:
            if hasattr(data, "close"):
                data.close()
        if len(raw) > max_bytes:
            raise ObjectTooLarge(len(raw))
        stored = StoredObject(str(response.headers.get("etag") or ""), raw)
        with self._auth.lock:
            self._objects[key] = stored
            self._objects.move_to_end(key)
            while len(self._objects) > OBJECT_CACHE_ENTRIES or self.cached_object_bytes > OBJECT_CACHE_BYTES:
                self._objects.popitem(last=False)
        return stored

    @property
    def cached_object_bytes(self) -> int:
        return sum(len(stored.content) for stored in self._objects.values())
