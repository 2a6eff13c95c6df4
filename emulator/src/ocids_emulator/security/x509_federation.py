"""Checks a request to the X.509 federation endpoint (``POST /v1/x509``), as Auth Service does.

The SDK's ``X509FederationClient`` signs it with the instance certificate's private key and
``keyId="<tenancy>/fed-x509/<SHA1 fingerprint of the certificate>"``, covering ``date
(request-target)`` plus the body headers (no ``host``), and sends the certificate in the body.
Genuine means: the certificate was issued by the emulator's instance intermediate CA, is valid
now, names the keyId's tenancy (``opc-tenant:`` in its subject) and its key signed the request.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Mapping

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ocids_emulator.core.errors import not_authenticated
from ocids_emulator.security.signatures import BODY_HEADERS, check_date, parse_authorization, signing_string

REQUIRED_HEADERS = ("date", "(request-target)", *BODY_HEADERS)


def load_certificate_body(body: str) -> x509.Certificate:
    """The SDK sends certificates as PEM without the header lines."""
    text = body.strip()
    if not text.startswith("-----BEGIN"):
        text = f"-----BEGIN CERTIFICATE-----\n{text}\n-----END CERTIFICATE-----\n"
    return x509.load_pem_x509_certificate(text.encode())


def subject_values(cert: x509.Certificate, prefix: str) -> list[str]:
    return [str(a.value)[len(prefix) :] for a in cert.subject if str(a.value).startswith(prefix)]


def verify_federation_request(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    certificate_body: str,
    issuer: x509.Certificate,
    now: dt.datetime | None = None,
) -> x509.Certificate:
    """The request's leaf certificate once it is proven genuine; 401 NotAuthenticated otherwise."""
    params = parse_authorization(headers.get("authorization") or "")
    tenancy, marker, fingerprint = [*params["keyId"].split("/", 2), "", ""][:3]
    if marker != "fed-x509":
        raise not_authenticated("The keyId must be <tenancy>/fed-x509/<certificate fingerprint>")
    signed = params["headers"].lower().split()
    if absent := [h for h in REQUIRED_HEADERS if h not in signed]:
        raise not_authenticated(f"The signature must cover the headers: {', '.join(absent)}")
    check_date(headers.get("date") or headers.get("x-date"), now)
    try:
        leaf = load_certificate_body(certificate_body)
        leaf.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise not_authenticated("The certificate was not issued by this emulator") from exc
    current = now or dt.datetime.now(dt.UTC)
    if not leaf.not_valid_before_utc <= current <= leaf.not_valid_after_utc:
        raise not_authenticated("The certificate is not valid now")
    actual = ":".join(f"{b:02X}" for b in leaf.fingerprint(hashes.SHA1()))
    if fingerprint.upper() != actual:
        raise not_authenticated("The keyId's fingerprint is not the certificate's")
    if subject_values(leaf, "opc-tenant:") != [tenancy]:
        raise not_authenticated("The keyId's tenancy is not the certificate's")
    key = leaf.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise not_authenticated("The certificate's key is not an RSA key")
    try:
        signature = base64.b64decode(params["signature"], validate=True)
        key.verify(
            signature,
            signing_string(signed, headers, method, target).encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError) as exc:
        raise not_authenticated("The request signature does not verify") from exc
    if headers.get("x-content-sha256") != base64.b64encode(hashlib.sha256(body).digest()).decode():
        raise not_authenticated("x-content-sha256 does not match the request body")
    return leaf
