"""One vocabulary: the core's enums, the API's phase types and the per-kind descriptors agree."""

from __future__ import annotations

import typing

import pytest
from ocids_operator import api
from ocids_operator.api import ApiModel, TrainingJobPhase, TrainingJobRunPhase
from ocids_operator.core import phases
from ocids_operator.core.kinds import KINDS
from ocids_operator.core.phases import JobPhase, RunPhase, RunState


def test_phase_enums_spell_the_phases_the_api_declares() -> None:
    assert {p.value for p in RunPhase} == set(typing.get_args(TrainingJobRunPhase))
    assert {p.value for p in JobPhase} == set(typing.get_args(TrainingJobPhase))
    assert phases.TERMINAL_RUN_PHASES == api.TERMINAL_RUN_PHASES


def test_every_oci_run_state_has_a_phase_and_back() -> None:
    for state in RunState:
        assert state.phase.state is state
    assert RunPhase.PENDING.state is None
    assert RunState.of("SOMETHING_NEWER") is None


def test_active_and_terminal_split_the_run_phases() -> None:
    assert not phases.ACTIVE_RUN_PHASES & phases.TERMINAL_RUN_PHASES
    assert phases.ACTIVE_RUN_PHASES | phases.TERMINAL_RUN_PHASES | {RunPhase.PENDING} == set(RunPhase)


def test_each_kind_names_a_served_resource_and_a_status_field_it_declares() -> None:
    assert [kind.resource for kind in KINDS] == list(api.RESOURCES)
    for kind in KINDS:
        aliases = {field.alias for field in kind.status_model.model_fields.values()}
        assert kind.oci_id_field in aliases
        assert kind.status_model is kind.resource.status_model


def _models() -> list[type[ApiModel]]:
    found, todo = [], list(ApiModel.__subclasses__())
    while todo:
        model = todo.pop()
        found.append(model)
        todo += model.__subclasses__()
    return found


@pytest.mark.parametrize("model", [m for m in _models() if m.cel_rules], ids=lambda m: m.__name__)
def test_cel_rule_names_are_unique_per_model(model: type[ApiModel]) -> None:
    names = [rule.name for rule in model.cel_rules if rule.name]
    assert len(names) == len(set(names))
    for name in names:
        assert model.cel_rule(name).name == name
