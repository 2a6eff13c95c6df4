"""A real node (containerd + kubelet + kube-scheduler, tools/node/node.sh): Pods get scheduled and run.

Opt-in (OCIDS_TEST_NODE=1): it needs root, changes host state while it runs (a bridge, iptables
rules, kubelet sysctls and cgroups, all undone by `node.sh down`), builds kubelet and kube-scheduler
on first use, and there can be only one node per machine. It uses a control plane of its own, never
the shared `cluster` fixture: the node's admission policies and scheduling must not touch other tests.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ocids_controlplane import ControlPlane, MissingBinaryError
from ocids_controlplane.waiting import wait_until

REPO = Path(__file__).resolve().parents[3]
NODE_SH = REPO / "tools" / "node" / "node.sh"
CHART = REPO / "charts" / "ocids-operator"
BUSYBOX = "localhost/busybox:ocids"
OPERATOR_IMAGE = os.environ.get("OCIDS_TEST_NODE_IMAGE", "localhost/ocids-operator:dev")


def _skip_reason() -> str | None:
    if os.environ.get("OCIDS_TEST_NODE") != "1":
        return (
            "real-node test is opt-in: set OCIDS_TEST_NODE=1 (needs root; starts containerd, kubelet "
            "and kube-scheduler and changes host networking/sysctls until tools/node/node.sh down)"
        )
    if os.geteuid() != 0:
        return "OCIDS_TEST_NODE=1 but not root: the kubelet and containerd need root"
    missing = [t for t in ("runc", "iptables", "buildah", "gcc", "apt-get") if not shutil.which(t)]
    if missing or not Path("/usr/lib/cni/bridge").exists():
        return f"OCIDS_TEST_NODE=1 but missing {missing or 'containernetworking-plugins'}"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


def _node_sh(cmd: str, env: dict[str, str], *args: str, timeout: float = 1800) -> None:
    result = subprocess.run(
        ["bash", str(NODE_SH), cmd, *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        pytest.fail(f"node.sh {cmd} failed:\n{result.stdout}\n{result.stderr}", pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlPlane, dict[str, str]]]:
    workdir = tmp_path_factory.mktemp("node")
    try:
        plane = ControlPlane.start(workdir / "cluster")
    except MissingBinaryError as exc:
        pytest.fail(str(exc), pytrace=False)
    # A port for the emulator, which Pods then reach at http://10.244.0.1:<port> (see node.sh).
    env = plane.env() | {"OCIDS_NODE_DIR": str(workdir / "state"), "OCIDS_NODE_HOST_PORTS": str(_free_port())}
    try:
        _node_sh("up", env)
        yield plane, env
    finally:
        _node_sh("down", env, timeout=300)
        plane.stop()


def _pod(plane: ControlPlane, ns: str, name: str) -> dict:
    return dict(plane.kubectl_json("get", "pod", "-n", ns, name))


def _run_pod(plane: ControlPlane, ns: str, name: str, script: str, host_network: bool) -> str:
    """Run a busybox Pod to completion through the scheduler and the kubelet; return its log."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "hostNetwork": host_network,
            "restartPolicy": "Never",
            "containers": [
                {"name": "c", "image": BUSYBOX, "imagePullPolicy": "Never", "command": ["sh", "-c", script]}
            ],
        },
    }
    plane.kubectl("apply", "-f", "-", input=json.dumps(pod))
    wait_until(
        lambda: _pod(plane, ns, name)["status"].get("phase") in ("Succeeded", "Failed"),
        timeout=90,
        message=lambda: f"pod {name}: {json.dumps(_pod(plane, ns, name).get('status'))}",
    )
    got = _pod(plane, ns, name)
    log = plane.kubectl("logs", "-n", ns, name).stdout
    assert got["spec"]["nodeName"], "the scheduler bound the Pod"
    assert got["status"]["phase"] == "Succeeded", log
    return log


def test_node_is_ready(node: tuple[ControlPlane, dict[str, str]]) -> None:
    plane, _ = node
    (item,) = plane.kubectl_json("get", "nodes")["items"]
    ready = {c["type"]: c["status"] for c in item["status"]["conditions"]}["Ready"]
    assert ready == "True"
    assert item["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")


def test_host_network_pod_runs(node: tuple[ControlPlane, dict[str, str]]) -> None:
    plane, _ = node
    assert "hello" in _run_pod(plane, "default", "hostnet", "echo hello", host_network=True)


def test_pod_network_pod_reaches_the_api_server(node: tuple[ControlPlane, dict[str, str]]) -> None:
    """A Pod on the bridge gets a token volume and reaches kubernetes.default.svc:443 (DNAT to loopback)."""
    plane, _ = node
    script = (
        "cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo; "
        "echo | nc -w 5 kubernetes.default.svc 443 && echo api-reachable"
    )
    log = _run_pod(plane, "default", "podnet", script, host_network=False)
    assert "default" in log and "api-reachable" in log


@pytest.fixture
def emulator_dir(node: tuple[ControlPlane, dict[str, str]], tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """The OCI emulator on the port the node forwards; yields its data dir and the URL Pods use."""
    _, env = node
    port = env["OCIDS_NODE_HOST_PORTS"]
    exe = str(Path(sys.executable).parent / "ocids-emulator")
    data = tmp_path / "emulator"
    subprocess.run([exe, "init", "--data-dir", str(data)], check=True, capture_output=True)
    proc = subprocess.Popen(
        [exe, "serve", "--data-dir", str(data), "--port", port],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "emulator.log").open("w"),
    )  # fmt: skip
    try:
        wait_until(lambda: (data / "endpoint").exists(), timeout=30, message="emulator endpoint file")
        yield data, f"http://10.244.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_helm_install_runs_the_operator(
    node: tuple[ControlPlane, dict[str, str]], emulator_dir: tuple[Path, str], tmp_path: Path
) -> None:
    """`helm install` schedules the operator on the node; in-cluster it reconciles against the emulator."""
    plane, env = node
    data, url = emulator_dir
    if subprocess.run(["podman", "image", "exists", OPERATOR_IMAGE], check=False).returncode != 0:
        pytest.skip(f"{OPERATOR_IMAGE} is not in podman's storage (build it first: make image)")
    _node_sh("import", env, OPERATOR_IMAGE)
    ns = "ocids-system"
    plane.kubectl("create", "namespace", ns)
    config = tmp_path / "config"
    config.write_text(
        "".join(
            "key_file=/etc/oci/oci_api_key.pem\n" if line.startswith("key_file=") else line + "\n"
            for line in (data / "config").read_text().splitlines()
        )
    )
    plane.kubectl(
        "create", "secret", "generic", "oci-config", "-n", ns,
        f"--from-file=config={config}", f"--from-file=oci_api_key.pem={data / 'oci_api_key.pem'}",
    )  # fmt: skip
    repo, _, tag = OPERATOR_IMAGE.rpartition(":")
    plane.helm(
        "install", "ocids", str(CHART), "-n", ns, "--wait", "--timeout", "180s",
        "--set", f"image.repository={repo}", "--set", f"image.tag={tag}", "--set", "image.pullPolicy=Never",
        "--set", f"oci.endpoints.dataScience={url}", "--set", f"oci.endpoints.logging={url}",
        "--set", f"oci.endpoints.objectStorage={url}",
        # The emulator speaks plain http on the bridge address, not loopback as the Pod sees it.
        "--set", "oci.allowInsecureEndpoints=true",
    )  # fmt: skip
    (pod,) = plane.kubectl_json("get", "pods", "-n", ns)["items"]
    assert pod["status"]["phase"] == "Running" and pod["spec"]["nodeName"]
    ids = dict(line.split("=", 1) for line in (data / "ids.env").read_text().splitlines() if "=" in line)
    manifest = (
        (REPO / "examples" / "trainingjob-inline.yaml")
        .read_text()
        .replace("ocid1.compartment.oc1..exampleuniqueid", ids["COMPARTMENT_ID"])
        .replace("ocid1.datascienceproject.oc1.iad.exampleuniqueid", ids["PROJECT_ID"])
    )
    # As a cluster admin: the namespace may use the emulator's compartment (tenancy isolation).
    grant = f"ocids.io/allowed-compartments={ids['COMPARTMENT_ID']}"
    plane.kubectl("annotate", "namespace", "default", grant, "--overwrite")
    plane.kubectl("apply", "-n", "default", "-f", "-", input=manifest)

    def ready() -> bool:
        tj = plane.kubectl_json("get", "trainingjob", "-n", "default", "logreg")
        return any(
            c["type"] == "Ready" and c["status"] == "True" for c in tj.get("status", {}).get("conditions", [])
        )

    wait_until(
        ready,
        timeout=90,
        message=lambda: (
            "TrainingJob Ready; operator log tail:\n"
            + plane.kubectl("logs", "-n", ns, pod["metadata"]["name"], check=False).stdout[-2000:]
        ),
    )
