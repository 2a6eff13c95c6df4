"""Unpacking a job artifact into a run's working folder and choosing the command that starts it."""

from __future__ import annotations

import io
import os
import shlex
import sys
import tarfile
import zipfile
from pathlib import Path


class BootstrapError(Exception):
    """The artifact cannot be started; the message becomes the run's lifecycleDetails."""


def is_archive(filename: str) -> bool:
    name = filename.lower()
    return name.endswith((".zip", ".tar.gz", ".tgz", ".tar"))


def _safe_members(names: list[str]) -> None:
    for name in names:
        if name.startswith("/") or ".." in Path(name).parts:
            raise BootstrapError(
                f"Job run bootstrap failed: the archive member {name!r} escapes the artifact folder."
            )


def unpack(filename: str, content: bytes, workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    lower = filename.lower()
    try:
        if lower.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                _safe_members(archive.namelist())
                archive.extractall(workdir)
        elif is_archive(filename):
            with tarfile.open(fileobj=io.BytesIO(content), mode="r:*") as tar:
                _safe_members(tar.getnames())
                tar.extractall(workdir, filter="data")
        else:
            target = workdir / filename
            target.write_bytes(content)
            target.chmod(0o755)
    except (zipfile.BadZipFile, tarfile.TarError) as exc:
        raise BootstrapError(
            f"Job run bootstrap failed: the artifact {filename} is not a valid archive ({exc})."
        ) from exc


def find_entrypoint(filename: str, workdir: Path, entrypoint: str | None) -> Path:
    if not is_archive(filename):
        return workdir / filename
    if not entrypoint:
        raise BootstrapError(
            "Job run bootstrap failed: JOB_RUN_ENTRYPOINT must name the file to run in the archive."
        )
    candidates = [workdir / entrypoint]
    roots = [p for p in workdir.iterdir() if p.is_dir()]
    # OCI archives have one root folder; accept the entrypoint relative to it as well.
    if len(roots) == 1:
        candidates.append(roots[0] / entrypoint)
    for candidate in candidates:
        resolved = candidate.resolve()
        if resolved.is_file() and resolved.is_relative_to(workdir.resolve()):
            return resolved
    raise BootstrapError(
        f"Job run bootstrap failed: JOB_RUN_ENTRYPOINT {entrypoint!r} was not found in the artifact."
    )


def command_for(entry: Path, arguments: str | None) -> list[str]:
    args = shlex.split(arguments) if arguments else []
    suffix = entry.suffix.lower()
    if suffix == ".py":
        return [sys.executable, "-u", str(entry), *args]
    if suffix == ".sh" or not os.access(entry, os.X_OK):
        return ["bash", str(entry), *args]
    return [str(entry), *args]
