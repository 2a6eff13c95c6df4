"""`ocids-operator iam-policy` and docs/iam.md: one generator (core/iam.py), per mode and feature."""

from __future__ import annotations

import pathlib

import pytest
from ocids_operator.__main__ import main
from ocids_operator.core.iam import MODES, Feature, PolicyRequest, markdown_doc, parse_features, policy_set

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "iam.md"
C = "ocid1.compartment.oc1..team"


def test_docs_iam_md_is_what_the_generator_prints() -> None:
    assert DOC.read_text() == markdown_doc(), (
        "docs/iam.md is stale: run "
        "`.venv/bin/python -m ocids_operator iam-policy --markdown-doc > docs/iam.md`"
    )


def test_every_statement_names_its_oracle_source_and_every_mode_is_in_the_doc() -> None:
    doc = markdown_doc()
    for mode in MODES:
        assert f"OCIDS_AUTH={mode}" in doc
        for statement in policy_set(PolicyRequest(mode=mode)).statements:
            assert statement.text in doc
    assert "https://docs.oracle.com/iaas/data-science/using/policies.htm" in doc


def test_workload_identity_statements_always_bind_the_cluster() -> None:
    chosen = policy_set(PolicyRequest(mode="oke_workload_identity", compartments=(C,)))
    operator = [s.text for s in chosen.statements if s.text.startswith("Allow any-user")]
    assert operator and all("request.principal.cluster_id = '<cluster OCID>'" in t for t in operator)
    assert all("request.principal.namespace = '<namespace>'" in t for t in operator)


def test_job_runs_and_the_service_get_their_own_statements() -> None:
    chosen = policy_set(PolicyRequest(mode="api_key", compartments=(C,), group="ml"))
    texts = [s.text for s in chosen.statements]
    assert f"Allow dynamic-group ocids-job-runs to use log-content in compartment id {C}" in texts
    assert f"Allow service datascience to use virtual-network-family in compartment id {C}" in texts
    assert "Allow dynamic-group ocids-job-runs to read repos in tenancy" in texts
    assert [g.rule for g in chosen.dynamic_groups] == [
        f"ALL {{resource.type = 'datasciencejobrun', resource.compartment.id = '{C}'}}",
        f"ALL {{resource.type = 'datascienceschedule', resource.compartment.id = '{C}'}}",
    ]
    # engine OCI: the Schedule creates runs as itself (Oracle's "Scheduler Policies").
    schedules = "Allow dynamic-group ocids-schedules to"
    assert f"{schedules} manage data-science-job-runs in compartment id {C}" in texts
    # autoCreateLog needs manage on log groups, which covers the use a given logId needs.
    assert f"Allow group ml to manage log-groups in compartment id {C}" in texts
    assert f"Allow group ml to use log-groups in compartment id {C}" not in texts


def test_features_are_minimal() -> None:
    base = policy_set(PolicyRequest(mode="api_key", compartments=(C,), features=parse_features(["base"])))
    assert [s.text for s in base.statements] == [
        f"Allow group <group> to manage data-science-family in compartment id {C}"
    ]
    assert base.dynamic_groups == ()
    logging = policy_set(PolicyRequest(compartments=(C,), features=parse_features(["logging"])))
    assert {s.feature for s in logging.statements} == {Feature.BASE, Feature.LOGGING}
    two = policy_set(
        PolicyRequest(compartments=(C, "ocid1.compartment.oc1..b"), features=parse_features(["logging"]))
    )
    assert [g.name for g in two.dynamic_groups] == ["ocids-job-runs-1", "ocids-job-runs-2"]
    with pytest.raises(ValueError, match="unknown feature bogus"):
        parse_features(["logging,bogus"])


def test_the_command_prints_for_the_current_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OCIDS_AUTH", "oke_workload_identity")
    monkeypatch.setenv("OCIDS_DEFAULT_ALLOWED_COMPARTMENTS", f"{C}, ocid1.compartment.oc1..b")
    monkeypatch.setenv("OCIDS_CLUSTER_ID", "ocid1.cluster.oc1..k")
    assert (
        main(["iam-policy", "--namespace", "ml", "--service-account", "trainer", "--feature", "subnet"]) == 0
    )
    out = capsys.readouterr().out
    assert (
        f"Allow any-user to manage data-science-family in compartment id {C} where all "
        "{request.principal.type = 'workload', request.principal.namespace = 'ml', "
        "request.principal.service_account = 'trainer', "
        "request.principal.cluster_id = 'ocid1.cluster.oc1..k'}"
    ) in out
    assert "compartment id ocid1.compartment.oc1..b" in out
    assert "Allow service datascience to use virtual-network-family" in out
    assert "log-content" not in out  # only the features asked for

    assert main(["iam-policy", "--auth", "api_key", "--compartment", C, "--group", "ops"]) == 0
    out = capsys.readouterr().out
    assert f"Allow group ops to manage data-science-family in compartment id {C}\n" in out
    assert "ocid1.compartment.oc1..b" not in out  # --compartment wins over the env default


def test_bad_input_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["iam-policy", "--feature", "bogus"]) == 2
    assert "unknown feature bogus" in capsys.readouterr().err
    monkeypatch.setenv("OCIDS_AUTH", "password")
    assert main(["iam-policy"]) == 2
    assert "auth mode 'password'" in capsys.readouterr().err


def test_the_not_authorized_hint_points_at_the_other_principals_statements() -> None:
    from ocids_operator.core.errors import Principal, not_authorized_message

    message = not_authorized_message("404 NotAuthorizedOrNotFound", Principal("user u", "Allow group g"), C)
    assert f"'Allow group g to manage data-science-family in compartment id {C}'" in message
    assert "`ocids-operator iam-policy` prints them (docs/iam.md)" in message
