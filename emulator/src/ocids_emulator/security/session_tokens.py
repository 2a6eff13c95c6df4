"""Security tokens the emulator issues (OKE workload identity, resource principals) and checks.

A token is a JWT signed RS256 by the emulator's own key (``DATA_DIR/session-signing-key.pem``,
kept across restarts so tokens outlive one process). As OCI's do, it carries the public half of
the key the client signs its requests with, as a ``jwk`` claim: a request signed with
``keyId="ST$<token>"`` is verified with that bound key, so a stolen token alone is useless.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from ocids_emulator.core.errors import not_authenticated

SIGNING_KEY_FILE = "session-signing-key.pem"
TOKEN_PREFIX = "ST$"
ISSUER = "ocids-emulator"
DEFAULT_LIFETIME_S = 3600


@dataclass(frozen=True)
class TokenPrincipal:
    """Who a security token speaks for: ``kind`` is ``workload`` or ``resource``."""

    kind: str
    tenancy_id: str
    subject: str
    claims: dict[str, Any] = field(compare=False, repr=False)


def load_or_create_signing_key(data_dir: Path) -> rsa.RSAPrivateKey:
    """The data folder's token key; ``serve`` and the ``resource-principal`` command share it."""
    path = data_dir / SIGNING_KEY_FILE
    if not path.exists():
        new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = new_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Written aside and linked into place: two processes creating it at once keep one key.
        tmp = data_dir / f".{SIGNING_KEY_FILE}.{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        tmp.unlink()
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA private key")
    return key


def public_key_from_pem_body(body: str) -> rsa.RSAPublicKey:
    """The SDK sends keys as PEM without the header lines (``auth_utils.sanitize_certificate_string``)."""
    text = body.strip()
    if not text.startswith("-----BEGIN"):
        text = f"-----BEGIN PUBLIC KEY-----\n{text}\n-----END PUBLIC KEY-----\n"
    key = serialization.load_pem_public_key(text.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the key is not an RSA public key")
    return key


class SessionTokens:
    def __init__(self, signing_key: rsa.RSAPrivateKey, lifetime_s: int = DEFAULT_LIFETIME_S) -> None:
        self._key = signing_key
        self._public = signing_key.public_key()
        self.lifetime_s = lifetime_s

    @classmethod
    def for_data_dir(cls, data_dir: Path, lifetime_s: int = DEFAULT_LIFETIME_S) -> SessionTokens:
        return cls(load_or_create_signing_key(data_dir), lifetime_s)

    def mint(self, claims: dict[str, Any], bound_key: rsa.RSAPublicKey, lifetime_s: int | None = None) -> str:
        """A JWT (without the ``ST$`` prefix) for ``claims``, bound to ``bound_key``."""
        now = int(time.time())
        jwk = json.loads(RSAAlgorithm.to_jwk(bound_key))
        jwk["kid"] = "pod-key"
        payload = {
            **claims,
            "iss": ISSUER,
            "iat": now,
            "exp": now + (lifetime_s if lifetime_s is not None else self.lifetime_s),
            "jti": uuid.uuid4().hex,
            "jwk": jwk,
        }
        return jwt.encode(payload, self._key, algorithm="RS256")

    def resolve(self, key_id: str) -> tuple[rsa.RSAPublicKey, TokenPrincipal]:
        """The bound key and principal of ``keyId="ST$<token>"``; 401 NotAuthenticated if the token
        was not issued here, was altered or has expired."""
        token = key_id.removeprefix(TOKEN_PREFIX)
        try:
            claims = jwt.decode(
                token,
                self._public,
                algorithms=["RS256"],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "jwk", "ptype"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise not_authenticated("The security token has expired") from exc
        except jwt.PyJWTError as exc:
            raise not_authenticated("The security token is not valid") from exc
        try:
            key = RSAAlgorithm.from_jwk(claims["jwk"])
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise not_authenticated("The security token's key is not valid") from exc
        if not isinstance(key, rsa.RSAPublicKey):
            raise not_authenticated("The security token's key is not an RSA public key")
        principal = TokenPrincipal(
            kind=str(claims["ptype"]),
            tenancy_id=str(claims.get("res_tenant", "")),
            subject=str(claims.get("sub", "")),
            claims=claims,
        )
        return key, principal
