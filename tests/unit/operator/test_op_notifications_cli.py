"""`kubectl ocids events` output and its namespace defaults (the read itself: integration tests)."""

from __future__ import annotations

import pytest
from ocids_operator.cli import events
from ocids_operator.cli import main as cli


def test_the_status_is_printed_field_by_field() -> None:
    text = events.render(
        {
            "state": "Healthy",
            "since": "2026-12-08T02:00:00Z",
            "reason": "messages flow",
            "source": "both",
            "fallbackPollSeconds": "120",
            "streamId": "",
        }
    )
    assert text.splitlines() == [
        "state:             Healthy",
        "since:             2026-12-08T02:00:00Z",
        "reason:            messages flow",
        "source:            both",
        "fallback poll (s): 120",
    ]


def test_operator_namespace_and_config_map_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCIDS_OPERATOR_NAMESPACE", raising=False)
    monkeypatch.delenv("OCIDS_LEADER_ELECTION_LEASE_NAME", raising=False)
    assert events.operator_namespace(None) == "ocids-system"
    assert events.config_map_name() == "ocids-operator-events"
    monkeypatch.setenv("OCIDS_OPERATOR_NAMESPACE", "ops")
    monkeypatch.setenv("OCIDS_LEADER_ELECTION_LEASE_NAME", "ml-operator")
    assert events.operator_namespace(None) == "ops"
    assert events.operator_namespace("given") == "given"
    assert events.config_map_name() == "ml-operator-events"


def test_events_and_runs_take_operator_namespace() -> None:
    args = cli.build_parser().parse_args(["events", "--operator-namespace", "ops"])
    assert (args.command, args.operator_namespace) == ("events", "ops")
    args = cli.build_parser().parse_args(["runs", "--operator-namespace", "ops"])
    assert args.operator_namespace == "ops"
