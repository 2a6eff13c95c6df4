"""The Kueue tests' fixtures: one real Kueue manager per test session (per xdist worker, whose API
server it serves), started only when a Kueue test runs. The tests share one xdist group, so under
`-n 2 --dist loadgroup` Kueue starts once."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from kueue_process import KueueProcess


@pytest.fixture(scope="session")
def kueue(kube: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KueueProcess]:
    process = KueueProcess(kubectl=kube, work_dir=tmp_path_factory.mktemp("kueue"))
    try:
        process.start()
    except Exception:
        process.stop()
        raise
    try:
        yield process
    finally:
        process.stop()
