"""The image tests reuse the integration fixtures: a real control plane (`cluster`, `namespace`), the
CRDs (`kube`), a real emulator (`emulator`, `oci_target`) and the test's `world` (manifests, waits).

tests/integration/conftest.py is loaded under its own module name (both files are `conftest`) and
its fixtures are re-exported here, so this folder runs on its own: `pytest tests/image`.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
sys.path[:0] = [str(Path(__file__).parent), str(INTEGRATION), str(INTEGRATION / "operator")]

_spec = importlib.util.spec_from_file_location("ocids_integration_conftest", INTEGRATION / "conftest.py")
assert _spec and _spec.loader
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)

cluster = _integration.cluster
namespace = _integration.namespace
kube = _integration.kube
emulator = _integration.emulator
oci_target = _integration.oci_target
world = _integration.world
pytest_runtest_makereport = _integration.pytest_runtest_makereport

IMAGE_ENV = "IMAGE"
DEFAULT_IMAGE = "localhost/ocids-operator:dev"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.integration)
        item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def image() -> str:
    """The image `make image` built (IMAGE=...); the tests fail, not skip, when it is missing."""
    from podman_cli import podman

    name = os.environ.get(IMAGE_ENV, DEFAULT_IMAGE)
    try:
        podman("image", "exists", name)
    except FileNotFoundError:
        pytest.fail("podman is not installed (make image installs it)", pytrace=False)
    except subprocess.CalledProcessError:
        pytest.fail(f"image {name} is not built: run `make image` (IMAGE={name})", pytrace=False)
    return name
