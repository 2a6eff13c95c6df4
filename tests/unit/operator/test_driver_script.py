"""Script mode: the driver runs the job's entrypoint as OCI would and exits with its code."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from driver_support import command, driver_env, run_driver, unpack
from ocids_controlplane.waiting import wait_until

ECHO = "import os, sys\nprint('args', sys.argv[1:], 'cwd', os.getcwd())\nsys.exit(len(sys.argv) - 1)\n"


def test_python_entrypoint_gets_the_arguments_runs_in_code_and_passes_its_exit_code(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"train/run.py": ECHO})
    done = run_driver(root, "--lr", "0.1", "x y", MODE="script", ENTRYPOINT="train/run.py")
    assert done.returncode == 3, done.stderr
    assert f"args ['--lr', '0.1', 'x y'] cwd {root / 'code'}\n" in done.stdout


def test_working_dir_is_relative_to_code(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"run.py": ECHO, "data/.keep": ""})
    done = run_driver(root, MODE="script", ENTRYPOINT="run.py", WORKING_DIR="data")
    assert done.returncode == 0, done.stderr  # no arguments
    assert f"cwd {root / 'code' / 'data'}" in done.stdout


def test_shell_entrypoint_runs_with_bash(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"run.sh": 'echo "shell $1 $BASH_VERSION" | cut -c1-11\nexit 4\n'})
    done = run_driver(root, "one", MODE="script", ENTRYPOINT="run.sh")
    assert (done.returncode, done.stdout) == (4, "shell one 5\n")


def test_executable_entrypoint_runs_directly(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"run": '#!/bin/sh\necho direct "$@"\n'})
    (root / "code" / "run").chmod(0o755)
    done = run_driver(root, "a", MODE="script", ENTRYPOINT="run")
    assert (done.returncode, done.stdout) == (0, "direct a\n")


def test_missing_entrypoint_fails_naming_the_variable(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"run.py": ECHO})
    done = run_driver(root, MODE="script", ENTRYPOINT="nope.py")
    assert done.returncode == 1
    assert "OCIDS_DRIVER_ENTRYPOINT 'nope.py' is not a file in the job's code" in done.stderr


def test_unknown_mode_fails_before_running_anything(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"run.py": "open('ran', 'w').close()\n"})
    done = run_driver(root, MODE="spark", ENTRYPOINT="run.py")
    assert done.returncode == 1
    assert "OCIDS_DRIVER_MODE 'spark' is not one of script, python, notebook" in done.stderr
    assert not (root / "code" / "ran").exists()


def test_sigterm_to_the_driver_reaches_the_script(tmp_path: Path) -> None:
    """A cancel signals the driver (OCI's main process): the user's code must get the chance to
    stop cleanly, and its exit code is the run's."""
    script = (
        "import signal, sys, time, pathlib\n"
        "def stop(*_):\n"
        "    print('stopping', flush=True)\n"
        "    sys.exit(7)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "pathlib.Path('ready').touch()\n"
        "time.sleep(60)\n"
    )
    root = unpack(tmp_path, {"run.py": script})
    driver = subprocess.Popen(
        command(root),
        cwd=root,
        env=driver_env(MODE="script", ENTRYPOINT="run.py"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: (root / "code" / "ready").exists(), timeout=20, interval=0.05, message="script start"
        )
        driver.send_signal(signal.SIGTERM)  # the driver only, not its process group
        out, _ = driver.communicate(timeout=20)
    finally:
        driver.kill()
    assert driver.returncode == 7
    assert "stopping" in out
