"""IAM policy statements: the grammar, verbs, families, compartments, subjects and conditions."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request
from ocids_emulator.config import init_data_dir, load_tenancy
from ocids_emulator.core.emulator import Emulator, Settings
from ocids_emulator.execution.run_identity import repository_name
from ocids_emulator.security.authorization import (
    OPERATIONS,
    Check,
    referenced_checks,
    required_checks,
    target_compartments,
)
from ocids_emulator.security.policies import (
    PolicyError,
    PolicySet,
    Statement,
    job_run_principal,
    permission_text,
    service_principal,
)
from ocids_emulator.security.session_tokens import TokenPrincipal
from ocids_emulator.security.signatures import Principal
from ocids_emulator.server import EMULATOR_KEY, build_app, is_oci_path

C1, C2, T = "ocid1.compartment.oc1..one", "ocid1.compartment.oc1..two", "ocid1.tenancy.oc1..t"
USER = Principal(T, "ocid1.user.oc1..admin", "aa:bb")
OTHER_USER = Principal(T, "ocid1.user.oc1..other", "aa:bb")
WORKLOAD = TokenPrincipal(
    "workload",
    T,
    "system:serviceaccount:ocids-system:ocids-operator",
    {
        "res_type": "workload",
        "res_compartment": C1,
        "namespace": "ocids-system",
        "service_account": "ocids-operator",
        "cluster_id": "ocid1.cluster.oc1..k",
    },
)
RESOURCE = TokenPrincipal(
    "resource",
    T,
    "ocid1.datasciencejobrun.oc1..r",
    {"res_type": "datasciencejobrun", "res_id": "ocid1.datasciencejobrun.oc1..r", "res_compartment": C1},
)
INSTANCE = TokenPrincipal(
    "instance", T, "ocid1.instance.oc1..i", {"res_type": "instance", "res_compartment": C2}
)
WORKLOAD_STATEMENT = (
    f"Allow any-user to manage data-science-family in compartment id {C1} where all "
    "{request.principal.type='workload', request.principal.namespace='ocids-system', "
    "request.principal.service_account='ocids-operator'}"
)


def policy_set(*statements: str, **kwargs: object) -> PolicySet:
    return PolicySet.build(
        list(statements),
        kwargs.get("groups", {"Administrators": [USER.user_id]}),
        kwargs.get("dynamic_groups", {}),
        {C1: "emulator", C2: "other"},
    )


@pytest.mark.parametrize(
    "text",
    [
        "Allow group Administrators to manage all-resources in tenancy",
        "allow GROUP Administrators, Ops to READ objects IN TENANCY",
        WORKLOAD_STATEMENT,
        f"Allow any-user to use data-science-family in compartment id {C1} where "
        "request.principal.cluster_id = 'ocid1.cluster.oc1..k'",
        "Allow dynamic-group ocids-nodes to use data-science-family in compartment emulator",
        "Allow any-user to read objects in compartment emulator where "
        "any {request.principal.type='datasciencejobrun', request.principal.id='x'}",
        "Allow any-group to inspect log-groups in tenancy where request.principal.type != 'user'",
        "Allow any-user to read log-content in tenancy where target.compartment.name = emulator",
    ],
)
def test_good_statements_parse(text: str) -> None:
    policy_set(text)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Deny group Administrators to manage all-resources in tenancy", "expected 'Allow"),
        ("Allow group Administrators to own all-resources in tenancy", "verb must be"),
        ("Allow group Administrators to manage everything in tenancy", "unknown resource type"),
        ("Allow group Administrators to manage all-resources", "expected 'Allow"),
        ("Allow group Administrators to manage all-resources in tenancy extra", "expected 'Allow"),
        ("Allow users to read objects in tenancy", "the subject must be"),
        ("Allow any-user to read objects in compartment nowhere", "no compartment named 'nowhere'"),
        ("Allow any-user to read objects in tenancy where request.principal.type", "cannot read"),
        ("Allow any-user to read objects in tenancy where all {request.principal.type='a',}", "cannot read"),
        ("Allow any-user to read objects in tenancy where request.time = 'x'", "unsupported variable"),
        ("Allow any-user to {OBJECT_READ} objects in tenancy", "verb must be"),
    ],
)
def test_bad_statements_name_the_statement(text: str, why: str) -> None:
    with pytest.raises(PolicyError) as exc:
        policy_set(text)
    assert why in str(exc.value)
    assert repr(text) in str(exc.value)


def test_bad_dynamic_group_rule_and_shapes() -> None:
    with pytest.raises(PolicyError, match="dynamic group 'nodes'"):
        policy_set(dynamic_groups={"nodes": "ALL {instance.name = 'x'}"})
    with pytest.raises(PolicyError, match="list of statement strings"):
        PolicySet.build("Allow any-user to read objects in tenancy")


def test_verbs_are_cumulative_and_families_cover_their_types() -> None:
    statement = Statement.parse("Allow any-user to use data-science-family in tenancy")
    assert statement.grants("data-science-job-runs", "inspect")
    assert statement.grants("data-science-jobs", "use")
    assert not statement.grants("data-science-jobs", "manage")
    assert not statement.grants("objects", "read")
    assert Statement.parse("Allow any-user to read all-resources in tenancy").grants("log-content", "read")
    assert Statement.parse("Allow any-user to read logging-family in tenancy").grants("log-content", "read")


def test_compartment_scoping_by_id_name_and_tenancy() -> None:
    by_id = policy_set(f"Allow any-user to read objects in compartment id {C1}")
    assert by_id.allows(USER, "objects", "read", C1)
    assert not by_id.allows(USER, "objects", "read", C2)
    assert not by_id.allows(USER, "objects", "read", None)  # the tenancy itself or an unknown target
    by_name = policy_set("Allow any-user to read objects in compartment Emulator")
    assert by_name.allows(USER, "objects", "read", C1) and not by_name.allows(USER, "objects", "read", C2)
    tenancy = policy_set("Allow any-user to read objects in tenancy")
    assert all(tenancy.allows(USER, "objects", "read", c) for c in (C1, C2, None))


def test_groups_name_users_only() -> None:
    policies = policy_set("Allow group administrators to manage all-resources in tenancy")
    assert policies.allows(USER, "data-science-jobs", "manage", C1)
    assert not policies.allows(OTHER_USER, "data-science-jobs", "inspect", C1)
    assert not policies.allows(WORKLOAD, "data-science-jobs", "inspect", C1)
    assert not policy_set().allows(USER, "data-science-jobs", "inspect", C1)


def test_workload_conditions() -> None:
    policies = policy_set(WORKLOAD_STATEMENT)
    assert policies.allows(WORKLOAD, "data-science-job-runs", "manage", C1)
    assert not policies.allows(WORKLOAD, "data-science-job-runs", "manage", C2)
    assert not policies.allows(USER, "data-science-jobs", "inspect", C1)
    other_sa = TokenPrincipal("workload", T, "s", {**WORKLOAD.claims, "service_account": "default"})
    assert not policies.allows(other_sa, "data-science-jobs", "inspect", C1)
    cluster = policy_set(
        "Allow any-user to read data-science-jobs in tenancy where "
        "request.principal.cluster_id = 'ocid1.cluster.oc1..other'"
    )
    assert not cluster.allows(WORKLOAD, "data-science-jobs", "read", C1)


def test_resource_principal_type_is_its_resource_type() -> None:
    policies = policy_set(
        "Allow any-user to read objects in tenancy where request.principal.type='datasciencejobrun'"
    )
    assert policies.allows(RESOURCE, "objects", "read", C2)
    assert not policies.allows(INSTANCE, "objects", "read", C2)
    by_id = policy_set(
        f"Allow any-user to read objects in tenancy where request.principal.id='{RESOURCE.subject}'"
    )
    assert by_id.allows(RESOURCE, "objects", "read", C1)


def test_dynamic_groups_match_instances_and_resources() -> None:
    policies = policy_set(
        "Allow dynamic-group ocids-nodes to use data-science-family in tenancy",
        dynamic_groups={
            "ocids-nodes": f"ANY {{instance.compartment.id = '{C2}', resource.type = 'datasciencejobrun'}}"
        },
    )
    assert policies.allows(INSTANCE, "data-science-job-runs", "use", C1)
    assert policies.allows(RESOURCE, "data-science-job-runs", "use", C1)
    assert not policies.allows(INSTANCE, "data-science-jobs", "manage", C1)
    assert not policies.allows(WORKLOAD, "data-science-jobs", "inspect", C1)
    assert not policies.allows(USER, "data-science-jobs", "inspect", C1)
    strict = policy_set(
        "Allow dynamic-group n to read objects in tenancy",
        dynamic_groups={"n": f"ALL {{instance.compartment.id = '{C1}'}}"},
    )
    assert not strict.allows(INSTANCE, "objects", "read", C1)


def test_no_policies_key_allows_everything_and_init_writes_the_admin_statement(tmp_path: Path) -> None:
    assert PolicySet.build(None).allows(OTHER_USER, "objects", "manage", None)
    init_data_dir(tmp_path)
    tenancy = load_tenancy(tmp_path)
    assert "Allow group Administrators to manage all-resources in tenancy" in (tenancy.policies or [])
    assert tenancy.groups == {"Administrators": [tenancy.user_id]}


def test_every_oci_route_has_a_requirement(tmp_path: Path) -> None:
    init_data_dir(tmp_path)
    app = build_app(Settings(data_dir=tmp_path))
    names = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        name = getattr(route.handler, "__name__", "")
        if is_oci_path(path) and not name.startswith("_"):
            names.add(name)
    app[EMULATOR_KEY].store.close()
    assert names and names <= set(OPERATIONS), names - set(OPERATIONS)


def test_target_compartments_cover_path_body_and_search(tmp_path: Path) -> None:
    ids = init_data_dir(tmp_path)
    emu = Emulator(Settings(data_dir=tmp_path))
    try:
        project = make_mocked_request("GET", "/p", match_info={"project_id": ids["PROJECT_ID"]})
        assert target_compartments(emu, project, None) == [ids["COMPARTMENT_ID"]]
        # A change of compartment: the project's (source) and the body's (destination).
        move = make_mocked_request("POST", "/p", match_info={"project_id": ids["PROJECT_ID"]})
        assert target_compartments(emu, move, b'{"compartmentId": "ocid1.compartment.oc1..dest"}') == [
            "ocid1.compartment.oc1..dest",
            ids["COMPARTMENT_ID"],
        ]
        # A log search: each stream in its compartment, its log group as target.loggroup.id.
        search = b'{"searchQuery": "search \\"c1/g\\", \\"c2\\" | sort by datetime"}'
        assert required_checks(emu, make_mocked_request("POST", "/s"), "search_logs", search) == [
            Check("log-content", "read", "c1", (("target.loggroup.id", "g"),)),
            Check("log-content", "read", "c2"),
        ]
        missing = make_mocked_request("GET", "/j", match_info={"job_id": "ocid1.datasciencejob.oc1..none"})
        assert target_compartments(emu, missing, None) == [None]
    finally:
        emu.store.close()


def test_service_subject_names_only_that_service() -> None:
    policies = PolicySet.build(
        [
            "Allow service datascience to use virtual-network-family in compartment id c1",
            "Allow any-user to manage all-resources in tenancy",
        ]
    )
    assert policies.allows(service_principal("datascience"), "subnets", "use", "c1")
    assert not policies.allows(service_principal("datascience"), "subnets", "use", "c2")
    # any-user (and groups) never name a service; another service is not datascience.
    assert not policies.allows(service_principal("objectstorage"), "subnets", "use", "c1")
    only_any = PolicySet.build(["Allow any-user to manage all-resources in tenancy"])
    assert not only_any.allows(service_principal("datascience"), "subnets", "use", "c1")


def test_target_bucket_and_log_group_conditions() -> None:
    run = job_run_principal("ocid1.datasciencejobrun.oc1..r", "c1")
    policies = PolicySet.build(
        [
            "Allow dynamic-group runs to read objects in compartment id c1 where target.bucket.name='envs'",
            "Allow dynamic-group runs to use log-content in compartment id c1 where target.loggroup.id='lg1'",
        ],
        dynamic_groups={"runs": "ALL {resource.type='datasciencejobrun', resource.compartment.id='c1'}"},
    )
    assert policies.allows(run, "objects", "read", "c1", target={"target.bucket.name": "envs"})
    assert not policies.allows(run, "objects", "read", "c1", target={"target.bucket.name": "other"})
    # A condition on a variable the request lacks is false, as in OCI.
    assert not policies.allows(run, "objects", "read", "c1")
    assert policies.allows(run, "log-content", "use", "c1", target={"target.loggroup.id": "lg1"})
    assert not policies.allows(run, "log-content", "use", "c1", target={"target.loggroup.id": "lg2"})
    other_compartment_run = job_run_principal("ocid1.datasciencejobrun.oc1..r2", "c2")
    assert not policies.allows(
        other_compartment_run, "log-content", "use", "c1", target={"target.loggroup.id": "lg1"}
    )


def test_permission_text_reads_like_a_statement() -> None:
    assert permission_text("repos", "read", None) == "read repos in tenancy"
    assert (
        permission_text("log-content", "use", "c1", {"target.loggroup.id": "lg"})
        == "use log-content in compartment id c1 where target.loggroup.id='lg'"
    )


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("iad.ocir.io/ns/trainer:1", "ns/trainer"),
        ("iad.ocir.io/ns/team/trainer@sha256:ab", "ns/team/trainer"),
        ("localhost:5000/ns/t", "ns/t"),
    ],
)
def test_repository_name_of_an_image(image: str, repository: str) -> None:
    assert repository_name(image) == repository


def test_referenced_resources_need_the_callers_rights_where_they_live(tmp_path: Path) -> None:
    ids = init_data_dir(tmp_path)
    emu = Emulator(Settings(data_dir=tmp_path))
    try:
        compartment, group = ids["COMPARTMENT_ID"], ids["LOG_GROUP_ID"]
        body = {
            "projectId": ids["PROJECT_ID"],
            "jobInfrastructureConfigurationDetails": {"subnetId": ids["SUBNET_ID"]},
            "jobLogConfigurationDetails": {"enableLogging": True, "logGroupId": group},
        }
        target = (("target.loggroup.id", group),)
        assert referenced_checks(emu, "create_job", body) == [
            Check("data-science-projects", "read", compartment),
            Check("subnets", "use", compartment),
            Check("vnics", "use", compartment),
            Check("log-groups", "use", target=target, compartment_id=compartment),
            Check("log-content", "use", compartment, target),
        ]
        # A run that creates its log on the caller's behalf needs manage log-groups.
        run_body = {
            "projectId": ids["PROJECT_ID"],
            "jobLogConfigurationOverrideDetails": {
                "enableLogging": True,
                "enableAutoLogCreation": True,
                "logGroupId": group,
            },
        }
        assert Check("log-groups", "manage", compartment, target) in referenced_checks(
            emu, "create_job_run", run_body
        )
        # Every path that names a subnet: a run's infrastructure override, a job's update.
        subnet_checks = [Check("subnets", "use", compartment), Check("vnics", "use", compartment)]
        override = {"jobInfrastructureConfigurationOverrideDetails": {"subnetId": ids["SUBNET_ID"]}}
        assert referenced_checks(emu, "create_job_run", override) == subnet_checks
        update = {"jobInfrastructureConfigurationDetails": {"subnetId": ids["SUBNET_ID"]}}
        assert referenced_checks(emu, "update_job", update) == subnet_checks
        # A multi-node job's and run's node configuration names its subnet in its network.
        network = {"jobNetworkType": "CUSTOM_NETWORK", "subnetId": ids["SUBNET_ID"]}
        nodes = {"jobNodeType": "MULTI_NODE", "jobNetworkConfiguration": network}
        assert referenced_checks(emu, "create_job", {"jobNodeConfigurationDetails": nodes}) == subnet_checks
        node_override = {"jobNodeConfigurationOverrideDetails": nodes}
        assert referenced_checks(emu, "create_job_run", node_override) == subnet_checks
        # An unknown subnet has no compartment: only tenancy-wide statements reach it.
        unknown = {"jobInfrastructureConfigurationDetails": {"subnetId": "ocid1.subnet.oc1..none"}}
        assert referenced_checks(emu, "update_job", unknown) == [
            Check("subnets", "use", None),
            Check("vnics", "use", None),
        ]
    finally:
        emu.store.close()
