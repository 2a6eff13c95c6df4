"""The Usage API through the real SDK (oci.usage_api.UsageapiClient): a run's cost from the price
table, shown only after the delay, grouped by resourceId, paged, held to the SDK's models, refused
on bad times and without `read usage-report in tenancy`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import oci
import pytest
from emulator_support import make_job, run_details, wait_run
from oci.usage_api import models as U
from ocids_emulator.testing import RunningEmulator, running_emulator
from sdk_contract import Contract, recording

pytestmark = pytest.mark.integration

PRICES = """
currency: USD
shapes:
  - match: VM.Standard.E4.Flex
    ocpuHour: 0.025
    memoryGBHour: 0.0015
    source: https://www.oracle.com/cloud/price-list/
    date: "2026-12-01"
blockStorage:
  gbMonth: 0.0255
  source: https://www.oracle.com/cloud/price-list/
  date: "2026-12-01"
"""
# The job's node (emulator_support.infrastructure): 1 OCPU, 16 GB, 50 GB block volume.
PER_HOUR = 1 * 0.025 + 16 * 0.0015 + 50 * 0.0255 / 730


@pytest.fixture
def usage_emu(tmp_path: Path) -> Any:
    table = tmp_path / "prices.yaml"
    table.write_text(PRICES)
    with running_emulator(tmp_path / "emulator", extra_args=["--price-table", str(table)]) as emu:
        yield emu


def day_query(emu: RunningEmulator, **extra: Any) -> U.RequestSummarizedUsagesDetails:
    # Yesterday and today in one bucket: a run that straddles midnight UTC is counted whole.
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    values: dict[str, Any] = {
        "tenant_id": emu.ids["TENANCY_ID"],
        "time_usage_started": today - dt.timedelta(days=1),
        "time_usage_ended": today + dt.timedelta(days=1),
        "granularity": "DAILY",
        "is_aggregate_by_time": True,
        "query_type": "COST",
        "group_by": ["resourceId"],
    }
    values.update(extra)
    return U.RequestSummarizedUsagesDetails(**values)


def test_a_runs_cost_arrives_after_the_delay_as_the_sdk_reads_it(usage_emu: RunningEmulator) -> None:
    emu, ids = usage_emu, usage_emu.ids
    ds = emu.datascience_client(retries=False)
    usage = emu.usage_client(retries=False)
    job = make_job(ds, ids, artifact=b"print(1)\n")
    emu.admin.set_simulated("1:0")
    run = wait_run(ds, ds.create_job_run(run_details(ids, job.id)).data.id)
    assert run.lifecycle_state == "SUCCEEDED"

    emu.admin.usage_delay(3600)
    assert usage.request_summarized_usages(day_query(emu)).data.items == []  # not metered yet

    assert emu.admin.usage_delay(0)["delaySeconds"] == 0
    with recording(usage) as recorder:
        answer = usage.request_summarized_usages(day_query(emu))
    raw = json.loads(recorder.last_body())
    assert Contract(U.usage_api_type_mapping).walk(raw, "UsageAggregation") == []
    [item] = answer.data.items
    hours = (run.time_finished - run.time_started).total_seconds() / 3600
    assert item.resource_id == run.id and item.currency == "USD"
    assert item.computed_amount == pytest.approx(PER_HOUR * hours, rel=1e-6)
    assert answer.data.group_by == ["resourceId"]

    # Paging: one SKU line per item, one item per page, all of them in the end.
    pages, page = [], None
    while True:
        kwargs = {"limit": 1, **({"page": page} if page else {})}
        response = usage.request_summarized_usages(
            day_query(emu, group_by=["resourceId", "skuName"]), **kwargs
        )
        pages.append(response.data.items)
        page = response.headers.get("opc-next-page")
        if not page:
            break
    assert all(len(p) == 1 for p in pages) and len(pages) == 3  # OCPU, memory, block volume
    assert sum(p[0].computed_amount for p in pages) == pytest.approx(item.computed_amount, rel=1e-6)


def test_bad_times_and_a_missing_usage_report_policy_are_refused(usage_emu: RunningEmulator) -> None:
    emu = usage_emu
    usage = emu.usage_client(retries=False)
    noon = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    with pytest.raises(oci.exceptions.ServiceError) as bad:
        usage.request_summarized_usages(day_query(emu, time_usage_started=noon))
    assert bad.value.status == 400 and "timeUsageStarted" in bad.value.message

    admins = "Allow group Administrators to manage data-science-family in tenancy"
    emu.admin.set_policies([admins])
    with pytest.raises(oci.exceptions.ServiceError) as denied:
        usage.request_summarized_usages(day_query(emu))
    assert (denied.value.status, denied.value.code) == (404, "NotAuthorizedOrNotFound")
    assert emu.admin.denials()[-1]["needs"] == "read usage-report in tenancy"

    emu.admin.set_policies([admins, "Allow group Administrators to read usage-report in tenancy"])
    assert usage.request_summarized_usages(day_query(emu)).status == 200
