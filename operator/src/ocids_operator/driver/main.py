"""The job run's entrypoint (``JOB_RUN_ENTRYPOINT=ocids_driver/main.py``).

OCI runs it as a plain script, so it loads its own folder as a package under a private name
(whatever the folder is called) and takes that folder off sys.path: the user's code must not
import the driver's modules (``args``, ``notebook``, ...) by accident, nor the other way round.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

PACKAGE = "_ocids_driver"


def load_driver_package() -> ModuleType:
    folder = os.path.dirname(os.path.realpath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != folder]
    spec = importlib.util.spec_from_file_location(
        PACKAGE, os.path.join(folder, "__init__.py"), submodule_search_locations=[folder]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    spec.loader.exec_module(package)
    return importlib.import_module(f"{PACKAGE}.runner")


if __name__ == "__main__":
    sys.exit(load_driver_package().main(sys.argv[1:]))
