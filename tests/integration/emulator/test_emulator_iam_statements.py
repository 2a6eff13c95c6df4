"""Issue 14 §4: the IAM statements of docs/iam.md (core/iam.py), each set applied alone in the emulator.

For every auth mode and feature the set `ocids-operator iam-policy --feature <f>` prints is the
tenancy's whole IAM: the feature works, signed by that mode's principal through the real `oci` SDK,
and with any one statement removed the feature fails (a 404 NotAuthorizedOrNotFound, a run FAILED
naming the permission, or a run that succeeds with its log left empty, as in OCI), and the
emulator's denial record names a permission exactly the removed statement grants.

The operator adds nothing here (these are the calls it makes, with the principal it signs with), so
the SDK drives the emulator directly. The OKE token exchange itself is covered by
test_emulator_identity_oke.py; here the workload's session token is minted with the emulator's own
token key, claims as the exchange writes them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import oci
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from emulator_support import wait_for
from oci.data_science import models as M
from ocids_emulator.security.policies import Statement as EmulatorStatement
from ocids_emulator.security.session_tokens import SessionTokens
from ocids_emulator.testing import RunningEmulator, running_emulator
from ocids_operator.core.iam import MODES, Feature, PolicyRequest, policy_set

pytestmark = pytest.mark.integration

ADMINS = "Allow group Administrators to manage all-resources in tenancy"
OPERATORS = "ocids-operators"
NAMESPACE, SERVICE_ACCOUNT = "ml-team", "ocids-operator"
CLUSTER = "ocid1.cluster.oc1.iad.aaaaaaaaiamstatementstest"
NOTEBOOK_TYPE = "datasciencenotebooksession"
IMAGE = "iad.ocir.io/{ns}/trainer:1"
CONDA_OBJECT = "conda/published-env.tar.gz"
SIMULATE = {"OCIDS_EMULATOR_SIMULATE": "0.05:0"}


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    data_dir = tmp_path_factory.mktemp("iam")
    with running_emulator(data_dir, extra_args=["--provisioning-seconds", "0.02"]) as e:
        admin_setup(e)
        yield e


def admin_setup(emu: RunningEmulator) -> None:
    """What exists before the operator starts: an artifact object and a conda pack in the bucket."""
    ids = emu.ids
    store = emu.object_storage_client(retries=False)
    ns, bucket = ids["OBJECT_STORAGE_NAMESPACE"], ids["OBJECT_STORAGE_BUCKET"]
    store.put_object(ns, bucket, "artifacts/train.py", b"print('hello')\n")
    store.put_object(ns, bucket, CONDA_OBJECT, b"not really a conda pack")


# principals ----------------------------------------------------------------------------------------
@dataclass
class Principal:
    """The operator's principal in one auth mode: how it signs, and how policies name it."""

    mode: str
    config: dict[str, Any]
    signer: Any = None
    request_fields: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)

    def client(self, cls: Any, emu: RunningEmulator) -> Any:
        kwargs: dict[str, Any] = {
            "service_endpoint": emu.endpoint,
            "retry_strategy": oci.retry.NoneRetryStrategy(),
            "circuit_breaker_strategy": oci.circuit_breaker.NoCircuitBreakerStrategy(),
        }
        if self.signer is not None:
            kwargs["signer"] = self.signer
        return cls(self.config, **kwargs)


def _security_token_signer(emu: RunningEmulator, claims: dict[str, Any]) -> Any:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = SessionTokens.for_data_dir(emu.data_dir).mint(claims, key.public_key(), 3600)
    return oci.auth.signers.SecurityTokenSigner(token, key)


def workload_signer(emu: RunningEmulator, cluster: str = CLUSTER) -> Any:
    """A workload session token as the OKE exchange (api/identity/proxymux.py) writes it."""
    ids = emu.ids
    claims = {
        "ptype": "workload",
        "sub": f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}",
        "res_type": "workload",
        "res_tenant": ids["TENANCY_ID"],
        "res_compartment": ids["COMPARTMENT_ID"],
        "cluster_id": cluster,
        "namespace": NAMESPACE,
        "service_account": SERVICE_ACCOUNT,
        "service_account_uid": str(uuid.uuid4()),
    }
    return _security_token_signer(emu, claims)


def principal_for(mode: str, emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> Principal:
    ids = emu.ids
    region = {"region": ids["REGION"]}
    if mode == "api_key":
        config = emu.oci_config()
        groups = {OPERATORS: [ids["USER_ID"]], "Administrators": [ids["USER_ID"]]}
        return Principal(mode, config, request_fields={"group": OPERATORS}, groups=groups)
    if mode == "instance_principal":
        monkeypatch.setenv("OCI_METADATA_BASE_URL", f"{emu.endpoint}/opc/v2")
        signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner(
            federation_endpoint=f"{emu.endpoint}/v1/x509"
        )
        # The emulator's instance certificate names the tenancy's first compartment.
        return Principal(mode, region, signer, {"node_compartment": ids["COMPARTMENT_ID"]})
    if mode == "resource_principal":
        rid = f"ocid1.{NOTEBOOK_TYPE}.oc1.iad.{uuid.uuid4().hex}"
        for key, value in emu.resource_principal(resource_id=rid, resource_type=NOTEBOOK_TYPE).items():
            monkeypatch.setenv(key, value)
        signer = oci.auth.signers.get_resource_principals_signer()
        return Principal(mode, region, signer, {"resource_type": NOTEBOOK_TYPE, "resource_id": rid})
    fields = {"namespace": NAMESPACE, "service_account": SERVICE_ACCOUNT, "cluster_id": CLUSTER}
    return Principal(mode, region, workload_signer(emu), fields)


def statements_for(mode: str, feature: Feature, emu: RunningEmulator, principal: Principal) -> Any:
    bucket = emu.ids["OBJECT_STORAGE_BUCKET"]
    request = PolicyRequest(
        mode=mode,
        compartments=(emu.ids["COMPARTMENT_ID"],),
        features=frozenset({feature}),
        artifact_bucket=bucket,
        conda_bucket=bucket,
        **principal.request_fields,
    )
    return policy_set(request)


def apply(emu: RunningEmulator, principal: Principal, chosen: Any, statements: list[str]) -> None:
    emu.admin.set_policies(
        statements,
        groups=principal.groups or {"Administrators": [emu.ids["USER_ID"]]},
        dynamic_groups={g.name: g.rule for g in chosen.dynamic_groups},
    )


# features --------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    ok: bool
    detail: str
    # A run OCI would end FAILED (image, conda pack, subnet): its lifecycleDetails name the permission.
    run_failed: bool = False

    @classmethod
    def of_run(cls, run: Any) -> Outcome:
        state, details = run.lifecycle_state, run.lifecycle_details or ""
        return cls(state == "SUCCEEDED", details, run_failed=state == "FAILED")


def _infrastructure(ids: dict[str, str], subnet: bool) -> Any:
    shape = {
        "shape_name": "VM.Standard.E4.Flex",
        "block_storage_size_in_gbs": 50,
        "job_shape_config_details": M.JobShapeConfigDetails(ocpus=1.0, memory_in_gbs=16.0),
    }
    if subnet:
        return M.StandaloneJobInfrastructureConfigurationDetails(subnet_id=ids["SUBNET_ID"], **shape)
    return M.ManagedEgressStandaloneJobInfrastructureConfigurationDetails(**shape)


def run_job(
    emu: RunningEmulator,
    principal: Principal,
    *,
    env: dict[str, str] | None = None,
    subnet: bool = False,
    log: M.JobLogConfigurationDetails | None = None,
    container: bool = False,
    artifact: bytes | None = None,
) -> Any:
    """What the operator does for a TrainingJob and a TrainingJobRun: create the job (and upload its
    artifact), create a run, follow it to its end. Returns the finished run."""
    ids = emu.ids
    ds = principal.client(oci.data_science.DataScienceClient, emu)
    details = M.CreateJobDetails(
        project_id=ids["PROJECT_ID"],
        compartment_id=ids["COMPARTMENT_ID"],
        display_name=f"iam-{uuid.uuid4().hex[:6]}",
        job_configuration_details=M.DefaultJobConfigurationDetails(environment_variables=env or {}),
        job_infrastructure_configuration_details=_infrastructure(ids, subnet),
        job_log_configuration_details=log,
    )
    if container:
        image = IMAGE.format(ns=ids["OBJECT_STORAGE_NAMESPACE"])
        details.job_environment_configuration_details = M.OcirContainerJobEnvironmentConfigurationDetails(
            image=image
        )
    job = ds.create_job(details).data
    if not container:
        script = artifact or b"print('hi')\n"
        ds.create_job_artifact(job.id, script, content_disposition="attachment; filename=main.py")
    assert ds.get_job(job.id).data.lifecycle_state == "ACTIVE"
    where = {"project_id": ids["PROJECT_ID"], "compartment_id": ids["COMPARTMENT_ID"]}
    run = ds.create_job_run(M.CreateJobRunDetails(job_id=job.id, **where)).data

    def finished() -> Any:
        current = ds.get_job_run(run.id).data
        return current if current.lifecycle_state in ("SUCCEEDED", "FAILED", "CANCELED") else None

    done = wait_for(finished, timeout=30, message="run finished")
    assert any(r.id == run.id for r in ds.list_job_runs(ids["COMPARTMENT_ID"], job_id=job.id).data)
    return done


def log_lines(emu: RunningEmulator, run: Any) -> list[str]:
    """The run's log as the test's admin reads it (after the case's policies are gone)."""
    details = run.log_details
    if details is None:
        return []
    stream = f"{emu.ids['COMPARTMENT_ID']}/{details.log_group_id}/{details.log_id}"
    query = f"search \"{stream}\" | where source = '*{run.id}' | sort by datetime asc"
    now = dt.datetime.now(dt.UTC)
    window = {"time_start": now - dt.timedelta(hours=1), "time_end": now + dt.timedelta(minutes=1)}
    search = emu.log_search_client(retries=False).search_logs(
        oci.loggingsearch.models.SearchLogsDetails(search_query=query, **window)
    )
    return [r.data["logContent"]["data"]["message"] for r in search.data.results or []]


Scenario = Callable[[RunningEmulator, Principal], Outcome]


def scenario_base(emu: RunningEmulator, principal: Principal) -> Outcome:
    run = run_job(emu, principal, env=SIMULATE)
    return Outcome.of_run(run)


def _logged_run(emu: RunningEmulator, principal: Principal, log: M.JobLogConfigurationDetails) -> Outcome:
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    run = run_job(emu, principal, log=log, artifact=f"print({marker!r})\n".encode())
    emu.admin.set_policies([ADMINS], groups={"Administrators": [emu.ids["USER_ID"]]})
    lines = log_lines(emu, run)
    ok = run.lifecycle_state == "SUCCEEDED" and marker in lines
    return Outcome(ok, f"{run.lifecycle_state} {run.lifecycle_details}; log lines {lines}")


def scenario_logging(emu: RunningEmulator, principal: Principal) -> Outcome:
    group = emu.ids["LOG_GROUP_ID"]
    config = M.JobLogConfigurationDetails(enable_logging=True, log_group_id=group, log_id=GIVEN_LOG[group])
    return _logged_run(emu, principal, config)


def scenario_auto_create_log(emu: RunningEmulator, principal: Principal) -> Outcome:
    config = M.JobLogConfigurationDetails(
        enable_logging=True, enable_auto_log_creation=True, log_group_id=emu.ids["LOG_GROUP_ID"]
    )
    return _logged_run(emu, principal, config)


def scenario_cost(emu: RunningEmulator, principal: Principal) -> Outcome:
    """A run, then its cost from the Usage API as the operator asks for it (tenancy-wide)."""
    run = run_job(emu, principal, env=SIMULATE)
    if run.lifecycle_state != "SUCCEEDED":
        return Outcome.of_run(run)
    from oci.usage_api import UsageapiClient
    from oci.usage_api.models import Dimension, Filter, RequestSummarizedUsagesDetails

    day = run.time_started.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    details = RequestSummarizedUsagesDetails(
        tenant_id=emu.ids["TENANCY_ID"],
        time_usage_started=day,
        time_usage_ended=day + dt.timedelta(days=1),
        granularity="DAILY",
        query_type="COST",
        group_by=["resourceId"],
        filter=Filter(operator="OR", dimensions=[Dimension(key="resourceId", value=run.id)]),
    )
    items = principal.client(UsageapiClient, emu).request_summarized_usages(details).data.items
    found = {item.resource_id for item in items}
    return Outcome(run.id in found, f"usage of {sorted(found)}")


def scenario_subnet(emu: RunningEmulator, principal: Principal) -> Outcome:
    run = run_job(emu, principal, env=SIMULATE, subnet=True)
    return Outcome.of_run(run)


def scenario_container(emu: RunningEmulator, principal: Principal) -> Outcome:
    run = run_job(emu, principal, env=SIMULATE, container=True)
    return Outcome.of_run(run)


def scenario_oci_artifact(emu: RunningEmulator, principal: Principal) -> Outcome:
    """The operator reads `oci://bucket@namespace/artifacts/train.py` with its own principal."""
    store = principal.client(oci.object_storage.ObjectStorageClient, emu)
    ns, bucket = emu.ids["OBJECT_STORAGE_NAMESPACE"], emu.ids["OBJECT_STORAGE_BUCKET"]
    assert store.head_object(ns, bucket, "artifacts/train.py").status == 200
    body = store.get_object(ns, bucket, "artifacts/train.py").data.content
    # ... and makes the job from it.
    return Outcome.of_run(run_job(emu, principal, env=SIMULATE, artifact=body))


def scenario_published_conda(emu: RunningEmulator, principal: Principal) -> Outcome:
    env = {
        **SIMULATE,
        "CONDA_ENV_TYPE": "published",
        "CONDA_ENV_SLUG": "published-env",
        "CONDA_ENV_OBJECT_NAME": CONDA_OBJECT,
        "CONDA_ENV_BUCKET": emu.ids["OBJECT_STORAGE_BUCKET"],
        "CONDA_ENV_NAMESPACE": emu.ids["OBJECT_STORAGE_NAMESPACE"],
    }
    run = run_job(emu, principal, env=env)
    return Outcome.of_run(run)


def scenario_oci_schedule(emu: RunningEmulator, principal: Principal) -> Outcome:
    """engine OCI: the operator creates an OCI Schedule; when it fires, the Schedule creates the run
    as its own resource principal. With logging among the features the job logs, so the schedule's
    principal needs the log group and content too, and the run's line must reach the log. The
    schedule is deleted again, so no later case sees it fire."""
    ids = emu.ids
    ds = principal.client(oci.data_science.DataScienceClient, emu)
    where = {"project_id": ids["PROJECT_ID"], "compartment_id": ids["COMPARTMENT_ID"]}
    logged = Feature.LOGGING in SCHEDULE_FEATURES or Feature.AUTO_CREATE_LOG in SCHEDULE_FEATURES
    group = ids["LOG_GROUP_ID"]
    log = M.JobLogConfigurationDetails(enable_logging=True, log_group_id=group, log_id=GIVEN_LOG[group])
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    job = ds.create_job(
        M.CreateJobDetails(
            **where,
            job_configuration_details=M.DefaultJobConfigurationDetails(
                environment_variables={} if logged else SIMULATE
            ),
            job_infrastructure_configuration_details=_infrastructure(ids, subnet=False),
            job_log_configuration_details=log if logged else None,
        )
    ).data
    script = f"print({marker!r})\n".encode()
    ds.create_job_artifact(job.id, script, content_disposition="attachment; filename=main.py")
    action = M.CreateJobRunScheduleActionDetails(
        create_job_run_details=M.CreateJobRunDetails(job_id=job.id, **where)
    )
    schedule = ds.create_schedule(
        M.CreateScheduleDetails(
            **where,
            trigger=M.ScheduleCronTrigger(cron_expression="* * * * *"),
            action=M.ScheduleHttpAction(action_details=action),
        )
    ).data
    try:
        emu.admin.advance_schedules(60)
        runs = ds.list_job_runs(ids["COMPARTMENT_ID"], job_id=job.id).data
        if not runs:
            return Outcome(False, str(ds.get_schedule(schedule.id).data.last_schedule_run_details))

        def finished() -> Any:
            current = ds.get_job_run(runs[0].id).data
            return current if current.lifecycle_state in ("SUCCEEDED", "FAILED", "CANCELED") else None

        run = wait_for(finished, timeout=30, message="scheduled run finished")
    finally:
        ds.delete_schedule(schedule.id)
    if not logged:
        return Outcome.of_run(run)
    emu.admin.set_policies([ADMINS], groups={"Administrators": [emu.ids["USER_ID"]]})
    lines = log_lines(emu, run)
    ok = run.lifecycle_state == "SUCCEEDED" and marker in lines
    return Outcome(ok, f"{run.lifecycle_state} {run.lifecycle_details}; log lines {lines}")


# The features whose statements a case applies: the schedule scenario logs only when the logging
# statements are there (set by each test before it attempts anything).
SCHEDULE_FEATURES: set[Feature] = set()


SCENARIOS: dict[Feature, Scenario] = {
    Feature.BASE: scenario_base,
    Feature.LOGGING: scenario_logging,
    Feature.AUTO_CREATE_LOG: scenario_auto_create_log,
    Feature.SUBNET: scenario_subnet,
    Feature.CONTAINER: scenario_container,
    Feature.OCI_ARTIFACT: scenario_oci_artifact,
    Feature.PUBLISHED_CONDA: scenario_published_conda,
    Feature.OCI_SCHEDULE: scenario_oci_schedule,
    Feature.COST: scenario_cost,
}


def attempt(emu: RunningEmulator, principal: Principal, feature: Feature) -> Outcome:
    try:
        return SCENARIOS[feature](emu, principal)
    except oci.exceptions.ServiceError as exc:
        return Outcome(False, f"{exc.status} {exc.code} {exc.operation_name}")


@pytest.fixture(scope="module")
def log_id(emu: RunningEmulator) -> str:
    """A log made by the admin, for the logging feature's given logId."""
    logging_client = emu.logging_client(retries=False)
    details = oci.logging.models.CreateLogDetails(display_name="iam-given-log", log_type="CUSTOM")
    logging_client.create_log(emu.ids["LOG_GROUP_ID"], details)
    logs = logging_client.list_logs(emu.ids["LOG_GROUP_ID"]).data
    return str(next(log.id for log in logs if log.display_name == "iam-given-log"))


# The log the logging feature names by logId (made by the admin), by log group.
GIVEN_LOG: dict[str, str] = {}
# vault-secrets and outputs (issue 16) are statements of the job runs' driver: their runs need the
# emulator's run principal; until a scenario drives them here, they are left out of these cases.
CASES = [(mode, feature) for mode in MODES for feature in SCENARIOS]


@pytest.mark.parametrize(("mode", "feature"), CASES, ids=[f"{m}-{f.value}" for m, f in CASES])
def test_each_statement_set_works_alone_and_every_statement_is_needed(
    mode: str, feature: Feature, emu: RunningEmulator, log_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    GIVEN_LOG[emu.ids["LOG_GROUP_ID"]] = log_id
    SCHEDULE_FEATURES.clear()
    SCHEDULE_FEATURES.add(feature)
    principal = principal_for(mode, emu, monkeypatch)
    chosen = statements_for(mode, feature, emu, principal)
    texts = [s.text for s in chosen.statements]

    apply(emu, principal, chosen, texts)
    works = attempt(emu, principal, feature)
    assert works.ok, f"{mode}/{feature}: the set alone should be enough:\n{chosen.text()}\n{works.detail}"

    for removed in texts:
        emu.admin.clear_denials()
        apply(emu, principal, chosen, [t for t in texts if t != removed])
        broken = attempt(emu, principal, feature)
        assert not broken.ok, f"{mode}/{feature} still works without {removed!r}"
        denials = emu.admin.denials()
        # The refusal names a permission exactly the removed statement would grant.
        grants = EmulatorStatement.parse(removed)
        named = [d for d in denials if _granted_by(grants, d["needs"])]
        assert named, f"without {removed!r}: {broken.detail}; denials {denials}"
        if broken.run_failed:
            assert named[-1]["needs"] in broken.detail, broken.detail


@pytest.mark.parametrize("mode", MODES)
def test_the_whole_set_docs_iam_md_shows_per_mode(
    mode: str, emu: RunningEmulator, log_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The all-features set of docs/iam.md (with this tenancy's values): every feature works, and each
    statement is needed by the feature it is listed under."""
    GIVEN_LOG[emu.ids["LOG_GROUP_ID"]] = log_id
    SCHEDULE_FEATURES.clear()
    SCHEDULE_FEATURES.update(SCENARIOS)
    principal = principal_for(mode, emu, monkeypatch)
    bucket = emu.ids["OBJECT_STORAGE_BUCKET"]
    request = PolicyRequest(
        mode=mode,
        compartments=(emu.ids["COMPARTMENT_ID"],),
        artifact_bucket=bucket,
        conda_bucket=bucket,
        features=frozenset(SCENARIOS),
        **principal.request_fields,
    )
    chosen = policy_set(request)
    texts = [s.text for s in chosen.statements]
    apply(emu, principal, chosen, texts)
    for feature in SCENARIOS:
        works = attempt(emu, principal, feature)
        assert works.ok, f"{mode}/{feature} with the whole set:\n{chosen.text()}\n{works.detail}"
        apply(emu, principal, chosen, texts)  # a logged run's check switched to the admin
    for statement in chosen.statements:
        apply(emu, principal, chosen, [t for t in texts if t != statement.text])
        broken = attempt(emu, principal, statement.feature)
        assert not broken.ok, f"{mode}/{statement.feature} still works without {statement.text!r}"


def test_a_logged_oci_schedule_needs_its_own_log_statements(
    emu: RunningEmulator, log_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Schedule's CreateJobRun is checked like any: a job that logs needs the schedule's principal
    to use the log group and its content, or the Schedule makes no run and says why."""
    GIVEN_LOG[emu.ids["LOG_GROUP_ID"]] = log_id
    SCHEDULE_FEATURES.clear()
    SCHEDULE_FEATURES.update({Feature.LOGGING, Feature.OCI_SCHEDULE})
    principal = principal_for("api_key", emu, monkeypatch)
    bucket = emu.ids["OBJECT_STORAGE_BUCKET"]
    request = PolicyRequest(
        mode="api_key",
        compartments=(emu.ids["COMPARTMENT_ID"],),
        artifact_bucket=bucket,
        conda_bucket=bucket,
        features=frozenset(SCHEDULE_FEATURES),
        **principal.request_fields,
    )
    chosen = policy_set(request)
    texts = [s.text for s in chosen.statements]
    apply(emu, principal, chosen, texts)
    works = attempt(emu, principal, Feature.OCI_SCHEDULE)
    assert works.ok, f"{chosen.text()}\n{works.detail}"
    for removed in [t for t in texts if "ocids-schedules" in t and "log-" in t]:
        emu.admin.clear_denials()
        apply(emu, principal, chosen, [t for t in texts if t != removed])
        broken = attempt(emu, principal, Feature.OCI_SCHEDULE)
        assert not broken.ok and "could not be created" in broken.detail, (removed, broken.detail)
        denial = emu.admin.denials()[-1]
        assert denial["principalType"] == "datascienceschedule", denial
        assert _granted_by(EmulatorStatement.parse(removed), denial["needs"]), (removed, denial)


def _granted_by(statement: EmulatorStatement, needs: str) -> bool:
    verb, resource_type, _ = needs.split(" ", 2)
    return statement.grants(resource_type, verb)


def test_a_workload_statement_binds_the_cluster(emu: RunningEmulator) -> None:
    """request.principal.cluster_id matters: the same namespace and ServiceAccount in another
    cluster is refused by the statements `iam-policy` prints for this one."""
    fields = {"namespace": NAMESPACE, "service_account": SERVICE_ACCOUNT, "cluster_id": CLUSTER}
    region = {"region": emu.ids["REGION"]}
    principal = Principal("oke_workload_identity", region, workload_signer(emu), fields)
    chosen = statements_for("oke_workload_identity", Feature.BASE, emu, principal)
    apply(emu, principal, chosen, [s.text for s in chosen.statements])
    assert scenario_base(emu, principal).ok
    other_cluster = workload_signer(emu, cluster="ocid1.cluster.oc1.iad.other")
    elsewhere = Principal(principal.mode, principal.config, other_cluster)
    outcome = attempt(emu, elsewhere, Feature.BASE)
    assert not outcome.ok and "404 NotAuthorizedOrNotFound" in outcome.detail, outcome.detail


def test_the_printed_statements_parse_in_the_emulator() -> None:
    """Every statement and dynamic-group rule docs/iam.md shows is OCI syntax the emulator reads."""
    from ocids_emulator.security.policies import PolicySet

    for mode in MODES:
        two = ("ocid1.compartment.oc1..a", "ocid1.compartment.oc1..b")
        chosen = policy_set(PolicyRequest(mode=mode, compartments=two))
        rules = {g.name: g.rule for g in chosen.dynamic_groups}
        assert PolicySet.build([s.text for s in chosen.statements], dynamic_groups=rules).statements


def test_a_subnet_is_read_through_networking_and_must_exist(emu: RunningEmulator) -> None:
    """GetSubnet answers the subnet's compartment (what the operator checks against a namespace's
    allowed compartments); it needs read on subnets there; a job naming an unknown subnet is a 404."""
    ids = emu.ids
    emu.admin.set_policies([ADMINS], groups={"Administrators": [ids["USER_ID"]]})
    network = oci.core.VirtualNetworkClient(
        emu.oci_config(), service_endpoint=emu.endpoint, retry_strategy=oci.retry.NoneRetryStrategy()
    )
    subnet = network.get_subnet(ids["SUBNET_ID"]).data
    assert (subnet.compartment_id, subnet.lifecycle_state) == (ids["COMPARTMENT_ID"], "AVAILABLE")
    with pytest.raises(oci.exceptions.ServiceError) as missing:
        network.get_subnet("ocid1.subnet.oc1.iad.nosuch")
    assert (missing.value.status, missing.value.code) == (404, "NotAuthorizedOrNotFound")
    principal = Principal("api_key", emu.oci_config())
    with pytest.raises(oci.exceptions.ServiceError) as unknown:
        ds = principal.client(oci.data_science.DataScienceClient, emu)
        ds.create_job(
            M.CreateJobDetails(
                project_id=ids["PROJECT_ID"],
                compartment_id=ids["COMPARTMENT_ID"],
                job_configuration_details=M.DefaultJobConfigurationDetails(),
                job_infrastructure_configuration_details=_infrastructure(
                    {**ids, "SUBNET_ID": "ocid1.subnet.oc1.iad.nosuch"}, subnet=True
                ),
            )
        )
    assert unknown.value.status == 404 and "subnet" in unknown.value.message

    inspect_only = f"Allow group {OPERATORS} to inspect virtual-network-family in compartment id "
    emu.admin.set_policies([inspect_only + ids["COMPARTMENT_ID"]], groups={OPERATORS: [ids["USER_ID"]]})
    emu.admin.clear_denials()
    with pytest.raises(oci.exceptions.ServiceError) as denied:
        network.get_subnet(ids["SUBNET_ID"])
    assert denied.value.status == 404
    assert emu.admin.denials()[-1]["needs"] == f"read subnets in compartment id {ids['COMPARTMENT_ID']}"
