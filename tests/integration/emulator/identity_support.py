"""Helpers for the keyless-identity tests: loopback addresses, SDK clients, token surgery."""

from __future__ import annotations

import base64
import json
from typing import Any

import oci


def ds_client(emu: Any, signer: Any) -> Any:
    return oci.data_science.DataScienceClient(
        {"region": emu.ids["REGION"]},
        signer=signer,
        service_endpoint=emu.endpoint,
        retry_strategy=oci.retry.NoneRetryStrategy(),
    )


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def with_claims(token: str, **changes: Any) -> str:
    """The same token with its payload changed and the original signature kept (a tampered token)."""
    header, _, signature = token.split(".")
    claims = {**jwt_claims(token), **changes}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"
