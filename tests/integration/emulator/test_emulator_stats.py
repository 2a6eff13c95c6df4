"""Request counts on the admin endpoint: what the server saw, retries and refusals included."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from emulator_support import make_job, run_details

pytestmark = pytest.mark.integration


def _by_status(stats: dict, operation: str) -> dict[str, int]:
    return stats["operations"].get(operation, {}).get("byStatus", {})


def test_stats_count_requests_by_operation_and_status(emu, ids):
    client = emu.datascience_client(retries=False)
    job = make_job(client, ids, artifact=b"print(1)\n")  # create_job, create_job_artifact, get_job
    emu.admin.set_simulated("30:0")
    run = client.create_job_run(run_details(ids, job.id)).data
    client.head_job_artifact(job.id)

    stats = emu.admin.stats()
    assert _by_status(stats, "create_job") == {"200": 1}
    assert _by_status(stats, "create_job_artifact") == {"200": 1}
    assert _by_status(stats, "get_job") == {"200": 1}
    assert _by_status(stats, "create_job_run") == {"200": 1}
    assert _by_status(stats, "head_job_artifact") == {"200": 1}
    assert stats["total"] == 5  # the admin calls above are not OCI requests and are not counted

    emu.admin.reset_stats()
    assert emu.admin.stats()["total"] == 0

    # The SDK's default retries absorb two injected 503s: the server saw three requests for one call.
    emu.admin.set_faults({"errors": [{"operation": "get_job_run", "status": 503, "count": 2}]})
    assert emu.datascience_client().get_job_run(run.id).data.id == run.id
    client.list_job_runs(compartment_id=ids["COMPARTMENT_ID"])
    unsigned = f"{emu.endpoint}/20190101/jobRuns/{run.id}"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(unsigned, timeout=10)
    assert err.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{emu.endpoint}/20190101/noSuchThing", timeout=10)
    # An endpoint the emulator lacks says so (501), rather than a 404 that reads like a denial.
    assert err.value.code == 501

    stats = emu.admin.stats()
    assert stats["operations"]["get_job_run"] == {"total": 4, "byStatus": {"200": 1, "401": 1, "503": 2}}
    assert _by_status(stats, "list_job_runs") == {"200": 1}
    assert _by_status(stats, "unknown") == {"501": 1}
    assert stats["total"] == 6
