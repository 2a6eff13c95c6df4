"""Validation of the blocks a job, an update or a run is made of; every message names the field.

The request-level rules (which blocks a create needs) are in validation.py; the node configuration
of a multi-node job in validation_nodes.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ocids_emulator.api.data_science import shapes as shapes_module
from ocids_emulator.core.errors import invalid, missing

MAX_ENV_CHARS = 20_000
MAX_ARGS_CHARS = 4_000
MIN_BLOCK_STORAGE_GB = 50
MAX_BLOCK_STORAGE_GB = 10_240
MAX_RUNTIME_MINUTES = 30 * 24 * 60
MAX_MOUNTS = 5
DEFAULT_MOUNT_PATH = "/mnt"
CPU_BASELINES = ("BASELINE_1_8", "BASELINE_1_2", "BASELINE_1_1")
STORAGE_TYPES = {"OBJECT_STORAGE": ("namespace", "bucket"), "FILE_STORAGE": ("mountTargetId", "exportId")}
# Probe limits: OCI documents none; these are the operator's CRD bounds (design, section 1).
PROBE_LIMITS = {
    "periodInSeconds": (1, 3600),
    "failureThreshold": (1, 100),
    "initialDelayInSeconds": (0, 3600),
}
MAX_PROBE_COMMAND = 20
# registry[:port]/repo[/more][:tag][@sha256:<64 hex>], as docker reference grammar spells it.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REFERENCE = re.compile(
    rf"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?/{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)
IMAGE_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")

ComputeTargetCheck = Callable[[str, str], object]


def _default_compute_target(_target_id: str, _field: str) -> object:
    return None


@dataclass(frozen=True)
class Catalog:
    """What validation looks up in the tenancy: its job shapes and compute targets."""

    shapes: Mapping[str, Any] = field(default_factory=lambda: shapes_module.SHAPES)
    compute_target: ComputeTargetCheck = _default_compute_target

    @classmethod
    def of(cls, emu: Any) -> Catalog:
        tenancy_shapes = getattr(shapes_module, "catalog", None)
        shapes = tenancy_shapes(emu) if tenancy_shapes is not None else shapes_module.SHAPES
        try:
            from ocids_emulator.api.data_science import compute_targets
        except ImportError:  # pragma: no cover - only while compute targets do not exist yet
            return cls(shapes)
        return cls(shapes, lambda target, where: compute_targets.require(emu, target, where))


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def require_object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"{field} must be an object")
    return value


def require_string(body: Mapping[str, Any], key: str, field: str) -> str:
    value = body.get(key)
    if value is None or value == "":
        raise missing(field)
    if not isinstance(value, str):
        raise invalid(f"{field} must be a string")
    return value


def check_int(value: Any, field: str, low: int, high: int) -> None:
    if value is not None and (not is_int(value) or not low <= value <= high):
        raise invalid(f"{field} must be an integer from {low} to {high}")


def check_ocid(value: Any, field: str) -> None:
    if value is not None and (not isinstance(value, str) or not value.startswith("ocid1.")):
        raise invalid(f"{field} must be an OCID (ocid1....)")


def env_chars(env: Mapping[str, str]) -> int:
    return sum(len(k) + len(v) for k, v in env.items())


def check_env(env: Any, field: str) -> dict[str, str]:
    if env is None:
        return {}
    if not isinstance(env, dict) or not all(isinstance(k, str) and k for k in env):
        raise invalid(f"{field} must be an object of variable names to strings")
    for key, value in env.items():
        if not isinstance(value, str):
            raise invalid(f"{field}.{key} must be a string")
    if env_chars(env) > MAX_ENV_CHARS:
        raise invalid(f"{field} exceed {MAX_ENV_CHARS} characters in total (names plus values)")
    return env


# job configuration ---------------------------------------------------------------------------
def check_job_configuration(cfg: Any, field: str) -> None:
    cfg = require_object(cfg, field)
    kind = cfg.get("jobType")
    if kind == "EMPTY":
        extra = sorted(k for k, v in cfg.items() if k != "jobType" and v is not None)
        if extra:
            raise invalid(
                f"{field}: an EMPTY job configuration takes no other fields, got {', '.join(extra)}"
            )
        return
    if kind != "DEFAULT":
        raise invalid(f"{field}.jobType must be DEFAULT or EMPTY")
    env = check_env(cfg.get("environmentVariables"), f"{field}.environmentVariables")
    conda_type = env.get("CONDA_ENV_TYPE")
    if conda_type is not None and conda_type not in ("service", "published"):
        raise invalid(f"{field}.environmentVariables.CONDA_ENV_TYPE must be service or published")
    if conda_type is not None and not env.get("CONDA_ENV_SLUG") and not env.get("CONDA_ENV_OBJECT_NAME"):
        raise missing(f"{field}.environmentVariables.CONDA_ENV_SLUG (required with CONDA_ENV_TYPE)")
    args = cfg.get("commandLineArguments")
    if args is not None:
        if not isinstance(args, str):
            raise invalid(f"{field}.commandLineArguments must be a string")
        if len(args) > MAX_ARGS_CHARS:
            raise invalid(f"{field}.commandLineArguments exceeds {MAX_ARGS_CHARS} characters")
    check_int(cfg.get("maximumRuntimeInMinutes"), f"{field}.maximumRuntimeInMinutes", 1, MAX_RUNTIME_MINUTES)
    if cfg.get("startupProbeDetails") is not None:
        check_startup_probe(cfg["startupProbeDetails"], f"{field}.startupProbeDetails")


def check_startup_probe(probe: Any, field: str) -> None:
    probe = require_object(probe, field)
    if probe.get("jobProbeCheckType") != "EXEC":
        raise invalid(f"{field}.jobProbeCheckType must be EXEC")
    command = probe.get("command")
    if command is None or command == []:
        raise missing(f"{field}.command")
    if (
        not isinstance(command, list)
        or not all(isinstance(part, str) and part for part in command)
        or len(command) > MAX_PROBE_COMMAND
    ):
        raise invalid(f"{field}.command must be a list of 1 to {MAX_PROBE_COMMAND} non-empty strings")
    for key, (low, high) in PROBE_LIMITS.items():
        check_int(probe.get(key), f"{field}.{key}", low, high)


# infrastructure ------------------------------------------------------------------------------
def check_shape(infra: dict[str, Any], field: str, catalog: Catalog) -> None:
    name = require_string(infra, "shapeName", f"{field}.shapeName")
    shape = catalog.shapes.get(name)
    if shape is None:
        raise invalid(f"{field}.shapeName {name!r} is not a supported job shape")
    config = infra.get("jobShapeConfigDetails")
    if not getattr(shape, "flex", False):
        if config:
            raise invalid(f"{field}.jobShapeConfigDetails is only allowed with a flexible shape, not {name}")
        return
    if config is None:
        raise missing(f"{field}.jobShapeConfigDetails (required for flexible shape {name})")
    config = require_object(config, f"{field}.jobShapeConfigDetails")
    ocpus = config.get("ocpus")
    if ocpus is None:
        raise missing(f"{field}.jobShapeConfigDetails.ocpus")
    min_ocpus = getattr(shape, "min_ocpus", 1)
    max_ocpus = getattr(shape, "max_ocpus", 0) or float("inf")
    if not is_number(ocpus) or not min_ocpus <= ocpus <= max_ocpus:
        raise invalid(
            f"{field}.jobShapeConfigDetails.ocpus must be from {min_ocpus:g} to {max_ocpus:g} for {name}"
        )
    memory = config.get("memoryInGBs")
    if memory is not None:
        low = ocpus * getattr(shape, "min_memory_per_ocpu", 1)
        high = ocpus * getattr(shape, "max_memory_per_ocpu", 64)
        high = min(high, getattr(shape, "max_memory_gb", 0) or high)
        if not is_number(memory) or not low <= memory <= high:
            raise invalid(
                f"{field}.jobShapeConfigDetails.memoryInGBs must be from {low:g} to {high:g} GB "
                f"for {ocpus:g} OCPUs of {name}"
            )
    baseline = config.get("cpuBaseline")
    if baseline is not None and baseline not in CPU_BASELINES:
        raise invalid(f"{field}.jobShapeConfigDetails.cpuBaseline must be one of {', '.join(CPU_BASELINES)}")


def check_block_storage(infra: dict[str, Any], field: str) -> None:
    size = infra.get("blockStorageSizeInGBs")
    if size is None:
        raise missing(f"{field}.blockStorageSizeInGBs")
    if not is_int(size):
        raise invalid(f"{field}.blockStorageSizeInGBs must be an integer")
    if not MIN_BLOCK_STORAGE_GB <= size <= MAX_BLOCK_STORAGE_GB:
        raise invalid(
            f"{field}.blockStorageSizeInGBs must be from {MIN_BLOCK_STORAGE_GB} to {MAX_BLOCK_STORAGE_GB}"
        )


def check_standalone(infra: dict[str, Any], field: str, catalog: Catalog) -> None:
    check_shape(infra, field, catalog)
    if infra["jobInfrastructureType"] == "STANDALONE":
        require_string(infra, "subnetId", f"{field}.subnetId")
    check_block_storage(infra, field)
    check_ocid(infra.get("capacityReservationId"), f"{field}.capacityReservationId")


def check_multi_node_infrastructure(infra: dict[str, Any], field: str, catalog: Catalog) -> None:
    check_shape(infra, field, catalog)
    check_block_storage(infra, field)
    reservations = infra.get("capacityReservationIds")
    if reservations is not None:
        if not isinstance(reservations, list):
            raise invalid(f"{field}.capacityReservationIds must be a list of OCIDs")
        for i, reservation in enumerate(reservations):
            check_ocid(reservation, f"{field}.capacityReservationIds[{i}]")


def check_compute_cluster(infra: dict[str, Any], field: str, catalog: Catalog) -> None:
    for key in ("shapeName", "jobShapeConfigDetails", "subnetId", "blockStorageSizeInGBs"):
        if infra.get(key) is not None:
            raise invalid(f"{field}.{key} is not allowed with MANAGED_COMPUTE_CLUSTER (the target decides)")
    target = require_string(infra, "computeTargetId", f"{field}.computeTargetId")
    check_ocid(target, f"{field}.computeTargetId")
    catalog.compute_target(target, f"{field}.computeTargetId")
    # The SDK marks resourceConfiguration, its request block, and ocpus and memoryInGBs of each block
    # required: a run on a compute target is sized by them.
    resources = infra.get("resourceConfiguration")
    if resources is None:
        raise missing(f"{field}.resourceConfiguration")
    resources = require_object(resources, f"{field}.resourceConfiguration")
    if resources.get("resourceRequestConfiguration") is None:
        raise missing(f"{field}.resourceConfiguration.resourceRequestConfiguration")
    parts = {
        "resourceRequestConfiguration": ("ocpus", "memoryInGBs", "gpus"),
        "resourceLimitConfiguration": ("ocpus", "memoryInGBs"),
    }
    for part, keys in parts.items():
        block = resources.get(part)
        if block is None:
            continue
        where = f"{field}.resourceConfiguration.{part}"
        block = require_object(block, where)
        for key in ("ocpus", "memoryInGBs"):
            if block.get(key) is None:
                raise missing(f"{where}.{key}")
        for key in keys:
            value = block.get(key)
            wrong = not is_int(value) if key == "gpus" else not is_number(value)
            if value is not None and (wrong or value <= 0):
                raise invalid(f"{where}.{key} must be a number greater than 0")


def check_infrastructure(infra: Any, field: str, catalog: Catalog | None = None) -> None:
    """A single-node job's (or a run override's) infrastructure."""
    catalog = catalog or Catalog()
    infra = require_object(infra, field)
    kind = infra.get("jobInfrastructureType")
    if kind in ("STANDALONE", "ME_STANDALONE"):
        check_standalone(infra, field, catalog)
    elif kind == "MANAGED_COMPUTE_CLUSTER":
        check_compute_cluster(infra, field, catalog)
    elif kind == "MULTI_NODE":
        raise invalid(
            f"{field}.jobInfrastructureType MULTI_NODE belongs in the node groups of "
            "jobNodeConfigurationDetails"
        )
    elif kind == "EMPTY":
        raise invalid(f"{field}.jobInfrastructureType EMPTY is only allowed with jobNodeConfigurationDetails")
    else:
        raise invalid(
            f"{field}.jobInfrastructureType must be one of EMPTY, ME_STANDALONE, MANAGED_COMPUTE_CLUSTER, "
            "MULTI_NODE, STANDALONE"
        )


# container environment -----------------------------------------------------------------------
def check_environment(env: Any, field: str) -> None:
    env = require_object(env, field)
    if env.get("jobEnvironmentType") != "OCIR_CONTAINER":
        raise invalid(f"{field}.jobEnvironmentType must be OCIR_CONTAINER")
    image = require_string(env, "image", f"{field}.image")
    if not IMAGE_REFERENCE.match(image):
        raise invalid(
            f"{field}.image {image!r} is not an image reference (registry/repository[:tag][@sha256:<64 hex>])"
        )
    for key in ("cmd", "entrypoint"):
        value = env.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise invalid(f"{field}.{key} must be a list of strings")
    digest = env.get("imageDigest")
    if digest is not None and (not isinstance(digest, str) or not IMAGE_DIGEST.match(digest)):
        raise invalid(f"{field}.imageDigest must be sha256:<64 lowercase hex digits>")
    check_ocid(env.get("imageSignatureId"), f"{field}.imageSignatureId")


# storage mounts ------------------------------------------------------------------------------
def mount_target_path(mount: Mapping[str, Any]) -> str:
    """Where a mount appears in the run: destinationPath (default /mnt) / destinationDirectoryName."""
    # Normalized as the launcher mounts it (/mnt/./x and /mnt/x are one place).
    base = mount.get("destinationPath") or DEFAULT_MOUNT_PATH
    return str(PurePosixPath(str(base)) / str(mount.get("destinationDirectoryName")))


def check_mounts(mounts: Any, field: str) -> None:
    if not isinstance(mounts, list):
        raise invalid(f"{field} must be a list")
    if len(mounts) > MAX_MOUNTS:
        raise invalid(f"{field} allows at most {MAX_MOUNTS} storage mounts, got {len(mounts)}")
    seen: dict[str, int] = {}
    for i, mount in enumerate(mounts):
        where = f"{field}[{i}]"
        mount = require_object(mount, where)
        kind = mount.get("storageType")
        if kind not in STORAGE_TYPES:
            raise invalid(f"{where}.storageType must be OBJECT_STORAGE or FILE_STORAGE")
        name = require_string(mount, "destinationDirectoryName", f"{where}.destinationDirectoryName")
        if "/" in name or name in (".", ".."):
            raise invalid(f"{where}.destinationDirectoryName must be one folder name, not {name!r}")
        path = mount.get("destinationPath")
        if path is not None and (
            not isinstance(path, str) or not path.startswith("/") or ".." in path.split("/")
        ):
            raise invalid(f"{where}.destinationPath must be an absolute path, not {path!r}")
        for key in STORAGE_TYPES[kind]:
            require_string(mount, key, f"{where}.{key}")
        target = mount_target_path(mount)
        if target in seen:
            raise invalid(f"{where} mounts at {target}, as {field}[{seen[target]}] does")
        seen[target] = i
