"""Request validation with OCI's error codes; every message names the offending field."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ocids_emulator.api.data_science.shapes import SHAPES
from ocids_emulator.core.errors import ApiError, invalid, missing

MAX_ENV_CHARS = 20_000
MAX_ARGS_CHARS = 4_000
MIN_BLOCK_STORAGE_GB = 50
MAX_BLOCK_STORAGE_GB = 10_240
MAX_RUNTIME_MINUTES = 30 * 24 * 60
MAX_DISPLAY_NAME = 255
INFRA_TYPES = {"STANDALONE", "ME_STANDALONE", "MULTI_NODE", "EMPTY", "MANAGED_COMPUTE_CLUSTER"}
UPDATABLE_JOB_FIELDS = {
    "displayName",
    "description",
    "jobInfrastructureConfigurationDetails",
    "jobStorageMountConfigurationDetailsList",
    "freeformTags",
    "definedTags",
}
UPDATABLE_RUN_FIELDS = {"displayName", "freeformTags", "definedTags"}

LogGroupCheck = Callable[[str, str | None], None]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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


def check_display_name(body: Mapping[str, Any]) -> None:
    name = body.get("displayName")
    if name is not None and (not isinstance(name, str) or not 1 <= len(name) <= MAX_DISPLAY_NAME):
        raise invalid(f"displayName must be a string of 1 to {MAX_DISPLAY_NAME} characters")


def check_tags(body: Mapping[str, Any]) -> None:
    free = body.get("freeformTags")
    if free is not None and (
        not isinstance(free, dict) or not all(isinstance(v, str) for v in free.values())
    ):
        raise invalid("freeformTags must be an object of string values")
    defined = body.get("definedTags")
    if defined is not None and (
        not isinstance(defined, dict) or not all(isinstance(v, dict) for v in defined.values())
    ):
        raise invalid("definedTags must be an object of namespaces to objects")


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


def check_job_configuration(cfg: Any, field: str) -> None:
    cfg = require_object(cfg, field)
    if cfg.get("jobType") != "DEFAULT":
        raise invalid(f"{field}.jobType must be DEFAULT")
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
    runtime = cfg.get("maximumRuntimeInMinutes")
    if runtime is not None and (
        not isinstance(runtime, int) or isinstance(runtime, bool) or not 1 <= runtime <= MAX_RUNTIME_MINUTES
    ):
        raise invalid(f"{field}.maximumRuntimeInMinutes must be an integer from 1 to {MAX_RUNTIME_MINUTES}")


def check_shape(infra: dict[str, Any], field: str) -> None:
    name = require_string(infra, "shapeName", f"{field}.shapeName")
    shape = SHAPES.get(name)
    if shape is None:
        raise invalid(f"{field}.shapeName {name!r} is not a supported job shape")
    config = infra.get("jobShapeConfigDetails")
    if not shape.flex:
        if config:
            raise invalid(f"{field}.jobShapeConfigDetails is only allowed with a flexible shape, not {name}")
        return
    if config is None:
        raise missing(f"{field}.jobShapeConfigDetails (required for flexible shape {name})")
    config = require_object(config, f"{field}.jobShapeConfigDetails")
    ocpus = config.get("ocpus")
    if ocpus is None:
        raise missing(f"{field}.jobShapeConfigDetails.ocpus")
    if not _is_number(ocpus) or not shape.min_ocpus <= ocpus <= shape.max_ocpus:
        raise invalid(
            f"{field}.jobShapeConfigDetails.ocpus must be from {shape.min_ocpus:g} to "
            f"{shape.max_ocpus:g} for {name}"
        )
    memory = config.get("memoryInGBs")
    if memory is not None:
        low = ocpus * shape.min_memory_per_ocpu
        high = min(ocpus * shape.max_memory_per_ocpu, shape.max_memory_gb)
        if not _is_number(memory) or not low <= memory <= high:
            raise invalid(
                f"{field}.jobShapeConfigDetails.memoryInGBs must be from {low:g} to {high:g} GB "
                f"for {ocpus:g} OCPUs of {name}"
            )


def check_infrastructure(infra: Any, field: str) -> None:
    infra = require_object(infra, field)
    kind = infra.get("jobInfrastructureType")
    if kind not in INFRA_TYPES:
        raise invalid(f"{field}.jobInfrastructureType must be one of {', '.join(sorted(INFRA_TYPES))}")
    if kind in {"STANDALONE", "ME_STANDALONE"}:
        check_shape(infra, field)
        if kind == "STANDALONE":
            require_string(infra, "subnetId", f"{field}.subnetId")
        size = infra.get("blockStorageSizeInGBs")
        if size is None:
            raise missing(f"{field}.blockStorageSizeInGBs")
        if not isinstance(size, int) or isinstance(size, bool):
            raise invalid(f"{field}.blockStorageSizeInGBs must be an integer")
        if not MIN_BLOCK_STORAGE_GB <= size <= MAX_BLOCK_STORAGE_GB:
            raise invalid(
                f"{field}.blockStorageSizeInGBs must be from {MIN_BLOCK_STORAGE_GB} to {MAX_BLOCK_STORAGE_GB}"
            )


def check_environment(env: Any, field: str) -> None:
    env = require_object(env, field)
    if env.get("jobEnvironmentType") != "OCIR_CONTAINER":
        raise invalid(f"{field}.jobEnvironmentType must be OCIR_CONTAINER")
    require_string(env, "image", f"{field}.image")
    for key in ("cmd", "entrypoint"):
        value = env.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise invalid(f"{field}.{key} must be a list of strings")


def check_log_configuration(log: Any, field: str, check_log_group: LogGroupCheck) -> None:
    log = require_object(log, field)
    if not log.get("enableLogging"):
        return
    group = log.get("logGroupId")
    if not group:
        raise missing(f"{field}.logGroupId")
    if not log.get("enableAutoLogCreation") and not log.get("logId"):
        raise missing(f"{field}.logId (or enableAutoLogCreation)")
    check_log_group(group, log.get("logId"))


def check_create_job(body: dict[str, Any], check_log_group: LogGroupCheck) -> None:
    require_string(body, "compartmentId", "compartmentId")
    require_string(body, "projectId", "projectId")
    check_display_name(body)
    check_tags(body)
    if body.get("jobConfigurationDetails") is None:
        raise missing("jobConfigurationDetails")
    check_job_configuration(body["jobConfigurationDetails"], "jobConfigurationDetails")
    if body.get("jobInfrastructureConfigurationDetails") is None:
        raise missing("jobInfrastructureConfigurationDetails")
    check_infrastructure(
        body["jobInfrastructureConfigurationDetails"], "jobInfrastructureConfigurationDetails"
    )
    if body.get("jobEnvironmentConfigurationDetails") is not None:
        check_environment(body["jobEnvironmentConfigurationDetails"], "jobEnvironmentConfigurationDetails")
    if body.get("jobLogConfigurationDetails") is not None:
        check_log_configuration(
            body["jobLogConfigurationDetails"], "jobLogConfigurationDetails", check_log_group
        )


def _check_update(body: dict[str, Any], updatable: set[str], what: str) -> None:
    fixed = sorted(set(body) - updatable)
    if fixed:
        raise invalid(f"These fields cannot be updated on an existing {what}: {', '.join(fixed)}")
    check_display_name(body)
    check_tags(body)


def check_update_job(body: dict[str, Any]) -> None:
    _check_update(body, UPDATABLE_JOB_FIELDS, "job")
    if body.get("jobInfrastructureConfigurationDetails") is not None:
        check_infrastructure(
            body["jobInfrastructureConfigurationDetails"], "jobInfrastructureConfigurationDetails"
        )


def check_update_run(body: dict[str, Any]) -> None:
    _check_update(body, UPDATABLE_RUN_FIELDS, "job run")


def check_create_run(body: dict[str, Any], check_log_group: LogGroupCheck) -> None:
    for key in ("jobId", "compartmentId", "projectId"):
        require_string(body, key, key)
    check_display_name(body)
    check_tags(body)
    if body.get("jobConfigurationOverrideDetails") is not None:
        check_job_configuration(body["jobConfigurationOverrideDetails"], "jobConfigurationOverrideDetails")
    if body.get("jobInfrastructureConfigurationOverrideDetails") is not None:
        check_infrastructure(
            body["jobInfrastructureConfigurationOverrideDetails"],
            "jobInfrastructureConfigurationOverrideDetails",
        )
    if body.get("jobEnvironmentConfigurationOverrideDetails") is not None:
        check_environment(
            body["jobEnvironmentConfigurationOverrideDetails"], "jobEnvironmentConfigurationOverrideDetails"
        )
    if body.get("jobLogConfigurationOverrideDetails") is not None:
        check_log_configuration(
            body["jobLogConfigurationOverrideDetails"], "jobLogConfigurationOverrideDetails", check_log_group
        )


__all__ = ["ApiError"]
