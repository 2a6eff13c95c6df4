"""The operator's own Kubernetes client against a tiny in-process API server (aiohttp, 127.0.0.1)."""

from __future__ import annotations

import asyncio
import base64

import kopf
import pytest
from aiohttp import web
from ocids_operator.adapters.kube import KubeClient
from ocids_operator.api import EnvVar
from ocids_operator.core.errors import ReconcileError
from ocids_operator.workflows.inputs import resolve_env


def test_a_rotated_service_account_token_is_read_again_after_a_401() -> None:
    """The kubelet rotates projected tokens; the old one stops working while the operator runs."""
    logins: list[str] = []

    async def secret(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer fresh":
            return web.json_response({"kind": "Status", "code": 401}, status=401)
        return web.json_response({"data": {"token": base64.b64encode(b"s3cret").decode()}})

    async def scenario() -> str | None:
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/ml/secrets/wandb", secret)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        server = f"http://127.0.0.1:{port}"

        def login_again() -> kopf.ConnectionInfo:
            logins.append("again")
            return kopf.ConnectionInfo(server=server, scheme="Bearer", token="fresh")

        client = KubeClient(kopf.ConnectionInfo(server=server, scheme="Bearer", token="expired"), login_again)
        try:
            return await client.read_secret_key("ml", "wandb", "token")
        finally:
            await client.close()
            await runner.cleanup()

    assert asyncio.run(scenario()) == "s3cret"
    assert logins == ["again"]


def test_a_secret_value_that_is_not_text_is_reported_without_any_of_its_bytes() -> None:
    async def secret(request: web.Request) -> web.Response:
        return web.json_response({"data": {"key": base64.b64encode(b"ab\xfe\xffcd").decode()}})

    async def scenario() -> None:
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/ml/secrets/keystore", secret)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        info = kopf.ConnectionInfo(server=f"http://127.0.0.1:{runner.addresses[0][1]}", token="t")
        client = KubeClient(info)
        try:
            ref = {"secretKeyRef": {"name": "keystore", "key": "key"}}
            await resolve_env(client, "ml", [EnvVar.model_validate({"name": "KS", "valueFrom": ref})])
        finally:
            await client.close()
            await runner.cleanup()

    with pytest.raises(ReconcileError) as info:
        asyncio.run(scenario())
    assert info.value.outcome.reason == "EnvReferenceInvalid"
    assert info.value.outcome.message == "env KS: the referenced value is not UTF-8 text"
