"""Shrink the image's venv to what the operator runs, then prove the rest still imports.

Runs in the image's build stage with the venv's own interpreter, after `pip install .`:

    /opt/venv/bin/python tools/image/prune_venv.py      # in the directory of pyproject.toml

The `oci` SDK installs ~180 service packages (~500 MB); the operator uses a handful. Which ones is
not hard-coded: it is the closure of every `oci.<package>` reference (imports, relative imports
and attribute uses like `oci.data_science.models`) reachable from the operator's source, the SDK's
top-level modules (what `import oci` loads), `oci.auth` (every signer, for the keyless auth modes)
and `oci._vendor`, plus EXTRA_SERVICES. So a new SDK version, or an operator change that starts
using another service, keeps what it needs without editing this file. Anything the scan gets wrong
fails the build: the verification imports every module of every kept package.

Also removed: every package the same wheel ships besides the operator (the emulator, the control
plane and code generators: tools for tests and development), and pip/setuptools (nothing installs
into a read-only image).
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

OPERATOR = "ocids_operator"
# Services not (yet) referenced in code but part of the operator's contract: the Logging search
# API is where OCIDS_LOGGING_ENDPOINT points (log tails). Small; kept so enabling it needs no rebuild.
EXTRA_SERVICES = ("loggingsearch", "logging")
ALWAYS = ("auth", "_vendor")
DIST = "ocids-operator"
OPERATOR_SCRIPT = "ocids-operator"
NOT_RUNTIME_DISTS = ("pip", "setuptools")


def oci_references(path: Path, module: str) -> set[str]:
    """Top-level `oci` subpackages a source file refers to in code (`module` is its dotted name).

    Imports (absolute and relative, also inside functions) and attribute uses such as
    `oci.identity.IdentityClient(...)`, which need no import of their own. Docstrings and comments
    mention services too (`oci.core.ComputeClient` in examples); those are not uses.
    """
    try:
        tree = ast.parse(path.read_bytes())
    except SyntaxError:
        return set()
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    # oci/__init__.py names every service twice: in the lazy __all__ and in an `else:` branch that
    # imports them all only with OCI_PYTHON_SDK_LAZY_IMPORTS_DISABLED=true. Only its unconditional
    # imports are what `import oci` needs.
    nodes = tree.body if module == "oci" else ast.walk(tree)
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "oci":
            found.add(node.attr)
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = [*base, *(node.module.split(".") if node.module else [])]
            names = [".".join([*target, alias.name]) for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "oci" and len(parts) > 1:
                found.add(parts[1])
    return found


def py_files(root: Path, dotted: str) -> list[tuple[Path, str]]:
    if root.is_file():
        return [(root, dotted)]
    files = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).with_suffix("").parts
        if rel[-1] == "__init__":
            rel = rel[:-1]
        files.append((path, ".".join([dotted, *rel])))
    return files


def kept_oci_packages(oci_dir: Path, operator_dir: Path) -> set[str]:
    subpackages = {p.name for p in oci_dir.iterdir() if (p / "__init__.py").is_file()}
    top_modules = [(p, "oci" if p.stem == "__init__" else f"oci.{p.stem}") for p in oci_dir.glob("*.py")]
    todo: list[tuple[Path, str]] = [*py_files(operator_dir, OPERATOR), *top_modules]
    kept: set[str] = set()
    queue = [*ALWAYS, *EXTRA_SERVICES]
    while queue or todo:
        while queue:
            name = queue.pop()
            if name in subpackages and name not in kept:
                kept.add(name)
                todo.extend(py_files(oci_dir / name, f"oci.{name}"))
        while todo:
            path, module = todo.pop()
            queue.extend(oci_references(path, module) - kept)
    return kept


def verify(kept: set[str]) -> int:
    """Import every module of the operator and of each kept oci package in a fresh interpreter."""
    roots = [OPERATOR, *(f"oci.{name}" for name in sorted(kept) if name != "_vendor")]
    code = (
        "import importlib, pkgutil, sys\n"
        f"roots = {roots!r}\n"
        "count = 0\n"
        "for root in roots:\n"
        "    mod = importlib.import_module(root); count += 1\n"
        "    for info in pkgutil.walk_packages(getattr(mod, '__path__', []), root + '.'):\n"
        "        importlib.import_module(info.name); count += 1\n"
        "import oci\n"
        "for root in roots[1:]:\n"
        "    getattr(oci, root.split('.')[1])\n"
        "print(count)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"pruned venv does not import:\n{result.stderr}")
    return int(result.stdout.strip())


def uninstall(dist: str, site: Path) -> None:
    """Remove an installed distribution by its RECORD, the way pip would (pip may be the one removed)."""
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        return
    for file in files:
        path = Path(str(file.locate())).resolve()
        if path.is_file():
            path.unlink()
    for meta in site.glob(f"{dist}-*.dist-info"):
        remove(meta)
    for top in {Path(str(f)).parts[0] for f in files}:
        if (site / top).is_dir() and not any(p.is_file() for p in (site / top).rglob("*")):
            shutil.rmtree(site / top)


def check_wheel_complete(site: Path, pyproject: Path) -> None:
    """hatchling skips a listed package that is missing from the build context without a word."""
    with open(pyproject, "rb") as f:
        listed = tomllib.load(f)["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    missing = [p for p in listed if not (site / Path(p).name).is_dir()]
    if missing:
        sys.exit(f"not in the build context: {', '.join(missing)}; admit them in .dockerignore")


def strip_to_operator(site: Path, scripts: Path) -> list[str]:
    """Remove the wheel's other packages (emulator, control plane, generators: whatever pyproject
    lists next to the operator) and their console scripts; returns the removed package names."""
    dist = importlib.metadata.distribution(DIST)
    tops = {Path(str(f)).parts[0] for f in dist.files or []}
    # RECORD also lists the scripts as ../../../bin/...; only package directories are candidates.
    others = sorted(t for t in tops if t.isidentifier() and t != OPERATOR and (site / t).is_dir())
    for top in others:
        shutil.rmtree(site / top)
    for entry in dist.entry_points:
        if entry.group == "console_scripts" and entry.name != OPERATOR_SCRIPT:
            remove(scripts / entry.name)
    return others


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def main() -> None:
    site = Path(sysconfig.get_paths()["purelib"])
    scripts = Path(sysconfig.get_paths()["scripts"])
    oci_dir = Path(importlib.util.find_spec("oci").origin).parent  # type: ignore[union-attr,arg-type]
    operator_dir = Path(importlib.util.find_spec(OPERATOR).origin).parent  # type: ignore[union-attr,arg-type]

    kept = kept_oci_packages(oci_dir, operator_dir)
    packages = {p.name for p in oci_dir.iterdir() if (p / "__init__.py").is_file()}
    dropped = sorted(packages - kept)
    for name in dropped:
        shutil.rmtree(oci_dir / name)
    check_wheel_complete(site, Path("pyproject.toml"))
    others = strip_to_operator(site, scripts)
    for dist in NOT_RUNTIME_DISTS:
        uninstall(dist, site)
    # The kubernetes client (leader election) ships an asyncio twin of itself, as large again,
    # that nothing imports: the operator's own async I/O is kopf's.
    shutil.rmtree(site / "kubernetes" / "aio", ignore_errors=True)

    modules = verify(kept)
    for name in others:
        if importlib.util.find_spec(name) is not None:
            sys.exit(f"{name} is still importable")
    print(f"{DIST}: removed the non-runtime packages {', '.join(others)}")
    print(f"oci: kept {len(kept)} packages ({', '.join(sorted(kept))}), removed {len(dropped)}")
    print(f"verified: {modules} modules of {OPERATOR} and the kept oci packages import")


if __name__ == "__main__":
    main()
