"""Instance principals: the instance metadata service's identity and the X.509 federation endpoint.

``GET /opc/v2/instance/region`` and ``/opc/v2/identity/{cert,key,intermediate}.pem`` answer as an
OCI instance's metadata service does (``Authorization: Bearer Oracle`` required, as IMDS v2 asks);
the SDK reads them from ``OCI_METADATA_BASE_URL`` = ``<endpoint>/opc/v2``. The instance certificate
names the instance and tenancy in its subject OUs (``opc-instance:``, ``opc-tenant:``, where the SDK
reads the tenancy) and is issued by an intermediate CA, both kept in the data folder. ``POST
/v1/x509`` (``federation_endpoint=<endpoint>/v1/x509``) trades a request signed with that
certificate for a security token bound to the session key sent along.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ocids_emulator.api.httpio import EMULATOR_KEY, TOKENS_KEY
from ocids_emulator.config import Tenancy
from ocids_emulator.core.errors import ApiError
from ocids_emulator.core.ocids import new_ocid
from ocids_emulator.security.session_tokens import public_key_from_pem_body
from ocids_emulator.security.x509_federation import subject_values, verify_federation_request

INTERMEDIATE_CERT_FILE = "instance-intermediate.crt"
INTERMEDIATE_KEY_FILE = "instance-intermediate.key"
LEAF_CERT_FILE = "instance-cert.pem"
LEAF_KEY_FILE = "instance-key.pem"


@dataclass(frozen=True)
class InstanceIdentity:
    intermediate: x509.Certificate
    leaf_pem: bytes
    key_pem: bytes
    intermediate_pem: bytes


def _private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert(
    subject: x509.Name, issuer: x509.Name, public: rsa.RSAPublicKey, signer: rsa.RSAPrivateKey, ca: bool
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .sign(signer, hashes.SHA256())
    )


def load_or_create_identity(data_dir: Path, tenancy: Tenancy) -> InstanceIdentity:
    """The emulated instance's identity, made on first use and kept (the instance id stays stable)."""
    paths = [
        data_dir / n for n in (INTERMEDIATE_CERT_FILE, INTERMEDIATE_KEY_FILE, LEAF_CERT_FILE, LEAF_KEY_FILE)
    ]
    if not all(p.exists() for p in paths):
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca_name = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, "ocids-emulator instance intermediate CA")]
        )
        ca = _cert(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        instance_id = new_ocid("instance", tenancy.region)
        compartment = next(iter(tenancy.compartments), tenancy.tenancy_id)
        # The OUs OCI puts in an instance certificate; the SDK reads the tenancy from opc-tenant.
        subject = x509.Name(
            [
                # X.509 caps a CN at 64 characters, shorter than an OCID: the OUs carry the ids.
                x509.NameAttribute(NameOID.COMMON_NAME, "ocids-emulator instance"),
                *(
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou)
                    for ou in (
                        "opc-certtype:instance",
                        f"opc-compartment:{compartment}",
                        f"opc-instance:{instance_id}",
                        f"opc-tenant:{tenancy.tenancy_id}",
                    )
                ),
            ]
        )
        leaf = _cert(subject, ca_name, key.public_key(), ca_key, ca=False)
        paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        _private(paths[1], _key_pem(ca_key))
        paths[2].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        _private(paths[3], _key_pem(key))
    intermediate_pem = paths[0].read_bytes()
    return InstanceIdentity(
        intermediate=x509.load_pem_x509_certificate(intermediate_pem),
        leaf_pem=paths[2].read_bytes(),
        key_pem=paths[3].read_bytes(),
        intermediate_pem=intermediate_pem,
    )


class LazyIdentity:
    """Made on the first metadata or federation call: most emulators never need the RSA keys."""

    def __init__(self) -> None:
        self._identity: InstanceIdentity | None = None

    def get(self, data_dir: Path, tenancy: Tenancy) -> InstanceIdentity:
        if self._identity is None:
            self._identity = load_or_create_identity(data_dir, tenancy)
        return self._identity


IDENTITY_KEY: web.AppKey[LazyIdentity] = web.AppKey("instance_identity", LazyIdentity)


def _identity(request: web.Request) -> InstanceIdentity:
    emu = request.app[EMULATOR_KEY]
    return request.app[IDENTITY_KEY].get(emu.settings.data_dir, emu.tenancy)


def _metadata_allowed(request: web.Request) -> None:
    if request.headers.get("Authorization") != "Bearer Oracle":
        raise web.HTTPUnauthorized(text="IMDS v2 wants Authorization: Bearer Oracle")


async def _region(request: web.Request) -> web.Response:
    _metadata_allowed(request)
    return web.Response(text=request.app[EMULATOR_KEY].tenancy.region)


async def _identity_file(request: web.Request) -> web.Response:
    _metadata_allowed(request)
    identity = _identity(request)
    files = {
        "cert.pem": identity.leaf_pem,
        "key.pem": identity.key_pem,
        "intermediate.pem": identity.intermediate_pem,
    }
    data = files.get(request.match_info["name"])
    if data is None:
        raise web.HTTPNotFound()
    return web.Response(body=data, content_type="text/plain")


async def _x509(request: web.Request) -> web.Response:
    body = await request.read()
    try:
        doc = json.loads(body)
        certificate, public_key = str(doc["certificate"]), public_key_from_pem_body(str(doc["publicKey"]))
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "InvalidParameter", "The body must hold certificate and publicKey") from None
    leaf = verify_federation_request(
        request.method, request.raw_path, request.headers, body, certificate, _identity(request).intermediate
    )
    tenancy_id = subject_values(leaf, "opc-tenant:")[0]
    instance_id = (subject_values(leaf, "opc-instance:") or [""])[0]
    claims = {
        "ptype": "instance",
        "sub": instance_id,
        "res_type": "instance",
        "res_tenant": tenancy_id,
        "res_compartment": (subject_values(leaf, "opc-compartment:") or [tenancy_id])[0],
    }
    return web.json_response({"token": request.app[TOKENS_KEY].mint(claims, public_key)})


def setup(app: web.Application) -> None:
    app[IDENTITY_KEY] = LazyIdentity()
    app.add_routes(routes())


def routes() -> list[web.RouteDef]:
    return [
        web.get("/opc/v2/instance/region", _region),
        web.get("/opc/v2/identity/{name}", _identity_file),
        web.post("/v1/x509", _x509),
    ]
