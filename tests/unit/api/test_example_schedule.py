"""examples/schedule/: the manifests load through the API models, the line parses, the script runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from ocids_operator.api import TrainingJob, TrainingJobSchedule
from ocids_operator.core import cron

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "schedule"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
IDS = {
    "COMPARTMENT_ID": "ocid1.compartment.oc1..exampleuniqueid",
    "PROJECT_ID": "ocid1.datascienceproject.oc1.iad.exampleuniqueid",
    "LOG_GROUP_ID": "ocid1.loggroup.oc1.iad.exampleuniqueid",
}


def load(name: str) -> dict[str, Any]:
    text = PLACEHOLDER.sub(lambda m: IDS[m.group(1)], (EXAMPLE / name).read_text())
    return dict(yaml.safe_load(text))


def test_the_example_is_an_every_minute_forbid_schedule_keeping_one_success() -> None:
    job = TrainingJob.model_validate(load("trainingjob.yaml"))
    schedule = TrainingJobSchedule.model_validate(load("schedule.yaml"))
    spec = schedule.spec
    assert spec.job_ref.name == job.metadata["name"]
    assert (spec.schedule, spec.concurrency_policy, spec.successful_runs_history_limit) == (
        "* * * * *",
        "Forbid",
        1,
    )
    assert cron.parse(spec.schedule, spec.time_zone).expression == "* * * * *"


def test_the_script_prints_an_accuracy() -> None:
    script = load("trainingjob.yaml")["spec"]["artifact"]["inline"]["content"]
    env = {**os.environ, "TRAIN_SECONDS": "0"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30, check=True
    )
    assert re.search(r"^test accuracy=0\.\d{3}$", done.stdout, re.MULTILINE), done.stdout
