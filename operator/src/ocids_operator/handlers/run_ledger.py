"""The kopf index behind the run ledger (workflows/run_ledger.py): every TrainingJobRun by
namespace, as core/run_entry.py keeps it. Handlers that gate runs hand it to the ledger."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from ..core.kinds import TRAINING_JOB_RUN_KIND
from ..core.run_entry import run_entry
from ..runtime import Runtime

LEDGER_INDEX = "runs_by_namespace"


def index_run(body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {str(body["metadata"]["namespace"]): run_entry(body)}


def register(registry: kopf.OperatorRegistry) -> None:
    # Watch-fed: kopf fills it before any handler runs.
    kopf.index(*TRAINING_JOB_RUN_KIND.gvr, id=LEDGER_INDEX, registry=registry)(index_run)


def attach(memo: Any, handler_kwargs: Mapping[str, Any]) -> None:
    """Give the ledger the index (kopf hands every handler every index, by its id)."""
    rt, index = getattr(memo, "runtime", None), handler_kwargs.get(LEDGER_INDEX)
    if isinstance(rt, Runtime) and index is not None and not rt.ledger.attached:
        rt.ledger.attach(index)
    if isinstance(rt, Runtime) and not rt.budgets.attached:  # the budgets' indexes, the same way
        rt.budgets.attach_from(handler_kwargs)
