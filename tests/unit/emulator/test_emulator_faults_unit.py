"""The faults spec: parsing, partial updates, and the rules' counting."""

from __future__ import annotations

import pytest
from ocids_emulator.core.errors import ApiError
from ocids_emulator.faults.denials import parse_deny_flag
from ocids_emulator.faults.spec import Faults

RUN = "ocid1.datasciencejobrun.oc1.iad.a"
OTHER = "ocid1.datasciencejobrun.oc1.iad.b"


def test_spec_round_trips_and_patch_keeps_other_sections():
    spec = {
        "errors": [{"operation": "get_job", "status": 503, "count": 1}],
        "denials": [{"operation": "get_job_run", "resourceIds": [RUN], "count": 2}],
        "notFoundAfterCreate": {"calls": 1},
        "stuckCanceling": {},
        "needsAttention": {"runIds": [RUN], "nextRuns": 1},
        "failedJobDeletes": {"count": 1},
    }
    faults = Faults.from_dict(spec)
    shown = faults.to_dict()
    assert shown["denials"] == [{"operation": "get_job_run", "resourceIds": [RUN], "count": 2}]
    assert shown["notFoundAfterCreate"]["operations"] == ["get_job", "get_job_run"]
    assert shown["stuckCanceling"] == {"runIds": []}
    assert Faults.from_dict(shown).to_dict() == {**shown, "injected": 0}

    faults.update({"stuckCanceling": None})
    assert faults.stuck_canceling is None and faults.errors and faults.denials


def test_denials_match_operation_resources_and_count():
    faults = Faults.from_dict({"denials": [{"operation": "get_job_run", "resourceIds": [RUN], "count": 2}]})
    assert not faults.denies("get_job_run", [OTHER])
    assert not faults.denies("get_job", [RUN])
    assert faults.denies("get_job_run", [RUN]) and faults.denies("get_job_run", [RUN])
    assert not faults.denies("get_job_run", [RUN])
    assert faults.injected == 2
    assert Faults.from_dict({"denials": [{"operation": "*"}]}).denies("anything", [])


def test_holds_and_once_only_failures():
    faults = Faults.from_dict({"stuckCanceling": {"runIds": [RUN]}, "needsAttention": {"nextRuns": 1}})
    assert faults.holds_run(RUN, "CANCELING") and not faults.holds_run(OTHER, "CANCELING")
    assert not faults.holds_run(RUN, "IN_PROGRESS")
    assert faults.claim_attention(OTHER) and not faults.claim_attention(RUN)
    assert faults.holds_run(OTHER, "NEEDS_ATTENTION")
    deletes = Faults.from_dict({"failedJobDeletes": {"jobIds": ["j"], "count": 1}})
    assert deletes.failed_delete("k") is None
    assert deletes.failed_delete("j") and deletes.failed_delete("j") is None


def test_schedule_transitions_delay_the_named_schedules_or_all():
    every = Faults.from_dict({"scheduleTransitions": {"seconds": 2}})
    assert every.schedule_delay("s1") == 2.0 and every.injected == 1
    assert Faults.from_dict(every.to_dict()).to_dict() == {**every.to_dict(), "injected": 0}
    named = Faults.from_dict({"scheduleTransitions": {"seconds": 2, "scheduleIds": ["s1"]}})
    assert named.schedule_delay("s1") == 2.0 and named.schedule_delay("s2") == 0.0
    assert Faults().schedule_delay("s1") == 0.0


def test_reads_after_create_are_hidden_for_their_calls():
    faults = Faults.from_dict({"notFoundAfterCreate": {"calls": 1}})
    faults.note_created(RUN)
    assert not faults.hides_new("get_job_run", [OTHER])
    assert faults.hides_new("get_job_run", [RUN])
    assert not faults.hides_new("get_job_run", [RUN])


@pytest.mark.parametrize(
    "spec",
    [
        {"denials": [{"resourceIds": [RUN]}]},
        {"denials": [{"operation": "get_job", "count": -1}]},
        {"notFoundAfterCreate": {}},
        {"needsAttention": {"runIds": "x"}},
        {"failedJobDeletes": []},
        {"scheduleTransitions": {}},
        {"scheduleTransitions": {"seconds": 0}},
        {"scheduleTransitions": {"seconds": 5, "scheduleIds": "x"}},
    ],
)
def test_bad_specs_are_400(spec):
    with pytest.raises(ApiError) as err:
        Faults.from_dict(spec)
    assert err.value.status == 400


def test_deny_flag():
    assert parse_deny_flag("get_job") == {"operation": "get_job"}
    assert parse_deny_flag("delete_job:2") == {"operation": "delete_job", "count": 2}
    with pytest.raises(ValueError):
        parse_deny_flag("get_job:x")


def _answers(spec: dict[str, object], calls: int = 200) -> list[int | None]:
    faults = Faults.from_dict(spec)
    return [faults.pick_error("get_job") for _ in range(calls)]


def test_one_rule_answers_a_seeded_mix_of_statuses():
    spec = {"errors": [{"operation": "*", "statuses": [429, 500, 503], "rate": 0.3}], "seed": 7}
    answers = _answers(spec)
    injected = [a for a in answers if a is not None]
    assert set(injected) == {429, 500, 503}
    assert 0.2 < len(injected) / len(answers) < 0.4
    # The same seed replays the same faults; another seed does not.
    assert _answers(spec) == answers
    assert _answers({**spec, "seed": 8}) != answers
    shown = Faults.from_dict(spec).to_dict()
    assert shown["seed"] == 7 and shown["errors"][0]["statuses"] == [429, 500, 503]
    assert Faults.from_dict(shown).to_dict() == shown


def test_a_single_status_still_reads_as_status():
    faults = Faults.from_dict({"errors": [{"operation": "get_job", "status": 503, "count": 1}]})
    assert faults.to_dict()["errors"] == [{"operation": "get_job", "status": 503, "rate": 1.0, "count": 1}]
    assert [faults.pick_error("get_job"), faults.pick_error("get_job")] == [503, None]


@pytest.mark.parametrize(
    "spec",
    [
        {"errors": [{"statuses": [429, 404]}]},
        {"errors": [{"statuses": []}]},
        {"errors": [{"status": 503, "statuses": [503]}]},
        {"errors": [{"operation": "get_job"}]},
        {"seed": "x"},
    ],
)
def test_bad_error_rules_are_400(spec):
    with pytest.raises(ApiError) as err:
        Faults.from_dict(spec)
    assert err.value.status == 400
