"""The driver artifact (`core/driver_package`): one zip, the same bytes for the same inputs (a crash and
its replay upload the same artifact), and archives unpacked without escaping the code folder."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile

import pytest
from ocids_operator.core.driver_package import (
    CodeFile,
    CodeProblem,
    build_driver_zip,
    code_tree,
    installed_driver_files,
    unpack_archive,
)

DRIVER = {"main.py": b"print('driver')\n", "__init__.py": b"DRIVER_VERSION = '1'\n"}
MAX = 1024 * 1024


def make_zip(
    members: dict[str, tuple[bytes, int]], date_time: tuple[int, ...] = (2024, 5, 6, 7, 8, 10)
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (data, mode) in members.items():
            info = zipfile.ZipInfo(name, date_time=date_time)  # type: ignore[arg-type]
            info.create_system = 3
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = mode << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def make_tar(
    members: dict[str, tuple[bytes, int]], mtime: float, links: dict[str, str] | None = None
) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, (data, mode) in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, mtime
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, mtime
            archive.addfile(info)
    return buffer.getvalue()


def listing(data: bytes) -> list[tuple[str, int, tuple[int, ...]]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(i.filename, stat.S_IMODE(i.external_attr >> 16), i.date_time) for i in archive.infolist()]


def test_same_inputs_give_the_same_bytes() -> None:
    code = {"train.py": CodeFile(b"print(1)\n"), "run.sh": CodeFile(b"echo hi\n", executable=True)}
    first = build_driver_zip(DRIVER, code)
    assert build_driver_zip(dict(reversed(DRIVER.items())), dict(reversed(code.items()))) == first
    assert listing(first) == [
        ("code/run.sh", 0o755, (1980, 1, 1, 0, 0, 0)),
        ("code/train.py", 0o644, (1980, 1, 1, 0, 0, 0)),
        ("ocids_driver/__init__.py", 0o644, (1980, 1, 1, 0, 0, 0)),
        ("ocids_driver/main.py", 0o644, (1980, 1, 1, 0, 0, 0)),
    ]
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.read("code/train.py") == b"print(1)\n"


def test_an_archive_repacked_later_gives_the_same_bytes() -> None:
    """A URL artifact re-downloaded (new mtimes, a new gzip header) packs to the same artifact."""
    members = {"pkg/train.py": (b"x = 1\n", 0o644), "pkg/run.sh": (b"echo\n", 0o755)}
    early = code_tree("code.tar.gz", make_tar(members, mtime=1_000_000), field="artifact.url", max_bytes=MAX)
    late = code_tree("code.tar.gz", make_tar(members, mtime=2_000_000), field="artifact.url", max_bytes=MAX)
    assert build_driver_zip(DRIVER, early) == build_driver_zip(DRIVER, late)
    zipped = code_tree("code.zip", make_zip(members), field="artifact.url", max_bytes=MAX)
    other_day = make_zip(members, date_time=(2025, 1, 2, 3, 4, 6))
    assert build_driver_zip(DRIVER, zipped) == build_driver_zip(
        DRIVER, code_tree("code.zip", other_day, field="artifact.url", max_bytes=MAX)
    )
    assert zipped["pkg/run.sh"].executable and not zipped["pkg/train.py"].executable


def test_a_single_file_lands_as_is() -> None:
    tree = code_tree("train.py", b"print(1)", field="artifact.inline", max_bytes=MAX)
    assert tree == {"train.py": CodeFile(b"print(1)")}
    assert code_tree("job.sh", b"echo", field="artifact.inline", max_bytes=MAX)["job.sh"].executable


@pytest.mark.parametrize(
    "name", ["../evil.py", "a/../../evil.py", "/etc/passwd", "C:/evil.py", "..\\evil.py"]
)
def test_a_path_escaping_zip_is_refused_naming_the_artifact(name: str) -> None:
    data = make_zip({"ok.py": (b"1", 0o644), name: (b"2", 0o644)})
    with pytest.raises(CodeProblem, match=r"^artifact\.url: the archive member .* outside the code folder"):
        unpack_archive("code.zip", data, field="artifact.url", max_bytes=MAX)


def test_a_path_escaping_tar_is_refused_naming_the_artifact() -> None:
    data = make_tar({"../../evil.py": (b"2", 0o644)}, mtime=0)
    with pytest.raises(
        CodeProblem, match=r"^artifact\.configMapRef: the archive member '\.\./\.\./evil\.py'"
    ):
        unpack_archive("code.tgz", data, field="artifact.configMapRef", max_bytes=MAX)


def test_links_in_archives_are_refused() -> None:
    tar = make_tar({"a.py": (b"1", 0o644)}, mtime=0, links={"secret": "/etc/shadow"})
    with pytest.raises(CodeProblem, match="'secret' is a link or special file"):
        unpack_archive("code.tar.gz", tar, field="artifact.url", max_bytes=MAX)
    link_zip = make_zip({"secret": (b"/etc/shadow", stat.S_IFLNK | 0o777)})
    with pytest.raises(CodeProblem, match="'secret' is a symbolic link"):
        unpack_archive("code.zip", link_zip, field="artifact.url", max_bytes=MAX)


def test_an_archive_that_unpacks_too_large_is_refused() -> None:
    bomb = make_zip({"zeros.bin": (b"\0" * 100_000, 0o644)})
    assert len(bomb) < 2_000
    with pytest.raises(CodeProblem, match=r"artifact\.url: the archive unpacks to more than 50000 bytes"):
        unpack_archive("code.zip", bomb, field="artifact.url", max_bytes=50_000)


def test_a_damaged_archive_is_refused_naming_the_artifact() -> None:
    with pytest.raises(CodeProblem, match=r"artifact\.url: 'code\.zip' is not a readable archive"):
        unpack_archive("code.zip", b"not a zip", field="artifact.url", max_bytes=MAX)


def test_the_installed_driver_is_packed() -> None:
    files = installed_driver_files()
    assert "main.py" in files and "__init__.py" in files
    assert all(name.endswith(".py") and os.sep not in name for name in files)
    packed = build_driver_zip(files, {"train.py": CodeFile(b"1")})
    names = [entry[0] for entry in listing(packed)]
    assert "ocids_driver/main.py" in names and "code/train.py" in names
