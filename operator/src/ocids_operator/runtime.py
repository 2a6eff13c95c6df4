"""Everything a handler needs, built once at start-up and handed to handlers through kopf's memo."""

from __future__ import annotations

import asyncio
import dataclasses
import weakref

from .adapters.artifact_fetch import ArtifactFetcher
from .adapters.kube import KubeClient
from .adapters.object_storage import ObjectReader
from .adapters.oci_client import DataScience
from .settings import OperatorSettings
from .workflows.run_poller import RunPoller
from .workflows.run_status_writer import RunStatusWriter


@dataclasses.dataclass
class Runtime:
    settings: OperatorSettings
    oci: DataScience
    kube: KubeClient
    poller: RunPoller
    # `oci://` artifacts; None: such artifacts stall (nothing to read them with).
    objects: ObjectReader | None = None
    # `https://` artifacts (download slots, spool, conditional requests); None: a per-process default.
    artifacts: ArtifactFetcher | None = None
    # One lock per object uid: change handlers and the resync timer never reconcile at once. Held
    # weakly: a lock nobody holds or waits for is dropped, so objects the operator never sees
    # deleted (a finalizer removed by hand) do not pile up.
    _locks: weakref.WeakValueDictionary[str, asyncio.Lock] = dataclasses.field(
        default_factory=weakref.WeakValueDictionary
    )

    def lock(self, uid: str) -> asyncio.Lock:
        return self._locks.setdefault(uid, asyncio.Lock())

    def forget(self, uid: str) -> None:
        self._locks.pop(uid, None)

    @property
    def run_status(self) -> RunStatusWriter:
        return RunStatusWriter(self.kube)

    @property
    def region(self) -> str:
        return self.oci.region or self.settings.region or ""
