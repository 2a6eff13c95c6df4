"""Port picking, binary resolution and the wait helper: pure logic, no processes."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
from ocids_controlplane import binaries
from ocids_controlplane.ports import free_port, free_ports
from ocids_controlplane.processes import same_process
from ocids_controlplane.waiting import WaitTimeout, wait_until


def test_free_ports_are_distinct_and_bindable_on_loopback() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
    for port in [*ports, free_port()]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_versions_come_from_the_wrapper_modules() -> None:
    versions = binaries.versions()
    assert versions.kubernetes == "v1.37.2"
    assert versions.etcd.startswith("v3.6.")
    assert versions.helm.startswith("v3.")


def test_cache_layout_is_versioned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OCIDS_BIN_CACHE", str(tmp_path))
    assert binaries.cache_dir("kubectl") == tmp_path / "k8s-v1.37.2"
    assert binaries.cache_dir("etcd").name.startswith("etcd-v3.6.")
    assert binaries.cache_dir("helm").name.startswith("helm-v3.")


def test_kubebuilder_assets_take_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "kube-apiserver"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path))
    assert binaries.binary("kube-apiserver") == fake
    assert binaries.bin_dir() == tmp_path


def test_missing_binary_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    monkeypatch.setenv("OCIDS_BIN_CACHE", str(tmp_path))
    with pytest.raises(binaries.MissingBinaryError, match="make controlplane"):
        binaries.binary("etcd")
    with pytest.raises(ValueError, match="unknown"):
        binaries.binary("kubelet")


def test_stale_pid_is_recognised_by_its_executable() -> None:
    exe = Path(f"/proc/{os.getpid()}/cmdline").read_bytes().split(b"\0")[0].decode()
    assert same_process(os.getpid(), exe)
    assert not same_process(os.getpid(), "/usr/local/bin/kube-apiserver")
    assert not same_process(2**22 + 7, sys.executable)  # above pid_max's default: never a live pid


def test_wait_until_returns_the_first_truthy_value() -> None:
    calls = iter([None, 0, "ready"])
    assert wait_until(lambda: next(calls), timeout=5, interval=0.001) == "ready"


def test_wait_until_retries_through_exceptions() -> None:
    attempts = []

    def flaky() -> bool:
        attempts.append(1)
        if len(attempts) < 3:
            raise KeyError("not yet")
        return True

    assert wait_until(flaky, timeout=5, interval=0.001)


def test_wait_until_timeout_names_the_condition_and_last_error() -> None:
    def never() -> bool:
        raise LookupError("object missing")

    with pytest.raises(WaitTimeout, match=r"the widget to appear .*object missing"):
        wait_until(never, timeout=0.05, interval=0.01, message="the widget to appear")
    with pytest.raises(AssertionError, match="state=7"):
        wait_until(lambda: False, timeout=0.01, interval=0.005, message=lambda: "state=7")
