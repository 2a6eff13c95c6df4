"""Kueue's Workloads (kueue.x-k8s.io/v1beta2) through the operator's Kubernetes session.

Whether Kueue is installed is one discovery GET, remembered for a minute: a cluster without Kueue
costs a labelled run one read a minute, an unlabelled run none.
"""

from __future__ import annotations

import time
from typing import Any

from ..core.kueue_workload import GROUP, PRIORITY_CLASSES, VERSION, WORKLOADS
from .kube import KubeClient, KubeError

INSTALLED_TTL_SECONDS = 60.0
FIELD_MANAGER = "ocids-operator"
# kube client id -> (when looked, why not usable: None when it is)
_installed: dict[int, tuple[float, str | None]] = {}


class KueueApi:
    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube

    def _path(self, namespace: str, name: str | None = None) -> str:
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{WORKLOADS}"
        return f"{path}/{name}" if name else path

    async def installed(self) -> bool:
        """The Workload API is served (Kueue's CRDs are installed)."""
        return await self.missing() is None

    async def missing(self) -> str | None:
        """Why Kueue cannot be used, for a message (not installed, or too old to serve v1beta2);
        None when the Workload API is served."""
        key = id(self._kube)
        seen = _installed.get(key)
        if seen is not None and time.monotonic() - seen[0] < INSTALLED_TTL_SECONDS:
            return seen[1]
        listing = await self._kube.request("GET", f"/apis/{GROUP}/{VERSION}")
        problem = None
        if not any(r.get("name") == WORKLOADS for r in (listing or {}).get("resources") or []):
            group = await self._kube.request("GET", f"/apis/{GROUP}")
            served = [str(v.get("version")) for v in (group or {}).get("versions") or []]
            problem = (
                f"the installed Kueue serves {GROUP} {', '.join(served)}, not {VERSION} (upgrade Kueue: "
                "the operator makes v1beta2 Workloads; v0.17 is tested)"
                if served
                else f"Kueue is not installed (no {GROUP} Workload API)"
            )
        _installed[key] = (time.monotonic(), problem)
        return problem

    async def priority_value(self, name: str) -> int | None:
        """A WorkloadPriorityClass's value; None when there is no such class."""
        found = await self._kube.request("GET", f"/apis/{GROUP}/{VERSION}/{PRIORITY_CLASSES}/{name}")
        return int(found["value"]) if found and "value" in found else None

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._kube.request("GET", self._path(namespace, name))  # type: ignore[no-any-return]

    async def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Create it; when one of that name exists already, that one."""
        try:
            return await self._kube.request("POST", self._path(namespace), body)  # type: ignore[no-any-return]
        except KubeError as exc:
            if exc.status != 409:
                raise
        return await self.get(namespace, str(body["metadata"]["name"]))

    async def delete(self, namespace: str, name: str, uid: str) -> None:
        """Delete this Workload (only the one with this uid; gone already is fine)."""
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid}}
        try:
            await self._kube.request("DELETE", self._path(namespace, name), options)
        except KubeError as exc:
            if exc.status != 409:
                raise

    async def set_condition(self, namespace: str, name: str, condition: dict[str, Any]) -> bool:
        """Set one status condition by server-side apply, under the operator's own field manager:
        conditions are a list keyed by type, so Kueue's own conditions are left as they are.
        False when the Workload is gone."""
        path = f"{self._path(namespace, name)}/status?fieldManager={FIELD_MANAGER}&force=true"
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Workload",
            "metadata": {"name": name, "namespace": namespace},
            "status": {"conditions": [condition]},
        }
        done = await self._kube.request("PATCH", path, body, content_type="application/apply-patch+yaml")
        return done is not None
