"""The emulator's Usage API: the price table, what a run is billed, buckets, delay, groups, paging."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from ocids_emulator.config import init_data_dir
from ocids_emulator.core.catalog import parse_shapes
from ocids_emulator.core.emulator import Emulator, Settings
from ocids_emulator.core.errors import ApiError
from ocids_emulator.core.prices import (
    CHART_TABLE,
    PriceTableError,
    gpus_per_node,
    load_price_table,
    parse_price_table,
)
from ocids_emulator.core.usage import Meter, page_of, parse_query, run_meters, summarize
from ocids_emulator.security.authorization import required_checks
from ocids_emulator.security.policies import PolicySet
from ocids_emulator.security.signatures import Principal

TENANCY = "ocid1.tenancy.oc1..t"
COMPARTMENT = "ocid1.compartment.oc1..c"
SHAPES = parse_shapes(None)
PRICES = """
currency: USD
shapes:
  - match: VM.Standard.E4.Flex
    ocpuHour: 0.025
    memoryGBHour: 0.0015
    source: https://www.oracle.com/cloud/price-list/
    date: "2026-12-01"
  - match: "VM.GPU.A10.*"
    gpuHour: 2.0
    source: https://www.oracle.com/cloud/price-list/
    date: "2026-12-01"
blockStorage:
  gbMonth: 0.0255
  source: https://www.oracle.com/cloud/price-list/
  date: "2026-12-01"
"""
TABLE = parse_price_table(PRICES)
COMMON = {"tenantId": TENANCY, "tenantName": "ocids-emulator", "region": "us-ashburn-1"}


def t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def run_doc(run_id: str, started: str, finished: str | None, **infra: Any) -> dict[str, Any]:
    return {
        "id": run_id,
        "compartmentId": COMPARTMENT,
        "displayName": run_id[-4:],
        "timeStarted": started,
        "timeFinished": finished,
        "jobInfrastructureConfigurationDetails": {"jobInfrastructureType": "ME_STANDALONE", **infra},
    }


def meters_of(doc: dict[str, Any], meta: dict[str, Any] | None = None, **kwargs: Any) -> list[Meter]:
    return run_meters(
        doc,
        meta or {},
        shapes=SHAPES,
        table=kwargs.get("table", TABLE),
        now=kwargs.get("now", t("2026-12-07T23:00:00")),
        common=COMMON,
        compartments={COMPARTMENT: "ml"},
    )


def query(**body: Any) -> Any:
    base = {
        "tenantId": TENANCY,
        "granularity": "HOURLY",
        "timeUsageStarted": "2026-12-07T00:00:00Z",
        "timeUsageEnded": "2026-12-08T00:00:00Z",
    }
    return parse_query({**base, **body}, TENANCY)


def items(meters: list[Meter], q: Any, visible_until: str = "2026-12-31T00:00:00") -> list[dict[str, Any]]:
    return summarize(meters, q, visible_until=t(visible_until), currency="USD", tenancy=COMMON)


E4 = {
    "shapeName": "VM.Standard.E4.Flex",
    "jobShapeConfigDetails": {"ocpus": 2, "memoryInGBs": 32},
    "blockStorageSizeInGBs": 100,
}
# 2 OCPUs x 0.025 + 32 GB x 0.0015 + 100 GB x 0.0255 / 730 per hour, worked out by hand.
E4_PER_HOUR = 2 * 0.025 + 32 * 0.0015 + 100 * 0.0255 / 730


# --- the price table ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("shapes: []", "currency is required"),
        ("currency: USD\nshapes:\n  - match: X\n    date: '2026-12-01'", "shapes[0].source is required"),
        (
            "currency: USD\nshapes:\n  - {match: X, source: s, date: d}\n"
            "  - {match: Y, source: s, date: d, ocpuHour: -1}",
            "shapes[1].ocpuHour must be a number >= 0",
        ),
        ("currency: USD\nshapes:\n  - {match: X, source: s, date: d, gpus: 1.5}", "shapes[0].gpus must be"),
        ("currency: USD\nblockStorage: {gbMonth: 1}", "blockStorage.source is required"),
        ("currency: [", "not valid YAML"),
        (
            "currency: USD\nshapes:\n  - {match: X, source: s, date: d, ocpuHours: 1}",
            "shapes[0].ocpuHours is not a field",
        ),
    ],
)
def test_a_broken_price_table_names_the_row_and_field(text: str, message: str) -> None:
    with pytest.raises(PriceTableError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_price_table(text)


def test_the_charts_price_table_is_one_the_emulator_reads() -> None:
    # The operator's chart and the emulator bill from the same file: both readers must accept it.
    table = load_price_table(CHART_TABLE)
    assert table.currency and table.row_for("VM.Standard.E4.Flex") is not None


def test_first_matching_row_wins_and_gpus_come_from_the_row_or_the_shape_name() -> None:
    table = parse_price_table(
        "currency: EUR\nshapes:\n"
        "  - {match: 'VM.GPU.A10.2', gpuHour: 3, gpus: 4, source: s, date: d}\n"
        "  - {match: 'VM.GPU*', gpuHour: 2, source: s, date: d}\n"
    )
    assert table.row_for("VM.GPU.A10.2") is not None and table.row_for("VM.GPU.A10.2").gpu_hour == 3  # type: ignore[union-attr]
    assert table.row_for("VM.GPU.A10.1").gpu_hour == 2  # type: ignore[union-attr]
    assert table.row_for("VM.Standard2.1") is None
    assert gpus_per_node("VM.GPU.A10.2", table.row_for("VM.GPU.A10.2")) == 4
    assert gpus_per_node("BM.GPU.H100.8", None) == 8
    assert gpus_per_node("VM.Standard2.8", None) == 0


# --- what a run is billed for ------------------------------------------------------------------
def test_a_flex_run_costs_its_ocpus_memory_and_block_storage_by_the_table() -> None:
    doc = run_doc("ocid1.datasciencejobrun.oc1..r1", "2026-12-07T10:00:00Z", "2026-12-07T12:00:00Z", **E4)
    [item] = items(meters_of(doc), query(isAggregateByTime=True, groupBy=["resourceId"]))
    assert item["resourceId"] == doc["id"]
    assert item["computedAmount"] == pytest.approx(2 * E4_PER_HOUR)
    assert item["currency"] == "USD"


def test_a_gpu_run_is_billed_per_gpu_and_a_multi_node_run_for_every_replica() -> None:
    meta = {
        "effective": {
            "jobNodeConfigurationDetails": {
                "jobNodeGroupConfigurationDetailsList": [
                    {
                        "name": "workers",
                        "replicas": 3,
                        "jobInfrastructureConfigurationDetails": {
                            "jobInfrastructureType": "MULTI_NODE",
                            "shapeName": "VM.GPU.A10.2",
                            "blockStorageSizeInGBs": 50,
                        },
                    }
                ]
            }
        }
    }
    doc = run_doc("ocid1.datasciencejobrun.oc1..mn", "2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z")
    doc["jobInfrastructureConfigurationDetails"] = {"jobInfrastructureType": "MULTI_NODE"}
    meters = meters_of(doc, meta)
    # Only the GPU and the block volume: a GPU shape's OCPUs and memory are in its GPU price.
    assert sorted(m.dims["skuName"] for m in meters) == ["Block Volume - Storage", "VM.GPU.A10.2 - GPU"]
    [item] = items(meters, query(isAggregateByTime=True))
    assert item["computedAmount"] == pytest.approx(3 * (2 * 2.0 + 50 * 0.0255 / 730))


def test_a_fixed_shape_takes_its_size_from_the_catalog_and_without_a_row_bills_no_amount() -> None:
    doc = run_doc(
        "ocid1.datasciencejobrun.oc1..fx",
        "2026-12-07T10:00:00Z",
        "2026-12-07T11:00:00Z",
        shapeName="VM.Standard2.2",
    )
    [item] = items(meters_of(doc), query(isAggregateByTime=True, groupBy=["resourceId"]))
    assert "computedAmount" not in item  # no row for VM.Standard2.2: no figure rather than a partial one
    # 2 OCPU-hours + 30 GB-hours + 50 GB (the default block volume) for an hour.
    assert item["computedQuantity"] == pytest.approx(2 + 30 + 50 / 730)
    without_table = meters_of(doc, table=None)
    assert {m.amount_per_hour for m in without_table} == {None}


def test_a_shape_the_catalog_no_longer_offers_takes_its_size_from_its_row() -> None:
    table = parse_price_table(
        "currency: USD\nshapes:\n"
        "  - {match: VM.Gone.4, ocpus: 4, memoryGBs: 64, ocpuHour: 0.1, source: s, date: d}\n"
    )
    doc = run_doc(
        "ocid1.datasciencejobrun.oc1..g",
        "2026-12-07T10:00:00Z",
        "2026-12-07T11:00:00Z",
        shapeName="VM.Gone.4",
    )
    [item] = items(meters_of(doc, table=table), query(isAggregateByTime=True, groupBy=["skuName"]))
    assert (item["skuName"], item["computedQuantity"], item["computedAmount"]) == ("VM.Gone.4 - OCPU", 4, 0.4)


def test_unstarted_runs_and_compute_target_runs_bill_nothing_and_an_active_run_bills_until_now() -> None:
    assert meters_of(run_doc("ocid1.datasciencejobrun.oc1..p", "", None, **E4)) == []
    target = run_doc("ocid1.datasciencejobrun.oc1..ct", "2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z")
    target["jobInfrastructureConfigurationDetails"] = {"jobInfrastructureType": "MANAGED_COMPUTE_CLUSTER"}
    assert meters_of(target) == []
    active = meters_of(
        run_doc("ocid1.datasciencejobrun.oc1..a", "2026-12-07T10:00:00Z", None, **E4),
        now=t("2026-12-07T10:30:00"),
    )
    [item] = items(active, query(isAggregateByTime=True))
    assert item["computedAmount"] == pytest.approx(0.5 * E4_PER_HOUR)


# --- buckets, delay, groups, filters -------------------------------------------------------------
def test_hourly_and_daily_buckets_split_a_run_at_their_boundaries() -> None:
    doc = run_doc("ocid1.datasciencejobrun.oc1..h", "2026-12-07T22:30:00Z", "2026-12-08T01:15:00Z", **E4)
    hourly = items(
        meters_of(doc, now=t("2026-12-09T00:00:00")),
        query(timeUsageEnded="2026-12-09T00:00:00Z", groupBy=["resourceId"]),
    )
    assert [(i["timeUsageStarted"], round(i["computedAmount"] / E4_PER_HOUR, 6)) for i in hourly] == [
        ("2026-12-07T22:00:00.000Z", 0.5),
        ("2026-12-07T23:00:00.000Z", 1.0),
        ("2026-12-08T00:00:00.000Z", 1.0),
        ("2026-12-08T01:00:00.000Z", 0.25),
    ]
    daily = items(
        meters_of(doc, now=t("2026-12-09T00:00:00")),
        query(granularity="DAILY", timeUsageEnded="2026-12-09T00:00:00Z"),
    )
    assert [(i["timeUsageStarted"], round(i["computedAmount"] / E4_PER_HOUR, 6)) for i in daily] == [
        ("2026-12-07T00:00:00.000Z", 1.5),
        ("2026-12-08T00:00:00.000Z", 1.25),
    ]
    monthly = items(
        meters_of(doc, now=t("2026-12-09T00:00:00")),
        query(
            granularity="MONTHLY",
            timeUsageStarted="2026-11-15T00:00:00Z",
            timeUsageEnded="2027-01-01T00:00:00Z",
        ),
    )
    assert [(i["timeUsageStarted"], i["timeUsageEnded"]) for i in monthly] == [
        ("2026-12-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z")
    ]


def test_usage_shows_only_after_the_delay() -> None:
    doc = run_doc("ocid1.datasciencejobrun.oc1..d", "2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z", **E4)
    q = query(isAggregateByTime=True)
    assert items(meters_of(doc), q, visible_until="2026-12-07T10:00:00") == []
    [partial] = items(meters_of(doc), q, visible_until="2026-12-07T10:15:00")
    assert partial["computedAmount"] == pytest.approx(0.25 * E4_PER_HOUR)
    [whole] = items(meters_of(doc), q, visible_until="2026-12-07T11:00:00")
    assert whole["computedAmount"] == pytest.approx(E4_PER_HOUR)


def test_group_by_resource_id_separates_runs_and_no_group_sums_them() -> None:
    one = run_doc("ocid1.datasciencejobrun.oc1..one", "2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z", **E4)
    two = run_doc("ocid1.datasciencejobrun.oc1..two", "2026-12-07T10:00:00Z", "2026-12-07T10:30:00Z", **E4)
    meters = meters_of(one) + meters_of(two)
    grouped = items(meters, query(groupBy=["resourceId"], isAggregateByTime=True))
    assert {i["resourceId"]: round(i["computedAmount"] / E4_PER_HOUR, 6) for i in grouped} == {
        one["id"]: 1.0,
        two["id"]: 0.5,
    }
    assert all("skuName" not in i and "unit" not in i for i in grouped)  # only the grouped dimensions
    [total] = items(meters, query(isAggregateByTime=True))
    assert total["computedAmount"] == pytest.approx(1.5 * E4_PER_HOUR) and "resourceId" not in total
    filtered = items(
        meters,
        query(
            isAggregateByTime=True,
            filter={"operator": "AND", "dimensions": [{"key": "resourceId", "value": two["id"]}]},
        ),
    )
    assert [round(i["computedAmount"] / E4_PER_HOUR, 6) for i in filtered] == [0.5]
    usage_only = items(meters, query(isAggregateByTime=True, queryType="USAGE_ONLY"))
    assert "computedAmount" not in usage_only[0] and "currency" not in usage_only[0]
    assert items(meters, query(isAggregateByTime=True, queryType="CREDIT")) == []


def test_pages_cover_every_item_once() -> None:
    rows = [{"n": n} for n in range(7)]
    seen, token = [], None
    while True:
        chunk, token = page_of(rows, token, "3")
        seen += chunk
        if token is None:
            break
    assert seen == rows
    with pytest.raises(ApiError, match="limit must be from 1 to 1000"):
        page_of(rows, None, "0")
    with pytest.raises(ApiError, match="page is not a page token"):
        page_of(rows, "garbage", None)


# --- the request's rules -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"timeUsageStarted": "2026-12-07T10:00:00Z", "granularity": "DAILY"},
            400,
            "timeUsageStarted: Passed UTC date",
        ),
        (
            {"timeUsageEnded": "2026-12-08T00:30:00Z"},
            400,
            "timeUsageEnded: Passed UTC date does not have the right precision: minutes",
        ),
        ({"granularity": "TOTAL"}, 400, "TOTAL is not yet supported"),
        ({"granularity": "WEEKLY"}, 400, "granularity must be one of"),
        ({"granularity": None}, 400, "Missing required parameter: granularity"),
        ({"timeUsageEnded": "2026-12-07T00:00:00Z"}, 400, "timeUsageEnded must be after timeUsageStarted"),
        ({"groupBy": ["color"]}, 400, "groupBy 'color' is not one of"),
        ({"groupByTag": [{"namespace": "n", "key": "k"}]}, 400, "groupByTag"),
        (
            {"filter": {"dimensions": [{"key": "resourceId"}]}},
            400,
            r"filter.dimensions\[0\] needs key and value",
        ),
        ({"tenantId": "ocid1.tenancy.oc1..other"}, 404, "Authorization failed"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(body: dict[str, Any], status: int, message: str) -> None:
    with pytest.raises(ApiError, match=message) as caught:
        query(**body)
    assert caught.value.status == status


def test_the_usage_api_needs_read_usage_report_in_tenancy(tmp_path: Path) -> None:
    from aiohttp.test_utils import make_mocked_request

    init_data_dir(tmp_path)
    emu = Emulator(Settings(data_dir=tmp_path))
    try:
        checks = required_checks(
            emu, make_mocked_request("POST", "/20200107/usage"), "request_summarized_usages", b"{}"
        )
    finally:
        emu.store.close()
    user = Principal(TENANCY, "ocid1.user.oc1..u", "aa:bb")

    def allowed(*statements: str) -> bool:
        policies = PolicySet.build(list(statements), {"Finance": [user.user_id]}, {}, {COMPARTMENT: "ml"})
        return all(policies.allows(user, c.resource_type, c.verb, c.compartment_id) for c in checks)

    assert [c.text() for c in checks] == ["read usage-report in tenancy"]
    assert allowed("Allow group Finance to read usage-report in tenancy")
    assert allowed("Allow group Finance to manage all-resources in tenancy")
    assert not allowed("Allow group Finance to manage data-science-family in tenancy")
    assert not allowed(f"Allow group Finance to read usage-report in compartment id {COMPARTMENT}")


def test_the_route_is_the_sdks() -> None:
    import inspect

    import oci.usage_api.usageapi_client as sdk
    from ocids_emulator.api import usage

    source = inspect.getsource(sdk.UsageapiClient.request_summarized_usages)
    assert 'resource_path = "/usage"' in source and 'method = "POST"' in source
    assert "'base_path': '/20200107'" in inspect.getsource(sdk)
    [route] = usage.routes()
    assert (route.method, route.path, route.handler.__name__) == (  # type: ignore[attr-defined]
        "POST",
        "/20200107/usage",
        "request_summarized_usages",
    )


def test_serve_refuses_a_broken_named_table_and_skips_a_broken_chart_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ocids_emulator import cli

    broken = tmp_path / "prices.yaml"
    broken.write_text("currency: USD\nshapes:\n  - {match: X, date: d}\n")
    monkeypatch.delenv("OCIDS_EMULATOR_PRICE_TABLE", raising=False)
    assert cli._price_table(broken) == broken  # named: loaded (and refused) by serve itself
    init_data_dir(tmp_path / "emu")
    with pytest.raises(PriceTableError, match=r"prices.yaml: shapes\[0\].source is required"):
        Emulator(Settings(data_dir=tmp_path / "emu", price_table=broken))
    monkeypatch.setattr(cli, "CHART_TABLE", broken)
    monkeypatch.setattr("ocids_emulator.core.prices.CHART_TABLE", broken)
    assert cli._price_table(None) is None  # the chart's, broken: ignored with a warning
    monkeypatch.setenv("OCIDS_EMULATOR_PRICE_TABLE", str(broken))
    assert cli._price_table(None) == broken  # named by the env: serve refuses it


def test_a_page_token_keeps_the_time_its_answer_was_computed_for() -> None:
    from ocids_emulator.core.usage import page_time

    rows = [{"n": n} for n in range(5)]
    at = t("2026-12-07T12:00:00")
    chunk, token = page_of(rows, None, "2", at=at)
    assert chunk == rows[:2] and page_time(token) == at
    chunk, token = page_of(rows, token, "2", at=page_time(token))
    assert chunk == rows[2:4] and page_time(token) == at
    assert page_time(None) is None


def test_an_active_runs_growing_usage_never_shifts_items_between_pages(tmp_path: Path) -> None:
    from ocids_emulator.api import usage
    from ocids_emulator.core.emulator import RUN

    init_data_dir(tmp_path)
    emu = Emulator(Settings(data_dir=tmp_path))
    try:
        emu.prices = TABLE
        emu.settings.usage_delay_seconds = 0
        # One run ended, one still running: hourly items, one per page. The second page is asked
        # for an hour later, when the running run has more buckets: it is still the first's answer.
        for rid, started, finished in [
            ("ocid1.datasciencejobrun.oc1..aa", "2026-12-07T09:00:00Z", "2026-12-07T09:30:00Z"),
            ("ocid1.datasciencejobrun.oc1..bb", "2026-12-07T10:00:00Z", None),
        ]:
            doc = run_doc(rid, started, finished, **E4)
            doc["compartmentId"] = next(iter(emu.tenancy.compartments), COMPARTMENT)
            emu.create(RUN, rid, doc)
        body = {
            "tenantId": emu.tenancy.tenancy_id,
            "granularity": "HOURLY",
            "timeUsageStarted": "2026-12-07T00:00:00Z",
            "timeUsageEnded": "2026-12-08T00:00:00Z",
            "groupBy": ["resourceId"],
        }
        clock = [t("2026-12-07T10:30:00")]
        seen, token = [], None
        for _ in range(5):  # recomputed on every page, the pages would run on with the clock
            page, token = usage.answer(emu, body, token, "1", clock=lambda: clock[0])
            seen += page["items"]
            clock[0] += dt.timedelta(hours=1)
            if token is None:
                break
    finally:
        emu.store.close()
    assert [(i["resourceId"][-2:], i["timeUsageStarted"][11:16]) for i in seen] == [
        ("aa", "09:00"),
        ("bb", "10:00"),
    ]


def test_a_multi_node_run_with_an_unpriced_group_has_no_amount_rather_than_a_partial_one() -> None:
    meta = {
        "effective": {
            "jobNodeConfigurationDetails": {
                "jobNodeGroupConfigurationDetailsList": [
                    {
                        "name": "gpu",
                        "replicas": 1,
                        "jobInfrastructureConfigurationDetails": {
                            "jobInfrastructureType": "MULTI_NODE",
                            "shapeName": "VM.GPU.A10.1",
                            "blockStorageSizeInGBs": 50,
                        },
                    },
                    {
                        "name": "cpu",
                        "replicas": 1,
                        "jobInfrastructureConfigurationDetails": {
                            "jobInfrastructureType": "MULTI_NODE",
                            "shapeName": "VM.Standard2.2",
                            "blockStorageSizeInGBs": 50,
                        },
                    },
                ]
            }
        }
    }
    doc = run_doc("ocid1.datasciencejobrun.oc1..mx", "2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z")
    doc["jobInfrastructureConfigurationDetails"] = {"jobInfrastructureType": "MULTI_NODE"}
    [item] = items(meters_of(doc, meta), query(isAggregateByTime=True, groupBy=["resourceId"]))
    assert "computedAmount" not in item and item["computedQuantity"] > 0
