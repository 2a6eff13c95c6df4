"""Request signatures are verified: missing, wrong, stale or tampered ones get 401."""

from __future__ import annotations

import email.utils
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import oci
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from emulator_support import job_details


def _client(emu: Any, signer: oci.signer.Signer) -> Any:
    return oci.data_science.DataScienceClient(
        emu.oci_config(),
        signer=signer,
        service_endpoint=emu.endpoint,
        retry_strategy=oci.retry.NoneRetryStrategy(),
        circuit_breaker_strategy=oci.circuit_breaker.NoCircuitBreakerStrategy(),
    )


def _signer(
    emu: Any, key_file: str | None = None, fingerprint: str | None = None, cls: type = oci.signer.Signer
):
    config = emu.oci_config()
    return cls(
        config["tenancy"],
        config["user"],
        fingerprint or config["fingerprint"],
        key_file or config["key_file"],
    )


def _refused(call) -> oci.exceptions.ServiceError:
    with pytest.raises(oci.exceptions.ServiceError) as err:
        call()
    assert (err.value.status, err.value.code) == (401, "NotAuthenticated"), err.value.message
    return err.value


class StaleSigner(oci.signer.Signer):
    def __call__(self, request, enforce_content_headers=True):
        request.headers["date"] = email.utils.formatdate(time.time() - 600, usegmt=True)
        return super().__call__(request, enforce_content_headers)


class BodyHeadersOmittedSigner(oci.signer.Signer):
    def __call__(self, request, enforce_content_headers=True):
        return super().__call__(request, enforce_content_headers=False)


class TamperingSigner(oci.signer.Signer):
    def __call__(self, request, enforce_content_headers=True):
        signed = super().__call__(request, enforce_content_headers)
        signed.body = signed.body.replace("contract-job", "contract-jox")
        return signed


@pytest.fixture(scope="module")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = Path(tmp_path_factory.mktemp("keys")) / "other.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return str(path)


def test_sdk_signature_accepted(shared_emu):
    client = _client(shared_emu, _signer(shared_emu))
    assert client.list_jobs(compartment_id=shared_emu.ids["COMPARTMENT_ID"]).status == 200


def test_unsigned_request_refused(shared_emu):
    url = f"{shared_emu.endpoint}/20190101/jobs?compartmentId={shared_emu.ids['COMPARTMENT_ID']}"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url, timeout=10)
    assert err.value.code == 401
    assert json.loads(err.value.read())["code"] == "NotAuthenticated"
    assert err.value.headers["opc-request-id"]


def test_wrong_key_refused(shared_emu, other_key):
    compartment = shared_emu.ids["COMPARTMENT_ID"]
    _refused(
        lambda: _client(shared_emu, _signer(shared_emu, key_file=other_key)).list_jobs(
            compartment_id=compartment
        )
    )


def test_unknown_key_id_refused(shared_emu):
    client = _client(
        shared_emu, _signer(shared_emu, fingerprint="00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff")
    )
    err = _refused(lambda: client.list_jobs(compartment_id=shared_emu.ids["COMPARTMENT_ID"]))
    assert "keyId" in err.message


def test_stale_date_refused(shared_emu):
    client = _client(shared_emu, _signer(shared_emu, cls=StaleSigner))
    err = _refused(lambda: client.list_jobs(compartment_id=shared_emu.ids["COMPARTMENT_ID"]))
    assert "5 minutes" in err.message


def test_post_without_body_headers_refused(shared_emu):
    client = _client(shared_emu, _signer(shared_emu, cls=BodyHeadersOmittedSigner))
    err = _refused(lambda: client.create_job(job_details(shared_emu.ids)))
    assert "x-content-sha256" in err.message


def test_tampered_body_refused(shared_emu):
    client = _client(shared_emu, _signer(shared_emu, cls=TamperingSigner))
    err = _refused(lambda: client.create_job(job_details(shared_emu.ids)))
    assert "x-content-sha256" in err.message
