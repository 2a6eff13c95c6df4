"""Kubeconfig files for the admin certificate and for service-account tokens."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def build(server: str, cluster: dict[str, Any], user: dict[str, Any], name: str = "ocids") -> dict[str, Any]:
    """A one-context kubeconfig document. `cluster` holds e.g. certificate-authority-data."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, **cluster}}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
    }


def for_client_cert(server: str, ca_cert: Path, client_cert: Path, client_key: Path) -> dict[str, Any]:
    # Data embedded rather than file paths, so the kubeconfig stays valid when copied elsewhere.
    return build(
        server,
        {"certificate-authority-data": _b64(ca_cert)},
        {"client-certificate-data": _b64(client_cert), "client-key-data": _b64(client_key)},
    )


def for_token(server: str, cluster: dict[str, Any], token: str, name: str = "ocids") -> dict[str, Any]:
    return build(server, cluster, {"token": token}, name=name)


def write(path: Path, document: dict[str, Any]) -> Path:
    """Write a kubeconfig readable only by its owner (it carries credentials)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(document, handle, sort_keys=False)
    return path
