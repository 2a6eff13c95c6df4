"""Values OCI fills in when a create or update leaves them out, so reads show what the service chose.

Neither default is in the shared reference; both are documented as unverified in the README.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ocids_emulator.api.data_science.shapes import SHAPES
from ocids_emulator.api.data_science.validation_blocks import DEFAULT_MOUNT_PATH

# Request fields holding an infrastructure block or a storage mount list (job, update, run override).
INFRASTRUCTURE_FIELDS = (
    "jobInfrastructureConfigurationDetails",
    "jobInfrastructureConfigurationOverrideDetails",
)
NODE_FIELDS = ("jobNodeConfigurationDetails", "jobNodeConfigurationOverrideDetails")
MOUNT_FIELDS = ("jobStorageMountConfigurationDetailsList", "jobStorageMountConfigurationOverrideDetailsList")


def with_defaults(body: dict[str, Any], shapes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A copy of a validated request body with the service's defaults filled in.

    A copy, because the retry token remembers the body as the client sent it. ``shapes`` is the
    tenancy's catalog (default: the built-in one).
    """
    catalog = SHAPES if shapes is None else shapes
    filled = dict(body)
    for key in INFRASTRUCTURE_FIELDS:
        if isinstance(filled.get(key), dict):
            filled[key] = _infrastructure(filled[key], catalog)
    for key in NODE_FIELDS:
        if isinstance(filled.get(key), dict):
            filled[key] = _node_configuration(filled[key], catalog)
    for key in MOUNT_FIELDS:
        if isinstance(filled.get(key), list):
            filled[key] = [_mount(m) for m in filled[key]]
    return filled


def _node_configuration(node: dict[str, Any], catalog: Mapping[str, Any]) -> dict[str, Any]:
    groups = node.get("jobNodeGroupConfigurationDetailsList")
    if not isinstance(groups, list):
        return node
    filled = []
    for group in groups:
        infra = group.get("jobInfrastructureConfigurationDetails") if isinstance(group, dict) else None
        if isinstance(infra, dict):
            group = {**group, "jobInfrastructureConfigurationDetails": _infrastructure(infra, catalog)}
        filled.append(group)
    return {**node, "jobNodeGroupConfigurationDetailsList": filled}


def _infrastructure(infra: dict[str, Any], catalog: Mapping[str, Any]) -> dict[str, Any]:
    shape = catalog.get(infra.get("shapeName") or "")
    config = infra.get("jobShapeConfigDetails")
    if (
        shape is None
        or not getattr(shape, "flex", False)
        or not isinstance(config, dict)
        or config.get("memoryInGBs") is not None
    ):
        return infra
    ocpus = config.get("ocpus")
    if not isinstance(ocpus, int | float):
        return infra
    memory = ocpus * shape.default_memory_per_ocpu
    if getattr(shape, "max_memory_gb", 0):
        memory = min(memory, shape.max_memory_gb)
    return {**infra, "jobShapeConfigDetails": {**config, "memoryInGBs": float(memory)}}


def _mount(mount: Any) -> Any:
    if not isinstance(mount, dict) or mount.get("destinationPath"):
        return mount
    return {**mount, "destinationPath": DEFAULT_MOUNT_PATH}
