"""examples/kueue/: the operator's manifests load through the API models, and each run asks Kueue
for the GPU its README says (the Kueue objects themselves are checked by Kueue's own webhooks in
tests/integration/kueue/)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from ocids_operator.api import TrainingJob, TrainingJobRun
from ocids_operator.core.cost import run_sizes
from ocids_operator.core.kueue_workload import QUEUE_LABEL, sized, workload_for

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "kueue"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
IDS = {
    "COMPARTMENT_ID": "ocid1.compartment.oc1..exampleuniqueid",
    "PROJECT_ID": "ocid1.datascienceproject.oc1.iad.exampleuniqueid",
    "LOG_GROUP_ID": "ocid1.loggroup.oc1.iad.exampleuniqueid",
}


def load_all(name: str) -> list[dict[str, Any]]:
    text = PLACEHOLDER.sub(lambda m: IDS[m.group(1)], (EXAMPLE / name).read_text())
    return [dict(doc) for doc in yaml.safe_load_all(text)]


def test_each_labelled_run_asks_its_queue_for_one_gpu() -> None:
    [job_doc] = load_all("trainingjob.yaml")
    job = TrainingJob.model_validate(job_doc)
    queues = {d["metadata"]["name"] for d in load_all("queues.yaml") if d["kind"] == "LocalQueue"}
    classes = {d["metadata"]["name"] for d in load_all("queues.yaml") if d["kind"] == "WorkloadPriorityClass"}
    cluster_queues = [d for d in load_all("queues.yaml") if d["kind"] == "ClusterQueue"]
    docs = load_all("trainingjobruns.yaml") + load_all("urgent-run.yaml")
    assert len(docs) == 4
    for doc in docs:
        run = TrainingJobRun.model_validate(doc)
        labels = doc["metadata"]["labels"]
        assert labels[QUEUE_LABEL] in queues and labels["kueue.x-k8s.io/priority-class"] in classes
        sizes = run_sizes(run.spec, job.spec)
        assert not isinstance(sizes, str), sizes
        doc["metadata"]["uid"] = "u"
        filled = [sized(size) for size in sizes]  # a fixed shape's OCPUs and memory, as the gate does
        assert None not in filled
        [pod_set] = workload_for(doc, labels[QUEUE_LABEL], filled)["spec"]["podSets"]  # type: ignore[arg-type]
        requests = pod_set["template"]["spec"]["containers"][0]["resources"]["requests"]
        assert requests == {"cpu": "15", "memory": "240Gi", "nvidia.com/gpu": "1"}
        # Every resource a run declares is covered by its ClusterQueue, or Kueue never admits it.
        for queue in cluster_queues:
            [group] = queue["spec"]["resourceGroups"]
            assert set(requests) <= set(group["coveredResources"]), queue["metadata"]["name"]
