"""Unit tests of the workflows exercise other rules than tenancy isolation: they run with
OCIDS_COMPARTMENT_POLICY=open (as before the allow-list existed). The allow-list has its own tests
(tests/unit/operator/test_op_tenancy.py and the `tenancy` job_workflow scenarios), which set the
policy explicitly."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _open_compartment_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIDS_COMPARTMENT_POLICY", "open")
