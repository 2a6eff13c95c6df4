"""The price table and a run's cost by it: figures worked out by hand from the table."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from ocids_operator.api import TrainingJobRunSpec, TrainingJobSpec
from ocids_operator.core.cost import (
    NodeSize,
    created_cost,
    ended_cost,
    estimate,
    gpus_per_node,
    price_per_hour,
    price_problem,
    run_sizes,
    worst_case,
)
from ocids_operator.core.price_table import PriceTableError, parse_price_table

CHART_PRICES = pathlib.Path(__file__).parents[3] / "charts/ocids-operator/prices/prices.yaml"

TABLE = """
currency: USD
shapes:
  - match: VM.Standard.E4.Flex
    ocpuHour: 0.025
    memoryGBHour: 0.0015
    source: https://www.oracle.com/cloud/price-list/
    date: 2026-12-01
  - match: "VM.GPU.A10.*"
    gpuHour: 2.00
    source: https://www.oracle.com/cloud/price-list/
    date: "2026-12-01"
  - match: VM.Standard2.4
    ocpuHour: 0.0638
    memoryGBHour: 0.0
    ocpus: 4
    memoryGBs: 60
    source: https://www.oracle.com/cloud/price-list/
    date: "2026-12-01"
  - match: VM.Standard2.*
    ocpuHour: 0.0638
    source: https://www.oracle.com/cloud/price-list/
    date: "2026-12-01"
blockStorage:
  gbMonth: 0.0255
  source: https://www.oracle.com/cloud/price-list/
  date: "2026-12-01"
"""
BLOCK_HOUR = 0.0255 / 730


def table():  # type: ignore[no-untyped-def]
    return parse_price_table(TABLE, "ocids-system/ocids-prices")


def job(**infra):  # type: ignore[no-untyped-def]
    base = {
        "compartmentId": "ocid1.compartment.oc1..aaaa",
        "projectId": "ocid1.datascienceproject.oc1.iad.aaaa",
        "artifact": {"url": "https://example.com/train.py"},
        "infrastructure": {"shape": "VM.Standard.E4.Flex", "ocpus": 2, "memoryInGBs": 16, **infra},
    }
    return base


def test_a_flex_run_costs_its_ocpus_memory_and_block_storage_per_hour() -> None:
    sizes = run_sizes(
        TrainingJobRunSpec.model_validate({"jobRef": {"name": "j"}}),
        TrainingJobSpec.model_validate(job(blockStorageSizeInGBs=100)),
    )
    assert sizes == [NodeSize("VM.Standard.E4.Flex", 2, 16, 100)]
    by_hand = 2 * 0.025 + 16 * 0.0015 + 100 * BLOCK_HOUR
    found = estimate(sizes, table(), max_runtime_min=90)
    assert found is not None and found.basis is not None
    assert found.basis.price_per_hour == pytest.approx(by_hand, abs=1e-6)
    assert found.worst_case == pytest.approx(by_hand * 1.5, abs=1e-4)
    assert found.currency == "USD"
    assert found.basis.price_table == "ocids-system/ocids-prices"
    assert found.basis.price_date == "2026-12-01"


def test_a_run_override_is_priced_not_the_job() -> None:
    run = TrainingJobRunSpec.model_validate(
        {"jobRef": {"name": "j"}, "infrastructure": {"shape": "VM.GPU.A10.2"}, "maximumRuntimeInMinutes": 30}
    )
    sizes = run_sizes(run, TrainingJobSpec.model_validate(job()))
    assert isinstance(sizes, list)
    found = estimate(sizes, table(), 30)
    assert found is not None and found.basis is not None
    assert found.basis.gpus == 2
    assert found.basis.price_per_hour == pytest.approx(2 * 2.00 + 50 * BLOCK_HOUR, abs=1e-6)
    assert found.worst_case == pytest.approx((4.0 + 50 * BLOCK_HOUR) / 2, abs=1e-4)


def test_a_multi_node_run_costs_every_node_of_every_group() -> None:
    spec = job()
    spec["nodes"] = {
        "groups": [
            {"name": "main", "replicas": 1},
            {"name": "workers", "replicas": 2, "infrastructure": {"shape": "VM.GPU.A10.1"}},
        ]
    }
    run = TrainingJobRunSpec.model_validate(
        {"jobRef": {"name": "j"}, "nodeGroups": [{"name": "workers", "replicas": 3}]}
    )
    sizes = run_sizes(run, TrainingJobSpec.model_validate(spec))
    assert isinstance(sizes, list)
    cpu_node = 2 * 0.025 + 16 * 0.0015 + 50 * BLOCK_HOUR
    gpu_node = 2.00 + 50 * BLOCK_HOUR
    assert price_per_hour(sizes, table()) == pytest.approx(cpu_node + 3 * gpu_node)
    found = estimate(sizes, table())
    assert found is not None and found.basis is not None
    assert (found.basis.shape, found.basis.node_count) == ("VM.GPU.A10.1", 4)
    assert found.worst_case is None  # no maximum runtime: unbounded


def test_gpus_per_node_come_from_the_row_else_the_shape_name() -> None:
    assert gpus_per_node("BM.GPU.H100.8") == 8
    assert gpus_per_node("VM.GPU2.1") == 1
    assert gpus_per_node("VM.Standard2.4") == 0
    row = parse_price_table(TABLE.replace("gpuHour: 2.00", "gpuHour: 2.00\n    gpus: 1")).row_for(
        "VM.GPU.A10.2"
    )
    assert gpus_per_node("VM.GPU.A10.2", row) == 1


def test_a_fixed_shape_is_priced_by_its_rows_size_and_the_first_matching_row_wins() -> None:
    assert price_per_hour([NodeSize("VM.Standard2.4")], table()) == pytest.approx(4 * 0.0638)
    # VM.Standard2.8 only fits the glob row, which gives no OCPU count: no price, and why.
    assert price_per_hour([NodeSize("VM.Standard2.8")], table()) is None
    problem = price_problem([NodeSize("VM.Standard2.8")], table())
    assert problem is not None and "VM.Standard2.*" in problem and "ocpus" in problem


def test_a_shape_without_a_row_has_no_price_and_the_problem_names_it() -> None:
    sizes = [NodeSize("BM.GPU.H100.8")]
    assert price_per_hour(sizes, table()) is None
    assert estimate(sizes, table()) is None
    assert price_problem(sizes, table()) == (
        "the price table ocids-system/ocids-prices has no row for shape BM.GPU.H100.8"
    )
    assert price_problem(sizes, None) == "there is no price table"


def test_a_compute_target_run_is_not_priced() -> None:
    spec = {
        **job(),
        "infrastructure": {
            "computeTargetId": "ocid1.computecluster.oc1.iad.aaaa",
            "resources": {"requests": {"ocpus": 1, "memoryInGBs": 8}},
        },
    }
    sizes = run_sizes(
        TrainingJobRunSpec.model_validate({"jobRef": {"name": "j"}}), TrainingJobSpec.model_validate(spec)
    )
    assert isinstance(sizes, str) and "compute target" in sizes


def _created(max_runtime: int | None = 60) -> dict:  # type: ignore[type-arg]
    found = estimate([NodeSize("VM.GPU.A10.1", block_storage_in_gbs=0)], table(), max_runtime)
    assert found is not None
    return created_cost({}, found).model_dump(mode="json", by_alias=True, exclude_unset=True)


def test_an_ended_run_costs_its_price_times_its_billed_time() -> None:
    previous = {"cost": _created(), "timeStarted": "2026-12-01T10:00:00Z"}
    cost = ended_cost(previous, {"phase": "Succeeded", "timeFinished": "2026-12-01T10:45:00Z"})
    assert cost is not None and cost.estimate is not None and cost.estimate.basis is not None
    assert cost.estimate.amount == pytest.approx(1.50)
    assert cost.estimate.basis.duration_seconds == 2700
    assert cost.estimate.worst_case == pytest.approx(2.00)  # kept


def test_a_retried_run_costs_all_of_its_attempts() -> None:
    previous = {"cost": _created(), "timeStarted": "2026-12-01T11:00:00Z"}
    attempts = [
        {"attempt": 1, "timeStarted": "2026-12-01T10:00:00Z", "timeFinished": "2026-12-01T10:30:00Z"},
        {"attempt": 2, "timeStarted": "2026-12-01T11:00:00Z", "timeFinished": "2026-12-01T11:15:00Z"},
        {"attempt": 3},  # never started: nothing billed
    ]
    cost = ended_cost(previous, {"phase": "Failed", "attempts": attempts})
    assert cost is not None and cost.estimate is not None
    assert cost.estimate.amount == pytest.approx(2.00 * 0.75)


def test_a_run_never_started_costs_nothing_and_one_without_a_price_gets_no_amount() -> None:
    cost = ended_cost({"cost": _created()}, {"phase": "Canceled"})
    assert cost is not None and cost.estimate is not None and cost.estimate.amount == 0
    assert ended_cost({}, {"phase": "Succeeded"}) is None


def test_a_run_deleted_in_oci_while_running_is_billed_up_to_when_it_ended() -> None:
    import datetime as dt

    # OCI gave no timeFinished (the run was deleted while running): billed to the terminal write.
    previous = {"cost": _created(), "timeStarted": "2026-12-01T10:00:00Z", "phase": "Running"}
    ended_at = dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.UTC)
    cost = ended_cost(previous, {"phase": "Deleted"}, ended_at)
    assert cost is not None and cost.estimate is not None and cost.estimate.basis is not None
    assert cost.estimate.amount == pytest.approx(1.00)
    assert cost.estimate.basis.duration_seconds == 1800
    # Without the write's time: its terminal condition's.
    conditions = [{"type": "Ready", "status": "False", "lastTransitionTime": "2026-12-01T10:15:00Z"}]
    cost = ended_cost(previous, {"phase": "Deleted", "conditions": conditions})
    assert cost is not None and cost.estimate is not None and cost.estimate.amount == pytest.approx(0.50)


def test_a_retry_that_ends_later_bills_only_its_attempts_and_its_usage_ended_with_the_last() -> None:
    import datetime as dt

    from ocids_operator.core.cost import usage_ended_at, was_billed

    attempts = [
        {"attempt": 1, "timeStarted": "2026-12-01T10:00:00Z", "timeFinished": "2026-12-01T10:30:00Z"},
    ]
    # The retry was refused a day later: the run ends with no timeFinished of its own.
    status = {
        "cost": _created(),
        "phase": "Failed",
        "attempts": attempts,
        "conditions": [{"type": "Failed", "lastTransitionTime": "2026-12-02T10:00:00Z"}],
    }
    cost = ended_cost(status, {}, dt.datetime(2026, 12, 2, 10, tzinfo=dt.UTC))
    assert cost is not None and cost.estimate is not None and cost.estimate.amount == pytest.approx(1.00)
    assert usage_ended_at(status) == dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.UTC)
    assert was_billed(status)
    never = {
        "phase": "Canceled",
        "conditions": [{"type": "Ready", "lastTransitionTime": "2026-12-02T10:00:00Z"}],
    }
    assert not was_billed(never) and usage_ended_at(never) == dt.datetime(2026, 12, 2, 10, tzinfo=dt.UTC)


def test_a_retry_refused_for_good_by_oci_ends_with_its_attempts_cost() -> None:
    from ocids_operator.core.errors import ErrorOutcome, OutcomeKind
    from ocids_operator.core.kinds import TRAINING_JOB_RUN_KIND
    from ocids_operator.core.status import error_status

    attempts = [
        {
            "attempt": 1,
            "timeStarted": "2026-12-01T10:00:00Z",
            "timeFinished": "2026-12-01T10:30:00Z",
            "retried": True,
        },
    ]
    previous = {
        "phase": "Pending",
        "cost": _created(),
        "attempts": attempts,
        "nextAttemptAt": "2026-12-01T10:31:00Z",
    }
    outcome = ErrorOutcome(OutcomeKind.STALLED, "InvalidSpec", "refused")
    patch = error_status(outcome, previous, 1, "2026-12-01T10:31:00Z", TRAINING_JOB_RUN_KIND)
    assert patch["phase"] == "Failed"
    assert patch["cost"]["estimate"]["amount"] == pytest.approx(1.00)


def test_the_creation_estimate_keeps_an_actual_cost_already_read() -> None:
    found = estimate([NodeSize("VM.GPU.A10.1")], table(), 60)
    assert found is not None
    cost = created_cost({"cost": {"actual": {"amount": 3.1, "currency": "USD"}}}, found)
    wire = cost.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert wire["actual"] == {"amount": 3.1, "currency": "USD"}
    assert "amount" not in wire["estimate"]


def test_worst_case_is_unbounded_without_a_maximum_runtime_or_price() -> None:
    assert worst_case(2.0, None) is None
    assert worst_case(None, 60) is None
    assert worst_case(2.0, 90) == 3.0


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("currency"), "currency: must be an ISO 4217 code"),
        (lambda d: d.update(currency="usd"), "currency: must be an ISO 4217 code"),
        (lambda d: d.update(shapes=[]), "shapes: must be a non-empty list"),
        (lambda d: d["shapes"][1].pop("match"), "shapes[1].match: required"),
        (
            lambda d: d["shapes"][1].update(gpuHour=-1),
            "shapes[1] (VM.GPU.A10.*).gpuHour: must be a number, 0 or more",
        ),
        (
            lambda d: d["shapes"][0].update(ocpuHour="cheap"),
            "shapes[0] (VM.Standard.E4.Flex).ocpuHour: must be a number",
        ),
        (lambda d: d["shapes"][0].pop("source"), "shapes[0] (VM.Standard.E4.Flex).source: required"),
        (lambda d: d["shapes"][0].update(date="last week"), "shapes[0] (VM.Standard.E4.Flex).date: required"),
        (lambda d: d["shapes"][1].update(gpus=1.5), "shapes[1] (VM.GPU.A10.*).gpus: must be a whole number"),
        (lambda d: d["shapes"][1].update(gpuHours=2), "shapes[1] (VM.GPU.A10.*).gpuHours: unknown field"),
        (lambda d: d["blockStorage"].update(gbMonth=None), "blockStorage.gbMonth: must be a number"),
    ],
)
def test_a_broken_table_names_the_row_and_field(edit, message) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(TABLE)
    edit(data)
    with pytest.raises(PriceTableError) as raised:
        parse_price_table(yaml.safe_dump(data))
    assert message in str(raised.value)


def test_text_that_is_not_yaml_is_refused_clearly() -> None:
    with pytest.raises(PriceTableError, match=r"prices\.yaml is not valid YAML"):
        parse_price_table("shapes: [")


def test_the_charts_price_table_parses_and_prices_the_shapes_it_ships_for() -> None:
    shipped = parse_price_table(CHART_PRICES.read_text())
    for shape, size in [
        ("VM.Standard.E4.Flex", NodeSize("VM.Standard.E4.Flex", 1, 16, 50)),
        ("VM.Standard.E5.Flex", NodeSize("VM.Standard.E5.Flex", 1, 16, 50)),
        ("VM.GPU.A10.1", NodeSize("VM.GPU.A10.1", block_storage_in_gbs=50)),
        ("BM.GPU.H100.8", NodeSize("BM.GPU.H100.8", block_storage_in_gbs=50)),
    ]:
        assert price_per_hour([size], shipped), shape
    for row in shipped.rows:
        assert row.source.startswith("https://"), row.match


class _Kube:
    """get_config_map as the API answers it; counts the reads."""

    def __init__(self, text: str | None) -> None:
        self.text, self.version, self.reads = text, 1, 0

    async def get_config_map(self, namespace: str, name: str) -> dict | None:  # type: ignore[type-arg]
        self.reads += 1
        if self.text is None:
            return None
        return {"metadata": {"resourceVersion": str(self.version)}, "data": {"prices.yaml": self.text}}


def _rt(kube: _Kube):  # type: ignore[no-untyped-def]
    import types

    return types.SimpleNamespace(kube=kube, settings=types.SimpleNamespace(price_table="ops/ocids-prices"))


def test_the_table_is_read_at_most_once_a_minute_and_a_broken_one_is_logged_once_and_unused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import asyncio

    from ocids_operator.workflows.run_pricing import load_price_table

    kube = _Kube(TABLE.replace("gpuHour: 2.00", "gpuHour: lots"))
    rt, now = _rt(kube), [0.0]

    def load():  # type: ignore[no-untyped-def]
        return asyncio.run(load_price_table(rt, clock=lambda: now[0]))  # type: ignore[arg-type]

    assert load() is None
    now[0] = 61.0
    assert load() is None  # read again, same version: not logged again
    problems = [r.getMessage() for r in caplog.records if "price table" in r.getMessage()]
    assert problems == [
        "the price table ConfigMap ops/ocids-prices is unusable: prices.yaml: "
        "shapes[1] (VM.GPU.A10.*).gpuHour: must be a number, 0 or more, got 'lots': "
        "no cost estimates until it is fixed"
    ]
    kube.text, kube.version = TABLE, 2
    now[0] = 90.0
    assert load() is None  # within the minute: the last read stands
    now[0] = 122.0
    table = load()
    assert table is not None and table.name == "ops/ocids-prices" and kube.reads == 3
