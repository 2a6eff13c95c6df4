"""Fixtures for the end-to-end tests (imported by tests/integration/conftest.py).

Each test gets its own namespace (H1's `namespace`), its own emulator (own data dir and port) and its
own operator subprocess watching only that namespace, so tests never share OCI state or fight over
objects under `pytest -n 2`. The CRDs are applied once per control plane (one per xdist worker).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ocids_controlplane.cluster import _tool
from operator_harness import Kube, OciTarget, OciView, OperatorProcess, Scenario, wait_for

_OPERATOR_LOGS = pytest.StashKey[list[Path]]()
LOG_TAIL_LINES = 300


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    """On failure, attach the tail of the operator (and emulator) logs the test started to the report."""
    outcome: Any = yield
    report = outcome.get_result()
    if report.when in ("call", "setup") and report.failed:
        for path in item.stash.get(_OPERATOR_LOGS, []):
            try:
                lines = path.read_text(errors="replace").splitlines()
            except FileNotFoundError:
                continue
            report.sections.append((f"log {path.name}", "\n".join(lines[-LOG_TAIL_LINES:])))


@pytest.fixture(scope="session")
def kube(cluster: Any) -> Kube:
    """kubectl against this worker's control plane, with the CRDs installed and Established."""
    kube = Kube(Path(cluster.kubeconfig), _tool("kubectl"), env=cluster.env())
    kube.install_crds()
    return kube


@pytest.fixture
def emulator(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    from ocids_emulator.testing import running_emulator

    with running_emulator(tmp_path / "emulator") as emu:
        request.node.stash.setdefault(_OPERATOR_LOGS, []).append(Path(emu.data_dir) / "emulator.log")
        yield emu


def _ids(emu: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(emu.ids).items()}


@pytest.fixture
def oci_target(emulator: Any) -> OciTarget:
    ids = _ids(emulator)
    return OciTarget(
        endpoint=str(emulator.endpoint),
        config_file=Path(emulator.config_file),
        profile=str(emulator.profile),
        region=ids.get("REGION", "us-ashburn-1"),
    )


@pytest.fixture
def start_operator(
    request: pytest.FixtureRequest, kube: Kube, namespace: str, oci_target: OciTarget, tmp_path: Path
) -> Iterator[Callable[..., OperatorProcess]]:
    """Factory: start an operator for this test's namespace; every one is stopped at teardown."""
    started: list[OperatorProcess] = []
    logs = request.node.stash.setdefault(_OPERATOR_LOGS, [])

    def start(
        env: dict[str, str] | None = None,
        target: OciTarget | None = None,
        kubeconfig: Path | None = None,
        wait_ready: bool = True,
    ) -> OperatorProcess:
        log_path = tmp_path / f"operator-{len(started) + 1}.log"
        op = OperatorProcess(
            kubeconfig=kubeconfig or kube.kubeconfig,
            oci_target=target or oci_target,
            namespaces=[str(namespace)],
            log_path=log_path,
            extra_env=dict(env or {}),
        )
        started.append(op)
        logs.append(log_path)
        if target is not None:
            # An operator pointed at another emulator: the namespace is granted that one's compartment.
            ids = Path(target.config_file).parent / "ids.env"
            if ids.is_file():
                kube.grant_compartments(str(namespace), *_compartments_in(ids))
        op.start()
        if wait_ready:
            wait_operator_ready(op)
        return op

    yield start
    for op in started:
        op.stop()


def _compartments_in(ids_env: Path) -> list[str]:
    lines = ids_env.read_text().splitlines()
    return [line.partition("=")[2].strip() for line in lines if line.startswith("COMPARTMENT_ID=")]


def wait_operator_ready(op: OperatorProcess, timeout: float = 60) -> None:
    """Ready = its health endpoint answers; fails at once (with the log) if the process died."""
    import urllib.request

    def ready() -> bool:
        if not op.running:
            raise AssertionError(
                f"operator exited with {op.proc and op.proc.returncode}:\n{op.log_text()[-4000:]}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{op.health_port}/healthz", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    try:
        wait_for(ready, timeout=timeout, message="operator health endpoint")
    except AssertionError:
        if not op.running:
            raise
        raise


@pytest.fixture
def world(kube: Kube, namespace: str, emulator: Any, oci_target: OciTarget, tmp_path: Path) -> Scenario:
    """CRDs, a namespace and an emulator; no operator yet (the test starts the one it needs)."""
    return Scenario(
        kube=kube,
        namespace=str(namespace),
        oci=OciView(oci_target),
        ids=_ids(emulator),
        work_dir=tmp_path,
        admin=emulator.admin,
    )


@pytest.fixture
def e2e(world: Scenario, start_operator: Callable[..., OperatorProcess]) -> Scenario:
    """The usual world with a running operator watching the test's namespace."""
    world.operator = start_operator()
    return world
