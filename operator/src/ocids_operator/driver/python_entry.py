"""Python mode: import the user's module and call its entry function (ADS PythonRuntime)."""

from __future__ import annotations

import importlib
import importlib.util
import runpy
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from . import DriverError
from .args import parse_arguments


def load_entry(entry: Path | None, module: str | None) -> ModuleType:
    """The module named ``module``, or the file ``entry`` imported under its file name (and kept
    in sys.modules, so pickling what it defines works)."""
    if module:
        return importlib.import_module(module)
    assert entry is not None
    spec = importlib.util.spec_from_file_location(entry.stem, str(entry))
    if spec is None or spec.loader is None:
        raise DriverError(f"OCIDS_DRIVER_ENTRYPOINT {entry.name!r} cannot be imported as a Python module")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[entry.stem] = loaded
    spec.loader.exec_module(loaded)
    return loaded


def exit_code_of(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def run_function(entry: Path | None, module: str | None, function: str | None, arguments: list[str]) -> int:
    """Call ``function(*positional, **keyword)`` and print its result; without a function, run
    the module or file as ``__main__`` with the arguments in sys.argv. User errors: traceback on
    stderr and exit code 1."""
    target = module or str(entry)
    sys.argv = [target, *arguments]
    try:
        if not function:
            if module:
                runpy.run_module(module, run_name="__main__", alter_sys=True)
            else:
                runpy.run_path(target, run_name="__main__")
            return 0
        loaded = load_entry(entry, module)
        call: Any = getattr(loaded, function, None)
        if not callable(call):
            raise DriverError(f"OCIDS_DRIVER_FUNCTION {function!r} is not a function of {target}")
        positional, keywords = parse_arguments(arguments)
        result = call(*positional, **keywords)
        if result is not None:
            print(result, flush=True)
        return 0
    except SystemExit as exc:
        return exit_code_of(exc)
    except DriverError:
        raise
    except KeyboardInterrupt:
        traceback.print_exc()
        return 130
    except BaseException:
        traceback.print_exc()
        return 1
