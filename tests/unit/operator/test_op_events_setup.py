"""`ocids-operator events setup` without --create: the plan a user reads and applies by hand."""

from __future__ import annotations

import io
import json

import pytest
from ocids_operator.__main__ import main as operator_main
from ocids_operator.cli import events_setup

C1 = "ocid1.compartment.oc1..one"
C2 = "ocid1.compartment.oc1..two"
TOPIC = "ocid1.onstopic.oc1.phx.t"


def printed(*argv: str) -> str:
    out = io.StringIO()
    assert events_setup.main(list(argv), out=out) == 0
    return out.getvalue()


def test_the_plan_names_stream_rules_iam_and_env() -> None:
    text = printed("--compartment", C1, "--compartment", C2, "--topic", TOPIC)
    assert f"Stream: ocids-operator-events (1 partition(s), 24 h retention) in compartment {C1}" in text
    assert f"  {C1}\n  {C2}\n" in text  # a rule in each compartment
    condition = json.loads(text.split("condition: ", 1)[1].splitlines()[0])
    assert set(condition["eventType"]) >= {
        "com.oraclecloud.datascience.succeededjobrun",
        "com.oraclecloud.datascience.failedjobrun",
        "com.oraclecloud.datascience.canceljobrun.end",
        "com.oraclecloud.datascience.createjobrun.begin",
    }
    assert f"ONS -> topic {TOPIC}" in text
    assert f"Allow group <group> to use stream-pull in compartment id {C1}" in text  # api_key, no --group
    assert f"Allow service cloudEvents to use stream-push in compartment id {C1}" in text
    assert (
        "Allow service cloudEvents to use ons-topics in compartment id <the topic's compartment OCID>" in text
    )
    assert "OCIDS_EVENTS_STREAM_ID=<the stream OCID (made with --create)>" in text
    assert f"OCIDS_NOTIFICATIONS_TOPIC_IDS={TOPIC}" in text


def test_without_a_topic_there_is_no_ons_action_nor_its_statement() -> None:
    text = printed("--compartment", C1, "--stream-pool", "pool-a", "--subject", "group ml-ops")
    assert "ONS" not in text and "ons-topics" not in text
    assert "in stream pool pool-a" in text
    assert f"Allow group ml-ops to read streams in compartment id {C1}" in text


def test_an_end_type_from_the_settings_joins_the_condition(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "OCIDS_EVENTS_RUN_END_TYPES", "com.oraclecloud.datascience.succeededjobrun,com.example.newend"
    )
    text = printed("--compartment", C1)
    assert "com.example.newend" in json.loads(text.split("condition: ", 1)[1].splitlines()[0])["eventType"]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--compartment", "prod"], "--compartment 'prod'"),
        (["--compartment", C1, "--topic", "t1"], "--topic"),
        (["--compartment", C1, "--retention-hours", "2"], "--retention-hours"),
        (["--compartment", C1, "--partitions", "0"], "--partitions"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert operator_main(["events", "setup", *argv]) == 2
    assert named in capsys.readouterr().err


def test_compartment_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        operator_main(["events", "setup"])
    assert exited.value.code == 2
    assert "--compartment" in capsys.readouterr().err


def statements(text: str) -> list[str]:
    part = text.split("IAM statements", 1)[1].split("\n", 1)[1]
    return [line.strip() for line in part.splitlines() if line.startswith("  Allow")]


def test_the_iam_statements_paste_as_they_are_for_tenancy_topic_and_workload_identity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenancy = "ocid1.tenancy.oc1..root"
    text = printed("--compartment", tenancy, "--topic", TOPIC, "--topic-compartment", C2, "--group", "ml-ops")
    assert statements(text) == [
        "Allow group ml-ops to use stream-pull in tenancy",
        "Allow group ml-ops to read streams in tenancy",
        "Allow service cloudEvents to use stream-push in tenancy",
        f"Allow service cloudEvents to use ons-topics in compartment id {C2}",
    ]
    assert all("#" not in line for line in statements(text))
    monkeypatch.setenv("OCIDS_AUTH", "oke_workload_identity")
    monkeypatch.setenv("OCIDS_OPERATOR_NAMESPACE", "ocids-system")
    monkeypatch.setenv("OCIDS_CLUSTER_ID", "ocid1.cluster.oc1..k")
    pull = statements(printed("--compartment", C1))[0]
    assert pull.startswith(f"Allow any-user to use stream-pull in compartment id {C1} where all {{")
    assert "request.principal.namespace = 'ocids-system'" in pull
    assert "request.principal.cluster_id = 'ocid1.cluster.oc1..k'" in pull


def test_a_tenancy_with_its_children_is_warned_of() -> None:
    text = printed("--compartment", "ocid1.tenancy.oc1..root", "--compartment", C1)
    assert "Warning: the rule in the tenancy" in text and "twice" in text
    assert "Warning" not in printed("--compartment", C1, "--compartment", C2)


def test_iam_policy_prints_the_stream_reads_when_events_are_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OCIDS_EVENTS_STREAM_ID", raising=False)
    assert operator_main(["iam-policy", "--compartment", C1, "--group", "ops", "--feature", "base"]) == 0
    assert "stream-pull" not in capsys.readouterr().out
    monkeypatch.setenv("OCIDS_EVENTS_STREAM_ID", "ocid1.stream.oc1.iad.s")
    argv = ["iam-policy", "--compartment", C1, "--group", "ops", "--stream-compartment", C2]
    assert operator_main(argv) == 0
    out = capsys.readouterr().out
    assert f"Allow group ops to use stream-pull in compartment id {C2}\n" in out
    assert f"Allow group ops to read streams in compartment id {C2}\n" in out
