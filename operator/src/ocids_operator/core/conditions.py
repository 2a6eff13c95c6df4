"""kstatus conditions, as the core sees them.

The module itself stays at `ocids_operator.conditions` for now (it is being changed on main; it
moves here once merged); the core imports it through this name so that move touches one line.
"""

from ..conditions import (
    FAILED,
    READY,
    RECONCILING,
    STALLED,
    SUCCEEDED,
    Cond,
    Health,
    health_conditions,
    merge_conditions,
    now_rfc3339,
    with_health,
)

__all__ = [
    "FAILED",
    "READY",
    "RECONCILING",
    "STALLED",
    "SUCCEEDED",
    "Cond",
    "Health",
    "health_conditions",
    "merge_conditions",
    "now_rfc3339",
    "with_health",
]
