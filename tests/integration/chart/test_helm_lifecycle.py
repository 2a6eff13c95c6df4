"""`helm install`, `upgrade` and `uninstall` of the chart against a real API server.

The operator runs as the installed release would: with the environment and Secret volume of the
live Deployment Helm created and the token of the chart's ServiceAccount (see deployed_operator).
Cluster-scoped objects are named after the release, so each test uses its own release name.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import operator_scripts as scripts
import pytest
from chart_helm import INSTANCE, Release, get_json, values_file
from deployed_operator import deployment_env, harness_only_overrides
from ocids_controlplane import Cluster
from ocids_controlplane.waiting import wait_until
from operator_harness import OciTarget, OperatorProcess, Scenario

pytestmark = pytest.mark.integration

SECRET = "oci-config"


def release_name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


@pytest.fixture
def releases(cluster: Cluster) -> Iterator[Callable[[str, str], Release]]:
    made: list[Release] = []

    def make(prefix: str, namespace: str) -> Release:
        made.append(Release(cluster, release_name(prefix), namespace))
        return made[-1]

    yield make
    for release in made:
        release.ensure_uninstalled()


@pytest.fixture
def other_namespace(cluster: Cluster, namespace: str, emulator: Any) -> Iterator[str]:
    name = f"{namespace[:50]}-b"
    cluster.kubectl("create", "namespace", name)
    # As its admin would: the namespace may use the emulator's compartment (tenancy isolation).
    grant = f"ocids.io/allowed-compartments={emulator.ids['COMPARTMENT_ID']}"
    cluster.kubectl("annotate", "namespace", name, grant)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def create_oci_secret(cluster: Cluster, namespace: str, emulator: Any, work: Path) -> None:
    """The Secret the chart's NOTES tell a user to create: the config, key_file at the mount path."""
    config = Path(emulator.config_file).read_text()
    key_file = re.search(r"^key_file\s*=\s*(.+)$", config, re.MULTILINE)
    assert key_file, "emulator config without key_file"
    work.mkdir(parents=True, exist_ok=True)
    (work / "config").write_text(config.replace(key_file.group(0), "key_file=/etc/oci/oci_api_key.pem"))
    cluster.kubectl(
        "create", "secret", "generic", SECRET, "-n", namespace,
        f"--from-file=config={work / 'config'}",
        f"--from-file=oci_api_key.pem={Path(key_file.group(1).strip()).expanduser()}",
    )  # fmt: skip


def start_as_deployed(
    cluster: Cluster, release: Release, start_operator: Callable[..., OperatorProcess], root: Path
) -> tuple[OperatorProcess, dict[str, str]]:
    deploy = release.deployment()
    env = deployment_env(cluster, deploy, root)
    account = deploy["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = cluster.kubeconfig_for_service_account(release.namespace, account)
    harness = OperatorProcess(kubeconfig, OciTarget("", root, "", ""), [], root / "unused.log").env()
    # The harness's own test defaults go: what is left is the Deployment's environment.
    op = start_operator(env={**env, **harness_only_overrides(harness, env)}, kubeconfig=kubeconfig)
    return op, env


def pod_template_hashes(cluster: Cluster, release: Release) -> set[str]:
    selector = f"{INSTANCE}={release.name}"
    sets = cluster.kubectl_json("get", "replicasets", "-n", release.namespace, "-l", selector)
    return {rs["metadata"]["labels"]["pod-template-hash"] for rs in sets["items"]}


def run_to_success(world: Scenario, job: str, run: str, new_job: bool = True) -> dict[str, Any]:
    if new_job:
        world.apply(world.job(job, scripts.TRAIN, env={"EPOCHS": "1"}))
        world.wait_job_active(job)
    world.apply(world.run(run, job))
    return world.wait_run(run, "Succeeded")


def test_install_run_upgrade_and_uninstall(
    cluster: Cluster,
    world: Scenario,
    emulator: Any,
    start_operator: Callable[..., OperatorProcess],
    releases: Callable[[str, str], Release],
    other_namespace: str,
    tmp_path: Path,
) -> None:
    ns = world.namespace
    release = releases("life", ns)
    create_oci_secret(cluster, ns, emulator, tmp_path / "secret")
    values = values_file(
        {
            "watchNamespaces": [ns],
            "oci": {
                "region": world.region,
                "endpoints": {k: str(emulator.endpoint) for k in ("dataScience", "logging", "objectStorage")},
            },
            "pollIntervalSeconds": 1,
            "resyncIntervalSeconds": 30,
        },
        tmp_path / "values.yaml",
    )
    installed = release.install("-f", str(values))
    assert f'Secret "{SECRET}" found' in installed.stdout, installed.stdout

    op, env = start_as_deployed(cluster, release, start_operator, tmp_path / "root-1")
    assert env["OCIDS_NAMESPACES"] == ns and env["OCIDS_AUTH"] == "api_key"
    assert env["OCIDS_OCI_CONFIG_FILE"] == str(tmp_path / "root-1" / "etc" / "oci" / "config")
    assert "OCIDS_RETRY_BASE_SECONDS" not in op.env()
    first_run = run_to_success(world, "chart", "chart-1")
    first_job = world.get_job("chart")
    assert first_job is not None
    assert " DEBUG " not in op.log_text()

    # Upgrade: louder logs, slower polls, a second namespace, a command-line flag.
    deploy_before = release.deployment()
    hashes_before = wait_until(lambda: pod_template_hashes(cluster, release), message="first ReplicaSet")
    release.upgrade(
        "-f", str(values), "--set", "logLevel=DEBUG", "--set", "pollIntervalSeconds=2",
        "--set", f"watchNamespaces={{{ns},{other_namespace}}}",
        "--set", "extraArgs={--resync-interval-seconds,45}",
    )  # fmt: skip
    deploy_after = release.deployment()
    assert deploy_after["metadata"]["generation"] > deploy_before["metadata"]["generation"]
    assert deploy_after["metadata"]["labels"]["helm.sh/chart"].startswith("ocids-operator-")
    wait_until(
        lambda: pod_template_hashes(cluster, release) - hashes_before,
        timeout=30,
        message="a ReplicaSet of the new pod template (Kubernetes rolling the operator)",
    )
    assert get_json(cluster, "role", release.deployment()["metadata"]["name"], "-n", other_namespace)

    op.stop()
    op, env = start_as_deployed(cluster, release, start_operator, tmp_path / "root-2")
    assert env["OCIDS_LOG_LEVEL"] == "DEBUG" and env["OCIDS_POLL_INTERVAL_SECONDS"] == "2"
    assert env["OCIDS_NAMESPACES"] == f"{ns},{other_namespace}"
    assert env["OCIDS_RESYNC_INTERVAL_SECONDS"] == "45.0"  # the flag wins over the value's 30
    run_to_success(world, "chart", "chart-2", new_job=False)
    other = dataclasses.replace(world, namespace=other_namespace, operator=op)
    run_to_success(other, "chart-b", "chart-b-1")
    assert " DEBUG " in op.log_text()

    # The objects from before the upgrade are the same objects, with the same OCI job and run.
    run_after = world.get_run("chart-1")
    job_after = world.get_job("chart")
    assert run_after is not None and job_after is not None
    assert run_after["metadata"]["uid"] == first_run["metadata"]["uid"]
    assert run_after["status"]["jobRunId"] == first_run["status"]["jobRunId"]
    assert run_after["status"]["phase"] == "Succeeded"
    assert job_after["metadata"]["uid"] == first_job["metadata"]["uid"]
    assert job_after["status"]["jobId"] == first_job["status"]["jobId"]
    assert job_after["status"]["revision"] == first_job["status"]["revision"]
    assert len(world.oci_jobs()) == 2  # one per namespace: no new revision of the old job

    # Uninstall: the release's objects go in both namespaces; CRDs, users' objects and Secret stay.
    op.stop()
    fullname = deploy_after["metadata"]["name"]
    assert release.objects(ns, other_namespace)
    release.uninstall()
    assert release.objects(ns, other_namespace) == {}
    for kind in ("clusterrole", "clusterrolebinding"):
        assert get_json(cluster, kind, fullname) is None
    for kind in ("deployment", "serviceaccount", "role", "rolebinding"):
        assert get_json(cluster, kind, fullname, "-n", ns) is None
    assert get_json(cluster, "service", f"{fullname}-metrics", "-n", ns) is None
    assert get_json(cluster, "role", fullname, "-n", other_namespace) is None
    wait_until(lambda: not pod_template_hashes(cluster, release), timeout=60, message="ReplicaSets collected")
    for crd in ("trainingjobs.ocids.io", "trainingjobruns.ocids.io"):
        assert get_json(cluster, "crd", crd) is not None
    kept = world.get_job("chart")
    assert kept is not None and kept["metadata"]["uid"] == first_job["metadata"]["uid"]
    assert (world.get_run("chart-2") or {}).get("status", {}).get("phase") == "Succeeded"
    assert get_json(cluster, "secret", SECRET, "-n", ns) is not None
    assert release.name not in cluster.helm("list", "-A", "-q").stdout.split()


def test_two_releases_do_not_collide(
    cluster: Cluster, namespace: str, other_namespace: str, releases: Callable[[str, str], Release]
) -> None:
    first = releases("one", namespace)
    second = releases("two", other_namespace)
    notes = first.install("--set", f"watchNamespaces={{{namespace}}}").stdout
    # No OCI Secret yet: the notes say so and give the command that creates it.
    assert "NEXT STEP" in notes and f"kubectl -n {namespace} create secret generic {SECRET}" in notes, notes
    second.install("--set", f"watchNamespaces={{{other_namespace}}}", "--set", "oci.auth=instance_principal")

    mine, theirs = first.objects(namespace, other_namespace), second.objects(namespace, other_namespace)
    kinds = {"deployments", "services", "serviceaccounts", "roles", "rolebindings", "clusterroles"}
    # api_key gets the NetworkPolicy denying the metadata range; instance_principal needs that range.
    assert set(mine) == kinds | {"clusterrolebindings", "networkpolicies"}
    assert set(theirs) == kinds | {"clusterrolebindings"}
    assert not set(mine["clusterroles"]) & set(theirs["clusterroles"])
    assert all(name.startswith(f"{namespace}/") for name in mine["roles"]), mine
    assert all(name.startswith(f"{other_namespace}/") for name in theirs["roles"]), theirs
    (binding,) = theirs["clusterrolebindings"]
    subjects = cluster.kubectl_json("get", "clusterrolebinding", binding)["subjects"]
    account = second.deployment()["metadata"]["name"]
    assert subjects == [{"kind": "ServiceAccount", "name": account, "namespace": other_namespace}]

    # The same release name again in another namespace would take over the first one's ClusterRole:
    # Helm refuses and names the object (the chart README says to keep release names unique).
    clash = Release(cluster, first.name, other_namespace)
    refused = clash.install(check=False)
    assert refused.returncode != 0
    assert "ClusterRole" in refused.stderr and first.name in refused.stderr, refused.stderr

    first.uninstall()
    assert first.objects(namespace, other_namespace) == {}
    assert second.objects(namespace, other_namespace) == theirs
