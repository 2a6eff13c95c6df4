"""Tenancy isolation: which compartments a namespace may use (core/tenancy.py), the gate in front of
every OCI write (workflows/tenancy.py), the namespace annotations it reads, and its settings.

The TrainingJob gate's whole step loop is in scenarios/job_workflow.yaml (the `tenancy` scenarios).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fake_oci import FakeDataScience
from ocids_operator import __main__ as entry
from ocids_operator.adapters.namespaces import NamespaceDirectory
from ocids_operator.api import TrainingJobRunSpec, TrainingJobSpec
from ocids_operator.core import tenancy
from ocids_operator.core.errors import RECHECKED_WHILE_STALLED, ReconcileError
from ocids_operator.core.tenancy import CompartmentPolicy, Reference
from ocids_operator.runtime import Runtime
from ocids_operator.settings import SettingsError, load_settings
from ocids_operator.workflows import tenancy as gate

COMP = "ocid1.compartment.oc1..comp"
OTHER = "ocid1.compartment.oc1..other"
PROJECT = "ocid1.datascienceproject.oc1..proj"
ANNOTATION = tenancy.ALLOWED_COMPARTMENTS_ANNOTATION


@pytest.mark.parametrize(
    ("annotations", "policy", "default", "allowed", "refused"),
    [
        pytest.param(
            {ANNOTATION: f" {COMP} ,, {OTHER}"}, "annotated", (), [COMP, OTHER], ["x"], id="annotation"
        ),
        pytest.param(
            {ANNOTATION: ""}, "open", (), [], [COMP], id="empty-annotation-grants-nothing-even-open"
        ),
        pytest.param(
            {ANNOTATION: COMP}, "open", (OTHER,), [COMP], [OTHER], id="annotation-wins-over-default"
        ),
        pytest.param({}, "annotated", (), [], [COMP], id="no-annotation-annotated-policy"),
        pytest.param({}, "annotated", (OTHER,), [OTHER], [COMP], id="no-annotation-default-list"),
        pytest.param({}, "open", (), [COMP, OTHER], [], id="no-annotation-open-policy"),
    ],
)
def test_allowance(
    annotations: dict[str, str], policy: str, default: tuple[str, ...], allowed: list[str], refused: list[str]
) -> None:
    allow = tenancy.allowance("ml", annotations, CompartmentPolicy(policy), default)
    assert all(allow.allows(c) for c in allowed)
    assert not any(allow.allows(c) for c in refused)


def test_refusals_name_the_compartment_the_resource_and_what_to_change() -> None:
    allow = tenancy.allowance("ml", {}, CompartmentPolicy.ANNOTATED)
    direct = tenancy.compartment_refusal(allow, Reference("compartmentId", COMP), COMP)
    assert direct is not None and direct.outcome.reason == "CompartmentNotAllowed"
    assert f"compartment {COMP} (compartmentId) is not allowed for namespace ml" in direct.outcome.message
    assert "ocids.io/allowed-compartments" in direct.outcome.message
    via = tenancy.compartment_refusal(
        tenancy.allowance("ml", {ANNOTATION: COMP}, CompartmentPolicy.OPEN),
        Reference("projectId", PROJECT),
        OTHER,
    )
    assert via is not None and f"projectId {PROJECT} is in compartment {OTHER}" in via.outcome.message
    assert "not listed in its annotation ocids.io/allowed-compartments" in via.outcome.message
    assert tenancy.compartment_refusal(allow, Reference("projectId", PROJECT), None) is not None
    open_ = tenancy.allowance("ml", {}, CompartmentPolicy.OPEN)
    assert tenancy.compartment_refusal(open_, Reference("projectId", PROJECT), None) is None


def test_a_revoked_grant_is_looked_at_again_by_the_resync() -> None:
    # Granted again by an admin, an Active job recovers without a spec change.
    assert tenancy.COMPARTMENT_NOT_ALLOWED in RECHECKED_WHILE_STALLED


JOB_SPEC = {
    "compartmentId": COMP,
    "projectId": PROJECT,
    "artifact": {"inline": {"fileName": "train.py", "content": "print(1)"}},
    "infrastructure": {
        "shape": "VM.Standard.E4.Flex",
        "ocpus": 1,
        "memoryInGBs": 16,
        "subnetId": "ocid1.subnet.oc1..jobnet",
    },
    "logging": {"enabled": True, "logGroupId": "ocid1.loggroup.oc1..joblogs", "logId": "ocid1.log.oc1..l"},
}


def test_a_run_is_checked_for_its_job_and_its_own_overrides() -> None:
    job = TrainingJobSpec.model_validate(JOB_SPEC)
    run = TrainingJobRunSpec.model_validate(
        {
            "jobRef": {"name": "train"},
            "infrastructure": {
                "shape": "VM.Standard.E4.Flex",
                "ocpus": 1,
                "memoryInGBs": 16,
                "subnetId": "ocid1.subnet.oc1..runnet",
            },
            "logging": {"enabled": True, "logGroupId": "ocid1.loggroup.oc1..runlogs", "autoCreateLog": True},
        }
    )
    refs = [(ref.field, ref.ocid) for ref in tenancy.run_references(run, job)]
    assert refs == [
        ("TrainingJob train compartmentId", COMP),
        ("TrainingJob train projectId", PROJECT),
        ("TrainingJob train logging.logGroupId", "ocid1.loggroup.oc1..joblogs"),
        ("TrainingJob train infrastructure.subnetId", "ocid1.subnet.oc1..jobnet"),
        ("logging.logGroupId", "ocid1.loggroup.oc1..runlogs"),
        ("infrastructure.subnetId", "ocid1.subnet.oc1..runnet"),
    ]


class Namespaces:
    def __init__(self, annotations: dict[str, str]) -> None:
        self.values = annotations

    async def annotations(self, namespace: str) -> dict[str, str]:
        return dict(self.values)


def _runtime(oci: FakeDataScience, annotations: dict[str, str], policy: str = "annotated") -> Runtime:
    settings = load_settings(compartment_policy=policy)
    rt = Runtime(settings, oci, None, None)  # type: ignore[arg-type]
    rt.namespaces = Namespaces(annotations)  # type: ignore[assignment]
    return rt


@pytest.mark.parametrize(
    ("where", "refused_field"),
    [
        ({}, None),
        ({"ocid1.subnet.oc1..runnet": OTHER}, "infrastructure.subnetId ocid1.subnet.oc1..runnet"),
        ({"ocid1.loggroup.oc1..runlogs": OTHER}, "logging.logGroupId ocid1.loggroup.oc1..runlogs"),
        ({"ocid1.loggroup.oc1..joblogs": OTHER}, "TrainingJob train logging.logGroupId"),
    ],
)
def test_the_run_gate_refuses_an_override_in_a_compartment_not_granted(
    where: dict[str, str], refused_field: str | None
) -> None:
    oci = FakeDataScience()
    oci.compartments = {
        PROJECT: COMP,
        "ocid1.subnet.oc1..jobnet": COMP,
        "ocid1.subnet.oc1..runnet": COMP,
        "ocid1.loggroup.oc1..joblogs": COMP,
        "ocid1.loggroup.oc1..runlogs": COMP,
        **where,
    }
    job = TrainingJobSpec.model_validate(JOB_SPEC)
    run = TrainingJobRunSpec.model_validate(
        {
            "jobRef": {"name": "train"},
            "infrastructure": {
                "shape": "VM.Standard.E4.Flex",
                "ocpus": 1,
                "memoryInGBs": 16,
                "subnetId": "ocid1.subnet.oc1..runnet",
            },
            "logging": {"enabled": True, "logGroupId": "ocid1.loggroup.oc1..runlogs", "autoCreateLog": True},
        }
    )
    rt = _runtime(oci, {ANNOTATION: COMP})
    if refused_field is None:
        asyncio.run(gate.admit_run(rt, "ml", run, job))
        return
    with pytest.raises(ReconcileError) as info:
        asyncio.run(gate.admit_run(rt, "ml", run, job))
    assert info.value.outcome.reason == "CompartmentNotAllowed"
    assert refused_field in info.value.outcome.message and OTHER in info.value.outcome.message


def test_the_run_gate_refuses_a_namespace_granted_nothing_without_any_oci_call() -> None:
    oci = FakeDataScience()
    job = TrainingJobSpec.model_validate(JOB_SPEC)
    run = TrainingJobRunSpec.model_validate({"jobRef": {"name": "train"}})
    with pytest.raises(ReconcileError, match="is not allowed for namespace ml"):
        asyncio.run(gate.admit_run(_runtime(oci, {}), "ml", run, job))
    assert oci.calls == []
    asyncio.run(gate.admit_run(_runtime(oci, {}, policy="open"), "ml", run, job))
    assert oci.calls == []


class Kube:
    def __init__(self) -> None:
        self.annotations: dict[str, str] = {ANNOTATION: COMP}
        self.reads = 0

    async def request(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        assert (method, path) == ("GET", "/api/v1/namespaces/ml")
        self.reads += 1
        return {"metadata": {"name": "ml", "annotations": dict(self.annotations)}}


def test_namespace_annotations_are_cached_and_an_admins_edit_shows_after_the_ttl() -> None:
    kube, now = Kube(), [0.0]
    directory = NamespaceDirectory(kube, ttl=10, clock=lambda: now[0])  # type: ignore[arg-type]

    async def read_many() -> list[dict[str, str]]:
        return list(await asyncio.gather(*(directory.annotations("ml") for _ in range(20))))

    assert asyncio.run(read_many()) == [{ANNOTATION: COMP}] * 20
    assert kube.reads == 1
    kube.annotations = {ANNOTATION: OTHER}
    now[0] = 9.9
    assert asyncio.run(directory.annotations("ml")) == {ANNOTATION: COMP}
    now[0] = 10.0
    assert asyncio.run(directory.annotations("ml")) == {ANNOTATION: OTHER}
    assert kube.reads == 2


def test_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCIDS_COMPARTMENT_POLICY")
    settings = load_settings()
    assert settings.compartment_policy is CompartmentPolicy.ANNOTATED
    assert settings.default_allowed_compartments == []
    assert entry.open_policy_warning(settings) is None
    monkeypatch.setenv("OCIDS_COMPARTMENT_POLICY", "open")
    monkeypatch.setenv("OCIDS_DEFAULT_ALLOWED_COMPARTMENTS", f"{COMP}, {OTHER},")
    settings = load_settings()
    assert settings.default_allowed_compartments == [COMP, OTHER]
    monkeypatch.delenv("OCIDS_DEFAULT_ALLOWED_COMPARTMENTS")
    warning = entry.open_policy_warning(load_settings())
    assert warning is not None and "OCIDS_COMPARTMENT_POLICY=open" in warning
    monkeypatch.setenv("OCIDS_COMPARTMENT_POLICY", "everyone")
    with pytest.raises(SettingsError, match="OCIDS_COMPARTMENT_POLICY"):
        load_settings()
