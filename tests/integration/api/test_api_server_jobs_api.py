"""The whole-Jobs-API fields (issue 15) in a real kube-apiserver: what it refuses, naming the field, what it
stores (with defaults), the Nodes column, and the new status fields."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from ocids_controlplane import Cluster

JOB: dict[str, Any] = {
    "apiVersion": "ocids.io/v1alpha1",
    "kind": "TrainingJob",
    "metadata": {"name": "tj"},
    "spec": {
        "compartmentId": "ocid1.compartment.oc1..aaaa",
        "projectId": "ocid1.datascienceproject.oc1..aaaa",
        "artifact": {"inline": {"fileName": "train.py", "content": "print(1)"}},
        "infrastructure": {"shape": "VM.Standard.E4.Flex", "ocpus": 2, "memoryInGBs": 32},
    },
}
IMAGE = {"image": "iad.ocir.io/n/train:1"}
CT = "ocid1.computecluster.oc1..ct"
WORKERS = {"groups": [{"name": "workers", "replicas": 3}]}


def job(drop: tuple[str, ...] = (), **spec: Any) -> dict[str, Any]:
    body = copy.deepcopy(JOB)
    body["spec"].update(spec)
    for key in drop:
        del body["spec"][key]
    return body


def run(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ocids.io/v1alpha1",
        "kind": "TrainingJobRun",
        "metadata": {"name": "tjr"},
        "spec": {"jobRef": {"name": "tj"}, **spec},
    }


def apply(cluster: Cluster, namespace: str, body: dict[str, Any], *extra: str) -> Any:
    return cluster.kubectl("apply", "-n", namespace, "-f", "-", *extra, input=json.dumps(body), check=False)


# (id, manifest, the field the error names, words of the message)
REFUSED = [
    ("no-artifact", job(drop=("artifact",)), "spec.artifact", "artifact is required unless container is set"),
    (
        "empty-with-env",
        job(jobType="EMPTY", container=IMAGE, env=[{"name": "A", "value": "1"}]),
        "spec.jobType",
        "jobType EMPTY takes no env, args, entrypoint, conda, maximumRuntimeInMinutes or startupProbe",
    ),
    ("empty-without-container", job(jobType="EMPTY"), "spec.container", "jobType EMPTY needs container"),
    (
        "operator-tag",
        job(freeformTags={"ocids.io/owner": "me"}),
        "spec.freeformTags",
        "freeformTags keys starting with ocids.io/ are the operator's own",
    ),
    (
        "new-flex-without-size",
        job(infrastructure={"shape": "VM.Standard.E6.Flex"}),
        "spec.infrastructure.shape",
        "ocpus and memoryInGBs are required with a flex shape (a shape name ending in .Flex)",
    ),
    (
        "baseline-without-ocpus",
        job(infrastructure={"shape": "VM.GPU.A10.1", "cpuBaseline": "BASELINE_1_2"}),
        "spec.infrastructure.cpuBaseline",
        "cpuBaseline can only be set with ocpus",
    ),
    (
        "no-shape",
        job(infrastructure={"subnetId": "ocid1.subnet.oc1..a"}),
        "spec.infrastructure.shape",
        "shape is required unless fastLaunch or computeTargetId is set",
    ),
    (
        "compute-target-with-shape",
        job(infrastructure={"computeTargetId": CT, "shape": "VM.Standard2.1"}),
        "spec.infrastructure.computeTargetId",
        "computeTargetId cannot be combined with shape",
    ),
    (
        "resources-without-compute-target",
        job(
            infrastructure={
                "shape": "VM.Standard2.1",
                "resources": {"requests": {"ocpus": 1, "memoryInGBs": 8}},
            }
        ),
        "spec.infrastructure.resources",
        "resources can only be set with computeTargetId",
    ),
    (
        "nodes-with-fast-launch",
        job(infrastructure={"fastLaunch": True}, nodes=WORKERS),
        "spec.nodes",
        "nodes cannot be combined with infrastructure.fastLaunch or infrastructure.computeTargetId",
    ),
    (
        "min-success-above-replicas",
        job(nodes={"groups": [{"name": "w", "replicas": 2, "minimumSuccessReplicas": 3}]}),
        "spec.nodes.groups[0].minimumSuccessReplicas",
        "minimumSuccessReplicas must be at most replicas",
    ),
    (
        "duplicate-groups",
        job(nodes={"groups": [{"name": "w", "replicas": 1}, {"name": "w", "replicas": 2}]}),
        "spec.nodes.groups[1]",
        "Duplicate value",
    ),
    (
        "probe-without-command",
        job(startupProbe={"periodInSeconds": 5}),
        "spec.startupProbe.command",
        "Required value",
    ),
    (
        "run-empty-container-override",
        run(container={}),
        "spec.container",
        "container: set at least one of image, command, args, imageDigest or imageSignatureId",
    ),
    (
        "run-operator-tag",
        run(freeformTags={"ocids.io/trainingjob": "x"}),
        "spec.freeformTags",
        "freeformTags keys starting with ocids.io/ are the operator's own",
    ),
]


@pytest.mark.parametrize(("body", "field", "words"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_api_server_refuses_naming_the_field(
    api_crds: Cluster, namespace: str, body: dict[str, Any], field: str, words: str
) -> None:
    result = apply(api_crds, namespace, body, "--dry-run=server")
    assert result.returncode != 0, f"accepted: {body['spec']}"
    assert f"{field}:" in result.stderr, result.stderr
    assert words in result.stderr, result.stderr


ACCEPTED = [
    ("container-without-artifact", job(drop=("artifact",), container=IMAGE)),
    ("empty-job", job(drop=("artifact",), jobType="EMPTY", container={**IMAGE, "args": ["--x"]})),
    ("shape-not-in-the-catalog", job(infrastructure={"shape": "VM.GPU.L40S.2"})),
    (
        "new-flex-shape",
        job(infrastructure={"shape": "VM.Standard.E6.Flex", "ocpus": 126, "memoryInGBs": 1454}),
    ),
    (
        "burstable-on-reservation",
        job(
            infrastructure={
                "shape": "VM.Standard.E4.Flex",
                "ocpus": 2,
                "memoryInGBs": 16,
                "cpuBaseline": "BASELINE_1_8",
                "capacityReservationId": "ocid1.capacityreservation.oc1..a",
            }
        ),
    ),
    ("fast-launch", job(infrastructure={"fastLaunch": True})),
    (
        "fast-launch-flex-sized-by-config",
        job(infrastructure={"fastLaunch": True, "shape": "VM.Standard.E4.Flex"}),
    ),
    (
        "compute-target",
        job(
            infrastructure={
                "computeTargetId": CT,
                "resources": {"requests": {"ocpus": 1, "memoryInGBs": 8, "gpus": 1}},
            }
        ),
    ),
    (
        "probe-tags-signature",
        job(
            startupProbe={"command": ["cat", "/tmp/ready"], "periodInSeconds": 5, "failureThreshold": 3},
            freeformTags={"team": "risk"},
            definedTags={"Operations": {"CostCenter": "42"}},
        ),
    ),
    (
        "multi-node",
        job(
            nodes={
                "startupOrder": "IN_ORDER",
                "groups": [
                    {"name": "main", "replicas": 1, "infrastructure": {"shape": "VM.GPU.A10.2"}},
                    {
                        "name": "workers",
                        "replicas": 4,
                        "minimumSuccessReplicas": 3,
                        "env": [{"name": "R", "value": "w"}],
                    },
                ],
            }
        ),
    ),
    (
        "run-overrides",
        run(
            container={"args": ["--lr", "0.1"]},
            storageMounts=[],
            freeformTags={"experiment": "7"},
            definedTags={"Operations": {"CostCenter": "42"}},
            nodeGroups=[{"name": "workers", "replicas": 2}],
        ),
    ),
]


@pytest.mark.parametrize("body", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_api_server_accepts(api_crds: Cluster, namespace: str, body: dict[str, Any]) -> None:
    result = apply(api_crds, namespace, body, "--dry-run=server")
    assert result.returncode == 0, result.stderr


def test_defaults_nodes_column_and_new_status_fields(api_crds: Cluster, namespace: str) -> None:
    assert apply(api_crds, namespace, job(nodes=WORKERS)).returncode == 0
    stored = api_crds.kubectl_json("get", "tj", "tj", "-n", namespace)["spec"]
    assert (stored["jobType"], stored["infrastructure"]["fastLaunch"]) == ("DEFAULT", False)
    assert stored["nodes"]["startupOrder"] == "IN_PARALLEL"
    status = {
        "status": {
            "phase": "Active",
            "shape": "VM.GPU.A10.2",
            "nodeCount": 3,
            "infrastructureType": "MULTI_NODE",
        }
    }
    api_crds.kubectl(
        "patch", "tj", "tj", "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(status)
    )
    table = api_crds.kubectl("get", "tj", "-n", namespace).stdout.splitlines()
    assert table[0].split()[:4] == ["NAME", "SHAPE", "PHASE", "NODES"]
    assert table[1].split()[1:4] == ["VM.GPU.A10.2", "Active", "3"]

    assert apply(api_crds, namespace, run()).returncode == 0
    run_status = {
        "status": {
            "phase": "InProgress",
            "nodeCount": 3,
            "infrastructureType": "MULTI_NODE",
            "nodeGroups": [
                {"name": "workers", "lifecycleState": "ACTIVE", "lifecycleDetails": "3 of 3 nodes up"}
            ],
        }
    }
    api_crds.kubectl(
        "patch",
        "tjr",
        "tjr",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(run_status),
    )
    got = api_crds.kubectl_json("get", "tjr", "tjr", "-n", namespace)["status"]
    assert got["nodeGroups"] == run_status["status"]["nodeGroups"] and got["nodeCount"] == 3
    assert api_crds.kubectl("get", "tjr", "-n", namespace).stdout.splitlines()[1].split()[2:4] == [
        "InProgress",
        "3",
    ]


def test_kubectl_explain_describes_the_new_fields(api_crds: Cluster) -> None:
    groups = api_crds.kubectl("explain", "trainingjob.spec.nodes.groups").stdout
    assert "minimumSuccessReplicas" in groups and "merged over spec.env" in groups
    infra = api_crds.kubectl("explain", "trainingjob.spec.infrastructure.computeTargetId").stdout
    assert "Managed Compute Cluster" in infra
