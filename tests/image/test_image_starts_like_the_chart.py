"""The built image, started exactly as the Helm chart starts it, runs a TrainingJob end to end.

The chart is rendered with `helm template`; its RBAC, ServiceAccount and OCI Secret go to a real API
server; its Deployment's container (command, args, env, security contexts, volumes) is started by
podman as a kubelet would (tests/image/kubelet.py). A `--help` smoke test once hid an image that
crash-looped on its chart's arguments: here the image has to reconcile real objects.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import operator_scripts as scripts
import pytest
from chart_pod import ChartPod, helm_template, split_image
from kubelet import SERVICE_NAMES
from ocids_controlplane.ports import free_ports
from operator_harness import RUNS, Scenario, wait_for
from podman_cli import Container

FIRST_RECONCILE = re.compile(r"kopf\.objects: \[[^]]+\] ")


def http_get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return int(resp.status), resp.read().decode()


@pytest.fixture
def chart(
    cluster: Any, kube: Any, namespace: str, emulator: Any, image: str, tmp_path: Path
) -> Iterator[Callable[..., ChartPod]]:
    """Factory: render the chart for this test's namespace (plus `--set`s) and install its objects."""
    made: list[ChartPod] = []

    def render(*extra: str) -> ChartPod:
        repository, tag = split_image(image)
        metrics_port, health_port = free_ports(2)
        ids = {str(k): str(v) for k, v in dict(emulator.ids).items()}
        values = [
            "--set", f"image.repository={repository}", "--set", f"image.tag={tag}",
            "--set", f"oci.endpoints.dataScience={emulator.endpoint}",
            "--set", f"oci.endpoints.logging={emulator.endpoint}",
            "--set", f"oci.endpoints.objectStorage={emulator.endpoint}",
            "--set", f"oci.region={ids.get('REGION', 'us-ashburn-1')}",
            "--set", f"oci.profile={emulator.profile}",
            "--set", f"metrics.port={metrics_port}", "--set", f"health.port={health_port}",
            "--set", f"watchNamespaces={{{namespace}}}",
            *extra,
        ]  # fmt: skip
        # Cluster-scoped names come from the release name: unique per test.
        docs = helm_template(tmp_path, f"img-{namespace[-6:]}", namespace, values)
        pod = ChartPod(
            cluster=cluster, namespace=namespace, docs=docs, workdir=tmp_path / f"chart-{len(made)}"
        )
        made.append(pod)
        assert pod.container_spec["image"] == image
        pod.install(Path(emulator.config_file))
        return pod

    yield render
    for pod in made:
        pod.remove()


@contextmanager
def logs_on_failure(request: pytest.FixtureRequest, container: Container, command: str) -> Iterator[None]:
    try:
        yield
    except BaseException:
        request.node.add_report_section("call", "podman run", command)
        request.node.add_report_section("call", "podman logs", container.logs()[-20000:])
        raise


def resolvable_service_names(container: Container) -> list[str]:
    """The `kubernetes` Service's DNS names the container resolves (none: there is no cluster DNS)."""
    script = (
        "import socket, sys\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        socket.getaddrinfo(name, 443)\n"
        "        print(name)\n"
        "    except OSError:\n"
        "        pass\n"
    )
    result = container.exec("python", "-c", script, *SERVICE_NAMES)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def alive(container: Container) -> None:
    if not container.running:
        raise AssertionError(f"container exited with {container.exit_code()}:\n{container.logs()[-4000:]}")


def wait_phase(
    world: Scenario, container: Container, kind: str, name: str, phase: str, timeout: float
) -> Any:
    """Like Kube.wait_phase, but fails at once with the log if the container exits."""

    def check() -> Any:
        alive(container)
        obj = world.kube.get(kind, name, world.namespace)
        return obj if obj and (obj.get("status") or {}).get("phase") == phase else None

    return wait_for(check, timeout=timeout, interval=0.5, message=f"{kind}/{name} phase {phase}")


def test_image_runs_a_training_job_started_like_the_chart(
    chart: Callable[..., ChartPod], world: Scenario, request: pytest.FixtureRequest
) -> None:
    pod = chart("--set", "pollIntervalSeconds=1")
    # The chart's own command line, no extra flags: what crash-looped when it carried --standalone.
    assert pod.container_spec["command"] == ["ocids-operator"] and "args" not in pod.container_spec
    env = {e["name"]: e.get("value") for e in pod.container_spec["env"]}
    assert env["OCIDS_NAMESPACES"] == world.namespace, "the chart must confine the operator to its RBAC"
    # Objects exist before the operator starts (an upgrade or a rescheduled pod): the first
    # reconcile happens at start-up, so its log time measures the cold start.
    world.apply(
        world.job("attrition", scripts.TRAIN, env={"EPOCHS": "2"}), world.run("attrition-1", "attrition")
    )
    container, command = pod.start()
    with logs_on_failure(request, container, command):
        # As in a hostNetwork Pod or with CoreDNS down: only KUBERNETES_SERVICE_HOST/PORT lead to the
        # API server. kopf's own login dialed kubernetes.default.svc and created nothing then.
        assert resolvable_service_names(container) == []
        run = wait_phase(world, container, RUNS, "attrition-1", "Succeeded", timeout=180)
        assert run["status"]["exitCode"] == 0
        job = world.wait_job_active("attrition", timeout=30)
        assert job["status"]["jobId"] == run["status"]["jobId"]
        assert any("saved model.json" in line for line in world.run_log(run, "saved model.json"))

        probe = pod.container_spec["livenessProbe"]["httpGet"]
        status, body = http_get(f"http://127.0.0.1:{pod.port(probe['port'])}{probe['path']}")
        assert status == 200, body
        status, metrics = http_get(f"http://127.0.0.1:{pod.port('metrics')}/metrics")
        assert status == 200
        assert re.search(r"^ocids_runs_created_total 1\.0$", metrics, re.M), metrics[:2000]
        assert re.search(
            r'^ocids_reconciles_total\{kind="TrainingJob",outcome="[a-z]+"\} [1-9]', metrics, re.M
        )
        # Leader election is on in the chart: the only replica takes the Lease its Role allows.
        assert re.search(r"^ocids_leader 1\.0$", metrics, re.M)
        pod_name = str(container.inspect()["Name"]).lstrip("/")
        lease = f"leading: acquired Lease {world.namespace}/ocids-operator (identity {pod_name})"
        assert lease in container.logs()
        alive(container)
        assert container.inspect()["RestartCount"] == 0

        lines = container.timed_log_lines()
        started = container.started_at()
        first_reconcile = next(t for t, line in lines if FIRST_RECONCILE.search(line))
        print(
            f"\ncold start: first log line {(lines[0][0] - started).total_seconds():.2f}s, "
            f"first reconcile {(first_reconcile - started).total_seconds():.2f}s after the process started"
        )
        assert "Traceback" not in container.logs()
        assert "kubernetes.default.svc" not in container.logs()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        # The chart's schema refuses 0, but extraEnv goes around it (a later env entry wins).
        (
            ["--set", "extraEnv[0].name=OCIDS_POLL_INTERVAL_SECONDS", "--set-string", "extraEnv[0].value=0"],
            "OCIDS_POLL_INTERVAL_SECONDS",
        ),
        # What the old chart passed: the parser refuses it, so a default render must not pass it.
        (["--set", "extraArgs={--standalone}"], "unrecognized arguments: --standalone"),
    ],
    ids=["poll-interval-0", "standalone-flag"],
)
def test_a_bad_setting_stops_the_container_with_a_message(
    chart: Callable[..., ChartPod], values: list[str], message: str, request: pytest.FixtureRequest
) -> None:
    pod = chart(*values)
    container, command = pod.start()
    with logs_on_failure(request, container, command):
        wait_for(lambda: not container.running, timeout=60, message="the container to exit")
        assert container.exit_code() == 2
        logs = container.logs()
        assert message in logs
        assert "Traceback" not in logs
