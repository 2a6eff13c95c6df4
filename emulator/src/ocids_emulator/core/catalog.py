"""What the tenancy offers for jobs: shapes, fast-launch configs and compute targets.

tenancy.json keys ``jobShapes``, ``fastLaunchJobConfigs`` and ``computeTargets``; a tenancy.json
without one gets the built-in entries below (data folders made before they existed). Parsed once
at load (and by the admin PUT), so a malformed entry stops ``serve`` with a message naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The SDK's JobShapeSummary.shapeSeries / FastLaunchJobConfigSummary values.
SHAPE_SERIES = ("AMD_ROME", "INTEL_SKYLAKE", "NVIDIA_GPU", "GENERIC", "LEGACY", "ARM")
MANAGED_EGRESS_SUPPORT = ("REQUIRED", "SUPPORTED", "UNSUPPORTED")
COMPUTE_TARGET_STATES = ("CREATING", "ACTIVE", "DELETING", "DELETED", "FAILED", "UPDATING", "NEEDS_ATTENTION")
DEFAULT_COMPUTE_SHAPE = "VM.Standard.E4.Flex"


class CatalogError(ValueError):
    """A tenancy.json catalog entry the emulator cannot use (the message names it)."""


@dataclass(frozen=True)
class Shape:
    name: str
    cores: float
    memory_gb: float
    series: str
    flex: bool = False
    min_ocpus: float = 1
    max_ocpus: float = 0
    max_memory_gb: float = 0
    min_memory_per_ocpu: float = 1
    max_memory_per_ocpu: float = 64
    # What a flex shape gets when only ocpus are asked (Compute's defaultPerOcpuInGBs).
    default_memory_per_ocpu: float = 16

    def summary(self) -> dict[str, Any]:
        """The JobShapeSummary OCI lists."""
        return {
            "name": self.name,
            "coreCount": int(self.cores),
            "memoryInGBs": int(self.memory_gb),
            "shapeSeries": self.series,
        }

    def to_json(self) -> dict[str, Any]:
        """The tenancy.json entry (``flex`` limits only for flexible shapes)."""
        entry = self.summary()
        if self.flex:
            entry["flex"] = {
                "minOcpus": self.min_ocpus,
                "maxOcpus": self.max_ocpus,
                "maxMemoryInGBs": self.max_memory_gb,
                "minMemoryPerOcpuInGBs": self.min_memory_per_ocpu,
                "maxMemoryPerOcpuInGBs": self.max_memory_per_ocpu,
                "defaultMemoryPerOcpuInGBs": self.default_memory_per_ocpu,
            }
        return entry


def _flex(name: str, max_ocpus: float, max_mem: float, series: str, default_per_ocpu: float = 16) -> Shape:
    return Shape(
        name,
        1,
        16,
        series,
        flex=True,
        max_ocpus=max_ocpus,
        max_memory_gb=max_mem,
        default_memory_per_ocpu=default_per_ocpu,
    )


BUILTIN_SHAPES: tuple[Shape, ...] = (
    _flex("VM.Standard.E3.Flex", 64, 1024, "AMD_ROME"),
    _flex("VM.Standard.E4.Flex", 64, 1024, "AMD_ROME"),
    _flex("VM.Standard.E5.Flex", 94, 1049, "AMD_ROME"),
    _flex("VM.Standard3.Flex", 32, 512, "INTEL_SKYLAKE"),
    _flex("VM.Optimized3.Flex", 18, 256, "INTEL_SKYLAKE"),
    _flex("VM.Standard.A1.Flex", 80, 512, "ARM", default_per_ocpu=6),
    Shape("VM.Standard2.1", 1, 15, "INTEL_SKYLAKE"),
    Shape("VM.Standard2.2", 2, 30, "INTEL_SKYLAKE"),
    Shape("VM.Standard2.4", 4, 60, "INTEL_SKYLAKE"),
    Shape("VM.Standard2.8", 8, 120, "INTEL_SKYLAKE"),
    Shape("VM.Standard2.16", 16, 240, "INTEL_SKYLAKE"),
    Shape("VM.Standard2.24", 24, 320, "INTEL_SKYLAKE"),
    Shape("VM.Standard.E2.2", 2, 16, "AMD_ROME"),
    Shape("VM.Standard.E2.4", 4, 32, "AMD_ROME"),
    Shape("VM.Standard.E2.8", 8, 64, "AMD_ROME"),
    Shape("VM.GPU2.1", 12, 72, "NVIDIA_GPU"),
    Shape("VM.GPU3.1", 6, 90, "NVIDIA_GPU"),
    Shape("VM.GPU3.2", 12, 180, "NVIDIA_GPU"),
    Shape("VM.GPU3.4", 24, 360, "NVIDIA_GPU"),
    Shape("VM.GPU3.8", 52, 768, "NVIDIA_GPU"),
    Shape("VM.GPU.A10.1", 15, 240, "NVIDIA_GPU"),
    Shape("VM.GPU.A10.2", 30, 480, "NVIDIA_GPU"),
    Shape("BM.GPU.A10.4", 64, 1024, "NVIDIA_GPU"),
    Shape("BM.GPU4.8", 64, 2048, "NVIDIA_GPU"),
    Shape("BM.GPU.H100.8", 112, 2048, "NVIDIA_GPU"),
)

# Pools OCI keeps warm (unverified: which configs a region offers is not documented; these are
# plausible ones). A flexible shape's config fixes its OCPUs (coreCount) and memory.
BUILTIN_FAST_LAUNCH: tuple[dict[str, Any], ...] = (
    {
        "name": "E4.Flex-2-32",
        "shapeName": "VM.Standard.E4.Flex",
        "coreCount": 2,
        "memoryInGBs": 32,
        "shapeSeries": "AMD_ROME",
        "managedEgressSupport": "SUPPORTED",
    },
    {
        "name": "E4.Flex-4-64",
        "shapeName": "VM.Standard.E4.Flex",
        "coreCount": 4,
        "memoryInGBs": 64,
        "shapeSeries": "AMD_ROME",
        "managedEgressSupport": "SUPPORTED",
    },
    {
        "name": "A10.1",
        "shapeName": "VM.GPU.A10.1",
        "coreCount": 15,
        "memoryInGBs": 240,
        "shapeSeries": "NVIDIA_GPU",
        "managedEgressSupport": "REQUIRED",
    },
)


def builtin_shapes_json() -> list[dict[str, Any]]:
    return [s.to_json() for s in BUILTIN_SHAPES]


def _number(entry: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise CatalogError(f"{where}.{key} must be a non-negative number")
    return float(value)


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise CatalogError(f"{where}.{key} must be a non-empty string")
    return value


def _choice(entry: dict[str, Any], key: str, where: str, allowed: tuple[str, ...], default: str) -> str:
    value = entry.get(key, default)
    if value not in allowed:
        raise CatalogError(f"{where}.{key} must be one of {', '.join(allowed)}")
    return str(value)


def parse_shape(entry: Any, where: str) -> Shape:
    """One ``jobShapes`` entry: a JobShapeSummary (name, coreCount, memoryInGBs, shapeSeries) plus,
    for a flexible shape, its ``flex`` limits. A name ending in ``.Flex`` is flexible."""
    if not isinstance(entry, dict):
        raise CatalogError(f"{where} must be an object")
    name = _text(entry, "name", where)
    series = _choice(entry, "shapeSeries", where, SHAPE_SERIES, "GENERIC")
    flex = entry.get("flex")
    if flex is None and not name.endswith(".Flex"):
        return Shape(name, _number(entry, "coreCount", where), _number(entry, "memoryInGBs", where), series)
    limits = flex if isinstance(flex, dict) else {}
    if flex is not None and not isinstance(flex, dict):
        raise CatalogError(f"{where}.flex must be an object")
    at = f"{where}.flex"
    return Shape(
        name,
        _number(entry, "coreCount", where, 1),
        _number(entry, "memoryInGBs", where, 16),
        series,
        flex=True,
        min_ocpus=_number(limits, "minOcpus", at, 1),
        max_ocpus=_number(limits, "maxOcpus", at, 64),
        max_memory_gb=_number(limits, "maxMemoryInGBs", at, 1024),
        min_memory_per_ocpu=_number(limits, "minMemoryPerOcpuInGBs", at, 1),
        max_memory_per_ocpu=_number(limits, "maxMemoryPerOcpuInGBs", at, 64),
        default_memory_per_ocpu=_number(limits, "defaultMemoryPerOcpuInGBs", at, 16),
    )


def parse_shapes(raw: Any) -> dict[str, Shape]:
    """tenancy.json ``jobShapes`` (None: the built-in catalog), by name, in the order given."""
    if raw is None:
        return {s.name: s for s in BUILTIN_SHAPES}
    if not isinstance(raw, list):
        raise CatalogError("jobShapes must be a list")
    shapes: dict[str, Shape] = {}
    for i, entry in enumerate(raw):
        shape = parse_shape(entry, f"jobShapes[{i}]")
        if shape.name in shapes:
            raise CatalogError(f"jobShapes[{i}].name {shape.name!r} is listed twice")
        shapes[shape.name] = shape
    return shapes


def parse_fast_launch(raw: Any, shapes: dict[str, Shape]) -> list[dict[str, Any]]:
    """tenancy.json ``fastLaunchJobConfigs`` (None: the built-in ones whose shape the tenancy has):
    FastLaunchJobConfigSummary objects, each on a shape of the catalog."""
    if raw is None:
        return [dict(c) for c in BUILTIN_FAST_LAUNCH if c["shapeName"] in shapes]
    if not isinstance(raw, list):
        raise CatalogError("fastLaunchJobConfigs must be a list")
    configs: list[dict[str, Any]] = []
    for i, entry in enumerate(raw):
        where = f"fastLaunchJobConfigs[{i}]"
        if not isinstance(entry, dict):
            raise CatalogError(f"{where} must be an object")
        shape_name = _text(entry, "shapeName", where)
        shape = shapes.get(shape_name)
        if shape is None:
            raise CatalogError(f"{where}.shapeName {shape_name!r} is not in jobShapes")
        configs.append(
            {
                "name": _text(entry, "name", where),
                "shapeName": shape_name,
                "coreCount": int(_number(entry, "coreCount", where, shape.cores)),
                "memoryInGBs": int(_number(entry, "memoryInGBs", where, shape.memory_gb)),
                "shapeSeries": _choice(entry, "shapeSeries", where, SHAPE_SERIES, shape.series),
                "managedEgressSupport": _choice(
                    entry, "managedEgressSupport", where, MANAGED_EGRESS_SUPPORT, "SUPPORTED"
                ),
            }
        )
    names = [c["name"] for c in configs]
    if len(set(names)) != len(names):
        raise CatalogError("fastLaunchJobConfigs names must be unique")
    return configs


def parse_compute_targets(raw: Any, compartments: dict[str, str]) -> dict[str, dict[str, Any]]:
    """tenancy.json ``computeTargets``: ``[{id, compartmentId, displayName, lifecycleState,
    instanceShape?, ocpus?, memoryInGBs?, instanceCount?, timeCreated?}]`` by id (absent: none)."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise CatalogError("computeTargets must be a list")
    targets: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(raw):
        where = f"computeTargets[{i}]"
        if not isinstance(entry, dict):
            raise CatalogError(f"{where} must be an object")
        target_id = _text(entry, "id", where)
        compartment = _text(entry, "compartmentId", where)
        if compartments and compartment not in compartments:
            raise CatalogError(f"{where}.compartmentId {compartment!r} is not in compartments")
        targets[target_id] = {
            **entry,
            "displayName": entry.get("displayName") or "compute-target",
            "lifecycleState": _choice(entry, "lifecycleState", where, COMPUTE_TARGET_STATES, "ACTIVE"),
            "instanceShape": entry.get("instanceShape") or DEFAULT_COMPUTE_SHAPE,
        }
    return targets
