"""The README's Quick start, run exactly as written, from a clean shell in the repository root.

`make demo` runs with OCIDS_DEMO_DIR pointing at a temporary folder (the README's commands are
unchanged: they honour it), so a developer's own `.demo/` and anything it runs are left alone.
KUBECONFIG is not inherited: the first test exercises the bundled control plane; the second points
`make demo` at the test's `cluster` and checks that `make demo-down` leaves that cluster running.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path

import pytest
from demo_harness import (
    clean_env,
    listening_ports,
    port_open,
    processes_using,
    quickstart_commands,
    run_bash,
)
from ocids_controlplane import Cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUNS = ("logreg-lr-0.05", "logreg-lr-0.5")
DEMO_TIMEOUT_S = 480


def _assert_demo_output(out: str, demo_dir: Path) -> None:
    """What `make demo` must show a newcomer: runs Succeeded, links, and logs via Logging search."""
    assert "waiting for runs to finish: logreg-lr-0.05: Succeeded, logreg-lr-0.5: Succeeded" in out, out
    for run in RUNS:
        row = re.search(rf"^trainingjobrun\.ocids\.io/{re.escape(run)}\s+logreg\s+Succeeded\s", out, re.M)
        assert row, f"no Succeeded row for {run} in `kubectl get tj,tjr -o wide`:\n{out}"
    run_ids = re.findall(
        r"https://cloud\.oracle\.com/data-science/job-runs/(ocid1\.datasciencejobrun\.\S+)\?", out
    )
    assert len(set(run_ids)) == 2, out
    assert out.count("https://cloud.oracle.com/logging/search?searchQuery=") >= 2, out
    for run_id in set(run_ids):
        # The printed log section names the query the run's status link carries, and holds exactly
        # the lines the script printed (the emulator keeps them in the run's output.log).
        section = re.search(
            rf"^(\S+) \(Succeeded, exit code 0\): (\d+) lines for\n  search \"ocid1\.compartment\.\S+/"
            rf"ocid1\.loggroup\.\S+/ocid1\.log\.\S+\" \| where source = '\*{re.escape(run_id)}'",
            out,
            re.M,
        )
        assert section, f"no Logging search section for {run_id}:\n{out}"
        printed = int(section.group(2))
        output_log = (demo_dir / "emulator" / "runs" / run_id / "output.log").read_text().splitlines()
        assert printed == len(output_log) > 20, (printed, output_log)
    accuracies = re.findall(r"^  \| test loss=\d\.\d+ accuracy=(\d\.\d+)$", out, re.M)
    assert len(accuracies) == 2 and all(0.5 < float(a) <= 1.0 for a in accuracies), out
    assert len(re.findall(r"^  \| model saved to \S+/model\.json: weights=", out, re.M)) == 2, out
    assert "make demo-down" in out, out


def _assert_nothing_left(demo_dir: Path, ports: set[int]) -> None:
    left = processes_using(demo_dir)
    assert not left, f"still running after `make demo-down`: {left}"
    still_open = {p for p in ports if port_open(p)}
    assert not still_open, f"ports still accepting connections after `make demo-down`: {still_open}"


def _cleanup(env: dict[str, str], demo_dir: Path) -> None:
    """After a failure too: the demo's own `down`, then whatever it missed (all started by this test)."""
    run_bash(["make demo-down"], env, timeout=180)
    for pid in processes_using(demo_dir):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def test_readme_quick_start_as_written(tmp_path: Path) -> None:
    commands = quickstart_commands()
    assert commands[0] == "make demo" or commands[0].startswith("make demo "), commands
    assert commands[-1].split("#")[0].strip() == "make demo-down", commands
    demo_dir = tmp_path / "demo"
    env = clean_env(demo_dir)
    try:
        started = time.monotonic()
        code, outputs = run_bash(commands[:-1], env, timeout=DEMO_TIMEOUT_S)
        took = time.monotonic() - started
        transcript = "\n".join(f"$ {cmd}\n{out}" for cmd, out in outputs.items())
        assert code == 0, transcript
        _assert_demo_output(outputs[commands[0]], demo_dir)
        print(f"README quick start up to `make demo-down`: {took:.1f}s")

        # Every other command's output, as a user would read it after the eval line.
        kubectl_cmd = next(c for c in commands if c.startswith("kubectl get"))
        for run in RUNS:
            assert re.search(rf"^trainingjobrun\.ocids\.io/{re.escape(run)}\s+logreg\s+Succeeded\s",
                             outputs[kubectl_cmd], re.M), transcript  # fmt: skip

        running = processes_using(demo_dir)
        names = " ".join(running.values())
        for component in (
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "ocids-emulator",
            "ocids_operator",
        ):
            assert component in names, f"{component} not running during the demo: {running}"
        ports = listening_ports(set(running))
        assert len(ports) >= 5, (ports, running)  # etcd, apiserver, controller-manager, emulator, operator

        code, outputs = run_bash(commands[-1:], env, timeout=120)
        assert code == 0, outputs
        assert "demo stopped: none of its processes is running any more" in outputs[commands[-1]], outputs
        _assert_nothing_left(demo_dir, ports)
    finally:
        _cleanup(env, demo_dir)


def test_make_demo_uses_kubeconfig_cluster_and_leaves_it_running(cluster: Cluster, tmp_path: Path) -> None:
    if cluster.kubectl("get", "namespace", "ocids-demo", check=False).returncode == 0:
        pytest.skip("namespace ocids-demo exists in this cluster already (someone's demo): not touching it")
    demo_dir = tmp_path / "demo"
    env = clean_env(demo_dir, KUBECONFIG=str(cluster.kubeconfig))
    try:
        code, outputs = run_bash(["make demo"], env, timeout=DEMO_TIMEOUT_S)
        out = outputs["make demo"]
        assert code == 0, out
        assert f"using KUBECONFIG={cluster.kubeconfig}" in out, out
        _assert_demo_output(out, demo_dir)
        running = processes_using(demo_dir)
        names = " ".join(running.values())
        assert "kube-apiserver" not in names and "etcd" not in names, running  # no control plane of its own
        ports = listening_ports(set(running))

        code, outputs = run_bash(["make demo-down"], env, timeout=180)
        out = outputs["make demo-down"]
        assert code == 0, out
        assert "deleted namespace ocids-demo" in out and "left the cluster of KUBECONFIG=" in out, out
        _assert_nothing_left(demo_dir, ports)
        # The user's cluster is still there and still serves the CRDs; only the demo's namespace went.
        assert cluster.kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"
        assert cluster.kubectl("get", "namespace", "ocids-demo", check=False).returncode != 0
        assert "trainingjobs.ocids.io" in cluster.kubectl("get", "crd", "-o", "name").stdout
    finally:
        _cleanup(env, demo_dir)
