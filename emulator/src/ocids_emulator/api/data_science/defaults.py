"""Values OCI fills in when a create or update leaves them out, so reads show what the service chose.

Neither default is in the shared reference; both are documented as unverified in the README.
"""

from __future__ import annotations

from typing import Any

from ocids_emulator.api.data_science.shapes import SHAPES

DEFAULT_MOUNT_PATH = "/mnt"
# Request fields holding an infrastructure block or a storage mount list (job, update, run override).
INFRASTRUCTURE_FIELDS = (
    "jobInfrastructureConfigurationDetails",
    "jobInfrastructureConfigurationOverrideDetails",
)
MOUNT_FIELDS = ("jobStorageMountConfigurationDetailsList", "jobStorageMountConfigurationOverrideDetailsList")


def with_defaults(body: dict[str, Any]) -> dict[str, Any]:
    """A copy of a validated request body with the service's defaults filled in.

    A copy, because the retry token remembers the body as the client sent it.
    """
    filled = dict(body)
    for key in INFRASTRUCTURE_FIELDS:
        if isinstance(filled.get(key), dict):
            filled[key] = _infrastructure(filled[key])
    for key in MOUNT_FIELDS:
        if isinstance(filled.get(key), list):
            filled[key] = [_mount(m) for m in filled[key]]
    return filled


def _infrastructure(infra: dict[str, Any]) -> dict[str, Any]:
    shape = SHAPES.get(infra.get("shapeName") or "")
    config = infra.get("jobShapeConfigDetails")
    if (
        shape is None
        or not shape.flex
        or not isinstance(config, dict)
        or config.get("memoryInGBs") is not None
    ):
        return infra
    ocpus = config.get("ocpus")
    if not isinstance(ocpus, int | float):
        return infra
    memory = min(ocpus * shape.default_memory_per_ocpu, shape.max_memory_gb)
    return {**infra, "jobShapeConfigDetails": {**config, "memoryInGBs": float(memory)}}


def _mount(mount: Any) -> Any:
    if not isinstance(mount, dict) or mount.get("destinationPath"):
        return mount
    return {**mount, "destinationPath": DEFAULT_MOUNT_PATH}
