"""examples/multi-node/: the manifests load through the API models, and the node script prints ranks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from ocids_operator.api import TrainingJob, TrainingJobRun

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "multi-node"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
IDS = {
    "COMPARTMENT_ID": "ocid1.compartment.oc1..exampleuniqueid",
    "PROJECT_ID": "ocid1.datascienceproject.oc1.iad.exampleuniqueid",
    "LOG_GROUP_ID": "ocid1.loggroup.oc1.iad.exampleuniqueid",
}


def load(name: str) -> dict[str, Any]:
    text = PLACEHOLDER.sub(lambda m: IDS[m.group(1)], (EXAMPLE / name).read_text())
    return dict(yaml.safe_load(text))


def test_the_example_loads_through_the_models() -> None:
    job = TrainingJob.model_validate(load("trainingjob.yaml"))
    run = TrainingJobRun.model_validate(load("trainingjobrun.yaml"))
    assert run.spec.job_ref.name == job.metadata["name"]
    assert job.spec.nodes is not None
    assert [(g.name, g.replicas) for g in job.spec.nodes.groups] == [("workers", 3)]
    assert job.spec.logging is not None and job.spec.logging.enabled


def test_each_node_prints_its_rank_of_the_node_count() -> None:
    spec = load("trainingjob.yaml")["spec"]
    script = spec["artifact"]["inline"]["content"]
    group_env = {e["name"]: e["value"] for e in spec["nodes"]["groups"][0].get("env", [])}
    # What OCI sets on every node: its rank and the node count of the run.
    count = sum(group["replicas"] for group in spec["nodes"]["groups"])
    lines = []
    for rank in range(count):
        oci_env = {"NODE_RANK": str(rank), "NODE_COUNT": str(count), "FQDN": "localhost"}
        env = {**os.environ, **group_env, **oci_env}
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30, check=True
        )
        lines.append(done.stdout.strip())
    assert [line.split(" on ")[0] for line in lines] == ["rank=0 of 3", "rank=1 of 3", "rank=2 of 3"], lines
