"""What is inside the image: every OCI SDK name the operator uses resolves (the build prunes the SDK),
the keyless signers are there, the test-only packages are not, and it fits the size budget.

The names are read from the operator's source here, independently of the build's own pruning scan,
and resolved inside the image as the chart runs it: uid 10001, read-only root filesystem.
"""

from __future__ import annotations

import ast
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from podman_cli import RUN_FLAGS, podman

REPO = Path(__file__).resolve().parents[2]
OPERATOR_SRC = REPO / "operator" / "src" / "ocids_operator"
MAX_IMAGE_BYTES = 350 * 10**6
# The modes OCIDS_AUTH offers besides api_key build these (oci_client.config_and_signer).
SIGNERS = [
    "oci.auth.signers.InstancePrincipalsSecurityTokenSigner",
    "oci.auth.signers.get_resource_principals_signer",
    "oci.auth.signers.get_oke_workload_identity_resource_principal_signer",
]

PROBE = """
import importlib, json, os, pkgutil, getpass, importlib.util, sys
names, others = json.loads(sys.argv[1]), json.loads(sys.argv[2])
missing = []
for name in names:
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
            break
        except ModuleNotFoundError:
            continue
    try:
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
    except AttributeError:
        missing.append(name)
modules = 0
for root in ("ocids_operator", "oci.auth"):
    pkg = importlib.import_module(root)
    for info in pkgutil.walk_packages(pkg.__path__, root + "."):
        importlib.import_module(info.name)
        modules += 1
main = importlib.import_module("ocids_operator.__main__")
print(json.dumps({
    "missing": missing,
    "modules": modules,
    "others": [p for p in others if importlib.util.find_spec(p) is not None],
    "pip": importlib.util.find_spec("pip") is not None,
    "bytecode": os.path.exists(importlib.util.cache_from_source(main.__file__)),
    "user": getpass.getuser(), "uid": os.getuid(), "home": os.environ.get("HOME"),
}))
"""


def annotation_nodes(tree: ast.AST) -> set[int]:
    """Nodes inside annotations: never evaluated (`from __future__ import annotations`), so not uses."""
    roots: list[ast.AST | None] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg | ast.AnnAssign):
            roots.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            roots.append(node.returns)
    return {id(n) for root in roots if root is not None for n in ast.walk(root)}


def oci_names_used(src: Path) -> set[str]:
    """Dotted `oci...` names the operator imports or uses as attributes (`oci.exceptions.ServiceError`)."""
    names: set[str] = set()
    for path in src.rglob("*.py"):
        tree = ast.parse(path.read_text())
        skip = annotation_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names if a.name.split(".")[0] == "oci"}
            elif (
                isinstance(node, ast.ImportFrom)
                and not node.level
                and (node.module or "").split(".")[0] == "oci"
            ):
                names |= {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Attribute):
                chain, inner = [node.attr], node.value
                while isinstance(inner, ast.Attribute):
                    chain.append(inner.attr)
                    inner = inner.value
                if isinstance(inner, ast.Name) and inner.id == "oci":
                    names.add(".".join(["oci", *reversed(chain)]))
    return names


def wheel_packages_besides_the_operator() -> list[str]:
    """The emulator, control plane, generators: what pyproject's wheel ships for tests and development."""
    with open(REPO / "pyproject.toml", "rb") as f:
        listed = tomllib.load(f)["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    others = [Path(p).name for p in listed if Path(p).name != "ocids_operator"]
    assert others, listed
    return others


@pytest.fixture(scope="module")
def inside(image: str) -> dict[str, Any]:
    names = sorted(oci_names_used(OPERATOR_SRC) | set(SIGNERS))
    result = podman(
        "run", "--rm", *RUN_FLAGS, "--network", "none", "--read-only", "--read-only-tmpfs=false",
        "--user", "10001:10001", "--cap-drop", "ALL", "--entrypoint", "python", image,
        "-c", PROBE, json.dumps(names), json.dumps(wheel_packages_besides_the_operator()),
        timeout=180,
    )  # fmt: skip
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    found["names"] = names
    return found


def test_every_sdk_name_the_operator_uses_resolves_in_the_image(inside: dict[str, Any]) -> None:
    assert len(inside["names"]) > 10, inside["names"]
    assert inside["missing"] == []
    assert inside["modules"] > 20


def test_the_image_holds_the_operator_only_with_precompiled_bytecode(inside: dict[str, Any]) -> None:
    assert inside["others"] == [] and not inside["pip"]
    # The root filesystem is read-only: without .pyc files every start would compile from source.
    assert inside["bytecode"]
    assert (inside["user"], inside["uid"], inside["home"]) == ("ocids", 10001, "/tmp")


def test_the_image_is_small_and_starts_the_operator_as_a_non_root_user(image: str) -> None:
    info = json.loads(podman("image", "inspect", image).stdout)[0]
    print(f"\nimage {image}: {info['Size'] / 1e6:.0f} MB")
    assert info["Size"] < MAX_IMAGE_BYTES
    config = info["Config"]
    assert config["Entrypoint"] == ["ocids-operator"]
    assert not config.get("Cmd")
    # runAsNonRoot can only verify a numeric user.
    assert config["User"] == "10001:10001"
