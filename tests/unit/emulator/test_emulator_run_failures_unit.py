"""The failedRuns fault spec: parsing, round trip, the next-runs count."""

from __future__ import annotations

import pytest
from ocids_emulator.core.errors import ApiError
from ocids_emulator.faults.run_failures import INFRASTRUCTURE_FAILURE_DETAILS
from ocids_emulator.faults.spec import Faults

RUN = "ocid1.datasciencejobrun.oc1.iad.a"
OTHER = "ocid1.datasciencejobrun.oc1.iad.b"


def test_next_runs_are_claimed_once_and_named_runs_fail():
    faults = Faults.from_dict({"failedRuns": {"runIds": [RUN], "nextRuns": 1}})
    assert faults.fails_run(RUN) and not faults.fails_run(OTHER)
    assert faults.claim_failure(OTHER) and not faults.claim_failure("c")
    assert faults.fails_run(OTHER)
    assert faults.failure().lifecycle_details == INFRASTRUCTURE_FAILURE_DETAILS
    assert faults.failure().kind == "infrastructure"
    shown = faults.to_dict()["failedRuns"]
    assert shown["nextRuns"] == 0 and shown["runIds"] == sorted([RUN, OTHER])
    assert Faults.from_dict({"failedRuns": shown}).to_dict()["failedRuns"] == shown


def test_no_section_fails_nothing():
    faults = Faults.from_dict({})
    assert not faults.fails_run(RUN) and not faults.claim_failure(RUN)


@pytest.mark.parametrize(
    "section",
    [
        [],
        {"runIds": "x"},
        {"lifecycleDetails": "Job run artifact execution failed with exit code 3."},
        {"kind": "oom"},
        {"nextRuns": -1},
    ],
)
def test_bad_sections_are_400(section):
    with pytest.raises(ApiError) as err:
        Faults.from_dict({"failedRuns": section})
    assert err.value.status == 400
