"""The image installs its dependencies from tools/image/requirements.lock with `--require-hashes`:
the lock must cover every runtime dependency pyproject declares, at a version pyproject allows, and
pin every package with hashes. The base image is pinned by digest."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "tools" / "image" / "requirements.lock"


def _locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes)."""
    entries: dict[str, tuple[str, int]] = {}
    name = ""
    for line in LOCK.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9._-]+)==(\S+) \\$", line):
            name = canonicalize_name(match[1])
            entries[name] = (match[2], 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, hashes = entries[name]
            entries[name] = (version, hashes + 1)
    return entries


def test_the_lock_pins_every_runtime_dependency_at_an_allowed_version_with_hashes() -> None:
    locked = _locked()
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is not in {LOCK.name}: run tools/image/lock.sh"
        assert requirement.specifier.contains(locked[name][0], prereleases=True), (
            f"{LOCK.name} pins {name}=={locked[name][0]}, pyproject wants {requirement.specifier}: "
            "run tools/image/lock.sh"
        )
    assert all(hashes > 0 for _, hashes in locked.values())
    assert not [line for line in LOCK.read_text().splitlines() if re.match(r"^[A-Za-z].*[<>~]=", line)]


def test_the_dockerfile_installs_the_lock_with_hashes_on_a_base_pinned_by_digest() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim@sha256:[0-9a-f]{64}$", dockerfile, re.M)
    assert re.findall(r"^FROM (\S+)", dockerfile, re.M) == ["${BASE_IMAGE}", "${BASE_IMAGE}"]
    assert "pip install --require-hashes -r /opt/image-tools/requirements.lock" in dockerfile
