"""Pure logic: query parsing, paging, validation, faults, request counts, artifacts, simulation specs."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from ocids_emulator.api.data_science.validation import (
    check_create_job,
    check_infrastructure,
    check_update_job,
)
from ocids_emulator.api.logging.search import like_pattern, parse_query
from ocids_emulator.core.emulator import Simulation
from ocids_emulator.core.errors import ApiError
from ocids_emulator.core.stats import RequestStats
from ocids_emulator.execution.artifacts import BootstrapError, command_for, find_entrypoint, unpack
from ocids_emulator.faults.spec import Faults, parse_error_flag
from ocids_emulator.store.paging import paginate


def test_parse_query_forms():
    query = parse_query("search \"c/lg/log\" | where source = '*ocid1.run' | sort by datetime asc")
    assert query.streams == ["c/lg/log"] and query.source_patterns == ["*ocid1.run"] and not query.descending
    ads = parse_query("SEARCH \"c/lg/log\" | WHERE source = '*x' | SORT BY datetime DESC")
    assert ads.descending
    assert parse_query('search "c/lg", "c/lg2"').streams == ["c/lg", "c/lg2"]
    with pytest.raises(ApiError, match="unsupported"):
        parse_query('search "c" | stats count')
    assert like_pattern("*ab_c%") == "%ab\\_c\\%"


@pytest.mark.parametrize(
    ("where", "alternatives"),
    [
        ("source = '*a'", [["*a"]]),
        ("source = '*a' or source = '*b'", [["*a"], ["*b"]]),
        ("source = '*a' and source = 'x*' or source = '*b'", [["*a", "x*"], ["*b"]]),  # and binds tighter
        ("source = 'x*' and (source = '*a' OR source = '*b')", [["x*", "*a"], ["x*", "*b"]]),
        ("source = 'it''s|here'", [["it's|here"]]),  # a quoted | is no pipe
    ],
)
def test_parse_query_where_conditions_with_or_and_parentheses(where, alternatives):
    query = parse_query(f'search "c/lg/log" | where {where} | sort by datetime asc')
    assert query.source_filters == [alternatives]


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("source = '*a' or", "unsupported condition"),
        ("(source = '*a'", "not closed"),
        ("level = 'ERROR'", "only source"),
        ("source = '*a' source = '*b'", "unexpected"),
    ],
)
def test_parse_query_refuses_conditions_it_cannot_evaluate(where, message):
    with pytest.raises(ApiError, match=message):
        parse_query(f'search "c/lg/log" | where {where}')


def test_paginate_is_keyset_and_stable():
    docs = [
        {"id": f"id{i:02d}", "timeCreated": f"2024-01-01T00:00:{i:02d}.000Z", "displayName": f"n{i}"}
        for i in range(10)
    ]
    page, token = paginate(docs, {"limit": "4"})
    assert [d["id"] for d in page] == ["id09", "id08", "id07", "id06"]
    docs.append({"id": "id10", "timeCreated": "2024-01-01T00:00:10.000Z", "displayName": "n10"})
    page2, _ = paginate(docs, {"limit": "4", "page": token})
    assert [d["id"] for d in page2] == ["id05", "id04", "id03", "id02"]
    with pytest.raises(ApiError):
        paginate(docs, {"limit": "101"})


def _infra(**changes):
    infra = {
        "jobInfrastructureType": "STANDALONE",
        "shapeName": "VM.Standard.E4.Flex",
        "subnetId": "ocid1.subnet.x",
        "blockStorageSizeInGBs": 50,
        "jobShapeConfigDetails": {"ocpus": 2, "memoryInGBs": 32},
    }
    infra.update(changes)
    return infra


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"blockStorageSizeInGBs": 49}, "blockStorageSizeInGBs"),
        ({"shapeName": "VM.Bogus"}, "shapeName"),
        ({"jobShapeConfigDetails": {"ocpus": 2, "memoryInGBs": 200}}, "memoryInGBs"),
        (
            {"jobInfrastructureType": "ME_STANDALONE", "subnetId": None, "blockStorageSizeInGBs": None},
            "blockStorage",
        ),
        ({"jobInfrastructureType": "NOPE"}, "jobInfrastructureType"),
    ],
)
def test_infrastructure_rules(changes, field):
    with pytest.raises(ApiError) as err:
        check_infrastructure(_infra(**changes), "infra")
    assert field in err.value.message


def test_me_standalone_needs_no_subnet_and_update_rules():
    check_infrastructure(_infra(jobInfrastructureType="ME_STANDALONE", subnetId=None), "infra")
    with pytest.raises(ApiError, match="jobConfigurationDetails"):
        check_update_job({"jobConfigurationDetails": {"jobType": "DEFAULT"}})
    body = {
        "compartmentId": "c",
        "projectId": "p",
        "jobConfigurationDetails": {"jobType": "DEFAULT", "environmentVariables": {"A": "x" * 20_000}},
        "jobInfrastructureConfigurationDetails": _infra(),
    }
    with pytest.raises(ApiError, match="20000"):
        check_create_job(body, lambda g, log: None)


def test_faults_rules_and_flags():
    faults = Faults.from_dict({"errors": [parse_error_flag("get_job=503:1.0:2")], "latencyMs": {"*": 5}})
    assert [faults.pick_error("get_job") for _ in range(3)] == [503, 503, None]
    assert faults.pick_error("list_jobs") is None
    assert faults.latency_s("anything") == 0.005
    with pytest.raises(ApiError):
        Faults.from_dict({"errors": [{"status": 404}]})
    with pytest.raises(ValueError):
        parse_error_flag("nonsense")


def test_request_stats_group_by_operation_then_status():
    stats = RequestStats()
    for operation, status in [("get_job_run", 200), ("get_job_run", 503), ("get_job_run", 200), (None, 404)]:
        stats.count(operation, status)
    doc = stats.to_dict()
    assert doc["total"] == 4
    assert doc["operations"] == {
        "get_job_run": {"total": 3, "byStatus": {"200": 2, "503": 1}},
        "unknown": {"total": 1, "byStatus": {"404": 1}},
    }
    stats.reset()
    assert stats.to_dict()["total"] == 0 and stats.to_dict()["operations"] == {}


def test_simulation_spec():
    assert Simulation.parse("2.5:3") == Simulation(2.5, 3)
    assert Simulation.parse("1") == Simulation(1.0, 0)


def test_archive_entrypoint_and_traversal(tmp_path: Path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("root/run.sh", "echo hi\n")
    unpack("a.zip", buffer.getvalue(), tmp_path / "w")
    entry = find_entrypoint("a.zip", tmp_path / "w", "run.sh")
    assert entry.name == "run.sh"
    assert command_for(entry, "--x 'a b'")[-3:] == [str(entry), "--x", "a b"]
    with pytest.raises(BootstrapError, match="JOB_RUN_ENTRYPOINT"):
        find_entrypoint("a.zip", tmp_path / "w", "../../etc/passwd")
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../escape.py", "print(1)\n")
    with pytest.raises(BootstrapError, match="escapes"):
        unpack("e.zip", evil.getvalue(), tmp_path / "e")
