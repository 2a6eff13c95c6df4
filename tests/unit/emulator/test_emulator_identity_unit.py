"""Security tokens: minted, bound to a key, verified through the Verifier as the SDK signs them."""

from __future__ import annotations

import time
from pathlib import Path

import oci
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from oci._vendor import requests
from oci._vendor.requests.structures import CaseInsensitiveDict
from ocids_emulator.api.identity.kube import KubeClient
from ocids_emulator.config import init_data_dir, load_tenancy
from ocids_emulator.core.errors import ApiError
from ocids_emulator.security.session_tokens import SessionTokens, TokenPrincipal, load_or_create_signing_key
from ocids_emulator.security.signatures import Principal, Verifier

URL = "https://emulator.test/20190101/jobs?compartmentId=c"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _verify(verifier: Verifier, token: str, key: rsa.RSAPrivateKey) -> object:
    signer = oci.auth.signers.SecurityTokenSigner(token, key)
    request = signer(requests.Request("GET", URL).prepare())
    return verifier.verify(
        "GET", request.path_url, CaseInsensitiveDict(request.headers), b"", body_signed=False
    )


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> SessionTokens:
    return SessionTokens.for_data_dir(tmp_path_factory.mktemp("tokens"))


def test_signing_key_is_private_and_stable(tmp_path: Path) -> None:
    first = load_or_create_signing_key(tmp_path)
    assert (tmp_path / "session-signing-key.pem").stat().st_mode & 0o077 == 0
    assert load_or_create_signing_key(tmp_path).private_numbers() == first.private_numbers()


def test_bound_token_verifies_and_names_its_principal(tokens: SessionTokens) -> None:
    pod_key = _key()
    token = tokens.mint(
        {"ptype": "workload", "sub": "system:serviceaccount:ns:sa", "res_tenant": "t"}, pod_key.public_key()
    )
    principal = _verify(Verifier({}, tokens), token, pod_key)
    assert isinstance(principal, TokenPrincipal)
    assert (principal.kind, principal.tenancy_id, principal.subject) == (
        "workload",
        "t",
        "system:serviceaccount:ns:sa",
    )


@pytest.mark.parametrize("case", ["other key", "expired", "foreign issuer key", "no token support"])
def test_bad_tokens_are_401(tokens: SessionTokens, tmp_path: Path, case: str) -> None:
    pod_key = _key()
    claims = {"ptype": "resource", "sub": "r"}
    token = tokens.mint(claims, pod_key.public_key(), lifetime_s=-5 if case == "expired" else 60)
    verifier = Verifier({}, None if case == "no token support" else tokens)
    signing_key = _key() if case == "other key" else pod_key
    if case == "foreign issuer key":
        token = SessionTokens.for_data_dir(tmp_path).mint(claims, pod_key.public_key())
    with pytest.raises(ApiError) as err:
        _verify(verifier, token, signing_key)
    assert (err.value.status, err.value.code) == (401, "NotAuthenticated")


def test_api_key_principal_kind_is_user(tmp_path: Path) -> None:
    init_data_dir(tmp_path)
    tenancy = load_tenancy(tmp_path)
    signer = oci.signer.Signer.from_config(oci.config.from_file(str(tmp_path / "config")))
    request = signer(requests.Request("GET", URL).prepare())
    principal = Verifier(tenancy.key_ids).verify(
        "GET", request.path_url, CaseInsensitiveDict(request.headers), b"", body_signed=False
    )
    assert isinstance(principal, Principal) and principal.kind == "user"


def test_kubeconfig_with_a_token_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("abc\n")
    (tmp_path / "kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:6443/',"
        " insecure-skip-tls-verify: true}}]\n"
        "users: [{name: u, user: {tokenFile: token}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    client = KubeClient(tmp_path / "kubeconfig")
    assert client.server == "https://127.0.0.1:6443"
    assert client._headers == {"Authorization": "Bearer abc"}


def test_token_lifetime_is_the_configured_one(tmp_path: Path) -> None:
    import jwt

    short = SessionTokens.for_data_dir(tmp_path, lifetime_s=7)
    claims = jwt.decode(
        short.mint({"ptype": "workload"}, _key().public_key()), options={"verify_signature": False}
    )
    assert claims["exp"] - claims["iat"] == 7 and abs(claims["iat"] - time.time()) < 5
