"""OKE workload identity: ``POST /resourcePrincipalSessionTokens``, as OKE's proxymux serves it.

The SDK (``get_oke_workload_identity_resource_principal_signer``) posts, over TLS to
``$KUBERNETES_SERVICE_HOST:12250``, ``Authorization: Bearer <ServiceAccount token>`` and
``{"podKey": "<PEM body of a fresh public key>"}``; the answer's body is base64 of
``{"token": "ST$<jwt>"}``. The ServiceAccount token is checked by a TokenReview against the real
API server; the session token names the workload (cluster, namespace, service account) and is
bound to the pod key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from pathlib import Path

from aiohttp import web

from ocids_emulator.api.identity.kube import KubeClient, TokenReviewError
from ocids_emulator.api.identity.tls import server_ssl_context
from ocids_emulator.config import Tenancy
from ocids_emulator.core.ocids import region_key
from ocids_emulator.security.session_tokens import TOKEN_PREFIX, SessionTokens, public_key_from_pem_body

LOG = logging.getLogger(__name__)
PATH = "/resourcePrincipalSessionTokens"
KUBE_KEY: web.AppKey[KubeClient] = web.AppKey("kube", KubeClient)
TOKENS_KEY: web.AppKey[SessionTokens] = web.AppKey("tokens", SessionTokens)
TENANCY_KEY: web.AppKey[Tenancy] = web.AppKey("tenancy", Tenancy)
CLUSTER_KEY: web.AppKey[str] = web.AppKey("cluster", str)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


def cluster_id(server: str, region: str) -> str:
    """A stable cluster OCID per API server: tokens name the same cluster across restarts."""
    digest = hashlib.sha256(server.encode()).hexdigest()[:52]
    return f"ocid1.cluster.oc1.{region_key(region)}.aaaaaaaa{digest}"


async def resource_principal_session_tokens(request: web.Request) -> web.Response:
    scheme, _, sa_token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not sa_token.strip():
        return _error(401, "NotAuthenticated", "A Bearer ServiceAccount token is required")
    try:
        doc = await request.json()
        pod_key = public_key_from_pem_body(str(doc["podKey"]))
    except (ValueError, KeyError, TypeError):
        return _error(400, "InvalidParameter", 'The body must be {"podKey": <an RSA public key>}')
    try:
        account = await request.app[KUBE_KEY].review(sa_token.strip())
    except TokenReviewError as exc:
        LOG.warning("%s", exc)
        return _error(500, "InternalServerError", "The ServiceAccount token could not be reviewed")
    if account is None:
        return _error(401, "NotAuthenticated", "The ServiceAccount token is not valid")
    tenancy = request.app[TENANCY_KEY]
    claims = {
        "ptype": "workload",
        "sub": f"system:serviceaccount:{account.namespace}:{account.name}",
        "res_type": "workload",
        "res_tenant": tenancy.tenancy_id,
        "res_compartment": next(iter(tenancy.compartments), tenancy.tenancy_id),
        "cluster_id": request.app[CLUSTER_KEY],
        "namespace": account.namespace,
        "service_account": account.name,
        "service_account_uid": account.uid,
    }
    token = request.app[TOKENS_KEY].mint(claims, pod_key)
    body = base64.b64encode(json.dumps({"token": TOKEN_PREFIX + token}).encode())
    return web.Response(body=body, content_type="application/json")


async def start_proxymux(
    address: str, kubeconfig: Path, data_dir: Path, tenancy: Tenancy, tokens: SessionTokens
) -> web.AppRunner:
    """Serve the exchange on ``HOST:PORT`` over TLS; ``DATA_DIR/proxymux-ca.crt`` verifies it."""
    host, _, port = address.rpartition(":")
    kube = KubeClient(kubeconfig)
    app = web.Application()
    app[KUBE_KEY] = kube
    app[TOKENS_KEY] = tokens
    app[TENANCY_KEY] = tenancy
    app[CLUSTER_KEY] = cluster_id(kube.server, tenancy.region)
    app.router.add_post(PATH, resource_principal_session_tokens)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, int(port), ssl_context=server_ssl_context(data_dir, host))
    await site.start()
    return runner


def parse_address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--proxymux wants HOST:PORT, got {value!r}")
    return value
