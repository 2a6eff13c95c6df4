"""IAM policy statements: the grammar, verbs, families, compartments, subjects and conditions."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request
from ocids_emulator.config import init_data_dir, load_tenancy
from ocids_emulator.core.emulator import Emulator, Settings
from ocids_emulator.security.authorization import OPERATIONS, target_compartments
from ocids_emulator.security.policies import PolicyError, PolicySet, Statement
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
        search = b'{"searchQuery": "search \\"c1/g\\", \\"c2\\" | sort by datetime"}'
        assert target_compartments(emu, make_mocked_request("POST", "/s"), search) == ["c1", "c2"]
        missing = make_mocked_request("GET", "/j", match_info={"job_id": "ocid1.datasciencejob.oc1..none"})
        assert target_compartments(emu, missing, None) == [None]
    finally:
        emu.store.close()
