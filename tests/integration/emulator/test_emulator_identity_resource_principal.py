"""Resource principals v2.2 through the real SDK: ``ocids-emulator resource-principal`` writes the
session token and key a resource gets, and ``get_resource_principals_signer()`` signs with them."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import oci
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from emulator_support import job_details, wait_for
from identity_support import ds_client, jwt_claims, with_claims
from ocids_emulator.testing import RunningEmulator


def _signer(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> object:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return oci.auth.signers.get_resource_principals_signer()


def test_cli_writes_a_resource_principal_the_sdk_signs_with(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ocids_emulator.cli",
            "resource-principal",
            "--data-dir",
            str(emu.data_dir),
            "--out-dir",
            str(tmp_path / "rp"),
            "--resource-id",
            "ocid1.datasciencejobrun.oc1.iad.test",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    env = dict(line.split("=", 1) for line in out.splitlines())
    assert env["OCI_RESOURCE_PRINCIPAL_VERSION"] == "2.2"
    assert env["OCI_RESOURCE_PRINCIPAL_REGION"] == emu.ids["REGION"]
    assert (Path(env["OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM"]).stat().st_mode & 0o077) == 0
    signer = _signer(monkeypatch, env)
    assert signer.tenancy_id == emu.ids["TENANCY_ID"]  # the SDK reads res_tenant / res_compartment
    assert signer.compartment_id == emu.ids["COMPARTMENT_ID"]

    client = ds_client(emu, signer)
    assert client.list_jobs(compartment_id=emu.ids["COMPARTMENT_ID"]).status == 200
    job = client.create_job(job_details(emu.ids)).data
    assert client.get_job(job.id).data.id == job.id
    assert emu.admin.stats()["principals"] == {"resource": 3}


def test_tampered_expired_or_unbound_resource_principal_is_refused(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = emu.resource_principal(tmp_path / "rp")
    signer = _signer(monkeypatch, env)
    token = signer.security_token.security_token
    key = signer.session_key_supplier.get_key_pair()["private"]
    compartment = emu.ids["COMPARTMENT_ID"]
    for bad in (
        oci.auth.signers.SecurityTokenSigner(with_claims(token, res_tenant="ocid1.tenancy.oc1..other"), key),
        oci.auth.signers.SecurityTokenSigner(
            token, rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ),
    ):
        with pytest.raises(oci.exceptions.ServiceError) as err:
            ds_client(emu, bad).list_jobs(compartment_id=compartment)
        assert (err.value.status, err.value.code) == (401, "NotAuthenticated")

    short = emu.resource_principal(tmp_path / "short", seconds=2)
    short_signer = oci.auth.signers.SecurityTokenSigner(
        Path(short["OCI_RESOURCE_PRINCIPAL_RPST"]).read_text(),
        oci.signer.load_private_key_from_file(short["OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM"]),
    )
    assert ds_client(emu, short_signer).list_jobs(compartment_id=compartment).status == 200
    exp = jwt_claims(Path(short["OCI_RESOURCE_PRINCIPAL_RPST"]).read_text())["exp"]
    wait_for(lambda: time.time() > exp + 1, timeout=10, message="the token expires")
    with pytest.raises(oci.exceptions.ServiceError) as err:
        ds_client(emu, short_signer).list_jobs(compartment_id=compartment)
    assert (err.value.status, err.value.code) == (401, "NotAuthenticated")


def test_token_written_before_serve_is_verified_after_a_restart(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The token key lives in the data folder: tokens outlive the process that verifies them.
    env = emu.resource_principal(tmp_path / "rp")
    emu.restart()
    signer = _signer(monkeypatch, env)
    assert ds_client(emu, signer).list_jobs(compartment_id=emu.ids["COMPARTMENT_ID"]).status == 200
