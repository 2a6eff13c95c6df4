"""Startup probes and storage mounts of the emulator's runs, on real processes and a real unshare."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ocids_controlplane.waiting import wait_until
from ocids_emulator.api.object_storage.buckets import BUCKET, seed_buckets
from ocids_emulator.config import init_data_dir
from ocids_emulator.core.emulator import Emulator, Settings
from ocids_emulator.execution.artifacts import BootstrapError
from ocids_emulator.execution.mounts import (
    PreparedMount,
    mount_namespace_refusal,
    prepare_mounts,
    wrap_command,
)
from ocids_emulator.execution.probes import run_startup_probe

# Probe seconds are scaled like --minute-seconds: 0.01 turns a 10 s period into 0.1 s.
SCALE = 0.01
needs_namespaces = pytest.mark.skipif(
    mount_namespace_refusal() is not None, reason=f"no mount namespaces here: {mount_namespace_refusal()}"
)


def probe(command: list[str], **fields: int) -> dict[str, object]:
    return {"jobProbeCheckType": "EXEC", "command": command, **fields}


def run_probe(details: dict[str, object], cwd: Path, alive: Callable[[], bool] = lambda: True) -> str | None:
    return asyncio.run(run_startup_probe(details, cwd, dict(os.environ), alive, SCALE))


# startup probe ---------------------------------------------------------------------------------
def test_probe_passes_once_the_command_succeeds(tmp_path: Path) -> None:
    # The artifact creates its ready file late; the probe keeps trying until it is there.
    ready = tmp_path / "ready"
    started = time.monotonic()

    def alive() -> bool:
        if time.monotonic() - started > 0.3:
            ready.touch()
        return True

    details = probe(["test", "-f", "ready"], periodInSeconds=10, failureThreshold=100)
    assert run_probe(details, tmp_path, alive) is None
    assert ready.exists()


def test_probe_fails_after_threshold_consecutive_failures(tmp_path: Path) -> None:
    script = tmp_path / "count.sh"
    script.write_text("echo x >> attempts\nexit 3\n")
    details = probe(["sh", str(script)], periodInSeconds=5, failureThreshold=4)
    assert run_probe(details, tmp_path) == "Job run startup probe failed 4 times: command exited with 3."
    assert (tmp_path / "attempts").read_text().count("x") == 4


def test_probe_runs_in_the_run_folder_with_the_run_env(tmp_path: Path) -> None:
    env = {**os.environ, "MARKER": "yes"}
    details = probe([sys.executable, "-c", "import os,sys; sys.exit(os.environ['MARKER'] != 'yes')"])
    assert asyncio.run(run_startup_probe(details, tmp_path, env, lambda: True, SCALE)) is None
    details = probe(["cat", "only-here"], failureThreshold=1)
    (tmp_path / "only-here").write_text("x")
    assert run_probe(details, tmp_path) is None


def test_probe_defaults_three_failures_and_names_a_missing_command(tmp_path: Path) -> None:
    details = probe(["no-such-probe-command"])
    assert run_probe(details, tmp_path) == (
        "Job run startup probe failed 3 times: command 'no-such-probe-command' was not found."
    )


def test_initial_delay_comes_before_the_first_attempt(tmp_path: Path) -> None:
    details = probe(["sh", "-c", "date +%s.%N > first"], initialDelayInSeconds=40)
    started = time.time()
    assert run_probe(details, tmp_path) is None
    assert float((tmp_path / "first").read_text()) - started >= 0.4  # 40 s x 0.01


def test_a_hanging_probe_times_out_and_leaves_no_process(tmp_path: Path) -> None:
    details = probe(
        ["sh", "-c", "sleep 60 & echo $! > child; sleep 60"], periodInSeconds=1, failureThreshold=1
    )
    started = time.monotonic()
    assert (
        run_probe(details, tmp_path)
        == "Job run startup probe failed 1 time: command timed out after 1 seconds."
    )
    assert time.monotonic() - started < 5
    child = int((tmp_path / "child").read_text())
    # SIGKILL went to the probe's whole process group; its background child dies too (soon after).
    wait_until(lambda: _gone(child), timeout=5, interval=0.02, message=f"probe child {child} to die")


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_probing_stops_when_the_artifact_exits(tmp_path: Path) -> None:
    # The artifact exited: its exit code decides the run, not a probe that never passed.
    calls = []

    def alive() -> bool:
        calls.append(1)
        return len(calls) < 4

    details = probe(["false"], periodInSeconds=1, failureThreshold=100)
    assert run_probe(details, tmp_path, alive) is None
    assert run_probe(probe(["false"]), tmp_path, lambda: False) is None


def test_a_hung_attempt_ends_as_soon_as_the_artifact_exits(tmp_path: Path) -> None:
    # Without this the run's cancel, timeout or exit would wait out the attempt (here 8 s).
    deadline = time.monotonic() + 0.3
    details = probe(["sh", "-c", "echo $$ > pid; exec sleep 8"], periodInSeconds=8, failureThreshold=1)
    started = time.monotonic()
    assert run_probe(details, tmp_path, lambda: time.monotonic() < deadline) is None
    assert time.monotonic() - started < 1.5
    pid = int((tmp_path / "pid").read_text())
    wait_until(lambda: _gone(pid), timeout=5, interval=0.02, message=f"probe {pid} to die")


# storage mounts ------------------------------------------------------------------------------
@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    init_data_dir(tmp_path / "data")
    emulator = Emulator(Settings(data_dir=tmp_path / "data"))
    seed_buckets(emulator)
    try:
        yield emulator
    finally:
        emulator.store.close()


def put(emu: Emulator, bucket_name: str, name: str, content: bytes) -> None:
    bucket = next(b for b in emu.store.all(BUCKET) if b.doc["name"] == bucket_name)
    emu.store.put_object(bucket.id, name, content, {"size": len(content)})


def os_mount(emu: Emulator, directory: str, **fields: str) -> dict[str, str]:
    values = {
        "storageType": "OBJECT_STORAGE",
        "namespace": emu.tenancy.object_storage_namespace,
        "bucket": "ocids-artifacts",
        "destinationDirectoryName": directory,
    }
    return {**values, **fields}


def run_wrapped(
    command: list[str], prepared: list[PreparedMount], cwd: Path
) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        wrap_command(command, prepared), cwd=cwd, capture_output=True, text=True, timeout=30
    )


@needs_namespaces
def test_object_storage_mount_shows_the_prefix_at_the_destination(emu: Emulator, tmp_path: Path) -> None:
    put(emu, "ocids-artifacts", "data/train.csv", b"a,b\n")
    put(emu, "ocids-artifacts", "data/nested/more.txt", b"more\n")
    put(emu, "ocids-artifacts", "database.csv", b"not under the data folder")
    mounts = [os_mount(emu, "input", prefix="data", destinationPath="/mnt")]
    prepared = prepare_mounts(emu, mounts, tmp_path / "run")
    before = sorted(os.listdir("/mnt"))
    result = run_wrapped(
        ["sh", "-c", "cat /mnt/input/train.csv /mnt/input/nested/more.txt; ls /mnt/input"],
        prepared,
        tmp_path / "run" / "work",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["a,b", "more", "nested", "train.csv"]
    assert sorted(os.listdir("/mnt")) == before  # the host's /mnt never changes


@needs_namespaces
def test_destinations_whose_parents_do_not_exist(emu: Emulator, tmp_path: Path) -> None:
    # Under "/" (chroot into a copy), under /opt (a tmpfs over it), two in one new folder.
    put(emu, "ocids-artifacts", "x.txt", b"deep\n")
    top = f"/ocids-e3-{os.getpid()}"
    places = [f"{top}/a/b", "/opt/ocids-e3", "/opt/ocids-e3"]
    mounts = [os_mount(emu, name, destinationPath=path) for name, path in zip("def", places, strict=True)]
    prepared = prepare_mounts(emu, mounts, tmp_path / "run")
    result = run_wrapped(
        ["sh", "-c", f"cat {top}/a/b/d/x.txt /opt/ocids-e3/e/x.txt /opt/ocids-e3/f/x.txt; ls /opt; pwd"],
        prepared,
        tmp_path / "run" / "work",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert lines[:3] == ["deep"] * 3 and lines[-1] == str(tmp_path / "run" / "work")
    assert set(os.listdir("/opt")) | {"ocids-e3"} == set(lines[3:-1])  # /opt's own entries stay visible
    assert not os.path.lexists(top) and not os.path.lexists("/opt/ocids-e3")


@needs_namespaces
def test_a_mount_nested_under_another_leaves_the_outer_source_alone(emu: Emulator, tmp_path: Path) -> None:
    # The outer destination is a new top-level folder; once mounted it IS the export's folder, so
    # the inner mount's parents must not be made there (every later run would see them).
    put(emu, "ocids-artifacts", "x.txt", b"inner\n")
    top = f"/ocids-d1-{os.getpid()}"
    export = {
        "storageType": "FILE_STORAGE",
        "mountTargetId": "ocid1.mounttarget.oc1..mt",
        "exportId": "ocid1.export.oc1..nested",
        "destinationPath": "/",
        "destinationDirectoryName": top.lstrip("/"),
    }
    mounts = [export, os_mount(emu, "b", destinationPath=f"{top}/a")]
    prepared = prepare_mounts(emu, mounts, tmp_path / "run")
    source = prepared[0].source
    (source / "kept.txt").write_text("export\n")
    result = run_wrapped(
        ["sh", "-c", f"cat {top}/a/b/x.txt {top}/kept.txt"], prepared, tmp_path / "run" / "work"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["inner", "export"]
    assert os.listdir(source) == ["kept.txt"]  # no a/b left in the shared export
    assert not os.path.lexists(top)


@needs_namespaces
def test_file_storage_export_is_shared_by_later_runs(emu: Emulator, tmp_path: Path) -> None:
    export = {
        "storageType": "FILE_STORAGE",
        "mountTargetId": "ocid1.mounttarget.oc1..mt",
        "exportId": "ocid1.export.oc1..ex",
        "destinationDirectoryName": "shared",
    }
    first = prepare_mounts(emu, [export], tmp_path / "run1")
    assert (
        run_wrapped(
            ["sh", "-c", "echo kept > /mnt/shared/note"], first, tmp_path / "run1" / "work"
        ).returncode
        == 0
    )
    later = prepare_mounts(emu, [export], tmp_path / "run2")
    assert run_wrapped(["cat", "/mnt/shared/note"], later, tmp_path / "run2" / "work").stdout == "kept\n"
    other = prepare_mounts(emu, [{**export, "exportId": "ocid1.export.oc1..other"}], tmp_path / "run3")
    assert run_wrapped(["ls", "/mnt/shared"], other, tmp_path / "run3" / "work").stdout == ""


def test_a_missing_bucket_or_foreign_namespace_fails_bootstrap_naming_the_mount(
    emu: Emulator, tmp_path: Path
) -> None:
    if mount_namespace_refusal() is not None:
        pytest.skip("no mount namespaces here")
    with pytest.raises(BootstrapError, match=r"storage mount 1 \(OBJECT_STORAGE at /mnt/b\).*'nope'"):
        prepare_mounts(emu, [os_mount(emu, "a"), os_mount(emu, "b", bucket="nope")], tmp_path / "run")
    with pytest.raises(
        BootstrapError, match=r"Job run bootstrap failed: storage mount 0 .*namespace 'other'"
    ):
        prepare_mounts(emu, [os_mount(emu, "a", namespace="other")], tmp_path / "run")


def test_no_mounts_leave_the_command_alone(emu: Emulator, tmp_path: Path) -> None:
    assert prepare_mounts(emu, [], tmp_path) == []
    assert wrap_command(["python", "x.py"], []) == ["python", "x.py"]


def test_without_mount_namespaces_the_run_fails_at_bootstrap(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "ocids_emulator.execution.mounts._namespace_refusal", lambda: "unshare --mount failed"
    )
    with pytest.raises(
        BootstrapError, match="storage mounts need a private mount namespace: unshare --mount failed"
    ):
        prepare_mounts(emu, [os_mount(emu, "a")], tmp_path / "run")
