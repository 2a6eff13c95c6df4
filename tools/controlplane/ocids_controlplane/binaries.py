"""Where the control-plane binaries are: KUBEBUILDER_ASSETS first, then the versioned build cache.

The versions are read from the wrapper modules' go.mod files (tools/controlplane/go/*/go.mod),
the same source build.sh uses, so a version bump there is picked up here without a second edit.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

GO_DIR = Path(__file__).resolve().parent.parent / "go"
BUILD_SCRIPT = GO_DIR.parent / "build.sh"

# Used only when the package runs outside the repository (no go.mod files next to it).
FALLBACK_VERSIONS = {"kubernetes": "v1.37.2", "etcd": "v3.6.16", "helm": "v3.22.0"}
_MODULES = {
    "kubernetes": "k8s.io/kubernetes",
    "etcd": "go.etcd.io/etcd/server/v3",
    "helm": "helm.sh/helm/v3",
}
# binary -> (wrapper module, cache folder prefix)
_BINARIES = {
    "kube-apiserver": ("kubernetes", "k8s"),
    "kube-controller-manager": ("kubernetes", "k8s"),
    "kubectl": ("kubernetes", "k8s"),
    "etcd": ("etcd", "etcd"),
    "helm": ("helm", "helm"),
}


class MissingBinaryError(FileNotFoundError):
    pass


@dataclass(frozen=True)
class Versions:
    kubernetes: str
    etcd: str
    helm: str


def module_version(wrapper: str) -> str:
    """The version of the upstream module a wrapper go.mod requires, e.g. 'v1.37.2'."""
    gomod = GO_DIR / wrapper / "go.mod"
    if not gomod.is_file():
        return FALLBACK_VERSIONS[wrapper]
    pattern = re.compile(rf"^\s*(?:require\s+)?{re.escape(_MODULES[wrapper])}\s+(v\S+)", re.MULTILINE)
    match = pattern.search(gomod.read_text())
    if not match:
        raise RuntimeError(f"{gomod} does not require {_MODULES[wrapper]}")
    return match.group(1)


def versions() -> Versions:
    return Versions(module_version("kubernetes"), module_version("etcd"), module_version("helm"))


def cache_root() -> Path:
    env = os.environ.get("OCIDS_BIN_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "ocids-operator" / "bin"


def cache_dir(binary: str) -> Path:
    """The versioned cache folder build.sh puts `binary` in, e.g. ~/.cache/.../bin/k8s-v1.37.2."""
    wrapper, prefix = _BINARIES[binary]
    return cache_root() / f"{prefix}-{module_version(wrapper)}"


def binary(name: str) -> Path:
    """Absolute path of a control-plane binary, or MissingBinaryError saying how to get it."""
    if name not in _BINARIES:
        raise ValueError(f"unknown control-plane binary {name!r}; expected one of {sorted(_BINARIES)}")
    candidates = []
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        candidates.append(Path(assets) / name)
    candidates.append(cache_dir(name) / name)
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise MissingBinaryError(
        f"{name} not found (looked in {looked}). Run `make controlplane` (builds it from source with Go "
        f">= 1.26), set KUBEBUILDER_ASSETS to a folder holding it, or point OCIDS_TEST_KUBECONFIG at an "
        f"existing cluster."
    )


def bin_dir() -> Path:
    """The folder holding kube-apiserver (KUBEBUILDER_ASSETS or the Kubernetes cache folder).

    Other binaries may live elsewhere (etcd and helm have their own cache folders): use `binary()`.
    """
    return binary("kube-apiserver").parent


def all_binaries() -> dict[str, Path]:
    return {name: binary(name) for name in _BINARIES}
