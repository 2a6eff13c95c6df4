"""Instance principals through the real SDK: the emulator's metadata endpoints hand out an instance
certificate, ``POST /v1/x509`` trades a request signed with it for a security token, and requests
signed with that token are verified."""

from __future__ import annotations

import datetime as dt

import oci
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from emulator_support import job_details
from identity_support import ds_client, jwt_claims
from oci._vendor import requests
from oci.auth.certificate_retriever import PEMStringCertificateRetriever
from oci.auth.federation_client import X509FederationClient
from oci.auth.session_key_supplier import SessionKeySupplier
from ocids_emulator.testing import RunningEmulator


def test_instance_principals_signer_lists_and_creates_jobs(
    emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OCI_METADATA_BASE_URL", f"{emu.endpoint}/opc/v2")
    signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner(
        federation_endpoint=f"{emu.endpoint}/v1/x509"
    )
    assert signer.region == emu.ids["REGION"]
    assert signer.tenancy_id == emu.ids["TENANCY_ID"]  # read from the certificate's opc-tenant OU
    claims = jwt_claims(signer.federation_client.get_security_token())
    assert (claims["ptype"], claims["res_tenant"]) == ("instance", emu.ids["TENANCY_ID"])
    assert claims["sub"].startswith("ocid1.instance.")

    client = ds_client(emu, signer)
    assert client.list_jobs(compartment_id=emu.ids["COMPARTMENT_ID"]).status == 200
    job = client.create_job(job_details(emu.ids)).data
    assert client.get_job(job.id).data.id == job.id
    assert emu.admin.stats()["principals"] == {"instance": 3}


def test_metadata_wants_the_imds_v2_header(emu: RunningEmulator) -> None:
    assert requests.get(f"{emu.endpoint}/opc/v2/identity/key.pem", timeout=10).status_code == 401
    ok = requests.get(
        f"{emu.endpoint}/opc/v2/instance/region", headers={"Authorization": "Bearer Oracle"}, timeout=10
    )
    assert ok.text == emu.ids["REGION"]


def _self_made_certificate(tenancy_id: str) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "ocid1.instance.oc1..forged"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"opc-tenant:{tenancy_id}"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def test_certificate_not_issued_by_the_emulator_is_refused(emu: RunningEmulator) -> None:
    cert_pem, key_pem = _self_made_certificate(emu.ids["TENANCY_ID"])
    client = X509FederationClient(
        federation_endpoint=f"{emu.endpoint}/v1/x509",
        tenancy_id=emu.ids["TENANCY_ID"],
        session_key_supplier=SessionKeySupplier(),
        leaf_certificate_retriever=PEMStringCertificateRetriever(
            certificate_pem=cert_pem, private_key_pem=key_pem
        ),
        retry_strategy=oci.retry.NoneRetryStrategy(),
    )
    with pytest.raises(oci.exceptions.ServiceError) as err:
        client.get_security_token()
    assert (err.value.status, err.value.code) == (401, "NotAuthenticated")
