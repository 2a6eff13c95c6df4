"""Files of downloaded artifacts, under one byte budget shared by the download caches.

Each file is written once, under a fresh name, and hashed on the way. Cached files (kept for
conditional requests: `If-None-Match`, an object's etag) are evicted least recently used first when
a download needs room; a download that still does not fit fails (retried later), so the spool never
outgrows OCIDS_ARTIFACT_SPOOL_MAX_BYTES and the chart's `/tmp` size limit is never what stops it.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import BinaryIO

from ..core.model import SpooledContent

BUDGET_SETTING = "OCIDS_ARTIFACT_SPOOL_MAX_BYTES"


class TooLarge(Exception):
    def __init__(self, size: int | None) -> None:
        super().__init__(f"{size} bytes" if size is not None else "over the limit")
        self.size = size


class SpoolFull(Exception):
    """The download does not fit the spool budget even with every cached file evicted: the other
    downloads in flight hold the rest. Retryable."""

    def __init__(self, budget: int) -> None:
        super().__init__(f"the artifact spool is full ({budget} bytes, {BUDGET_SETTING})")
        self.budget = budget


class Spool:
    """Each process spools into its own directory, locked for its lifetime: several operators (tests,
    a dev machine) may share the root, and an emptyDir outlives a container restart, so a directory
    whose lock can be taken belongs to a process that is gone and is removed.

    Thread-safe: `oci://` reads write from a worker thread, `https://` downloads from the loop."""

    def __init__(self, root: str | None, max_bytes: int | None = None) -> None:
        root = root or os.path.join(tempfile.gettempdir(), "ocids-artifacts")
        os.makedirs(root, mode=0o700, exist_ok=True)
        for entry in os.scandir(root):
            if entry.is_dir(follow_symlinks=False):
                _remove_if_abandoned(entry.path)
        self.directory = tempfile.mkdtemp(prefix="spool-", dir=root)
        self._lock_file = open(os.path.join(self.directory, ".lock"), "wb")  # noqa: SIM115 - held for life
        fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._sizes: dict[str, int] = {}
        # Cached files, least recently used first, each with how its cache forgets it.
        self._cached: collections.OrderedDict[str, Callable[[], None]] = collections.OrderedDict()

    @property
    def used_bytes(self) -> int:
        with self._lock:
            return sum(self._sizes.values())

    @contextlib.contextmanager
    def writer(self, max_bytes: int) -> Iterator[SpoolWriter]:
        handle, path = tempfile.mkstemp(prefix="artifact-", dir=self.directory)
        with self._lock:
            self._sizes[path] = 0
        writer = SpoolWriter(self, os.fdopen(handle, "wb"), path, max_bytes)
        try:
            yield writer
        except BaseException:
            writer.file.close()
            self.release(path)
            raise
        writer.file.close()

    def cache(self, path: str, forget: Callable[[], None]) -> None:
        """Keep `path` for later requests; evictable, `forget` drops the cache's entry for it."""
        with self._lock:
            if path in self._sizes:
                self._cached[path] = forget
                self._cached.move_to_end(path)

    def touch(self, path: str) -> None:
        with self._lock:
            if path in self._cached:
                self._cached.move_to_end(path)

    def release(self, path: str) -> None:
        with self._lock:
            self._sizes.pop(path, None)
            self._cached.pop(path, None)
        discard(path)

    def grow(self, path: str, size: int) -> None:
        """Account `size` more bytes to `path`, evicting cached files to make room."""
        evicted: list[str] = []
        try:
            with self._lock:
                if self.max_bytes is not None:
                    used = sum(self._sizes.values())
                    while used + size > self.max_bytes:
                        victim = next((p for p in self._cached if p != path), None)
                        if victim is None:
                            raise SpoolFull(self.max_bytes)
                        self._cached.pop(victim)()
                        used -= self._sizes.pop(victim, 0)
                        evicted.append(victim)
                self._sizes[path] = self._sizes.get(path, 0) + size
        finally:
            for victim in evicted:
                discard(victim)


class SpoolWriter:
    def __init__(self, spool: Spool, file: BinaryIO, path: str, max_bytes: int) -> None:
        self.spool, self.file, self.path, self.max_bytes = spool, file, path, max_bytes
        self._hash = hashlib.sha256()
        self._size = 0

    def write(self, chunk: bytes) -> None:
        if self._size + len(chunk) > self.max_bytes:
            raise TooLarge(None)
        self.spool.grow(self.path, len(chunk))
        self._size += len(chunk)
        self._hash.update(chunk)
        self.file.write(chunk)

    def done(self) -> SpooledContent:
        return SpooledContent(self.path, "sha256:" + self._hash.hexdigest(), self._size)


def _remove_if_abandoned(directory: str) -> None:
    try:
        with open(os.path.join(directory, ".lock"), "rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except FileNotFoundError:
        pass  # no lock: a directory being set up right now, or not ours; left alone
    except OSError:
        return  # locked: its process is alive
    else:
        shutil.rmtree(directory, ignore_errors=True)


def discard(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
