"""OCI Secrets retrieval (``/20190301``): GetSecretBundle, so a job run reads a Vault secret as itself.

The secrets are tenancy.json's ``vaultSecrets`` (plain text there, base64 on the wire as OCI serves
them). Each has one version, the current one: ``stages`` CURRENT and LATEST. A secret that does not
exist and one the caller may not read (``read secret-bundles`` where the secret is) get the same
404 NotAuthorizedOrNotFound, as in OCI. The admin route changes a secret's content (a new version).
"""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from ocids_emulator.api.httpio import emulator, json_body, json_response
from ocids_emulator.config import vault_secret
from ocids_emulator.core.errors import invalid
from ocids_emulator.faults.denials import not_authorized_or_not_found

CURRENT_STAGES = ("CURRENT", "LATEST")


async def get_secret_bundle(request: web.Request) -> web.Response:
    """GetSecretBundle: the current version unless ``versionNumber``, ``secretVersionName`` or
    ``stage`` asks for another one, which does not exist here (404)."""
    emu = emulator(request)
    secret = emu.tenancy.vault_secrets.get(request.match_info["secret_id"])
    if secret is None:
        raise not_authorized_or_not_found()
    query = request.query
    version = query.get("versionNumber")
    if version is not None and not version.isdigit():
        raise invalid("versionNumber must be an integer")
    if (
        (version is not None and int(version) != secret["versionNumber"])
        or "secretVersionName" in query
        or query.get("stage", "CURRENT") not in CURRENT_STAGES
    ):
        raise not_authorized_or_not_found()
    return json_response(secret_bundle(secret), etag=f"{secret['id']}-{secret['versionNumber']}")


def secret_bundle(secret: dict[str, Any]) -> dict[str, Any]:
    """The SDK's SecretBundle (only fields its model has)."""
    return {
        "secretId": secret["id"],
        "versionNumber": secret["versionNumber"],
        "stages": list(CURRENT_STAGES),
        "timeCreated": secret["timeCreated"],
        "secretBundleContent": {
            "contentType": "BASE64",
            "content": base64.b64encode(secret["content"].encode()).decode(),
        },
    }


async def put_vault_secret(request: web.Request) -> web.Response:
    """Admin: set a secret's content (``{"content": "...", "compartmentId"?, "name"?}``; a new secret
    needs ``compartmentId``). A change makes a new version. Not written to tenancy.json."""
    emu = emulator(request)
    secret_id = request.match_info["secret_id"]
    body = await json_body(request)
    content = body.get("content")
    if not isinstance(content, str):
        raise invalid("content must be a string")
    current = emu.tenancy.vault_secrets.get(secret_id)
    compartment = body.get("compartmentId") or (current or {}).get("compartmentId")
    if not isinstance(compartment, str) or not compartment:
        raise invalid("compartmentId is required for a new secret")
    name = str(body.get("name") or (current or {}).get("name") or secret_id)
    version = current["versionNumber"] + 1 if current else 1
    emu.tenancy.vault_secrets[secret_id] = updated = vault_secret(
        secret_id, compartment, content, name, version
    )
    return json_response({k: v for k, v in updated.items() if k != "content"})


def routes() -> list[web.RouteDef]:
    return [web.get("/20190301/secretbundles/{secret_id}", get_secret_bundle, allow_head=False)]


def admin_routes() -> list[web.RouteDef]:
    return [web.put("/_emulator/vaultSecrets/{secret_id}", put_vault_secret)]
