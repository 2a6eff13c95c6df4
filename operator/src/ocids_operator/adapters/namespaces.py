"""Namespace annotations, the admins' word on what a namespace may use (compartments, identity).

Read through the operator's own Kubernetes client and cached for a short time: an admin's edit of
an annotation takes effect within `ttl` seconds (the run poll interval by default), while a busy
namespace costs one GET per `ttl`, not one per reconcile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from .kube import KubeClient


class NamespaceDirectory:
    def __init__(
        self, kube: KubeClient, ttl: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._kube = kube
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, str]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def annotations(self, namespace: str) -> dict[str, str]:
        """The namespace's annotations ({} for a namespace that does not exist). Raises KubeError."""
        cached = self._fresh(namespace)
        if cached is not None:
            return dict(cached)
        # One read per namespace at a time: many objects of a namespace reconciled together wait for it.
        async with self._locks.setdefault(namespace, asyncio.Lock()):
            cached = self._fresh(namespace)
            if cached is None:
                body = await self._kube.request("GET", f"/api/v1/namespaces/{namespace}")
                raw = ((body or {}).get("metadata") or {}).get("annotations") or {}
                cached = {str(key): str(value) for key, value in raw.items()}
                self._cache[namespace] = (self._clock(), cached)
            return dict(cached)

    def _fresh(self, namespace: str) -> dict[str, str] | None:
        entry = self._cache.get(namespace)
        if entry is None or self._clock() - entry[0] >= self._ttl:
            return None
        return entry[1]
