"""A TokenReview against a real Kubernetes API server, reached through a kubeconfig.

Proxymux in OKE asks the cluster whether a ServiceAccount token is genuine; so does the emulator,
instead of trusting the token's claims. Only what a TokenReview needs is read from the kubeconfig:
the current context's server, its CA, and client certificate or bearer token credentials.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

SA_USER_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class ServiceAccount:
    namespace: str
    name: str
    uid: str


class TokenReviewError(Exception):
    """The API server could not be asked (as opposed to answering "not authenticated")."""


def _named(doc: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    for entry in doc.get(section) or []:
        if entry.get("name") == name:
            return dict(entry.get(section[:-1]) or {})
    raise ValueError(f"kubeconfig has no {section[:-1]} named {name!r}")


def _material(entry: dict[str, Any], key: str, base: Path) -> bytes | None:
    if data := entry.get(f"{key}-data"):
        return base64.b64decode(data)
    if path := entry.get(key):
        return (base / path).read_bytes()
    return None


class KubeClient:
    def __init__(self, kubeconfig: Path) -> None:
        doc = yaml.safe_load(kubeconfig.read_text())
        base = kubeconfig.parent
        context = _named(doc, "contexts", doc["current-context"])
        cluster = _named(doc, "clusters", context["cluster"])
        user = _named(doc, "users", context["user"])
        self.server = str(cluster["server"]).rstrip("/")
        self._headers: dict[str, str] = {}
        if token := user.get("token"):
            self._headers["Authorization"] = f"Bearer {token}"
        elif token_file := user.get("tokenFile"):
            self._headers["Authorization"] = f"Bearer {(base / token_file).read_text().strip()}"
        self._ssl = ssl.create_default_context()
        if cluster.get("insecure-skip-tls-verify"):
            self._ssl.check_hostname = False
            self._ssl.verify_mode = ssl.CERT_NONE
        elif ca := _material(cluster, "certificate-authority", base):
            self._ssl.load_verify_locations(cadata=ca.decode())
        cert = _material(user, "client-certificate", base)
        key = _material(user, "client-key", base)
        if cert and key:
            # ssl loads client credentials only from files: a private temporary folder, gone at once.
            with tempfile.TemporaryDirectory() as tmp:
                cert_path, key_path = Path(tmp, "client.crt"), Path(tmp, "client.key")
                cert_path.write_bytes(cert)
                fd = os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(key)
                self._ssl.load_cert_chain(cert_path, key_path)

    async def review(self, token: str) -> ServiceAccount | None:
        """The ServiceAccount ``token`` authenticates as, or None when the API server refuses it."""
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }
        url = f"{self.server}/apis/authentication.k8s.io/v1/tokenreviews"
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session,
                session.post(url, json=body, headers=self._headers, ssl=self._ssl) as response,
            ):
                if response.status != 201 and response.status != 200:
                    raise TokenReviewError(f"TokenReview answered {response.status}: {await response.text()}")
                status = (await response.json()).get("status") or {}
        except aiohttp.ClientError as exc:
            raise TokenReviewError(f"TokenReview failed: {exc}") from exc
        if not status.get("authenticated"):
            return None
        user = status.get("user") or {}
        username = str(user.get("username", ""))
        if not username.startswith(SA_USER_PREFIX):
            return None  # a user's token, not a workload's
        namespace, _, name = username.removeprefix(SA_USER_PREFIX).partition(":")
        return ServiceAccount(namespace, name, str(user.get("uid", "")))
