"""Validation of a multi-node job's node configuration (a job's, or a run's override of it)."""

from __future__ import annotations

from typing import Any

from ocids_emulator.api.data_science.validation_blocks import (
    MAX_RUNTIME_MINUTES,
    Catalog,
    check_environment,
    check_int,
    check_job_configuration,
    check_multi_node_infrastructure,
    is_int,
    require_object,
    require_string,
)
from ocids_emulator.core.errors import invalid, missing

MAX_NODE_GROUPS = 10
STARTUP_ORDERS = ("IN_PARALLEL", "IN_ORDER")
NETWORK_TYPES = ("DEFAULT_NETWORK", "CUSTOM_NETWORK")


def check_node_configuration(node: Any, field: str, catalog: Catalog) -> None:
    node = require_object(node, field)
    if node.get("jobNodeType") != "MULTI_NODE":
        raise invalid(f"{field}.jobNodeType must be MULTI_NODE")
    order = node.get("startupOrder")
    if order is not None and order not in STARTUP_ORDERS:
        raise invalid(f"{field}.startupOrder must be IN_PARALLEL or IN_ORDER")
    check_int(node.get("maximumRuntimeInMinutes"), f"{field}.maximumRuntimeInMinutes", 1, MAX_RUNTIME_MINUTES)
    network = node.get("jobNetworkConfiguration")
    if network is not None:
        check_network(network, f"{field}.jobNetworkConfiguration")
    groups = node.get("jobNodeGroupConfigurationDetailsList")
    where = f"{field}.jobNodeGroupConfigurationDetailsList"
    if groups is None or groups == []:
        raise missing(where)
    if not isinstance(groups, list) or len(groups) > MAX_NODE_GROUPS:
        raise invalid(f"{where} must be a list of 1 to {MAX_NODE_GROUPS} node groups")
    names: set[str] = set()
    for i, group in enumerate(groups):
        name = check_node_group(group, f"{where}[{i}]", catalog)
        if name in names:
            raise invalid(f"{where}[{i}].name {name!r} is used by another node group")
        names.add(name)


def check_network(network: Any, field: str) -> None:
    network = require_object(network, field)
    kind = network.get("jobNetworkType")
    if kind not in NETWORK_TYPES:
        raise invalid(f"{field}.jobNetworkType must be DEFAULT_NETWORK or CUSTOM_NETWORK")
    if kind == "CUSTOM_NETWORK":
        require_string(network, "subnetId", f"{field}.subnetId")
    elif network.get("subnetId") is not None:
        raise invalid(f"{field}.subnetId is only allowed with CUSTOM_NETWORK")


def check_node_group(group: Any, field: str, catalog: Catalog) -> str:
    group = require_object(group, field)
    name = require_string(group, "name", f"{field}.name")
    replicas = group.get("replicas")
    if replicas is None:
        raise missing(f"{field}.replicas")
    if not is_int(replicas) or replicas < 1:
        raise invalid(f"{field}.replicas must be an integer of at least 1")
    minimum = group.get("minimumSuccessReplicas")
    if minimum is not None and (not is_int(minimum) or not 1 <= minimum <= replicas):
        raise invalid(f"{field}.minimumSuccessReplicas must be an integer from 1 to replicas ({replicas})")
    infra_field = f"{field}.jobInfrastructureConfigurationDetails"
    infra = group.get("jobInfrastructureConfigurationDetails")
    if infra is None:
        raise missing(infra_field)
    infra = require_object(infra, infra_field)
    if infra.get("jobInfrastructureType") != "MULTI_NODE":
        raise invalid(f"{infra_field}.jobInfrastructureType must be MULTI_NODE")
    check_multi_node_infrastructure(infra, infra_field, catalog)
    if group.get("jobConfigurationDetails") is not None:
        check_job_configuration(group["jobConfigurationDetails"], f"{field}.jobConfigurationDetails")
    if group.get("jobEnvironmentConfigurationDetails") is not None:
        check_environment(
            group["jobEnvironmentConfigurationDetails"], f"{field}.jobEnvironmentConfigurationDetails"
        )
    return name


def node_groups(node: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list((node or {}).get("jobNodeGroupConfigurationDetailsList") or [])


def network_subnet(node: dict[str, Any] | None) -> str | None:
    network = (node or {}).get("jobNetworkConfiguration") or {}
    return network.get("subnetId") if network.get("jobNetworkType") == "CUSTOM_NETWORK" else None
