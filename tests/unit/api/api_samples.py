"""Realistic manifests shared by the API unit tests (the shapes of /work/shared/design/api.md)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"

COMPARTMENT = "ocid1.compartment.oc1..aaaa"
PROJECT = "ocid1.datascienceproject.oc1.iad.aaaa"

DESIGN_JOB = yaml.safe_load(
    f"""
apiVersion: ocids.io/v1alpha1
kind: TrainingJob
metadata: {{name: attrition, namespace: ml}}
spec:
  compartmentId: {COMPARTMENT}
  projectId: {PROJECT}
  displayName: attrition-train
  description: Train the attrition model
  artifact:
    inline: {{fileName: train.py, content: "print('training')"}}
  entrypoint: train/main.py
  conda: {{type: service, slug: tensorflow27_p37_cpu_v1}}
  infrastructure:
    shape: VM.Standard.E4.Flex
    ocpus: 2
    memoryInGBs: 32
    blockStorageSizeInGBs: 50
    subnetId: ocid1.subnet.oc1.iad.aaaa
  env:
    - {{name: EPOCHS, value: "10"}}
    - {{name: WANDB_KEY, valueFrom: {{secretKeyRef: {{name: wandb, key: token}}}}}}
  args: ["--epochs", "10"]
  maximumRuntimeInMinutes: 120
  logging:
    {{enabled: true, logGroupId: ocid1.loggroup.oc1.iad.aaaa, logId: ocid1.log.oc1.iad.aaaa,
     autoCreateLog: true}}
  storageMounts:
    - {{storageType: OBJECT_STORAGE, namespace: ns, bucket: data, prefix: train/,
        destinationDirectoryName: data}}
    - {{storageType: FILE_STORAGE, mountTargetId: ocid1.mounttarget.oc1..a, exportId: ocid1.export.oc1..a,
        destinationDirectoryName: shared, destinationPath: /mnt}}
  freeformTags: {{team: risk}}
  deletionPolicy: Delete
status:
  phase: Active
  jobId: ocid1.datasciencejob.oc1.iad.aaaa
  revision: 2
  retiredJobIds: [ocid1.datasciencejob.oc1.iad.old]
  artifact: {{source: inline, fileName: train.py, digest: "sha256:abc", sizeBytes: 2048}}
  shape: "VM.Standard.E4.Flex (2 OCPU, 32 GB)"
  consoleUrl: https://cloud.oracle.com/data-science/jobs/ocid1.datasciencejob.oc1.iad.aaaa?region=us-ashburn-1
  observedGeneration: 3
  conditions:
    - {{type: Ready, status: "True", reason: Active, lastTransitionTime: "2026-01-02T03:04:05Z",
        observedGeneration: 3}}
    - {{type: Reconciling, status: "False"}}
    - {{type: Stalled, status: "False"}}
"""
)

DESIGN_RUN = yaml.safe_load(
    """
apiVersion: ocids.io/v1alpha1
kind: TrainingJobRun
metadata: {name: attrition-lr-0.01, namespace: ml}
spec:
  jobRef: {name: attrition}
  displayName: attrition lr=0.01
  env: [{name: LEARNING_RATE, value: "0.01"}]
  args: ["--epochs", "20"]
  maximumRuntimeInMinutes: 60
  infrastructure: {shape: VM.GPU.A10.1}
  logging: {enabled: true, logGroupId: ocid1.loggroup.oc1..a, autoCreateLog: true}
  deletionPolicy: Delete
status:
  phase: Succeeded
  jobRunId: ocid1.datasciencejobrun.oc1.iad.aaaa
  jobId: ocid1.datasciencejob.oc1.iad.aaaa
  jobRevision: 2
  lifecycleDetails: "Job run artifact execution succeeded. Infrastructure de-provisioning."
  exitCode: 0
  timeAccepted: "2026-01-02T03:04:05.123Z"
  timeStarted: "2026-01-02T03:05:05Z"
  timeFinished: "2026-01-02T03:15:05Z"
  consoleUrl: https://cloud.oracle.com/data-science/job-runs/ocid1.datasciencejobrun.oc1.iad.aaaa?region=us-ashburn-1
  logs: {logGroupId: ocid1.loggroup.oc1..a, logId: ocid1.log.oc1..b, url: "https://cloud.oracle.com/logging/search?x=1"}
  observedGeneration: 1
  conditions:
    - {type: Ready, status: "True"}
    - {type: Succeeded, status: "True", reason: Succeeded}
"""
)

MINIMAL_JOB_SPEC: dict[str, Any] = {
    "compartmentId": COMPARTMENT,
    "projectId": PROJECT,
    "artifact": {"inline": {"fileName": "train.py", "content": "print(1)"}},
    "infrastructure": {"shape": "VM.Standard2.1"},
}


def job_spec(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(MINIMAL_JOB_SPEC)
    spec.update(copy.deepcopy(changes))
    return spec


def example_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs
