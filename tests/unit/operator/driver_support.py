"""Runs the driver as OCI does: a subprocess from an unpacked artifact (``ocids_driver/`` + ``code/``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import ocids_operator.driver

DRIVER_SOURCE = Path(ocids_operator.driver.__file__).parent
# The driver runs in the job's conda environment, often an older Python than the operator's: set
# OCIDS_TEST_DRIVER_PYTHON (e.g. a Python 3.8) to run these tests' drivers with it.
PYTHON = os.environ.get("OCIDS_TEST_DRIVER_PYTHON") or sys.executable
# With nbclient and ipykernel the driver runs notebooks in a Jupyter kernel, else in its own runner.
KERNEL = (
    subprocess.run([PYTHON, "-c", "import nbclient, ipykernel, nbformat"], capture_output=True).returncode
    == 0
)


def unpack(root: Path, code: dict[str, str | bytes]) -> Path:
    """``root/ocids_driver/*.py`` (the package's modules) and ``root/code/<path>`` for each file."""
    (root / "ocids_driver").mkdir(parents=True)
    for module in DRIVER_SOURCE.glob("*.py"):
        shutil.copy(module, root / "ocids_driver" / module.name)
    for relative, content in code.items():
        path = root / "code" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    (root / "code").mkdir(exist_ok=True)
    return root


def driver_env(**driver: str) -> dict[str, str]:
    """A job run's environment: PATH and HOME, a run OCID, and ``OCIDS_DRIVER_<KEY>`` for each key."""
    env = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    env["JOB_RUN_OCID"] = "ocid1.datasciencejobrun.oc1.iad.unit"
    env.update({k if k.startswith(("OCI", "JOB_")) else f"OCIDS_DRIVER_{k}": v for k, v in driver.items()})
    return env


def command(root: Path, *args: str) -> list[str]:
    return [PYTHON, "-u", str(root / "ocids_driver" / "main.py"), *args]


def run_driver(
    root: Path, *args: str, timeout: float = 30, **driver: str
) -> subprocess.CompletedProcess[str]:
    # The emulator and OCI start the entrypoint from the artifact's folder.
    return subprocess.run(
        command(root, *args),
        cwd=root,
        env=driver_env(**driver),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def notebook(*cells: tuple[str, list[str]]) -> str:
    """An nbformat-4 notebook of code cells: (source, tags)."""
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "cells": [
                {
                    "cell_type": "code",
                    "id": f"c{i}",
                    "metadata": {"tags": tags} if tags else {},
                    "source": source,
                    "outputs": [],
                    "execution_count": None,
                }
                for i, (source, tags) in enumerate(cells)
            ],
        }
    )


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
