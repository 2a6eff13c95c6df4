"""Issue 9: keyless auth settings, signer arguments, the principal in NotAuthorized messages."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kopf
import oci
import pytest
from oci._vendor import requests as oci_requests
from ocids_operator.__main__ import check_oci_config
from ocids_operator.adapters import oci_sdk
from ocids_operator.adapters.oci_errors import classify
from ocids_operator.adapters.oci_sdk import SdkAuth, config_and_signer, describe_principal
from ocids_operator.core.errors import (
    NOT_AUTHORIZED,
    RECHECKED_WHILE_STALLED,
    TOKEN_EXCHANGE_FAILED,
    OutcomeKind,
    ReconcileError,
)
from ocids_operator.core.kinds import TRAINING_JOB_KIND
from ocids_operator.handlers.outcome import execute
from ocids_operator.runtime import Runtime
from ocids_operator.settings import AuthMode, SettingsError, load_settings

COMPARTMENT = "ocid1.compartment.oc1..c"
WORKLOAD = AuthMode.OKE_WORKLOAD_IDENTITY


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.sig"


def sa_token_file(tmp_path: Path, namespace: str = "ocids-system", account: str = "ocids-operator") -> Path:
    path = tmp_path / "token"
    path.write_text(jwt({"sub": f"system:serviceaccount:{namespace}:{account}", "exp": 4102444800}))
    return path


def test_keyless_settings_defaults_are_a_pods(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("OCIDS_SERVICE_ACCOUNT_TOKEN_FILE", "OCIDS_FEDERATION_ENDPOINT"):
        monkeypatch.delenv(key, raising=False)
    settings = load_settings()
    assert settings.service_account_token_file == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    assert settings.federation_endpoint is None
    monkeypatch.setenv("OCIDS_FEDERATION_ENDPOINT", "http://127.0.0.1:1/v1/x509/")
    assert load_settings().federation_endpoint == "http://127.0.0.1:1/v1/x509"
    monkeypatch.setenv("OCIDS_FEDERATION_ENDPOINT", "auth.example")
    with pytest.raises(SettingsError, match="OCIDS_FEDERATION_ENDPOINT"):
        load_settings()


def test_signers_get_the_token_path_and_federation_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def oke(**kwargs: Any) -> Any:
        seen["oke"] = kwargs
        return SimpleNamespace(region="us-phoenix-1")

    def instance(**kwargs: Any) -> Any:
        seen.setdefault("instance", []).append(kwargs)
        return SimpleNamespace(region="us-ashburn-1")

    monkeypatch.setattr(oci.auth.signers, "get_oke_workload_identity_resource_principal_signer", oke)
    monkeypatch.setattr(oci.auth.signers, "InstancePrincipalsSecurityTokenSigner", instance)
    config, _ = config_and_signer(
        load_settings(auth="oke_workload_identity", service_account_token_file="/t")
    )
    assert seen["oke"]["service_account_token_path"] == "/t" and "retry_strategy" in seen["oke"]
    assert config == {"region": "us-phoenix-1"}
    config, _ = config_and_signer(load_settings(auth="oke_workload_identity", region="eu-frankfurt-1"))
    assert config == {"region": "eu-frankfurt-1"}  # OCIDS_REGION wins over the signer's
    config_and_signer(load_settings(auth="instance_principal"))
    config_and_signer(load_settings(auth="instance_principal", federation_endpoint="https://a/v1/x509"))
    assert "federation_endpoint" not in seen["instance"][0]  # unset: the SDK's regional endpoint
    assert seen["instance"][1]["federation_endpoint"] == "https://a/v1/x509"


def test_workload_principal_and_policy_from_the_token(tmp_path: Path) -> None:
    settings = load_settings(
        auth="oke_workload_identity", service_account_token_file=str(sa_token_file(tmp_path))
    )
    principal = describe_principal(settings, None, None)
    assert "ocids-system/ocids-operator" in principal.description
    assert principal.policy(COMPARTMENT) == (
        f"Allow any-user to manage data-science-family in compartment id {COMPARTMENT} where all "
        "{request.principal.type='workload', request.principal.namespace='ocids-system', "
        "request.principal.service_account='ocids-operator', "
        # Before the first exchange the cluster is unknown, but never left out (it would grant
        # every cluster of the tenancy): a placeholder says to fill it in.
        "request.principal.cluster_id='<cluster OCID>'}"
    )
    # Once exchanged, the session token's claims (with the cluster) are used.
    signer = SimpleNamespace(
        security_token=SimpleNamespace(
            security_token=jwt({"namespace": "ml", "service_account": "op", "cluster_id": "ocid1.cluster.x"})
        )
    )
    policy = describe_principal(settings, None, signer).policy(COMPARTMENT)
    assert "request.principal.namespace='ml'" in policy and "cluster_id='ocid1.cluster.x'" in policy


def test_api_key_instance_and_resource_principals_are_named() -> None:
    api = describe_principal(load_settings(auth="api_key"), {"user": "ocid1.user.oc1..u"}, None)
    assert "user ocid1.user.oc1..u" in api.description
    assert api.policy(COMPARTMENT).startswith("Allow group <a group of ocid1.user.oc1..u> to manage")
    instance = describe_principal(
        load_settings(auth="instance_principal"), None, SimpleNamespace(tenancy_id="ocid1.tenancy.oc1..t")
    )
    assert instance.description.startswith("instance principal of ocid1.tenancy.oc1..t")
    resource = describe_principal(
        load_settings(auth="resource_principal"),
        None,
        SimpleNamespace(security_token=jwt({"sub": "ocid1.notebook.oc1..n", "res_type": "notebook"})),
    )
    assert "ocid1.notebook.oc1..n" in resource.description
    assert "request.principal.id='ocid1.notebook.oc1..n'" in resource.policy(COMPARTMENT)


def test_a_refused_exchange_is_not_authorized_and_a_local_problem_invalid(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = load_settings(
        auth="oke_workload_identity", service_account_token_file=str(sa_token_file(tmp_path))
    )

    def refused(**_: Any) -> Any:
        raise oci.exceptions.ServiceError(
            401, "NotAuthenticated", {}, "Failed to get RPST token from proxymux"
        )

    monkeypatch.setattr(oci.auth.signers, "get_oke_workload_identity_resource_principal_signer", refused)
    with pytest.raises(ReconcileError) as err:
        SdkAuth(settings).client_args(None, 30)
    assert err.value.outcome.reason == NOT_AUTHORIZED and "ocids-system/ocids-operator" in str(err.value)
    assert "ServiceAccount ocids-operator exists in namespace ocids-system" in str(err.value)
    assert "cluster type is enhanced" in str(err.value)
    assert "Allow any-user to manage data-science-family in compartment" in str(err.value)

    def no_host(**_: Any) -> Any:
        raise ValueError("Kubernetes service host was not provided.")

    monkeypatch.setattr(oci.auth.signers, "get_oke_workload_identity_resource_principal_signer", no_host)
    with pytest.raises(ReconcileError) as err:
        SdkAuth(settings).client_args(None, 30)
    assert err.value.outcome.reason == "CredentialsInvalid"

    def down(**_: Any) -> Any:
        raise oci.exceptions.RequestException("connection refused")

    monkeypatch.setattr(oci.auth.signers, "get_oke_workload_identity_resource_principal_signer", down)
    with pytest.raises(ReconcileError) as err:  # an outage: retried, saying which exchange failed
        SdkAuth(settings).client_args(None, 30)
    assert (err.value.outcome.kind, err.value.outcome.reason) == (OutcomeKind.RETRY, TOKEN_EXCHANGE_FAILED)
    assert "oke_workload_identity token exchange for OKE workload identity" in str(err.value)


class FakeSigner:
    """A principal signer whose refresh (the SDK calls it inside any call) fails as told."""

    def __init__(self, failure: Exception | None) -> None:
        self.failure, self.refreshes = failure, 0

    def refresh_security_token(self) -> str:
        self.refreshes += 1
        if self.failure is not None:
            raise self.failure
        return "token"

    def get_security_token(self) -> str:
        return self.refresh_security_token()


SE = oci.exceptions.ServiceError
REFUSED = (OutcomeKind.CREDENTIALS, NOT_AUTHORIZED)
RETRIED = (OutcomeKind.RETRY, TOKEN_EXCHANGE_FAILED)


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (SE(401, "Unauthorized", {}, "Failed to get RPST token from proxymux"), REFUSED),
        (SE(403, "Forbidden", {}, "Please ensure the cluster type is enhanced"), REFUSED),
        (SE(500, "Internal Server Error", {}, "Failed to get RPST token from proxymux"), RETRIED),
        (oci_requests.exceptions.ConnectionError("connection refused"), RETRIED),
        (
            RuntimeError("Service account token at /t has expired"),
            (OutcomeKind.CREDENTIALS, "CredentialsInvalid"),
        ),
    ],
)
def test_a_failed_refresh_mid_life_is_classified_where_it_happens(
    failure: Exception, expected: tuple[OutcomeKind, str], tmp_path: Path
) -> None:
    settings = load_settings(
        auth="oke_workload_identity", service_account_token_file=str(sa_token_file(tmp_path))
    )
    signer = FakeSigner(failure)
    oci_sdk.guard_token_refresh(settings, signer)
    for refresh in (signer.refresh_security_token, signer.get_security_token):
        with pytest.raises(ReconcileError) as err:
            refresh()
        assert (err.value.outcome.kind, err.value.outcome.reason) == expected
        assert "ocids-system/ocids-operator" in str(err.value)
        assert classify(err.value) == err.value.outcome  # reaches the handler as-is
    assert signer.refreshes == 2  # each refresh tried once here: the SDK's own retries bound the rest
    signer.failure = None  # the exchange works again: the same signer recovers, nothing to rebuild
    assert signer.refresh_security_token() == "token"


def test_workload_identity_start_up_checks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OCI_RESOURCE_PRINCIPAL_REGION", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    missing = load_settings(auth="oke_workload_identity", service_account_token_file=str(tmp_path / "none"))
    assert "OCIDS_SERVICE_ACCOUNT_TOKEN_FILE" in (check_oci_config(missing) or "")
    token = str(sa_token_file(tmp_path))
    assert "KUBERNETES_SERVICE_HOST" in (
        check_oci_config(load_settings(auth="oke_workload_identity", service_account_token_file=token)) or ""
    )
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    no_region = load_settings(auth="oke_workload_identity", service_account_token_file=token)
    assert "OCIDS_REGION" in (check_oci_config(no_region) or "")
    monkeypatch.setenv("OCI_RESOURCE_PRINCIPAL_REGION", "us-ashburn-1")
    assert check_oci_config(no_region) is None
    monkeypatch.delenv("OCI_RESOURCE_PRINCIPAL_VERSION", raising=False)
    assert "OCI_RESOURCE_PRINCIPAL_VERSION" in (
        check_oci_config(load_settings(auth="resource_principal")) or ""
    )


class Events:
    def __init__(self) -> None:
        self.posted: list[tuple[str, str, str]] = []

    async def post_event(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.posted.append((type_, reason, message))


def test_a_denial_reaching_a_handler_names_the_principal_and_retries_slowly(tmp_path: Path) -> None:
    settings = load_settings(
        auth="oke_workload_identity",
        service_account_token_file=str(sa_token_file(tmp_path)),
        retry_base_seconds=5,
        retry_max_seconds=60,
    )
    gateway = SimpleNamespace(auth=SdkAuth(settings))
    events = Events()
    rt = Runtime(settings, gateway, events, None)  # type: ignore[arg-type]
    body = {
        "apiVersion": "ocids.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": "attrition", "namespace": "ml", "uid": "u", "generation": 2},
        "spec": {"compartmentId": COMPARTMENT},
        "status": {},
    }

    async def work() -> Any:
        raise oci.exceptions.ServiceError(
            404, "NotAuthorizedOrNotFound", {}, "Authorization failed or requested resource not found.",
            operation_name="create_job",
        )  # fmt: skip

    patch = kopf.Patch()
    with pytest.raises(kopf.TemporaryError) as err:
        asyncio.run(execute(TRAINING_JOB_KIND, rt, body, patch, 0, work))
    assert err.value.delay == 60  # the slow re-check, as for credentials
    stalled = next(c for c in patch["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == NOT_AUTHORIZED
    assert stalled["message"].startswith("OCI create_job failed: 404 NotAuthorizedOrNotFound")
    assert "the operator runs as OKE workload identity ocids-system/ocids-operator" in stalled["message"]
    assert f"compartment id {COMPARTMENT} where all {{request.principal.type='workload'" in stalled["message"]
    assert [(t, r) for t, r, _ in events.posted] == [("Warning", NOT_AUTHORIZED)]
    assert NOT_AUTHORIZED in RECHECKED_WHILE_STALLED  # resync looks at it again without a spec change
    assert oci_sdk.NOT_AUTHORIZED == NOT_AUTHORIZED


def _handled(settings: Any, tmp_path: Path, failure: Exception) -> tuple[Any, dict[str, Any], Events]:
    rt = Runtime(settings, SimpleNamespace(auth=SdkAuth(settings)), Events(), None)  # type: ignore[arg-type]
    body = {
        "apiVersion": "ocids.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": "attrition", "namespace": "ml", "uid": "u", "generation": 2},
        "spec": {"compartmentId": COMPARTMENT},
        "status": {},
    }

    async def work() -> Any:
        raise failure

    patch = kopf.Patch()
    with pytest.raises(kopf.TemporaryError) as err:
        asyncio.run(execute(TRAINING_JOB_KIND, rt, body, patch, 0, work))
    stalled = next(c for c in patch["status"]["conditions"] if c["type"] == "Stalled")
    return err.value, stalled, rt.kube


def test_a_401_on_an_ordinary_call_is_not_authorized_for_keyless_and_rejected_for_api_key(
    tmp_path: Path,
) -> None:
    # The principal signers' SDK clients refresh the session token on a 401 and retry once: a 401
    # that reaches the operator means the refreshed token was refused too.
    unauthenticated = oci.exceptions.ServiceError(
        401, "NotAuthenticated", {}, "The required information to complete authentication was not provided.",
        operation_name="get_job_run",
    )  # fmt: skip
    workload = load_settings(
        auth="oke_workload_identity",
        service_account_token_file=str(sa_token_file(tmp_path)),
        retry_max_seconds=60,
    )
    err, stalled, events = _handled(workload, tmp_path, unauthenticated)
    assert err.delay == 60 and stalled["reason"] == NOT_AUTHORIZED
    message = stalled["message"]
    assert message.startswith("OCI get_job_run failed: 401 NotAuthenticated"), message
    assert "the operator runs as OKE workload identity ocids-system/ocids-operator" in message
    assert "even after a refresh" in message and "cluster type is enhanced" in message
    assert "OCIDS_AUTH and, for api_key" not in message  # the api_key hint does not apply
    assert [(t, r) for t, r, _ in events.posted] == [("Warning", NOT_AUTHORIZED)]

    api_key = load_settings(auth="api_key", oci_config_file=str(tmp_path / "none"), retry_max_seconds=60)
    err, stalled, _ = _handled(api_key, tmp_path, unauthenticated)
    assert stalled["reason"] == "CredentialsRejected" and "OCIDS_AUTH" in stalled["message"]


def test_a_failed_token_exchange_reaching_a_handler_is_retried_not_stalled(tmp_path: Path) -> None:
    workload = load_settings(
        auth="oke_workload_identity",
        service_account_token_file=str(sa_token_file(tmp_path)),
        retry_base_seconds=5,
        retry_max_seconds=60,
    )
    signer = FakeSigner(oci.exceptions.ServiceError(500, "Internal Server Error", {}, "Failed to get RPST"))
    oci_sdk.guard_token_refresh(workload, signer)
    try:
        signer.refresh_security_token()
    except ReconcileError as exc:
        failure = exc
    rt = Runtime(workload, SimpleNamespace(auth=SdkAuth(workload)), Events(), None)  # type: ignore[arg-type]
    body = {"metadata": {"name": "a", "namespace": "ml", "uid": "u2", "generation": 1}, "spec": {}}

    async def work() -> Any:
        raise failure

    patch = kopf.Patch()
    with pytest.raises(kopf.TemporaryError) as err:
        asyncio.run(execute(TRAINING_JOB_KIND, rt, body, patch, 0, work))
    assert err.value.delay == 5  # the usual backoff
    assert patch["status"]["message"].startswith("the oke_workload_identity token exchange for")
