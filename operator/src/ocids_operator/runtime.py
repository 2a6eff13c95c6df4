"""Everything a handler needs, built once at start-up and handed to handlers through kopf's memo."""

from __future__ import annotations

import asyncio
import dataclasses
import weakref
from typing import Any

from .adapters.artifact_fetch import ArtifactFetcher
from .adapters.kube import KubeClient
from .adapters.namespaces import NamespaceDirectory
from .adapters.object_storage import ObjectReader
from .adapters.oci_client import DataScience
from .adapters.oci_identities import OPERATOR, Identities, IdentityKey
from .settings import OperatorSettings
from .workflows.budget_book import BudgetBook
from .workflows.run_ledger import RunLedger
from .workflows.run_poller import RunPoller
from .workflows.run_status_writer import RunStatusWriter
from .workflows.run_wakeup import RunWaker

MAX_REMEMBERED_IDENTITIES = 100_000


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
    # Namespace annotations (allowed compartments, identity); None: no namespace is annotated.
    namespaces: NamespaceDirectory | None = None
    # Per-namespace OCI identities (adapters/oci_identities.py); None: the operator's own for all.
    identities: Identities | None = None
    # Whose identity `oci` and `objects` are (a view made by `scoped`).
    identity: IdentityKey = OPERATOR
    # Every TrainingJobRun, from a watch-fed index: what caps, budgets and Kueue gates count.
    ledger: RunLedger = dataclasses.field(default_factory=RunLedger)
    # Starts held runs as soon as a place frees up (workflows/run_wakeup.py).
    waker: RunWaker = dataclasses.field(default_factory=RunWaker)
    # The namespaces' TrainingBudgets and TrainingJob labels, from watch-fed indexes: what the budget
    # gate reads.
    budgets: BudgetBook = dataclasses.field(default_factory=BudgetBook)
    # One lock per object uid: change handlers and the resync timer never reconcile at once. Held
    # weakly: a lock nobody holds or waits for is dropped, so objects the operator never sees
    # deleted (a finalizer removed by hand) do not pile up.
    _locks: weakref.WeakValueDictionary[str, asyncio.Lock] = dataclasses.field(
        default_factory=weakref.WeakValueDictionary
    )
    # Which identity each object last used, for the principal NotAuthorized messages name.
    _identity_of: dict[str, IdentityKey] = dataclasses.field(default_factory=dict)

    def lock(self, uid: str) -> asyncio.Lock:
        return self._locks.setdefault(uid, asyncio.Lock())

    def forget(self, uid: str) -> None:
        self._locks.pop(uid, None)
        self._identity_of.pop(uid, None)

    async def scoped(self, uid: str, namespace: str, service_account: str | None = None) -> Runtime:
        """This runtime as the object `uid` of `namespace` sees it: OCI through its identity.
        Raises ReconcileError when the namespace may not work (see Identities.key_for)."""
        if self.identities is None:
            return self
        key = await self.identities.key_for(namespace, service_account)
        identity = await self.identities.get(key)
        self._identity_of[uid] = key
        while len(self._identity_of) > MAX_REMEMBERED_IDENTITIES:
            self._identity_of.pop(next(iter(self._identity_of)))
        if key.is_operator:
            return self
        return dataclasses.replace(self, oci=identity.oci, objects=identity.objects, identity=key)

    def auth_of(self, uid: str) -> Any:
        """The SDK auth (principal, what to check) the object `uid` last used; None if unknown."""
        key = self._identity_of.get(uid)
        known = self.identities.known(key) if self.identities is not None and key is not None else None
        return getattr((known.oci if known is not None else self.oci), "auth", None)

    @property
    def run_status(self) -> RunStatusWriter:
        return RunStatusWriter(self.kube)

    @property
    def region(self) -> str:
        return self.oci.region or self.settings.region or ""
