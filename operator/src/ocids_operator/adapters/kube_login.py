"""How the operator logs in to Kubernetes: one rule for kopf, its own client and leader election.

Inside a Pod it does what client-go's in-cluster config does: the API server is
KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT, which the kubelet always sets, verified with the
ServiceAccount's ca.crt against that address (an API server's certificate covers its Service's
ClusterIP), with the ServiceAccount token. kopf's own service-account login dials
`https://kubernetes.default.svc` instead, which needs cluster DNS: it fails with hostNetwork Pods
(without ClusterFirstWithHostNet) and while CoreDNS is not yet up, so it is never used.
Outside a Pod: the kubeconfig (KUBECONFIG or ~/.kube/config).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import kopf

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def in_cluster_server(environ: Mapping[str, str] | None = None) -> str | None:
    """`https://host:port` from the kubelet's variables (IPv6 bracketed), or None outside a Pod."""
    environ = os.environ if environ is None else environ
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    if not (host and port):
        return None
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def in_cluster(
    settings: kopf.OperatorSettings,
    account_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> kopf.ConnectionInfo | None:
    """The in-cluster credentials, or None outside a Pod (no Service variables or no token)."""
    account_dir = SERVICE_ACCOUNT_DIR if account_dir is None else account_dir
    server = in_cluster_server(environ)
    token_file = account_dir / "token"
    if not (server and token_file.is_file()):
        return None
    ca_file = account_dir / "ca.crt"
    namespace_file = account_dir / "namespace"
    return kopf.ConnectionInfo(
        server=server,
        ca_path=str(ca_file) if ca_file.is_file() else None,
        # Read on every login: the kubelet rotates projected tokens, and a 401 leads here again.
        token=token_file.read_text().strip() or None,
        default_namespace=namespace_file.read_text().strip() if namespace_file.is_file() else None,
        trust_env=settings.networking.trust_env,
    )


def login(settings: kopf.OperatorSettings | None = None) -> kopf.ConnectionInfo:
    settings = settings or kopf.OperatorSettings()
    info = in_cluster(settings) or kopf.login_with_kubeconfig(settings=settings)
    if info is None:
        raise kopf.LoginError(
            "no in-cluster credentials (KUBERNETES_SERVICE_HOST/PORT and "
            f"{SERVICE_ACCOUNT_DIR}/token) and no kubeconfig (set KUBECONFIG)"
        )
    return info
