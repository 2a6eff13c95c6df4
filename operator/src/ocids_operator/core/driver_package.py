"""The driver artifact: one deterministic zip of the driver (`ocids_driver/`) and the user's code
(`code/`). Same inputs, same bytes, same digest: a crash and its replay upload the same artifact,
and an unchanged job makes no new revision.

Pure except `installed_driver_files`, which reads the operator's own installed `driver` package.
"""

from __future__ import annotations

import dataclasses
import io
import posixpath
import stat
import tarfile
import zipfile
from collections.abc import Mapping
from importlib import resources

from .driver_env import CODE_DIR, DRIVER_DIR, is_archive

# ZIP's earliest date: no clock, no timezone in the bytes.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
EXECUTABLE_MODE = 0o755
DRIVER_PACKAGE = "ocids_operator.driver"


class CodeProblem(ValueError):
    """The user's artifact cannot be packed; the message names the field (artifact...)."""


@dataclasses.dataclass(frozen=True)
class CodeFile:
    data: bytes
    executable: bool = False


CodeTree = Mapping[str, CodeFile]
"""The user's code: relative POSIX path -> file, as it lands under `code/`."""


def installed_driver_files() -> dict[str, bytes]:
    """The driver modules as installed with the operator, {"main.py": ..., ...} (sources only)."""
    root = resources.files(DRIVER_PACKAGE)
    return {
        entry.name: entry.read_bytes()
        for entry in root.iterdir()
        if entry.is_file() and entry.name.endswith(".py")
    }


def safe_path(name: str, field: str) -> str:
    """A member name as a relative path that stays inside the code folder, or CodeProblem."""
    cleaned = name.replace("\\", "/")
    normal = posixpath.normpath(cleaned)
    if (
        cleaned.startswith("/")
        or normal == ".."
        or normal.startswith("../")
        or (len(cleaned) > 1 and cleaned[1] == ":")
        or "\x00" in cleaned
    ):
        raise CodeProblem(f"{field}: the archive member {name!r} would be written outside the code folder")
    return normal


def single_file(file_name: str, data: bytes) -> dict[str, CodeFile]:
    """An inline, ConfigMap or URL file that is not an archive: `code/<fileName>`."""
    return {file_name: CodeFile(data, executable=file_name.endswith(".sh"))}


def unpack_archive(file_name: str, data: bytes, *, field: str, max_bytes: int) -> dict[str, CodeFile]:
    """A .zip, .tar.gz/.tgz or .tar artifact's regular files. Links, devices and members that would
    land outside the folder are refused, and so is more than `max_bytes` unpacked (a zip bomb)."""
    lower = file_name.lower()
    try:
        if lower.endswith(".zip"):
            return _unzip(data, field, max_bytes)
        return _untar(data, field, max_bytes)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise CodeProblem(f"{field}: {file_name!r} is not a readable archive ({type(exc).__name__})") from exc


def _unzip(data: bytes, field: str, max_bytes: int) -> dict[str, CodeFile]:
    out: dict[str, CodeFile] = {}
    total = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            path = safe_path(info.filename, field)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise CodeProblem(f"{field}: the archive member {info.filename!r} is a symbolic link")
            total += info.file_size
            if total > max_bytes:
                raise CodeProblem(f"{field}: the archive unpacks to more than {max_bytes} bytes")
            content = archive.read(info)
            if len(content) != info.file_size:  # a header that lies about the size
                raise CodeProblem(f"{field}: the archive member {info.filename!r} is damaged")
            out[path] = CodeFile(content, executable=bool(mode & 0o111))
    return out


def _untar(data: bytes, field: str, max_bytes: int) -> dict[str, CodeFile]:
    out: dict[str, CodeFile] = {}
    total = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for member in archive:
            if member.isdir():
                continue
            path = safe_path(member.name, field)
            if not member.isfile():
                raise CodeProblem(
                    f"{field}: the archive member {member.name!r} is a link or special file, "
                    "not a regular file"
                )
            total += member.size
            if total > max_bytes:
                raise CodeProblem(f"{field}: the archive unpacks to more than {max_bytes} bytes")
            extracted = archive.extractfile(member)
            assert extracted is not None
            out[path] = CodeFile(extracted.read(), executable=bool(member.mode & 0o111))
    return out


def code_tree(file_name: str, data: bytes, *, field: str, max_bytes: int) -> dict[str, CodeFile]:
    """The code of an inline, ConfigMap or URL artifact: an archive unpacked, any other file as is."""
    if is_archive(file_name):
        return unpack_archive(file_name, data, field=field, max_bytes=max_bytes)
    return single_file(file_name, data)


def _entry(name: str, executable: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    # Stored, not deflated: deflate's bytes depend on the zlib build (zlib-ng differs), and an
    # operator upgrade must not change the digest of an unchanged job's artifact.
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3  # Unix, so the permission bits below are read back
    mode = EXECUTABLE_MODE if executable else FILE_MODE
    info.external_attr = (stat.S_IFREG | mode) << 16
    return info


def build_driver_zip(driver_files: Mapping[str, bytes], code: CodeTree) -> bytes:
    """`ocids_driver/<module>` for each driver file and `code/<path>` for each code file, sorted,
    stored with fixed timestamps and permissions (0644, 0755 for executables)."""
    entries: dict[str, tuple[bytes, bool]] = {}
    for name, data in driver_files.items():
        entries[f"{DRIVER_DIR}/{safe_path(name, 'driver')}"] = (data, False)
    for name, file in code.items():
        entries[f"{CODE_DIR}/{safe_path(name, 'artifact')}"] = (file.data, file.executable)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(entries):
            data, executable = entries[name]
            archive.writestr(_entry(name, executable), data)
    return buffer.getvalue()
