"""How the operator (kopf and its own client) logs in to Kubernetes.

Inside a Pod it does what client-go's in-cluster config does: the API server is
KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT, which the kubelet always sets. kopf's own
service-account login dials `https://kubernetes.default.svc` instead, which needs cluster DNS: it
fails with hostNetwork Pods (without ClusterFirstWithHostNet) and while CoreDNS is not yet up.
Outside a Pod: the kubeconfig (KUBECONFIG or ~/.kube/config).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import kopf

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def in_cluster(
    settings: kopf.OperatorSettings,
    account_dir: Path = SERVICE_ACCOUNT_DIR,
    environ: Mapping[str, str] = os.environ,
) -> kopf.ConnectionInfo | None:
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    token_file = account_dir / "token"
    if not (host and port and token_file.is_file()):
        return None
    ca_file = account_dir / "ca.crt"
    namespace_file = account_dir / "namespace"
    return kopf.ConnectionInfo(
        server=f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}",
        ca_path=str(ca_file) if ca_file.is_file() else None,
        # Read on every login: the kubelet rotates projected tokens, and a 401 leads here again.
        token=token_file.read_text().strip() or None,
        default_namespace=namespace_file.read_text().strip() if namespace_file.is_file() else None,
        trust_env=settings.networking.trust_env,
    )


def login(settings: kopf.OperatorSettings | None = None) -> kopf.ConnectionInfo:
    settings = settings or kopf.OperatorSettings()
    info = (
        in_cluster(settings)
        or kopf.login_with_service_account(settings=settings)
        or kopf.login_with_kubeconfig(settings=settings)
    )
    if info is None:
        raise kopf.LoginError("no service account and no kubeconfig (set KUBECONFIG)")
    return info
