"""Issue 14: per-namespace OCI identities, the pure and adapter parts (the end-to-end proof is
tests/integration/operator/test_operator_namespace_identity.py).

Which identity an object gets, the TokenRequest tokens the OKE exchange presents (minted once,
kept until half their life is gone, refused clearly), the OCI config Secrets of api_key mode, and
the poller listing each identity's runs with that identity.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
from typing import Any

import oci
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fake_run_listing import COMPARTMENT, FakeKube, FakeRunsOci
from ocids_operator import rbac
from ocids_operator.adapters.kube import KubeError
from ocids_operator.adapters.oci_identities import (
    CONFIG_SECRET_ANNOTATION,
    NAMESPACE_IDENTITY_REQUIRED,
    OPERATOR,
    SERVICE_ACCOUNT_ANNOTATION,
    Identities,
    IdentityKey,
    MintedTokens,
    WorkloadSource,
    parse_config_secret,
)
from ocids_operator.adapters.oci_sdk import SdkAuth
from ocids_operator.core.errors import OutcomeKind, ReconcileError
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows.run_poller import RunPoller, TrackedRun

WORKLOAD = {"auth": "oke_workload_identity", "region": "us-ashburn-1"}


class Namespaces:
    def __init__(self, annotations: dict[str, dict[str, str]]) -> None:
        self._annotations = annotations

    async def annotations(self, namespace: str) -> dict[str, str]:
        return dict(self._annotations.get(namespace, {}))


class TokenApi:
    """The API server's TokenRequest (and Secret reads), recorded."""

    def __init__(self, status: int = 201, lifetime: int = 3600) -> None:
        self.status = status
        self.lifetime = lifetime
        self.requests: list[tuple[str, str, Any]] = []
        self.secrets: dict[str, dict[str, Any]] = {}

    async def request(self, method: str, path: str, body: Any = None, *_: Any, **__: Any) -> Any:
        self.requests.append((method, path, body))
        if "/secrets/" in path:
            return self.secrets.get(path.rsplit("/", 1)[1])
        if self.status == 404:
            return None
        if self.status >= 400:
            raise KubeError(self.status, "forbidden")
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=self.lifetime)
        return {
            "status": {"token": f"token-{len(self.requests)}", "expirationTimestamp": expires.isoformat()}
        }


def identities(
    settings: OperatorSettings, annotations: dict[str, dict[str, str]] | None = None
) -> Identities:
    return Identities(
        settings,
        TokenApi(),
        Namespaces(annotations or {}),
        object(),
        None,
        "ocids-system",  # type: ignore[arg-type]
    )


# Which identity ---------------------------------------------------------------------------------
def test_workload_identity_takes_the_spec_then_the_namespace_annotation_then_the_operators() -> None:
    ids = identities(
        OperatorSettings(**WORKLOAD),  # type: ignore[arg-type]
        {"team-a": {SERVICE_ACCOUNT_ANNOTATION: "trainer"}},
    )

    async def scenario() -> None:
        assert await ids.key_for("team-a") == IdentityKey("team-a", service_account="trainer")
        assert await ids.key_for("team-a", "other") == IdentityKey("team-a", service_account="other")
        assert await ids.key_for("team-b") is OPERATOR
        # The annotation of api_key mode means nothing here.
        assert (
            await identities(
                OperatorSettings(**WORKLOAD),  # type: ignore[arg-type]
                {"team-c": {CONFIG_SECRET_ANNOTATION: "team-c-oci"}},
            ).key_for("team-c")
            is OPERATOR
        )

    asyncio.run(scenario())


def test_api_key_mode_maps_an_annotated_namespace_to_its_config_secret_and_refuses_a_service_account() -> (
    None
):
    ids = identities(OperatorSettings(), {"team-a": {CONFIG_SECRET_ANNOTATION: "team-a-oci"}})

    async def scenario() -> None:
        assert await ids.key_for("team-a") == IdentityKey(config_secret="team-a-oci")
        assert await ids.key_for("team-b") is OPERATOR
        with pytest.raises(ReconcileError) as refused:
            await ids.key_for("team-b", "trainer")
        outcome = refused.value.outcome
        assert outcome.kind is OutcomeKind.STALLED and outcome.reason == "ServiceAccountNameNotSupported"
        assert "spec.serviceAccountName (trainer)" in outcome.message

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("settings", "names"),
    [
        (WORKLOAD, ["spec.serviceAccountName", SERVICE_ACCOUNT_ANNOTATION]),
        ({}, [CONFIG_SECRET_ANNOTATION, "ocids-system"]),
    ],
    ids=["oke_workload_identity", "api_key"],
)
def test_required_namespace_identity_refuses_a_namespace_without_one_naming_what_to_set(
    settings: dict[str, str], names: list[str]
) -> None:
    ids = identities(OperatorSettings(**settings, require_namespace_identity=True))  # type: ignore[arg-type]
    with pytest.raises(ReconcileError) as refused:
        asyncio.run(ids.key_for("team-b"))
    outcome = refused.value.outcome
    # Stalled, and looked at again slowly: an admin fixes it outside the spec.
    assert outcome.kind is OutcomeKind.CREDENTIALS and outcome.reason == NAMESPACE_IDENTITY_REQUIRED
    assert "namespace team-b" in outcome.message and "nothing was sent to OCI" in outcome.message
    for name in names:
        assert name in outcome.message


# ServiceAccount tokens --------------------------------------------------------------------------
def test_a_token_is_minted_once_and_again_only_after_half_its_life() -> None:
    api = TokenApi(lifetime=3600)
    now = [datetime.datetime.now(datetime.UTC).timestamp()]
    tokens = MintedTokens(api, "team-a", "trainer", clock=lambda: now[0])  # type: ignore[arg-type]

    async def scenario() -> None:
        first = await tokens.fresh()
        assert await tokens.fresh() == first
        method, path, body = api.requests[0]
        assert (method, path) == ("POST", "/api/v1/namespaces/team-a/serviceaccounts/trainer/token")
        # The API server's own audience (none named): what OKE's proxymux reviews.
        assert body["spec"] == {"expirationSeconds": 3600}
        # The SDK asks on its own thread; it gets the same token while it is fresh.
        assert await asyncio.to_thread(tokens.get_sa_token) == first
        now[0] += 1801
        # Past half its life: the SDK's next exchange gets a new one, minted on the loop.
        second = await asyncio.to_thread(tokens.get_sa_token)
        assert second != first and tokens.minted == 2

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("status", "kind", "reason", "says"),
    [
        (
            404,
            OutcomeKind.CREDENTIALS,
            "ServiceAccountNotFound",
            "ServiceAccount team-a/trainer does not exist",
        ),
        (403, OutcomeKind.CREDENTIALS, "TokenRequestDenied", "serviceaccounts/token"),
        (500, OutcomeKind.RETRY, "TokenRequestFailed", "ServiceAccount team-a/trainer"),
    ],
)
def test_a_token_that_cannot_be_minted_says_why_naming_the_service_account(
    status: int, kind: OutcomeKind, reason: str, says: str
) -> None:
    tokens = MintedTokens(TokenApi(status), "team-a", "trainer")  # type: ignore[arg-type]
    with pytest.raises(ReconcileError) as refused:
        asyncio.run(tokens.fresh())
    outcome = refused.value.outcome
    assert (outcome.kind, outcome.reason) == (kind, reason)
    assert says in outcome.message


def test_the_service_account_token_rule_grants_the_token_request_and_the_config_secret_rule_secrets() -> None:
    assert ("", "serviceaccounts/token", "create") in {
        triple for rule in rbac.service_account_token_rules() for triple in rule.grants()
    }
    assert {triple for rule in rbac.config_secret_rules() for triple in rule.grants()} == {
        ("", "secrets", "get")
    }


# OCI config Secrets -----------------------------------------------------------------------------
def _key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_config_secret_gives_the_config_with_the_key_its_key_file_names() -> None:
    pem = _key_pem()
    config = (
        "[DEFAULT]\nuser=ocid1.user.oc1..team\nfingerprint="
        + ":".join(["ab"] * 16)
        + "\ntenancy=ocid1.tenancy.oc1..t\n"
        "region=us-phoenix-1\nkey_file=/etc/oci/team.pem\n"
    )
    parsed = parse_config_secret(
        {"config": _b64(config), "team.pem": _b64(pem)}, "Secret ocids-system/team", "us-ashburn-1"
    )
    assert parsed["user"] == "ocid1.user.oc1..team" and parsed["key_content"] == pem
    assert parsed["region"] == "us-ashburn-1" and "key_file" not in parsed


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({}, "has no key 'config'"),
        ({"config": _b64("[OTHER]\nuser=x\n")}, "no usable [DEFAULT] profile"),
        (
            {"config": _b64("[DEFAULT]\nuser=u\nfingerprint=f\ntenancy=t\nregion=r\nkey_file=~/k.pem\n")},
            "has no key 'k.pem'",
        ),
    ],
    ids=["no-config", "no-profile", "no-key"],
)
def test_a_bad_config_secret_is_refused_naming_the_secret(data: dict[str, str], says: str) -> None:
    with pytest.raises(ReconcileError) as refused:
        parse_config_secret(data, "Secret ocids-system/team", None)
    outcome = refused.value.outcome
    assert outcome.reason == "OCIConfigSecretInvalid" and outcome.kind is OutcomeKind.CREDENTIALS
    assert outcome.message.startswith("Secret ocids-system/team ") and says in outcome.message


# The poller ---------------------------------------------------------------------------------------
class Known:
    def __init__(self, gateways: dict[IdentityKey, Any]) -> None:
        self.gateways = gateways
        self.readied: list[IdentityKey] = []

    def known(self, key: IdentityKey) -> Any:
        gateway = self.gateways.get(key)
        return None if gateway is None else type("Identity", (), {"oci": gateway})()

    async def get(self, key: IdentityKey) -> Any:
        self.readied.append(key)
        return self.known(key)


def test_each_identitys_runs_are_listed_and_read_with_that_identity() -> None:
    team = IdentityKey("team-a", service_account="trainer")
    operator_oci, team_oci, kube = FakeRunsOci(), FakeRunsOci(), FakeKube()
    known = Known({team: team_oci})
    now = [1000.0]
    poller = RunPoller(
        OperatorSettings(),
        operator_oci,
        kube,
        clock=lambda: now[0],
        identities=known,  # type: ignore[arg-type]
    )

    def tracked(run_id: str, identity: IdentityKey) -> TrackedRun:
        return TrackedRun(
            run_id,
            COMPARTMENT,
            "ml",
            run_id,
            f"uid-{run_id}",
            1,
            {"phase": "Accepted"},
            0.0,
            identity=identity,
        )

    async def scenario() -> None:
        operator_oci.add("mine")
        team_oci.add("theirs")
        poller.track(tracked("mine", OPERATOR))
        poller.track(tracked("theirs", team))
        now[0] += 5
        operator_oci.set("mine", "IN_PROGRESS")
        team_oci.set("theirs", "SUCCEEDED")
        await poller.cycle(COMPARTMENT)
        await poller.cycle(COMPARTMENT, team)
        assert kube.status["mine"]["phase"] == "InProgress" and kube.status["theirs"]["phase"] == "Succeeded"
        # Each identity's calls went to its own OCI client, and the team's token was kept fresh first.
        assert sum(operator_oci.calls.values()) > 0 and sum(team_oci.calls.values()) > 0
        assert known.readied == [team]
        # Not listed with the other's identity: the operator's client never saw the team's run.
        assert "theirs" not in operator_oci.runs
        await poller.stop()

    asyncio.run(scenario())


def test_a_refused_exchange_is_not_authorized_naming_the_namespaces_service_account() -> None:
    class Refused(WorkloadSource):
        def build(self) -> tuple[dict[str, Any], Any]:
            raise oci.exceptions.ServiceError(
                401, "NotAuthenticated", {}, "The ServiceAccount token is not valid"
            )

    tokens = MintedTokens(TokenApi(), "team-a", "trainer")  # type: ignore[arg-type]
    auth = SdkAuth(OperatorSettings(**WORKLOAD), Refused(OperatorSettings(**WORKLOAD), tokens))  # type: ignore[arg-type]
    with pytest.raises(ReconcileError) as refused:
        auth.client_args(None, 30)
    outcome = refused.value.outcome
    assert outcome.reason == "NotAuthorized" and outcome.kind is OutcomeKind.CREDENTIALS
    assert "OKE workload identity team-a/trainer" in outcome.message
    assert (
        "request.principal.namespace='team-a', request.principal.service_account='trainer'" in outcome.message
    )
    assert auth.principal().description.startswith("OKE workload identity team-a/trainer")
