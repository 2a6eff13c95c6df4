"""The real ``oci`` CLI creates and runs a multi-node (distributed) job against the emulator.

What a user of the CLI types: `job create --job-node-configuration-details` with no top-level
configuration or infrastructure (the request ADS sends), the artifact upload, `job-run create`
(plain, and with `--job-node-configuration-override-details`), then the run's node groups and the
nodes' log lines read back through `logging-search`. See test_emulator_cli.py for the CLI's setup.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_emulator_cli import CLI, oci_cli

if CLI is None:
    pytestmark = pytest.mark.skip(reason="oci CLI not installed: run `make ocicli` or set OCIDS_OCI_CLI")

RANKS = """\
import os
print(
    f"rank={os.environ['NODE_RANK']} of {os.environ['NODE_COUNT']}"
    f" group={os.environ.get('NODE_GROUP_NAME')} greeting={os.environ.get('GREETING')}",
    flush=True,
)
"""
RANK_LINE = re.compile(r"^rank=(\d+) of (\d+) group=(\S+) greeting=(\S+)$")


def node_configuration(replicas: int, greeting: str) -> dict[str, Any]:
    """jobNodeConfigurationDetails of one group `workers` (the wire names, as the CLI takes them)."""
    return {
        "jobNodeType": "MULTI_NODE",
        "startupOrder": "IN_PARALLEL",
        "maximumRuntimeInMinutes": 30,
        "jobNetworkConfiguration": {"jobNetworkType": "DEFAULT_NETWORK"},
        "jobNodeGroupConfigurationDetailsList": [
            {
                "name": "workers",
                "replicas": replicas,
                "jobInfrastructureConfigurationDetails": {
                    "jobInfrastructureType": "MULTI_NODE",
                    "shapeName": "VM.Standard.E4.Flex",
                    "blockStorageSizeInGBs": 50,
                    "jobShapeConfigDetails": {"ocpus": 1, "memoryInGBs": 16},
                },
                "jobConfigurationDetails": {
                    "jobType": "DEFAULT",
                    "environmentVariables": {"GREETING": greeting},
                },
            }
        ],
    }


def run_and_wait(emu: Any, ids: dict[str, str], job_id: str, *extra: str) -> dict[str, Any]:
    created = oci_cli(
        emu, "data-science", "job-run", "create", "--compartment-id", ids["COMPARTMENT_ID"],
        "--project-id", ids["PROJECT_ID"], "--job-id", job_id, *extra,
        "--wait-for-state", "SUCCEEDED", "--wait-for-state", "FAILED",
        "--wait-interval-seconds", "1", "--max-wait-seconds", "90",
    )  # fmt: skip
    return dict(created["data"])


def rank_lines(emu: Any, ids: dict[str, str], run: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(source, rank line fields) of each node's line, through `oci logging-search search-logs`."""
    log = run["log-details"]
    query = (
        f'search "{ids["COMPARTMENT_ID"]}/{log["log-group-id"]}/{log["log-id"]}"'
        f" | where source = '*{run['id']}' | sort by datetime asc"
    )
    now = dt.datetime.now(dt.UTC)
    found = oci_cli(
        emu, "logging-search", "search-logs", "--search-query", query,
        "--time-start", (now - dt.timedelta(hours=1)).isoformat(),
        "--time-end", (now + dt.timedelta(minutes=1)).isoformat(),
    )  # fmt: skip
    lines = []
    for result in found["data"]["results"]:
        content = result["data"]["logContent"]
        match = RANK_LINE.match(content["data"]["message"])
        if match:
            lines.append((content["source"], list(match.groups())))
    return sorted(lines, key=lambda item: int(item[1][0]))


def test_cli_creates_and_runs_a_multi_node_job_with_a_node_override(emu, ids, tmp_path: Path) -> None:
    log_config = {"enableLogging": True, "enableAutoLogCreation": True, "logGroupId": ids["LOG_GROUP_ID"]}
    job = oci_cli(
        emu, "data-science", "job", "create", "--compartment-id", ids["COMPARTMENT_ID"],
        "--project-id", ids["PROJECT_ID"], "--display-name", "cli-multi-node",
        "--job-node-configuration-details", json.dumps(node_configuration(3, "hello")),
        "--log-configuration-details", json.dumps(log_config),
    )["data"]  # fmt: skip
    # No top-level configuration or infrastructure was sent; the job describes its node groups.
    groups = job["job-node-configuration-details"]["job-node-group-configuration-details-list"]
    assert [(g["name"], g["replicas"]) for g in groups] == [("workers", 3)], job
    script = tmp_path / "ranks.py"
    script.write_text(RANKS)
    oci_cli(
        emu, "data-science", "job", "create-job-artifact", "--job-id", job["id"],
        "--job-artifact-file", str(script), "--content-disposition", "attachment; filename=ranks.py",
    )  # fmt: skip
    assert (
        oci_cli(emu, "data-science", "job", "get", "--job-id", job["id"])["data"]["lifecycle-state"]
        == "ACTIVE"
    )

    run = run_and_wait(emu, ids, job["id"], "--display-name", "three-nodes")
    assert run["lifecycle-state"] == "SUCCEEDED", run.get("lifecycle-details")
    got = oci_cli(emu, "data-science", "job-run", "get", "--job-run-id", run["id"])["data"]
    assert [g["name"] for g in got["node-group-details-list"]] == ["workers"], got["node-group-details-list"]
    nodes = rank_lines(emu, ids, got)
    assert [fields for _, fields in nodes] == [
        ["0", "3", "workers", "hello"],
        ["1", "3", "workers", "hello"],
        ["2", "3", "workers", "hello"],
    ], nodes
    # Each node logs under its own source, and every source matches the run's query.
    sources = [source for source, _ in nodes]
    assert len(set(sources)) == 3 and all(s.endswith(run["id"]) for s in sources), sources

    # Per run: two replicas and another greeting, sent as the run's node configuration override.
    override = node_configuration(2, "override")
    run2 = run_and_wait(
        emu, ids, job["id"], "--display-name", "two-nodes",
        "--job-node-configuration-override-details", json.dumps(override),
    )  # fmt: skip
    assert run2["lifecycle-state"] == "SUCCEEDED", run2.get("lifecycle-details")
    got2 = oci_cli(emu, "data-science", "job-run", "get", "--job-run-id", run2["id"])["data"]
    assert (
        got2["job-node-configuration-override-details"]["job-node-group-configuration-details-list"][0][
            "replicas"
        ]
        == 2
    ), got2
    assert [fields for _, fields in rank_lines(emu, ids, got2)] == [
        ["0", "2", "workers", "override"],
        ["1", "2", "workers", "override"],
    ]
