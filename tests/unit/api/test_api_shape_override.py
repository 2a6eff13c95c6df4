"""A run's infrastructure override and a node group's compute are one model (ShapeOverride): the
same fields and rules, each worded for its use in `kubectl explain`."""

from __future__ import annotations

import pytest
from ocids_operator.api import Infrastructure, InfrastructureOverride, NodeInfrastructure
from ocids_operator.api.common import ShapeOverride
from ocids_operator.core.model import run_node_infrastructure
from pydantic import ValidationError

FLEX = "VM.Standard.E4.Flex"


def test_both_share_the_shape_fields_and_differ_only_in_the_run_override_network() -> None:
    assert issubclass(InfrastructureOverride, ShapeOverride) and issubclass(NodeInfrastructure, ShapeOverride)
    own = set(InfrastructureOverride.model_fields) - set(NodeInfrastructure.model_fields)
    assert own == {"subnet_id", "capacity_reservation_id"}
    assert set(NodeInfrastructure.model_fields) == set(ShapeOverride.model_fields)


@pytest.mark.parametrize("model", [InfrastructureOverride, NodeInfrastructure])
def test_the_same_rules_hold_for_both(model: type[ShapeOverride]) -> None:
    with pytest.raises(ValidationError, match="ocpus"):
        model(shape=FLEX)
    with pytest.raises(ValidationError, match="shape"):
        model.model_validate({"ocpus": 2, "memoryInGBs": 16})
    assert model(shape="VM.GPU.A10.1").block_storage_size_in_gbs is None


def test_each_is_described_for_its_own_use() -> None:
    run = InfrastructureOverride.model_json_schema(by_alias=True)["properties"]
    node = NodeInfrastructure.model_json_schema(by_alias=True)["properties"]
    assert run["blockStorageSizeInGBs"]["description"].endswith("unset: the TrainingJob's.")
    assert "of each node" in node["blockStorageSizeInGBs"]["description"]
    assert (
        "of each node" in node["shape"]["description"] and "of each node" not in run["shape"]["description"]
    )


def test_the_shape_comes_with_its_size_and_block_storage_falls_back() -> None:
    override = InfrastructureOverride(shape=FLEX, ocpus=2, memory_in_gbs=16, cpu_baseline="BASELINE_1_2")
    job = Infrastructure(shape="VM.GPU.A10.1", block_storage_size_in_gbs=200)
    run = job.with_override(override)
    assert (run.shape, run.ocpus, run.memory_in_gbs, run.cpu_baseline) == (FLEX, 2, 16, "BASELINE_1_2")
    assert run.block_storage_size_in_gbs == 200
    group = NodeInfrastructure(shape="VM.GPU.A10.2", block_storage_size_in_gbs=300)
    node = run_node_infrastructure(override, group)
    assert node == NodeInfrastructure(
        shape=FLEX, ocpus=2, memory_in_gbs=16, cpu_baseline="BASELINE_1_2", block_storage_size_in_gbs=300
    )
