"""HTTP signature verification (draft-cavage, as the OCI SDK signs).

The SDK signs ``date (request-target) host`` on every call and adds
``content-length content-type x-content-sha256`` on POST/PUT/PATCH, except for streamed uploads
(create_job_artifact, put_object) that sign only the three generic headers.

``keyId`` is ``<tenancy>/<user>/<fingerprint>`` of an API key in tenancy.json, or ``ST$<token>``
for a security token this emulator issued (``session_tokens.py``: the request is then verified
with the key bound into the token).
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ocids_emulator.core.errors import ApiError, not_authenticated
from ocids_emulator.security.session_tokens import TOKEN_PREFIX, SessionTokens, TokenPrincipal

MAX_SKEW = dt.timedelta(minutes=5)
GENERIC_HEADERS = ("date", "(request-target)", "host")
BODY_HEADERS = ("content-length", "content-type", "x-content-sha256")
_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Principal:
    """An API-key user; ``kind`` matches TokenPrincipal's so later policy checks can branch on it."""

    kind: ClassVar[str] = "user"
    tenancy_id: str
    user_id: str
    fingerprint: str


def parse_authorization(value: str) -> dict[str, str]:
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "signature":
        raise not_authenticated("The Authorization header must use the Signature scheme")
    params = dict(_PARAM.findall(rest))
    for required in ("keyId", "signature", "headers"):
        if required not in params:
            raise not_authenticated(f"The Authorization header lacks {required}")
    if params.get("algorithm", "rsa-sha256") != "rsa-sha256":
        raise not_authenticated("Only rsa-sha256 signatures are supported")
    return params


def signing_string(signed: list[str], headers: Mapping[str, str], method: str, target: str) -> str:
    lines = []
    for name in signed:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
            continue
        value = headers.get(name)
        if value is None:
            raise not_authenticated(f"Signed header {name} is missing from the request")
        lines.append(f"{name}: {value}")
    return "\n".join(lines)


def check_date(value: str | None, now: dt.datetime | None = None) -> None:
    """401 unless ``value`` (the date header) is within MAX_SKEW of ``now``."""
    Verifier._check_date(value, now)


class Verifier:
    def __init__(self, key_ids: Mapping[str, str], tokens: SessionTokens | None = None) -> None:
        self.tokens = tokens
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        for key_id, pem in key_ids.items():
            key = serialization.load_pem_public_key(pem.encode())
            if not isinstance(key, rsa.RSAPublicKey):
                raise ValueError(f"API key {key_id} is not an RSA key")
            self._keys[key_id] = key

    def verify(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        body_signed: bool,
        now: dt.datetime | None = None,
    ) -> Principal | TokenPrincipal:
        """Check one request; ``headers`` must be case-insensitive. Raises 401 ApiError."""
        auth = headers.get("authorization")
        if not auth:
            raise not_authenticated("The required information to complete authentication was not provided")
        params = parse_authorization(auth)
        signed = params["headers"].lower().split()
        required = list(GENERIC_HEADERS) + (list(BODY_HEADERS) if body_signed else [])
        absent = [h for h in required if h not in signed]
        if absent:
            raise not_authenticated(f"The signature must cover the headers: {', '.join(absent)}")
        principal: Principal | TokenPrincipal
        if params["keyId"].startswith(TOKEN_PREFIX) and self.tokens is not None:
            key, principal = self.tokens.resolve(params["keyId"])
        else:
            api_key = self._keys.get(params["keyId"])
            if api_key is None:
                raise not_authenticated("The keyId is not a known API key of this tenancy")
            key = api_key
            tenancy, user, fp = [*params["keyId"].split("/", 2), "", ""][:3]
            principal = Principal(tenancy, user, fp)
        self._check_date(headers.get("date") or headers.get("x-date"), now)
        message = signing_string(signed, headers, method, target)
        try:
            signature = base64.b64decode(params["signature"], validate=True)
            key.verify(signature, message.encode(), padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError) as exc:
            raise not_authenticated("The request signature does not verify") from exc
        if "x-content-sha256" in signed and body is not None:
            digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
            if headers.get("x-content-sha256") != digest:
                raise not_authenticated("x-content-sha256 does not match the request body")
        if (
            "content-length" in signed
            and body is not None
            and headers.get("content-length") != str(len(body))
        ):
            raise not_authenticated("content-length does not match the request body")
        return principal

    @staticmethod
    def _check_date(value: str | None, now: dt.datetime | None) -> None:
        if not value:
            raise not_authenticated("The date header is missing")
        try:
            sent = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError) as exc:
            raise not_authenticated("The date header is not an HTTP date") from exc
        if sent.tzinfo is None:
            sent = sent.replace(tzinfo=dt.UTC)
        current = now or dt.datetime.now(dt.UTC)
        if abs(current - sent) > MAX_SKEW:
            raise not_authenticated("The date header is more than 5 minutes away from the server clock")


__all__ = ["ApiError", "Principal", "TokenPrincipal", "Verifier", "parse_authorization", "signing_string"]
