"""What the emulated tenancy offers (job shapes, fast-launch configs, compute targets) and the
byte ranges of artifact downloads: parsing, defaults and the errors that name the entry."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ocids_emulator.api.data_science.job_artifacts import RangeNotSatisfiable, byte_range
from ocids_emulator.api.data_science.shapes import fast_launch_config_for, provisioning_seconds
from ocids_emulator.config import TENANCY_FILE, init_data_dir, load_tenancy
from ocids_emulator.core.catalog import (
    BUILTIN_SHAPES,
    CatalogError,
    parse_compute_targets,
    parse_fast_launch,
    parse_shapes,
)
from ocids_emulator.core.errors import ApiError

A10 = {"name": "VM.GPU.A10.1", "coreCount": 15, "memoryInGBs": 240, "shapeSeries": "NVIDIA_GPU"}


def test_builtin_catalog_is_the_25_shapes_and_round_trips_through_tenancy_json() -> None:
    shapes = parse_shapes(None)
    assert len(shapes) == 25 and "BM.GPU.H100.8" in shapes
    again = parse_shapes([s.to_json() for s in BUILTIN_SHAPES])
    assert again == shapes


def test_a_shape_entry_is_a_job_shape_summary_and_flex_limits_default() -> None:
    shapes = parse_shapes(
        [
            {"name": "VM.Emu.Only.1", "coreCount": 4, "memoryInGBs": 64, "shapeSeries": "INTEL_SKYLAKE"},
            {"name": "VM.Emu.Custom.Flex", "flex": {"maxOcpus": 8, "maxMemoryInGBs": 128}},
        ]
    )
    fixed, flex = shapes["VM.Emu.Only.1"], shapes["VM.Emu.Custom.Flex"]
    assert (fixed.flex, fixed.summary()["coreCount"], fixed.series) == (False, 4, "INTEL_SKYLAKE")
    assert flex.flex and (flex.max_ocpus, flex.max_memory_gb, flex.min_ocpus) == (8, 128, 1)
    assert flex.series == "GENERIC"  # no shapeSeries: the SDK's catch-all value


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"x": 1}, "jobShapes must be a list"),
        ([{"coreCount": 1}], "jobShapes[0].name must be a non-empty string"),
        ([A10, {**A10, "coreCount": 1}], "jobShapes[1].name 'VM.GPU.A10.1' is listed twice"),
        ([{**A10, "shapeSeries": "QUANTUM"}], "jobShapes[0].shapeSeries must be one of AMD_ROME"),
        ([{**A10, "memoryInGBs": "lots"}], "jobShapes[0].memoryInGBs must be a non-negative number"),
        ([{"name": "X.Flex", "flex": {"maxOcpus": -1}}], "jobShapes[0].flex.maxOcpus must be"),
    ],
)
def test_a_malformed_shape_names_its_entry(raw: Any, message: str) -> None:
    with pytest.raises(CatalogError, match="^" + re.escape(message)):
        parse_shapes(raw)


def test_fast_launch_configs_default_to_the_builtin_ones_the_catalog_can_run() -> None:
    every = parse_fast_launch(None, parse_shapes(None))
    assert {c["shapeName"] for c in every} == {"VM.Standard.E4.Flex", "VM.GPU.A10.1"}
    only_a10 = parse_fast_launch(None, parse_shapes([A10]))
    assert [c["name"] for c in only_a10] == ["A10.1"]
    # Omitted fields come from the shape; managed egress defaults to SUPPORTED.
    [config] = parse_fast_launch([{"name": "fast", "shapeName": "VM.GPU.A10.1"}], parse_shapes([A10]))
    assert config == {
        "name": "fast",
        "shapeName": "VM.GPU.A10.1",
        "coreCount": 15,
        "memoryInGBs": 240,
        "shapeSeries": "NVIDIA_GPU",
        "managedEgressSupport": "SUPPORTED",
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            [{"name": "f", "shapeName": "VM.Nope"}],
            "fastLaunchJobConfigs[0].shapeName 'VM.Nope' is not in jobShapes",
        ),
        (
            [{"name": "f", "shapeName": "VM.GPU.A10.1", "managedEgressSupport": "MAYBE"}],
            "fastLaunchJobConfigs[0].managedEgressSupport must be one of REQUIRED, SUPPORTED, UNSUPPORTED",
        ),
        (
            [{"name": "f", "shapeName": "VM.GPU.A10.1"}, {"name": "f", "shapeName": "VM.GPU.A10.1"}],
            "fastLaunchJobConfigs names must be unique",
        ),
    ],
)
def test_a_malformed_fast_launch_config_names_its_entry(raw: Any, message: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_fast_launch(raw, parse_shapes([A10]))
    assert str(caught.value) == message


def test_compute_targets_need_an_id_in_a_known_compartment() -> None:
    compartments = {"ocid1.compartment.oc1..a": "a"}
    targets = parse_compute_targets(
        [{"id": "ocid1.t", "compartmentId": "ocid1.compartment.oc1..a"}], compartments
    )
    assert targets["ocid1.t"]["lifecycleState"] == "ACTIVE"
    assert targets["ocid1.t"]["instanceShape"] == "VM.Standard.E4.Flex"
    assert parse_compute_targets(None, compartments) == {}
    with pytest.raises(
        CatalogError, match=r"computeTargets\[0\]\.compartmentId 'elsewhere' is not in compartments"
    ):
        parse_compute_targets([{"id": "ocid1.t", "compartmentId": "elsewhere"}], compartments)
    with pytest.raises(CatalogError, match=r"computeTargets\[0\]\.lifecycleState must be one of"):
        parse_compute_targets(
            [{"id": "t", "compartmentId": "ocid1.compartment.oc1..a", "lifecycleState": "ON"}], compartments
        )


def test_init_writes_the_catalog_and_an_older_tenancy_json_gets_the_builtin_one(tmp_path: Path) -> None:
    ids = init_data_dir(tmp_path)
    tenancy = load_tenancy(tmp_path)
    assert len(tenancy.job_shapes) == 25 and len(tenancy.fast_launch_configs) == 3
    target = tenancy.compute_targets[ids["COMPUTE_TARGET_ID"]]
    assert (target["compartmentId"], target["lifecycleState"]) == (ids["COMPARTMENT_ID"], "ACTIVE")

    raw = json.loads((tmp_path / TENANCY_FILE).read_text())
    for key in ("jobShapes", "fastLaunchJobConfigs", "computeTargets"):
        del raw[key]
    (tmp_path / TENANCY_FILE).write_text(json.dumps(raw))
    legacy = load_tenancy(tmp_path)
    assert legacy.job_shapes == tenancy.job_shapes
    assert legacy.fast_launch_configs == tenancy.fast_launch_configs
    assert legacy.compute_targets == {}

    raw["jobShapes"] = [{"name": ""}]
    (tmp_path / TENANCY_FILE).write_text(json.dumps(raw))
    with pytest.raises(CatalogError, match=r"jobShapes\[0\]\.name"):
        load_tenancy(tmp_path)


def _emu(provisioning: float = 2.0) -> Any:
    shapes = parse_shapes(None)
    return SimpleNamespace(
        tenancy=SimpleNamespace(job_shapes=shapes, fast_launch_configs=parse_fast_launch(None, shapes)),
        settings=SimpleNamespace(provisioning_seconds=provisioning),
    )


def _flex(ocpus: float, memory: float | None) -> dict[str, Any]:
    config: dict[str, Any] = {"ocpus": ocpus}
    if memory is not None:
        config["memoryInGBs"] = memory
    return {
        "jobInfrastructureType": "ME_STANDALONE",
        "shapeName": "VM.Standard.E4.Flex",
        "jobShapeConfigDetails": config,
    }


def test_a_fast_launch_config_matches_its_shape_and_for_flex_its_size() -> None:
    emu = _emu()
    assert fast_launch_config_for(emu, _flex(2, 32))["name"] == "E4.Flex-2-32"  # type: ignore[index]
    assert fast_launch_config_for(emu, _flex(4, None))["name"] == "E4.Flex-4-64"  # type: ignore[index]
    assert fast_launch_config_for(emu, _flex(3, 48)) is None
    assert fast_launch_config_for(emu, {"shapeName": "VM.GPU.A10.1"})["name"] == "A10.1"  # type: ignore[index]
    assert fast_launch_config_for(emu, {"shapeName": "VM.Standard2.1"}) is None
    assert fast_launch_config_for(emu, None) is None


def test_a_fast_launch_config_takes_only_the_networking_its_egress_support_allows() -> None:
    emu = _emu()
    emu.tenancy.fast_launch_configs = [
        {**c, "managedEgressSupport": "UNSUPPORTED"} if c["name"] == "E4.Flex-2-32" else c
        for c in emu.tenancy.fast_launch_configs
    ]
    gpu = {"shapeName": "VM.GPU.A10.1"}  # A10.1 is REQUIRED
    assert fast_launch_config_for(emu, {**gpu, "jobInfrastructureType": "ME_STANDALONE"}) is not None
    assert fast_launch_config_for(emu, {**gpu, "jobInfrastructureType": "STANDALONE"}) is None
    standalone = {**_flex(2, 32), "jobInfrastructureType": "STANDALONE"}
    assert fast_launch_config_for(emu, standalone)["name"] == "E4.Flex-2-32"  # type: ignore[index]
    assert fast_launch_config_for(emu, _flex(2, 32)) is None  # ME_STANDALONE on an UNSUPPORTED pool
    assert fast_launch_config_for(emu, {**_flex(4, 64), "jobInfrastructureType": "STANDALONE"}) is not None


def test_warm_pools_provision_in_a_tenth_of_the_time() -> None:
    emu = _emu(provisioning=2.0)
    assert provisioning_seconds(
        emu, {"jobInfrastructureConfigurationDetails": _flex(2, 32)}
    ) == pytest.approx(0.2)
    assert provisioning_seconds(emu, {"jobInfrastructureConfigurationDetails": _flex(3, 48)}) == 2.0
    cluster = {"jobInfrastructureType": "MANAGED_COMPUTE_CLUSTER", "computeTargetId": "ocid1.t"}
    assert provisioning_seconds(emu, {"jobInfrastructureConfigurationDetails": cluster}) == pytest.approx(0.2)
    assert provisioning_seconds(emu, {}) == 2.0


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-3", 10, (0, 3)),
        ("bytes=4-", 10, (4, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-30", 10, (0, 9)),
        ("bytes=5-100", 10, (5, 9)),
        ("bytes=9-9", 10, (9, 9)),
    ],
)
def test_byte_ranges(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=10-20", "bytes=-0"])
def test_unsatisfiable_ranges_are_416(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        byte_range(header, 10)
    assert (caught.value.status, caught.value.size) == (416, 10)


@pytest.mark.parametrize("header", ["bytes=0-1,4-5", "items=0-1", "bytes=-", "bytes=5-2"])
def test_malformed_or_multiple_ranges_are_400_naming_range(header: str) -> None:
    with pytest.raises(ApiError) as caught:
        byte_range(header, 10)
    assert caught.value.status == 400 and caught.value.message.startswith(f"range {header!r}")
