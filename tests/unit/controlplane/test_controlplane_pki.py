"""The generated PKI is what kube-apiserver and kubectl need: checked with cryptography alone."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ocids_controlplane import kubeconfig, pki


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> pki.PKIFiles:
    return pki.generate(tmp_path_factory.mktemp("pki"))


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_leaf_certificates_are_issued_by_the_ca(files: pki.PKIFiles) -> None:
    ca = _cert(files.ca_cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for leaf in (files.serving_cert, files.admin_cert):
        _cert(leaf).verify_directly_issued_by(ca)


def test_serving_certificate_covers_every_name_clients_use(files: pki.PKIFiles) -> None:
    cert = _cert(files.serving_cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "kubernetes.default.svc"} <= set(sans.get_values_for_type(x509.DNSName))
    assert {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("10.0.0.1")} <= set(
        sans.get_values_for_type(x509.IPAddress)
    )
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage


def test_admin_certificate_is_a_system_masters_client(files: pki.PKIFiles) -> None:
    cert = _cert(files.admin_cert)
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usage


def test_service_account_key_is_rsa_and_private_files_are_owner_only(files: pki.PKIFiles) -> None:
    key = load_pem_private_key(files.sa_key.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    for private in (files.ca_key, files.serving_key, files.admin_key, files.sa_key):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private


def test_client_cert_kubeconfig_embeds_the_pki(files: pki.PKIFiles, tmp_path: Path) -> None:
    doc = kubeconfig.for_client_cert(
        "https://127.0.0.1:6443", files.ca_cert, files.admin_cert, files.admin_key
    )
    path = kubeconfig.write(tmp_path / "kubeconfig", doc)
    loaded = yaml.safe_load(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert loaded["current-context"] == "ocids"
    cluster = loaded["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:6443"
    assert cluster["certificate-authority-data"]
    assert set(loaded["users"][0]["user"]) == {"client-certificate-data", "client-key-data"}


def test_token_kubeconfig_carries_only_the_token() -> None:
    doc = kubeconfig.for_token("https://h:1", {"certificate-authority-data": "Q0E="}, "tok", name="ns-sa")
    assert doc["users"] == [{"name": "ns-sa", "user": {"token": "tok"}}]
    assert doc["clusters"][0]["cluster"] == {"server": "https://h:1", "certificate-authority-data": "Q0E="}
