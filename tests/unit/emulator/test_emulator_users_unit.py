"""tenancy.json `users`: more API-key users, each signing as itself (issue 14: one OCI config Secret
per namespace needs users with different policies)."""

from __future__ import annotations

import json
from pathlib import Path

import oci
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from oci._vendor import requests
from oci._vendor.requests.structures import CaseInsensitiveDict
from ocids_emulator.config import fingerprint, init_data_dir, load_tenancy
from ocids_emulator.security.signatures import Verifier


def test_a_second_user_in_tenancy_json_signs_as_itself(tmp_path: Path) -> None:
    ids = init_data_dir(tmp_path)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    tenancy_file = tmp_path / "tenancy.json"
    tenancy = json.loads(tenancy_file.read_text())
    tenancy["users"] = [{"id": "ocid1.user.oc1..team", "apiKeys": [{"publicKey": public.decode()}]}]
    tenancy_file.write_text(json.dumps(tenancy))

    signer = oci.signer.Signer(
        ids["TENANCY_ID"], "ocid1.user.oc1..team", fingerprint(public), None, private_key_content=private
    )
    request = signer(requests.Request("GET", "http://127.0.0.1:9/20190101/jobs?compartmentId=x").prepare())
    verified = Verifier(load_tenancy(tmp_path).key_ids).verify(
        "GET", request.path_url, CaseInsensitiveDict(request.headers), b"", body_signed=False
    )
    assert verified.user_id == "ocid1.user.oc1..team"
