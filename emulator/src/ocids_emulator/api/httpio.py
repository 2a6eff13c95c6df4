"""Request/response helpers shared by the API handlers."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ocids_emulator.core.emulator import Emulator
from ocids_emulator.core.errors import cannot_parse
from ocids_emulator.security.session_tokens import SessionTokens
from ocids_emulator.security.signatures import Principal

EMULATOR_KEY: web.AppKey[Emulator] = web.AppKey("emulator", Emulator)
# The security tokens the emulator issues and verifies (workload identity, instance principals).
TOKENS_KEY: web.AppKey[SessionTokens] = web.AppKey("session_tokens", SessionTokens)


def emulator(request: web.Request) -> Emulator:
    return request.app[EMULATOR_KEY]


def principal(request: web.Request) -> Principal | None:
    value = request.get("principal")
    return value if isinstance(value, Principal) else None


def created_by(request: web.Request) -> str:
    who = principal(request)
    return who.user_id if who else emulator(request).tenancy.user_id


async def json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        raise cannot_parse("The request body is empty")
    try:
        body = json.loads(raw)
    except ValueError:
        raise cannot_parse("The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise cannot_parse("The request body must be a JSON object")
    return body


def json_response(
    doc: Any, *, status: int = 200, etag: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    response = web.Response(
        status=status, body=json.dumps(doc).encode(), content_type="application/json", headers=headers
    )
    if etag:
        response.headers["etag"] = etag
    return response


def list_response(items: list[dict[str, Any]], next_page: str | None) -> web.Response:
    response = json_response(items)
    if next_page:
        response.headers["opc-next-page"] = next_page
    return response


def query(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in request.query.items()}
