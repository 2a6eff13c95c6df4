"""OKE workload identity through the real SDK: a real ServiceAccount token from a real API server is
exchanged at the emulator's proxymux for a session token, and requests signed with it are verified."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import oci
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from emulator_support import job_details, wait_for
from identity_support import ds_client, jwt_claims, with_claims
from oci._vendor import requests
from ocids_emulator.testing import PROXYMUX_PORT, RunningEmulator, free_loopback_host, running_emulator

SA = "workload"


@pytest.fixture
def sa_token(cluster: Any, namespace: str) -> str:
    cluster.kubectl("create", "serviceaccount", SA, "-n", namespace)
    return str(cluster.kubectl("create", "token", SA, "-n", namespace).stdout.strip())


def _start(tmp_path: Path, cluster: Any, **kwargs: Any) -> Any:
    host = free_loopback_host()
    return running_emulator(
        tmp_path / "emu", proxymux=f"{host}:{PROXYMUX_PORT}", kubeconfig=cluster.kubeconfig, **kwargs
    )


@pytest.fixture
def wi_emu(tmp_path: Path, cluster: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningEmulator]:
    with _start(tmp_path, cluster) as emu:
        for key, value in emu.workload_identity_env.items():
            monkeypatch.setenv(key, value)
        yield emu


def test_workload_identity_signer_lists_and_creates_jobs(
    wi_emu: RunningEmulator, sa_token: str, namespace: str
) -> None:
    signer = oci.auth.signers.get_oke_workload_identity_resource_principal_signer(
        service_account_token=sa_token
    )
    claims = jwt_claims(signer.security_token.security_token)
    assert (claims["ptype"], claims["namespace"], claims["service_account"]) == ("workload", namespace, SA)
    assert claims["res_tenant"] == wi_emu.ids["TENANCY_ID"]
    assert claims["cluster_id"].startswith("ocid1.cluster.")
    assert claims["exp"] - claims["iat"] == 3600

    client = ds_client(wi_emu, signer)
    assert client.list_jobs(compartment_id=wi_emu.ids["COMPARTMENT_ID"]).status == 200
    job = client.create_job(job_details(wi_emu.ids)).data
    assert client.get_job(job.id).data.id == job.id
    stats = wi_emu.admin.stats()
    assert stats["principals"] == {"workload": 3}
    assert stats["workloads"] == {f"{namespace}/{SA}": 3}


def test_forged_service_account_token_is_refused(wi_emu: RunningEmulator, sa_token: str) -> None:
    # Same claims, signed by a key the API server never saw: only a TokenReview tells them apart.
    forged = with_claims(sa_token)
    header, payload, _ = forged.split(".")
    forged = f"{header}.{payload}.{'A' * 342}"
    with pytest.raises(oci.exceptions.ServiceError) as err:
        oci.auth.signers.get_oke_workload_identity_resource_principal_signer(service_account_token=forged)
    assert err.value.status == 401


def test_revoked_service_account_token_is_refused(
    wi_emu: RunningEmulator, sa_token: str, cluster: Any, namespace: str
) -> None:
    # A bound token dies with its ServiceAccount; the SDK itself would still send it (exp is ahead).
    cluster.kubectl("delete", "serviceaccount", SA, "-n", namespace)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    host = wi_emu.workload_identity_env["KUBERNETES_SERVICE_HOST"]

    def refused() -> bool:
        response = requests.post(
            f"https://{host}:{PROXYMUX_PORT}/resourcePrincipalSessionTokens",
            json={"podKey": pem.decode()},
            headers={"Authorization": f"Bearer {sa_token}"},
            verify=wi_emu.proxymux_ca_file,
            timeout=10,
        )
        return response.status_code == 401 and response.json()["code"] == "NotAuthenticated"

    wait_for(refused, timeout=15, message="TokenReview refuses the deleted ServiceAccount's token")


def test_tampered_session_token_is_refused(wi_emu: RunningEmulator, sa_token: str) -> None:
    signer = oci.auth.signers.get_oke_workload_identity_resource_principal_signer(
        service_account_token=sa_token
    )
    token = signer.security_token.security_token
    private_key = signer.session_key_supplier.get_key_pair()["private"]
    tampered = with_claims(token, namespace="kube-system")
    forged_signer = oci.auth.signers.SecurityTokenSigner(tampered, private_key)
    with pytest.raises(oci.exceptions.ServiceError) as err:
        ds_client(wi_emu, forged_signer).list_jobs(compartment_id=wi_emu.ids["COMPARTMENT_ID"])
    assert (err.value.status, err.value.code) == (401, "NotAuthenticated")
    # The genuine token signed with another key than the bound pod key is refused too.
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(oci.exceptions.ServiceError) as err:
        ds_client(wi_emu, oci.auth.signers.SecurityTokenSigner(token, other_key)).list_jobs(
            compartment_id=wi_emu.ids["COMPARTMENT_ID"]
        )
    assert (err.value.status, err.value.code) == (401, "NotAuthenticated")


def test_expired_session_token_is_refused_and_the_sdk_refreshes(
    tmp_path: Path, cluster: Any, sa_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _start(tmp_path, cluster, session_token_seconds=3) as emu:
        for key, value in emu.workload_identity_env.items():
            monkeypatch.setenv(key, value)
        signer = oci.auth.signers.get_oke_workload_identity_resource_principal_signer(
            service_account_token=sa_token
        )
        first = signer.security_token.security_token
        expired_signer = oci.auth.signers.SecurityTokenSigner(
            first, signer.session_key_supplier.get_key_pair()["private"]
        )
        client = ds_client(emu, signer)
        compartment = emu.ids["COMPARTMENT_ID"]
        assert client.list_jobs(compartment_id=compartment).status == 200
        exp = jwt_claims(first)["exp"]
        wait_for(lambda: time.time() > exp + 1, timeout=10, message="the session token expires")

        with pytest.raises(oci.exceptions.ServiceError) as err:
            ds_client(emu, expired_signer).list_jobs(compartment_id=compartment)
        assert (err.value.status, err.value.code) == (401, "NotAuthenticated")
        # The SDK answers the 401 with a new exchange and retries once: the same client keeps working.
        assert client.list_jobs(compartment_id=compartment).status == 200
        assert signer.security_token.security_token != first
        by_status = emu.admin.stats()["operations"]["list_jobs"]["byStatus"]
        assert by_status == {"200": 2, "401": 2}
