"""The generated CRDs in a real kube-apiserver: invalid input is refused by the server itself, with an
error naming the field; valid input is stored with defaults; kubectl shows descriptions and columns."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from ocids_controlplane import Cluster
from ocids_controlplane.waiting import wait_until

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))

JOB: dict[str, Any] = {
    "apiVersion": "ocids.io/v1alpha1",
    "kind": "TrainingJob",
    "metadata": {"name": "tj"},
    "spec": {
        "compartmentId": "ocid1.compartment.oc1..aaaa",
        "projectId": "ocid1.datascienceproject.oc1..aaaa",
        "artifact": {"inline": {"fileName": "train.py", "content": "print(1)"}},
        "infrastructure": {"shape": "VM.Standard.E4.Flex", "ocpus": 2, "memoryInGBs": 32},
        "env": [{"name": "EPOCHS", "value": "3"}],
    },
}
RUN: dict[str, Any] = {
    "apiVersion": "ocids.io/v1alpha1",
    "kind": "TrainingJobRun",
    "metadata": {"name": "tjr"},
    "spec": {"jobRef": {"name": "tj"}, "env": [{"name": "LR", "value": "0.1"}]},
}


def job(**spec: Any) -> dict[str, Any]:
    body = copy.deepcopy(JOB)
    body["spec"].update(spec)
    return body


def apply(cluster: Cluster, namespace: str, body: dict[str, Any], *extra: str) -> Any:
    return cluster.kubectl("apply", "-n", namespace, "-f", "-", *extra, input=json.dumps(body), check=False)


# (id, manifest, the field the error names, words of the message)
INVALID = [
    (
        "two-artifact-sources",
        job(artifact={"inline": {"fileName": "a.py", "content": "x"}, "url": "https://example.com/a.py"}),
        "spec.artifact",
        "exactly one of inline, configMapRef, url, urlFrom or git must be set",
    ),
    (
        "git-token-in-url",
        job(
            artifact={"git": {"url": "https://user:ghp_x@github.com/o/r.git", "ref": "main"}},
            entrypoint="train.py",
        ),
        "spec.artifact.git.url",
        "artifact.git.url must not contain credentials",
    ),
    (
        "git-ssh-url",
        job(artifact={"git": {"url": "ssh://git@github.com/o/r.git", "ref": "main"}}, entrypoint="a.py"),
        "spec.artifact.git.url",
        "artifact.git.url must start with https://, git:// or file://",
    ),
    (
        "vault-with-container",
        job(
            artifact=None,
            container={"image": "iad.ocir.io/n/i:1"},
            env=[{"name": "T", "valueFrom": {"vaultSecretRef": {"secretId": "ocid1.vaultsecret.oc1..s"}}}],
        ),
        "spec.env",
        "env[].valueFrom.vaultSecretRef cannot be used with container",
    ),
    (
        "python-runtime-without-entry",
        job(runtime={"python": {"function": "main"}}),
        "spec.runtime.python",
        "runtime.python needs entrypoint",
    ),
    (
        "conda-and-container",
        job(
            conda={"type": "service", "slug": "generalml_p38_cpu_v1"},
            container={"image": "iad.ocir.io/n/i:1"},
        ),
        "spec.container",
        "conda and container cannot both be set",
    ),
    (
        "ocpus-on-fixed-shape",
        job(infrastructure={"shape": "VM.Standard2.1", "ocpus": 2}),
        "spec.infrastructure.shape",
        "can only be set with a flex shape",
    ),
    (
        "flex-shape-without-ocpus",
        job(infrastructure={"shape": "VM.Standard.E4.Flex"}),
        "spec.infrastructure.shape",
        "ocpus and memoryInGBs are required with a flex shape",
    ),
    (
        "memory-per-ocpu",
        job(infrastructure={"shape": "VM.Standard.E4.Flex", "ocpus": 1, "memoryInGBs": 100}),
        "spec.infrastructure.memoryInGBs",
        "at most 64 GB per OCPU",
    ),
    (
        "ocpus-above-shape-range",
        job(infrastructure={"shape": "VM.Optimized3.Flex", "ocpus": 20, "memoryInGBs": 64}),
        "spec.infrastructure.ocpus",
        "VM.Optimized3.Flex takes 1 to 18 ocpus",
    ),
    (
        "block-storage-40",
        job(infrastructure={"shape": "VM.Standard2.1", "blockStorageSizeInGBs": 40}),
        "spec.infrastructure.blockStorageSizeInGBs",
        "should be greater than or equal to 50",
    ),
    (
        "shape-not-a-name",
        job(infrastructure={"shape": "VM Imaginary 1"}),
        "spec.infrastructure.shape",
        "should match",
    ),
    (
        "bad-env-var-name",
        job(env=[{"name": "1-EPOCHS", "value": "3"}]),
        "spec.env[0].name",
        "should match",
    ),
    (
        "env-value-and-value-from",
        job(env=[{"name": "A", "value": "1", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]),
        "spec.env[0]",
        "exactly one of value or valueFrom must be set",
    ),
    (
        "duplicate-env-names",
        job(env=[{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]),
        "spec.env[1]",
        "Duplicate value",
    ),
    (
        "maximum-runtime-0",
        job(maximumRuntimeInMinutes=0),
        "spec.maximumRuntimeInMinutes",
        "should be greater than or equal to 1",
    ),
]


@pytest.mark.parametrize(("body", "field", "words"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_api_server_rejects_invalid_trainingjob(
    api_crds: Cluster, namespace: str, body: dict[str, Any], field: str, words: str
) -> None:
    result = apply(api_crds, namespace, body)
    assert result.returncode != 0, f"accepted: {body['spec']}"
    assert f"{field}:" in result.stderr, result.stderr
    assert words in result.stderr, result.stderr
    assert api_crds.kubectl("get", "tj", "-n", namespace, "-o", "name").stdout.strip() == ""


def test_immutable_fields_on_update(api_crds: Cluster, namespace: str) -> None:
    assert apply(api_crds, namespace, job()).returncode == 0
    result = apply(api_crds, namespace, job(compartmentId="ocid1.compartment.oc1..other"))
    assert result.returncode != 0
    assert "spec.compartmentId: Forbidden" in result.stderr and "compartmentId is immutable" in result.stderr
    result = apply(api_crds, namespace, job(adoptJobId="ocid1.datasciencejob.oc1..x"))
    assert "spec.adoptJobId" in result.stderr and "adoptJobId is immutable" in result.stderr
    # Everything else may change: a new shape is an in-place update.
    changed = job(infrastructure={"shape": "VM.Standard.E4.Flex", "ocpus": 4, "memoryInGBs": 64})
    assert apply(api_crds, namespace, changed).returncode == 0


def test_trainingjobrun_spec_is_immutable(api_crds: Cluster, namespace: str) -> None:
    assert apply(api_crds, namespace, RUN).returncode == 0
    changed = copy.deepcopy(RUN)
    changed["spec"]["env"][0]["value"] = "0.2"
    result = apply(api_crds, namespace, changed)
    assert result.returncode != 0
    assert "spec: Forbidden" in result.stderr
    assert "spec is immutable except cancel: create a new TrainingJobRun instead" in result.stderr
    # Labels and annotations are not spec: they still change.
    api_crds.kubectl("label", "tjr", "tjr", "-n", namespace, "team=risk")
    # cancel is the one spec field that changes, once.
    canceled = copy.deepcopy(RUN)
    canceled["spec"]["cancel"] = True
    assert apply(api_crds, namespace, canceled).returncode == 0
    result = apply(api_crds, namespace, RUN)
    assert result.returncode != 0
    assert "cancel cannot be undone" in result.stderr


def test_valid_objects_are_stored_with_defaults(api_crds: Cluster, namespace: str) -> None:
    body = job(
        infrastructure={"shape": "VM.Standard2.1"}, conda=None, container={"image": "iad.ocir.io/n/i:1"}
    )
    result = apply(api_crds, namespace, body)
    assert result.returncode == 0, result.stderr
    stored = api_crds.kubectl_json("get", "tj", "tj", "-n", namespace)
    assert stored["spec"]["infrastructure"]["blockStorageSizeInGBs"] == 50
    assert stored["spec"]["deletionPolicy"] == "Delete"
    # A null in the manifest reads as "unset" (pruned), so it cannot trip the one-of rules.
    assert "conda" not in stored["spec"]
    assert apply(api_crds, namespace, RUN).returncode == 0
    assert api_crds.kubectl_json("get", "tjr", "tjr", "-n", namespace)["spec"]["deletionPolicy"] == "Delete"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_pass_server_side_dry_run(api_crds: Cluster, namespace: str, path: Path) -> None:
    result = api_crds.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(path), check=False)
    assert result.returncode == 0, result.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(path.read_text()) if d]
    assert result.stdout.count("(server dry run)") == len(kinds)


def test_status_subresource_keeps_only_declared_fields(api_crds: Cluster, namespace: str) -> None:
    assert apply(api_crds, namespace, job()).returncode == 0
    before = api_crds.kubectl_json("get", "tj", "tj", "-n", namespace)["metadata"]["generation"]
    status = {
        "status": {
            "phase": "Active",
            "revision": 1,
            "jobId": "ocid1.datasciencejob.oc1..a",
            "shape": "VM.Standard.E4.Flex (2 OCPU, 32 GB)",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            "kopf": {"progress": {"x": 1}},
            "handlerResult": "dropped",
        }
    }
    api_crds.kubectl(
        "patch", "tj", "tj", "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(status)
    )
    stored = api_crds.kubectl_json("get", "tj", "tj", "-n", namespace)
    assert stored["status"]["phase"] == "Active"
    assert "kopf" not in stored["status"] and "handlerResult" not in stored["status"]
    assert stored["metadata"]["generation"] == before
    bad = {"status": {"phase": "Running"}}
    result = api_crds.kubectl(
        "patch",
        "tj",
        "tj",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(bad),
        check=False,
    )
    assert result.returncode != 0 and "status.phase" in result.stderr


def test_printer_columns(api_crds: Cluster, namespace: str) -> None:
    assert apply(api_crds, namespace, job()).returncode == 0
    assert apply(api_crds, namespace, RUN).returncode == 0
    status = {
        "status": {
            "phase": "Active",
            "revision": 1,
            "shape": "VM.Standard.E4.Flex (2 OCPU, 32 GB)",
            "jobId": "ocid1.datasciencejob.oc1..col",
            "message": "OCI job is ACTIVE",
        }
    }
    api_crds.kubectl(
        "patch", "tj", "tj", "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(status)
    )
    wide = api_crds.kubectl("get", "tj", "-o", "wide", "-n", namespace).stdout.splitlines()
    assert wide[0].split() == [
        "NAME",
        "SHAPE",
        "PHASE",
        "NODES",
        "REVISION",
        "SPEND",
        "AGE",
        "JOB",
        "OCID",
        "MESSAGE",
    ]
    assert "VM.Standard.E4.Flex (2 OCPU, 32 GB)" in wide[1] and "ocid1.datasciencejob.oc1..col" in wide[1]
    assert wide[1].endswith("OCI job is ACTIVE")
    narrow = api_crds.kubectl("get", "tj", "-n", namespace).stdout.splitlines()[0].split()
    assert narrow == ["NAME", "SHAPE", "PHASE", "NODES", "REVISION", "SPEND", "AGE"]
    # A run's log search link (hundreds of characters) stays in status, out of the wide columns.
    search_url = "https://cloud.oracle.com/logging/search?searchQuery=" + "x" * 500
    api_crds.kubectl(
        "patch",
        "tjr",
        "tjr",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"phase": "Succeeded", "logs": {"url": search_url}}}),
    )
    wide_runs = api_crds.kubectl("get", "tjr", "-o", "wide", "-n", namespace).stdout
    assert "Succeeded" in wide_runs and "cloud.oracle.com" not in wide_runs
    runs = wide_runs.splitlines()[0]
    assert runs.split() == [
        "NAME",
        "JOB",
        "PHASE",
        "NODES",
        "STARTED",
        "FINISHED",
        "DURATION",
        "EXIT",
        "CODE",
        "METRIC",
        "COST",
        "AGE",
        "RUN",
        "OCID",
        "MESSAGE",
    ]
    everything = api_crds.kubectl("get", "ocids", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(everything) == ["trainingjob.ocids.io/tj", "trainingjobrun.ocids.io/tjr"]


def test_kubectl_explain_reads_the_descriptions(api_crds: Cluster) -> None:
    def explain() -> str:
        out = api_crds.kubectl("explain", "trainingjob.spec.infrastructure", check=False)
        return out.stdout if out.returncode == 0 and "ocpus" in out.stdout else ""

    text = wait_until(explain, timeout=60, message="kubectl explain to know the TrainingJob schema")
    assert "Compute shape, size and network." in text
    assert "OCPUs of a flex shape" in text
    assert "Block volume size in GB, at least 50" in text
    run = api_crds.kubectl("explain", "tjr.spec.deletionPolicy").stdout
    assert "cancels the OCI run" in run
