"""Request validation with OCI's error codes; every message names the offending field.

Which blocks each request needs is decided here; the blocks themselves are checked in
validation_blocks.py (single node, containers, mounts, probes) and validation_nodes.py (multi-node).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ocids_emulator.api.data_science.validation_blocks import (
    MAX_ARGS_CHARS,
    MAX_ENV_CHARS,
    Catalog,
    check_environment,
    check_infrastructure,
    check_job_configuration,
    check_mounts,
    env_chars,
    require_object,
    require_string,
)
from ocids_emulator.api.data_science.validation_nodes import check_node_configuration
from ocids_emulator.core.errors import ApiError, invalid, missing

MAX_DISPLAY_NAME = 255
NODE_CONFIGURATION = "jobNodeConfigurationDetails"
NODE_OVERRIDE = "jobNodeConfigurationOverrideDetails"
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


def _check_multi_node_top_level(body: Mapping[str, Any]) -> None:
    """With node groups, the top-level blocks are absent (what ADS sends) or EMPTY."""
    config = body.get("jobConfigurationDetails")
    if config is not None and require_object(config, "jobConfigurationDetails").get("jobType") != "EMPTY":
        raise invalid(
            "jobConfigurationDetails must be absent or EMPTY with jobNodeConfigurationDetails "
            "(each node group has its own jobConfigurationDetails)"
        )
    if config is not None:
        check_job_configuration(config, "jobConfigurationDetails")
    infra = body.get("jobInfrastructureConfigurationDetails")
    infra_type = (
        None
        if infra is None
        else require_object(infra, "jobInfrastructureConfigurationDetails").get("jobInfrastructureType")
    )
    if infra is not None and infra_type != "EMPTY":
        raise invalid(
            "jobInfrastructureConfigurationDetails must be absent or EMPTY with jobNodeConfigurationDetails "
            "(each node group has its own MULTI_NODE infrastructure)"
        )
    if infra is not None and len([v for v in infra.values() if v is not None]) > 1:
        raise invalid("jobInfrastructureConfigurationDetails: EMPTY infrastructure takes no other fields")


def check_create_job(
    body: dict[str, Any], check_log_group: LogGroupCheck, catalog: Catalog | None = None
) -> None:
    catalog = catalog or Catalog()
    require_string(body, "compartmentId", "compartmentId")
    require_string(body, "projectId", "projectId")
    check_display_name(body)
    check_tags(body)
    if body.get(NODE_CONFIGURATION) is not None:
        check_node_configuration(body[NODE_CONFIGURATION], NODE_CONFIGURATION, catalog)
        _check_multi_node_top_level(body)
    else:
        if body.get("jobConfigurationDetails") is None:
            raise missing("jobConfigurationDetails")
        check_job_configuration(body["jobConfigurationDetails"], "jobConfigurationDetails")
        if body.get("jobInfrastructureConfigurationDetails") is None:
            raise missing("jobInfrastructureConfigurationDetails")
        check_infrastructure(
            body["jobInfrastructureConfigurationDetails"], "jobInfrastructureConfigurationDetails", catalog
        )
    if body.get("jobEnvironmentConfigurationDetails") is not None:
        check_environment(body["jobEnvironmentConfigurationDetails"], "jobEnvironmentConfigurationDetails")
    if body.get("jobStorageMountConfigurationDetailsList") is not None:
        check_mounts(
            body["jobStorageMountConfigurationDetailsList"], "jobStorageMountConfigurationDetailsList"
        )
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


def check_update_job(
    body: dict[str, Any], catalog: Catalog | None = None, job: Mapping[str, Any] | None = None
) -> None:
    """An update; ``job`` (the stored job) lets a multi-node job refuse a top-level infrastructure."""
    _check_update(body, UPDATABLE_JOB_FIELDS, "job")
    infra = body.get("jobInfrastructureConfigurationDetails")
    if infra is not None:
        if job is not None and job.get(NODE_CONFIGURATION) is not None:
            raise invalid(
                "jobInfrastructureConfigurationDetails cannot be updated on a multi-node job "
                "(its node groups carry the infrastructure; jobNodeConfigurationDetails is fixed)"
            )
        check_infrastructure(infra, "jobInfrastructureConfigurationDetails", catalog)
    if body.get("jobStorageMountConfigurationDetailsList") is not None:
        check_mounts(
            body["jobStorageMountConfigurationDetailsList"], "jobStorageMountConfigurationDetailsList"
        )


def check_update_run(body: dict[str, Any]) -> None:
    _check_update(body, UPDATABLE_RUN_FIELDS, "job run")


def check_create_run(
    body: dict[str, Any], check_log_group: LogGroupCheck, catalog: Catalog | None = None
) -> None:
    catalog = catalog or Catalog()
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
            catalog,
        )
    if body.get(NODE_OVERRIDE) is not None:
        check_node_configuration(body[NODE_OVERRIDE], NODE_OVERRIDE, catalog)
    if body.get("jobEnvironmentConfigurationOverrideDetails") is not None:
        check_environment(
            body["jobEnvironmentConfigurationOverrideDetails"], "jobEnvironmentConfigurationOverrideDetails"
        )
    if body.get("jobStorageMountConfigurationOverrideDetailsList") is not None:
        check_mounts(
            body["jobStorageMountConfigurationOverrideDetailsList"],
            "jobStorageMountConfigurationOverrideDetailsList",
        )
    if body.get("jobLogConfigurationOverrideDetails") is not None:
        check_log_configuration(
            body["jobLogConfigurationOverrideDetails"], "jobLogConfigurationOverrideDetails", check_log_group
        )


def check_run_fits_job(body: Mapping[str, Any], job: Mapping[str, Any]) -> None:
    """Overrides that only one kind of job takes (checked once the job is known)."""
    multi_node = job.get(NODE_CONFIGURATION) is not None
    if body.get(NODE_OVERRIDE) is not None and not multi_node:
        raise invalid(f"{NODE_OVERRIDE} is only allowed for a job with {NODE_CONFIGURATION}")
    if body.get("jobInfrastructureConfigurationOverrideDetails") is not None and multi_node:
        raise invalid(
            "jobInfrastructureConfigurationOverrideDetails is not allowed for a multi-node job "
            f"(override the node groups' infrastructure in {NODE_OVERRIDE})"
        )


__all__ = [
    "MAX_ARGS_CHARS",
    "MAX_ENV_CHARS",
    "ApiError",
    "Catalog",
    "LogGroupCheck",
    "check_create_job",
    "check_create_run",
    "check_infrastructure",
    "check_update_job",
    "env_chars",
    "require_string",
]
