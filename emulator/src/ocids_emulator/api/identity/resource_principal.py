"""Resource principals v2.2: a session token (``rpst``) and its private key, written to files.

OCI injects these into a resource (a job run, a function) and the SDK's
``get_resource_principals_signer()`` reads them via ``OCI_RESOURCE_PRINCIPAL_VERSION=2.2``,
``OCI_RESOURCE_PRINCIPAL_RPST``, ``OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM`` and
``OCI_RESOURCE_PRINCIPAL_REGION``. ``ocids-emulator resource-principal`` plays the injector: it
needs no running server, only the data folder's token key, which ``serve`` verifies against.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ocids_emulator.config import load_tenancy
from ocids_emulator.core.ocids import new_ocid
from ocids_emulator.security.session_tokens import DEFAULT_LIFETIME_S, SessionTokens

RPST_FILE = "rpst"
PRIVATE_PEM_FILE = "private.pem"
DEFAULT_RESOURCE_TYPE = "datasciencejobrun"


def write_resource_principal(
    data_dir: Path,
    out_dir: Path | None = None,
    *,
    resource_id: str | None = None,
    resource_type: str = DEFAULT_RESOURCE_TYPE,
    compartment_id: str | None = None,
    seconds: int = DEFAULT_LIFETIME_S,
) -> dict[str, str]:
    """Write ``rpst`` and ``private.pem`` into ``out_dir`` (default ``DATA_DIR/resource-principal``)
    and return the environment the SDK needs (absolute paths, so the SDK rereads them on a 401)."""
    tenancy = load_tenancy(data_dir)
    rid = resource_id or new_ocid(resource_type, tenancy.region)
    claims = resource_claims(
        rid,
        resource_type,
        tenancy.tenancy_id,
        compartment_id or next(iter(tenancy.compartments), tenancy.tenancy_id),
    )
    out = out_dir or data_dir / "resource-principal"
    return issue_resource_principal(
        SessionTokens.for_data_dir(data_dir), out, claims, seconds, tenancy.region
    )


def resource_claims(
    resource_id: str, resource_type: str, tenancy_id: str, compartment_id: str
) -> dict[str, str]:
    """The claims of a resource principal's token (what policies see as ``resource.*``)."""
    return {
        "ptype": "resource",
        "sub": resource_id,
        "res_type": resource_type,
        "res_id": resource_id,
        "res_tenant": tenancy_id,
        "res_compartment": compartment_id,
    }


def issue_resource_principal(
    tokens: SessionTokens, out_dir: Path, claims: dict[str, str], seconds: int, region: str
) -> dict[str, str]:
    """Mint a token for ``claims`` bound to a fresh key, write both (0600) into ``out_dir`` and
    return the v2.2 environment naming them."""
    out = out_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = tokens.mint(claims, key.public_key(), seconds)
    pem_path, rpst_path = out / PRIVATE_PEM_FILE, out / RPST_FILE
    for path, data in (
        (
            pem_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ),
        ),
        (rpst_path, token.encode()),
    ):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    return {
        "OCI_RESOURCE_PRINCIPAL_VERSION": "2.2",
        "OCI_RESOURCE_PRINCIPAL_RPST": str(rpst_path),
        "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM": str(pem_path),
        "OCI_RESOURCE_PRINCIPAL_REGION": region,
    }
