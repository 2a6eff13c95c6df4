"""A job run's storage mounts, really mounted: the artifact sees them at their destination paths.

``prepare_mounts`` fills a local folder per mount (an OBJECT_STORAGE mount gets a copy of the
bucket's objects under its prefix; a FILE_STORAGE mount gets the export's folder, shared by every
run of this emulator, as an export is). ``wrap_command`` starts the artifact in a private mount
namespace (``unshare --mount --propagation private``) where a small launcher bind-mounts each folder
at ``destinationPath/destinationDirectoryName``; nothing changes in the host's file system.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ocids_emulator.core.emulator import Emulator
from ocids_emulator.execution.artifacts import BootstrapError

DEFAULT_DESTINATION_PATH = "/mnt"
BUCKET_KIND = "bucket"  # the store's kind for Object Storage buckets (api/object_storage/buckets.py)
FILE_STORAGE_DIR = "file-storage"
# The launcher's exit code when a mount cannot be made (the run then fails with it).
LAUNCHER_FAILED = 125


@dataclass(frozen=True)
class PreparedMount:
    source: Path  # the local folder holding the mount's content
    destination: str  # where the artifact sees it (absolute)
    label: str  # how messages name the mount
    stage: Path  # a folder of the run's where the launcher may build folders the host lacks


def mount_namespace_refusal() -> str | None:
    """Why this emulator cannot give a run its own mount namespace (None: it can)."""
    return _namespace_refusal()


@functools.cache
def _namespace_refusal() -> str | None:
    if shutil.which("unshare") is None:
        return "the unshare command is not installed"
    try:
        probe = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "true"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare --mount failed ({exc})"
    if probe.returncode != 0:
        why = probe.stderr.strip() or f"exit code {probe.returncode}"
        return f"unshare --mount failed ({why}; it needs root)"
    return None


def destination_of(mount: dict[str, Any]) -> str:
    base = mount.get("destinationPath") or DEFAULT_DESTINATION_PATH
    return str(PurePosixPath(base) / str(mount["destinationDirectoryName"]))


def _label(index: int, mount: dict[str, Any]) -> str:
    return f"storage mount {index} ({mount.get('storageType')} at {destination_of(mount)})"


def prepare_mounts(emu: Emulator, mounts: list[dict[str, Any]], run_folder: Path) -> list[PreparedMount]:
    """Each mount's local folder; BootstrapError (the run's lifecycleDetails) names a bad mount."""
    if not mounts:
        return []
    refusal = mount_namespace_refusal()
    if refusal:
        raise BootstrapError(
            f"Job run bootstrap failed: storage mounts need a private mount namespace: {refusal}."
        )
    stage = run_folder / "mounts" / ".stage"
    stage.mkdir(parents=True, exist_ok=True)
    prepared = []
    for index, mount in enumerate(mounts):
        label = _label(index, mount)
        destination = destination_of(mount)
        _check_destination(destination, label)
        kind = mount.get("storageType")
        if kind == "OBJECT_STORAGE":
            source = run_folder / "mounts" / str(index)
            _copy_bucket(emu, mount, source, label)
        elif kind == "FILE_STORAGE":
            source = _export_folder(emu, mount)
        else:
            raise BootstrapError(f"Job run bootstrap failed: {label}: unknown storageType {kind!r}.")
        prepared.append(PreparedMount(source=source, destination=destination, label=label, stage=stage))
    return prepared


def _check_destination(destination: str, label: str) -> None:
    path = PurePosixPath(destination)
    if not path.is_absolute() or ".." in path.parts:
        raise BootstrapError(f"Job run bootstrap failed: {label}: the destination must be an absolute path.")
    # A file in the way cannot be mounted over by a folder (the launcher would fail later).
    for part in [path, *path.parents]:
        local = Path(part)
        if local.exists():
            if not local.is_dir():
                raise BootstrapError(
                    f"Job run bootstrap failed: {label}: {part} exists and is not a directory."
                )
            return


def _find_bucket(emu: Emulator, namespace: str | None, name: str | None) -> Any:
    if namespace != emu.tenancy.object_storage_namespace:
        return None
    return next((b for b in emu.store.all(BUCKET_KIND) if b.doc["name"] == name), None)


def _copy_bucket(emu: Emulator, mount: dict[str, Any], target: Path, label: str) -> None:
    namespace, name = mount.get("namespace"), mount.get("bucket")
    bucket = _find_bucket(emu, namespace, name)
    if bucket is None:
        raise BootstrapError(
            f"Job run bootstrap failed: {label}: the bucket '{name}' does not exist in the namespace"
            f" '{namespace}' or the job run is not authorized to access it."
        )
    # A prefix names a folder: "data" mounts data/..., not database.csv.
    prefix = (mount.get("prefix") or "").strip("/")
    prefix = f"{prefix}/" if prefix else ""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for object_name, _meta in list(emu.store.object_metas(bucket.id, prefix, "")):
        relative = PurePosixPath(object_name[len(prefix) :])
        if not relative.parts or relative.is_absolute() or ".." in relative.parts:
            continue  # not representable as a file under the mount (OCI's handling is unverified)
        local = target.joinpath(*relative.parts)
        if object_name.endswith("/"):  # a "folder" marker object
            local.mkdir(parents=True, exist_ok=True)
            continue
        content = emu.store.object_content(bucket.id, object_name)
        if content is None:  # deleted while copying
            continue
        try:
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(content)
        except OSError as exc:
            raise BootstrapError(
                f"Job run bootstrap failed: {label}: the object '{object_name}' cannot be placed"
                f" under the mount ({exc.strerror})."
            ) from exc


def _export_folder(emu: Emulator, mount: dict[str, Any]) -> Path:
    def safe(value: Any) -> str:
        return re.sub(r"[^A-Za-z0-9._-]", "_", str(value)) or "_"

    folder = (
        emu.settings.data_dir
        / FILE_STORAGE_DIR
        / safe(mount.get("mountTargetId"))
        / safe(mount.get("exportId"))
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wrap_command(command: list[str], prepared: list[PreparedMount]) -> list[str]:
    """``command`` started in a private mount namespace with each prepared mount in place."""
    if not prepared:
        return list(command)
    spec = {
        "stage": str(prepared[0].stage),
        "binds": [[str(m.source), m.destination, m.label] for m in prepared],
    }
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        sys.executable,
        "-I",
        "-c",
        _LAUNCHER,
        json.dumps(spec),
        *command,
    ]


# Runs inside the new namespace, as root, then becomes the artifact (exec keeps the pid, so the
# executor's process-group signals still reach it). A destination whose folder is missing is
# created on a tmpfs laid over its nearest existing ancestor, which first gets every entry of the
# ancestor bound back in; for "/" the launcher chroots into such a copy instead. A mount nested
# under another one's destination gets the same treatment over that destination. Either way the
# host's folders and the mounts' sources stay as they were.
_LAUNCHER = r"""
import ctypes, json, os, sys
MS_BIND, MS_MOVE, MS_REC = 4096, 8192, 16384
libc = ctypes.CDLL(None, use_errno=True)
def mount(src, dst, fstype, flags, data=None):
    if libc.mount(src.encode(), dst.encode(), fstype.encode() if fstype else None, flags,
                  data.encode() if data else None) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), dst)
spec, command = json.loads(sys.argv[1]), sys.argv[2:]
binds, stage, cwd = spec["binds"], spec["stage"], os.getcwd()
count, label = 0, "a storage mount"
def shadow(ancestor):
    global count
    count += 1
    top = os.path.join(stage, str(count))
    os.makedirs(top, exist_ok=True)
    mount("tmpfs", top, "tmpfs", 0, "mode=%o" % (os.stat(ancestor).st_mode & 0o7777))
    for entry in os.scandir(ancestor):
        there, here = entry.path, os.path.join(top, entry.name)
        try:
            if entry.is_symlink():
                os.symlink(os.readlink(there), here)
                continue
            if entry.is_dir():
                os.mkdir(here)
            else:
                open(here, "w").close()
            mount(there, here, None, MS_BIND | MS_REC)
        except OSError:
            pass
    return top
def missing_parts(path):
    parts, ancestor = [], path
    while not os.path.lexists(ancestor):
        parts.insert(0, os.path.basename(ancestor))
        ancestor = os.path.dirname(ancestor)
    return ancestor, parts
try:
    ours = set()  # folders on a tmpfs of the launcher's: safe to create in
    root_needs = sorted({missing_parts(d)[1][0] for _, d, _ in binds if missing_parts(d)[0] == "/"})
    if root_needs:
        top = shadow("/")
        for name in root_needs:
            os.mkdir(os.path.join(top, name))
        os.chroot(top)
        ours.update(["/"] + ["/" + name for name in root_needs])
    for source, destination, label in sorted(binds, key=lambda b: b[1].count("/")):
        ancestor, parts = missing_parts(destination)
        if parts and ancestor in ours:
            os.makedirs(destination)
        elif parts:
            top = shadow(ancestor)
            os.makedirs(os.path.join(top, *parts))
            mount(top, ancestor, None, MS_MOVE)
            ours.add(ancestor)
        for i in range(len(parts)):
            ours.add(os.path.join(ancestor, *parts[:i]))
        mount(source, destination, None, MS_BIND | MS_REC)
        # The destination is now the mount's source folder (a bucket copy or a shared export): a
        # deeper mount under it gets a tmpfs of its own, never folders made in the source.
        inside = destination.rstrip("/") + "/"
        ours = {p for p in ours if p != destination and not p.startswith(inside)}
    os.chdir(cwd)
except OSError as exc:
    sys.stderr.write("ocids-emulator: %s could not be mounted: %s\n" % (label, exc))
    sys.exit(125)
os.execvp(command[0], command)
"""
