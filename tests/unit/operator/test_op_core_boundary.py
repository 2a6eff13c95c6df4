"""The core stays pure: nothing under `ocids_operator/core/` reaches kopf, the OCI SDK, HTTP or other I/O.

Checked twice: by reading each module's imports (names the offending line), and by importing the
whole core in a fresh interpreter (catches what a pure-looking import drags in).
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import ocids_operator

PACKAGE = pathlib.Path(ocids_operator.__file__).parent
CORE = PACKAGE / "core"
FORBIDDEN = {
    "kopf",
    "oci",
    "aiohttp",
    "kubernetes",
    "requests",
    "urllib3",
    "http",
    "socket",
    "ssl",
    "asyncio",
    "subprocess",
    "threading",
    "prometheus_client",
}
# Inside the package the core may lean only on these (all pure).
ALLOWED_SIBLINGS = {"core", "api", "shapes"}


def imports_of(path: pathlib.Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file."""
    module_parts = ["ocids_operator", *path.relative_to(PACKAGE).with_suffix("").parts]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module_parts[: len(module_parts) - node.level]
                target = ".".join([*base, node.module] if node.module else base)
                names = [f"{target}.{alias.name}" for alias in node.names] if not node.module else [target]
                found += [(node.lineno, name) for name in names]
            else:
                found.append((node.lineno, node.module or ""))
    return found


def test_core_modules_import_nothing_that_does_io() -> None:
    problems = []
    for path in sorted(CORE.glob("*.py")):
        for line, name in imports_of(path):
            top = name.split(".")[0]
            if top in FORBIDDEN:
                problems.append(f"{path.name}:{line} imports {name}")
            if top == "ocids_operator" and name.split(".")[1] not in ALLOWED_SIBLINGS:
                problems.append(f"{path.name}:{line} imports {name} (outside core/api)")
    assert not problems, "\n".join(problems)


# Libraries the standard library never loads by itself, so their presence means the core pulled them in.
THIRD_PARTY_IO = {"kopf", "oci", "aiohttp", "kubernetes", "requests", "urllib3", "prometheus_client"}


def test_importing_the_core_loads_no_io_library() -> None:
    modules = sorted(
        f"ocids_operator.core.{path.stem}" for path in CORE.glob("*.py") if path.stem != "__init__"
    )
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {THIRD_PARTY_IO!r}))"
    )
    loaded = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout
