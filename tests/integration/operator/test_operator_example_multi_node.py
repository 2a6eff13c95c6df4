"""examples/multi-node/ as its README tells a user to apply it: placeholders filled, `kubectl apply`.

The API server accepts it (server-side dry run, before any operator), and against the emulator its
run succeeds on three nodes whose lines, read back through the run's Logging search, are the ranks.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from operator_harness import REPO_ROOT, RUNS, Kube, Scenario, log_query_from_url, wait_for

pytestmark = pytest.mark.integration

EXAMPLE = REPO_ROOT / "examples" / "multi-node"
FILES = ("trainingjob.yaml", "trainingjobrun.yaml")
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
# What a user exports (README), in the shapes the CRDs accept.
SAMPLE_IDS = {
    "COMPARTMENT_ID": "ocid1.compartment.oc1..exampleuniqueid",
    "PROJECT_ID": "ocid1.datascienceproject.oc1.iad.exampleuniqueid",
    "LOG_GROUP_ID": "ocid1.loggroup.oc1.iad.exampleuniqueid",
}


def rendered(ids: dict[str, str]) -> str:
    """`cat trainingjob.yaml trainingjobrun.yaml | envsubst '$COMPARTMENT_ID ...'`, as the README says."""
    text = "---\n".join((EXAMPLE / name).read_text() for name in FILES)
    used = set(PLACEHOLDER.findall(text))
    assert used == set(SAMPLE_IDS), f"README documents {sorted(SAMPLE_IDS)}, the example uses {sorted(used)}"
    return PLACEHOLDER.sub(lambda m: ids[m.group(1)], text)


def documents(ids: dict[str, str]) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(rendered(ids)) if d]


def test_the_multi_node_example_passes_server_side_dry_run(kube: Kube, namespace: str) -> None:
    text = rendered(SAMPLE_IDS)
    result = kube.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=text, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(server dry run)") == 2, result.stdout
    job = next(d for d in documents(SAMPLE_IDS) if d["kind"] == "TrainingJob")
    assert [(g["name"], g["replicas"]) for g in job["spec"]["nodes"]["groups"]] == [("workers", 3)]
    assert job["spec"]["logging"]["enabled"] is True


def test_the_multi_node_example_runs_three_ranks_against_the_emulator(e2e: Scenario, tmp_path: Path) -> None:
    manifest = tmp_path / "multi-node.yaml"
    manifest.write_text(rendered(e2e.ids))
    e2e.kube.kubectl("apply", "-n", e2e.namespace, "-f", str(manifest))
    e2e.wait_job_active("ranks")
    run = e2e.wait_run("ranks-1", "Succeeded", timeout=120)
    assert run["status"]["nodeCount"] == 3, run["status"]

    query = log_query_from_url(run["status"]["logs"]["url"])

    def ranks() -> list[str] | None:
        lines = e2e.oci.search_log_messages(query)
        found = sorted(line.split(" on ")[0] for line in lines if line.startswith("rank="))
        return found if len(found) >= 3 else None

    found = wait_for(ranks, timeout=30, message=f"three rank lines for {query!r}")
    assert found == ["rank=0 of 3", "rank=1 of 3", "rank=2 of 3"], found
    table = e2e.kube.kubectl("get", RUNS, "ranks-1", "-n", e2e.namespace).stdout
    assert "NODES" in table.splitlines()[0], table
