"""A job run's resource principal (the v2.2 env, token and key the emulator injects) and the Secrets
API's secret bundles, without a server."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import oci
import pytest
from aiohttp.test_utils import make_mocked_request
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from oci._vendor import requests
from oci._vendor.requests.structures import CaseInsensitiveDict
from ocids_emulator.api.secrets import secret_bundle
from ocids_emulator.config import init_data_dir, load_tenancy, parse_vault_secrets
from ocids_emulator.core.catalog import CatalogError
from ocids_emulator.core.emulator import RUN, Emulator, Settings
from ocids_emulator.execution.run_principal import (
    AFTER_LIMIT_S,
    UNLIMITED_RUN_TOKEN_S,
    max_runtime_minutes,
    run_principal_environment,
    token_seconds,
)
from ocids_emulator.security.authorization import Check, required_checks
from ocids_emulator.security.policies import PolicySet, principal_attributes
from ocids_emulator.security.session_tokens import SessionTokens, TokenPrincipal
from ocids_emulator.security.signatures import Verifier
from ocids_emulator.store.sqlite import Record

RUN_ID = "ocid1.datasciencejobrun.oc1.iad.unit"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Emulator, dict[str, str]]]:
    ids = init_data_dir(tmp_path / "data")
    emu = Emulator(Settings(data_dir=tmp_path / "data"))
    try:
        yield emu, ids
    finally:
        emu.store.close()


def _run(ids: dict[str, str], effective: dict[str, Any] | None = None) -> Record:
    return Record(RUN, RUN_ID, {"compartmentId": ids["COMPARTMENT_ID"]}, {"effective": effective or {}})


def _signed_principal(emu: Emulator, env: dict[str, str]) -> TokenPrincipal:
    """Sign a request exactly as the SDK's resource principal signer does, then verify it."""
    token = Path(env["OCI_RESOURCE_PRINCIPAL_RPST"]).read_text()
    key = serialization.load_pem_private_key(
        Path(env["OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM"]).read_bytes(), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    signer = oci.auth.signers.SecurityTokenSigner(token, key)
    url = "https://emulator.test/20190301/secretbundles/x"
    request = signer(requests.Request("GET", url).prepare())
    verifier = Verifier({}, SessionTokens.for_data_dir(emu.settings.data_dir))
    principal = verifier.verify(
        "GET", request.path_url, CaseInsensitiveDict(request.headers), b"", body_signed=False
    )
    assert isinstance(principal, TokenPrincipal)
    return principal


def test_run_env_names_a_private_token_and_key_the_emulator_accepts_as_the_run(
    world: tuple[Emulator, dict[str, str]], tmp_path: Path
) -> None:
    emu, ids = world
    env = run_principal_environment(emu, _run(ids), tmp_path / "runs" / RUN_ID)
    folder = (tmp_path / "runs" / RUN_ID / "resource-principal").resolve()
    assert env == {
        "OCI_RESOURCE_PRINCIPAL_VERSION": "2.2",
        "OCI_RESOURCE_PRINCIPAL_RPST": str(folder / "rpst"),
        "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM": str(folder / "private.pem"),
        "OCI_RESOURCE_PRINCIPAL_REGION": ids["REGION"],
    }
    assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == {
        "rpst": 0o600,
        "private.pem": 0o600,
    }

    principal = _signed_principal(emu, env)
    attrs = principal_attributes(principal)
    assert attrs["request.principal.type"] == "datasciencejobrun"
    assert attrs["request.principal.id"] == RUN_ID
    assert (attrs["resource.id"], attrs["resource.compartment.id"]) == (RUN_ID, ids["COMPARTMENT_ID"])
    assert principal.tenancy_id == ids["TENANCY_ID"]
    assert principal.claims["exp"] - time.time() >= UNLIMITED_RUN_TOKEN_S - 60

    rule = f"ALL {{resource.type = 'datasciencejobrun', resource.compartment.id = '{ids['COMPARTMENT_ID']}'}}"
    statement = f"Allow dynamic-group runs to read secret-bundles in compartment id {ids['COMPARTMENT_ID']}"
    policies = PolicySet.build([statement], dynamic_groups={"runs": rule})
    assert policies.allows(principal, "secret-bundles", "read", ids["COMPARTMENT_ID"])
    assert not policies.allows(principal, "objects", "manage", ids["COMPARTMENT_ID"])
    assert not policies.allows(principal, "secret-bundles", "read", "ocid1.compartment.oc1..other")


def test_the_sdk_signer_reads_the_run_env(
    world: tuple[Emulator, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu, ids = world
    for key, value in run_principal_environment(emu, _run(ids), tmp_path / "run").items():
        monkeypatch.setenv(key, value)
    signer = oci.auth.signers.get_resource_principals_signer()
    assert (signer.tenancy_id, signer.compartment_id, signer.region) == (
        ids["TENANCY_ID"],
        ids["COMPARTMENT_ID"],
        ids["REGION"],
    )


def test_token_outlives_the_runs_limit(world: tuple[Emulator, dict[str, str]]) -> None:
    emu, ids = world
    limited = {"jobConfigurationDetails": {"maximumRuntimeInMinutes": 600}}
    assert token_seconds(emu, _run(ids, limited)) == 600 * 60 + AFTER_LIMIT_S
    assert token_seconds(emu, _run(ids)) == UNLIMITED_RUN_TOKEN_S
    # A shrunk minute (tests) still gets at least the usual token lifetime.
    emu.settings.minute_seconds = 0.1
    assert token_seconds(emu, _run(ids, limited)) == emu.settings.session_token_seconds


def test_max_runtime_of_a_multi_node_run() -> None:
    node = {
        "maximumRuntimeInMinutes": 30,
        "jobNodeGroupConfigurationDetailsList": [
            {"jobConfigurationDetails": {"maximumRuntimeInMinutes": 90}},
            {"jobConfigurationDetails": {}},
        ],
    }
    assert max_runtime_minutes({"jobNodeConfigurationDetails": node}) == 90
    assert (
        max_runtime_minutes({"jobNodeConfigurationDetails": {"jobNodeGroupConfigurationDetailsList": []}})
        is None
    )


def test_secret_bundle_is_the_sdk_model(world: tuple[Emulator, dict[str, str]]) -> None:
    emu, ids = world
    secret = emu.tenancy.vault_secrets[ids["VAULT_SECRET_ID"]]
    bundle = secret_bundle(secret)
    model = oci.secrets.models.SecretBundle().attribute_map.values()
    assert set(bundle) <= set(model)
    content = oci.secrets.models.Base64SecretBundleContentDetails().attribute_map.values()
    assert set(bundle["secretBundleContent"]) <= set(content)
    assert bundle["secretBundleContent"]["contentType"] == "BASE64"
    assert base64.b64decode(bundle["secretBundleContent"]["content"]) == b"s3cr3t-from-vault"
    assert (bundle["secretId"], bundle["versionNumber"], bundle["stages"]) == (
        ids["VAULT_SECRET_ID"],
        1,
        ["CURRENT", "LATEST"],
    )
    assert secret["compartmentId"] == ids["COMPARTMENT_ID"]


def test_get_secret_bundle_needs_read_secret_bundles_where_the_secret_is(
    world: tuple[Emulator, dict[str, str]],
) -> None:
    emu, ids = world
    request = make_mocked_request("GET", "/s", match_info={"secret_id": ids["VAULT_SECRET_ID"]})
    assert required_checks(emu, request, "get_secret_bundle", None) == [
        Check("secret-bundles", "read", ids["COMPARTMENT_ID"])
    ]
    unknown = make_mocked_request("GET", "/s", match_info={"secret_id": "ocid1.vaultsecret.oc1..none"})
    assert required_checks(emu, unknown, "get_secret_bundle", None) == [Check("secret-bundles", "read", None)]
    family = PolicySet.build(["Allow any-user to read secret-family in tenancy"])
    assert family.allows(TokenPrincipal("resource", "t", RUN_ID, {}), "secret-bundles", "read", None)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([{"compartmentId": "c", "content": "x"}], "vaultSecrets[0].id"),
        ([{"id": "s", "content": "x"}], "vaultSecrets[0].compartmentId"),
        ([{"id": "s", "compartmentId": "c", "content": 3}], "vaultSecrets[0].content"),
        (["s"], "vaultSecrets[0]"),
    ],
)
def test_bad_vault_secrets_name_the_entry(raw: Any, field: str) -> None:
    with pytest.raises(CatalogError, match=re.escape(f"tenancy.json {field}:")):
        parse_vault_secrets(raw)


def test_a_folder_without_vault_secrets_has_none(tmp_path: Path) -> None:
    init_data_dir(tmp_path)
    raw = json.loads((tmp_path / "tenancy.json").read_text())
    del raw["vaultSecrets"]
    (tmp_path / "tenancy.json").write_text(json.dumps(raw))
    assert load_tenancy(tmp_path).vault_secrets == {}
