"""Fixtures for the emulator contract tests: each test gets its own emulator process and data dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ocids_emulator.testing import RunningEmulator, running_emulator


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[RunningEmulator]:
    with running_emulator(tmp_path / "emulator") as running:
        yield running


@pytest.fixture(scope="module")
def shared_emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """One emulator for a module of read-mostly tests (validation, signatures)."""
    with running_emulator(tmp_path_factory.mktemp("emulator")) as running:
        yield running


@pytest.fixture
def ids(emu: RunningEmulator) -> dict[str, str]:
    return emu.ids


@pytest.fixture
def client(emu: RunningEmulator) -> Any:
    """DataScienceClient without retries: a test that expects an error sees it at once."""
    return emu.datascience_client(retries=False)
