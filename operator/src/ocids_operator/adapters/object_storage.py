"""Object Storage reads for `oci://` artifacts, with the operator's own credentials and an etag cache.

Objects are streamed into spool files (see `spool`), never held in memory: an object may be
as large as OCIDS_ARTIFACT_MAX_BYTES and several are read at start-up. The bytes are stored as
served: an object with a `Content-Encoding` is not decoded (OCI runs the bytes it is given).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import Iterator
from typing import Protocol

import oci
from oci.object_storage import ObjectStorageClient

from ..core.model import SpooledContent
from ..settings import OperatorSettings
from .artifact_fetch import CHUNK
from .oci_errors import is_not_found
from .oci_sdk import CallCounter, SdkAuth
from .spool import Spool, TooLarge

# Objects kept by etag (their spool files: disk, not memory), so a resync costs a HEAD, not a
# download, while the object is unchanged.
OBJECT_CACHE_ENTRIES = 16


@dataclasses.dataclass(frozen=True)
class StoredObject:
    etag: str
    content: SpooledContent


class ObjectTooLarge(Exception):
    def __init__(self, size: int | None) -> None:
        super().__init__(f"{size} bytes" if size is not None else "over the limit")
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
        spool: Spool | None = None,
    ) -> None:
        self._settings = settings
        self._auth = auth or SdkAuth(settings)
        self._client = client
        self._counter = CallCounter()
        self.calls = self._counter.calls
        self._objects: collections.OrderedDict[tuple[str, str, str], StoredObject] = collections.OrderedDict()
        # Shared with the https:// fetcher in the operator: one byte budget for both caches.
        self._spool = spool

    @property
    def spool(self) -> Spool:
        with self._auth.lock:
            if self._spool is None:
                self._spool = Spool(
                    self._settings.artifact_spool_dir, self._settings.artifact_spool_max_bytes
                )
            return self._spool

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
                if head.headers.get("etag") == cached.etag and self._still_cached(key, cached):
                    self.spool.touch(cached.content.path)
                    return cached
        response = self._counter.call("get_object", self.client.get_object, namespace, bucket, name)
        data = response.data
        try:
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                raise ObjectTooLarge(declared)
            with self.spool.writer(max_bytes) as writer:
                for chunk in _chunks(data):
                    writer.write(chunk)
        except TooLarge:
            raise ObjectTooLarge(None) from None
        finally:
            if hasattr(data, "close"):
                data.close()
        stored = StoredObject(str(response.headers.get("etag") or ""), writer.done())
        with self._auth.lock:
            previous = self._objects.pop(key, None)
            self._objects[key] = stored
            evicted = [previous] if previous is not None else []
            while len(self._objects) > OBJECT_CACHE_ENTRIES:
                evicted.append(self._objects.popitem(last=False)[1])
        path = stored.content.path

        def forget() -> None:
            # Called under the spool's lock, from any thread: a plain dict operation, no other lock.
            if self._objects.get(key) is stored:
                self._objects.pop(key, None)

        self.spool.cache(path, forget)
        for old in evicted:
            self.spool.release(old.content.path)
        return stored

    def _still_cached(self, key: tuple[str, str, str], cached: StoredObject) -> bool:
        with self._auth.lock:
            if self._objects.get(key) is not cached:
                return False  # evicted for room since: its file is gone
            self._objects.move_to_end(key)
            return True

    @property
    def cached_object_bytes(self) -> int:
        """Bytes of the cached objects, all on disk."""
        return sum(stored.content.size for stored in self._objects.values())


def _chunks(data: object) -> Iterator[bytes]:
    raw = getattr(data, "raw", None)
    if raw is None:  # a body the SDK already read (bytes)
        yield bytes(data)  # type: ignore[call-overload]
        return
    while chunk := raw.read(CHUNK, decode_content=False):
        yield chunk
