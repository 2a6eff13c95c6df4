"""Helpers for the keyless-identity tests: loopback addresses, SDK clients, token surgery."""

from __future__ import annotations

import base64
import contextlib
import json
import random
import socket
from typing import Any

import oci

PROXYMUX_PORT = 12250  # a constant in the SDK


def free_loopback_host(port: int = PROXYMUX_PORT) -> str:
    """A 127.x.y.z address whose ``port`` is free: the SDK dials a fixed port, so parallel tests
    (and other runs on the machine) each take their own address."""
    for _ in range(50):
        host = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
        with contextlib.closing(socket.socket()) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return host
    raise RuntimeError("no free loopback address")


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
