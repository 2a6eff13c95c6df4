"""The certificates and keys a throwaway control plane needs, generated in-process.

Everything is short-lived test material: a self-signed CA, the API server's serving certificate,
an admin client certificate in the system:masters group, and the RSA key that signs and verifies
service-account tokens. Keys are written with mode 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The first address of --service-cluster-ip-range=10.0.0.0/24: the in-cluster "kubernetes" Service.
SERVICE_IP = "10.0.0.1"
SERVING_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
SERVING_IPS = ("127.0.0.1", SERVICE_IP)
VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class PKIFiles:
    """Paths of the PEM files, as the components' flags and the kubeconfig refer to them."""

    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256 keys are instant to generate, unlike RSA; both are accepted for TLS and client auth.
    return ec.generate_private_key(ec.SECP256R1())


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # Backdated a little so a skewed clock between components does not reject a fresh cert.
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def _key_usage(*allowed: str) -> x509.KeyUsage:
    """x509.KeyUsage takes every flag by keyword; name only the ones that are on."""
    return x509.KeyUsage(**{usage: usage in allowed for usage in _KEY_USAGES})


def make_ca(common_name: str = "ocids-test-ca") -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _new_key()
    name = _name(common_name)
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage("digital_signature", "key_cert_sign", "crl_sign"), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common_name: str,
    *,
    organization: str | None = None,
    server: bool = False,
    dns_names: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A certificate signed by the CA: a serving cert (`server=True`, with SANs) or a client cert."""
    key = _new_key()
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        _builder(_name(common_name, organization), ca_cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage("digital_signature", "key_encipherment"), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if dns_names or ips:
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def write_serving_pair(
    directory: Path, *, ips: tuple[str, ...] = ("127.0.0.1",), dns_names: tuple[str, ...] = ("localhost",)
) -> tuple[Path, Path, Path]:
    """A throwaway CA and a serving certificate it signed, for a test's local TLS server:
    (ca.crt, server.crt, server.key). The CA's name is unique, since a client context that already
    trusts an earlier one picks CAs by subject."""
    ca_key, ca = make_ca(f"ocids-test-ca-{secrets.token_hex(4)}")
    key, cert = make_leaf(ca_key, ca, "ocids-test-server", server=True, dns_names=dns_names, ips=ips)
    directory.mkdir(parents=True, exist_ok=True)
    return (
        _write(directory / "ca.crt", _cert_pem(ca)),
        _write(directory / "server.crt", _cert_pem(cert)),
        _write(directory / "server.key", _key_pem(key), private=True),
    )


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes, private: bool = False) -> Path:
    path.write_bytes(data)
    if private:
        os.chmod(path, 0o600)
    return path


def generate(directory: Path) -> PKIFiles:
    """Write a complete PKI for one control plane into `directory` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    ca_key, ca_cert = make_ca()
    serving_key, serving_cert = make_leaf(
        ca_key, ca_cert, "kube-apiserver", server=True, dns_names=SERVING_DNS_NAMES, ips=SERVING_IPS
    )
    admin_key, admin_cert = make_leaf(ca_key, ca_cert, "ocids-admin", organization="system:masters")
    # Service-account tokens are RS256 by default; the API server verifies with the public half
    # and the controller manager signs legacy tokens with the private half.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_pub = sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return PKIFiles(
        ca_cert=_write(directory / "ca.crt", _cert_pem(ca_cert)),
        ca_key=_write(directory / "ca.key", _key_pem(ca_key), private=True),
        serving_cert=_write(directory / "apiserver.crt", _cert_pem(serving_cert)),
        serving_key=_write(directory / "apiserver.key", _key_pem(serving_key), private=True),
        admin_cert=_write(directory / "admin.crt", _cert_pem(admin_cert)),
        admin_key=_write(directory / "admin.key", _key_pem(admin_key), private=True),
        sa_key=_write(directory / "sa.key", _key_pem(sa_key), private=True),
        sa_pub=_write(directory / "sa.pub", sa_pub),
    )
