"""What ends with a job run, on every path that ends it (the run's execution, a cancel the
emulator finishes itself, a restart): its node groups and the files only its VM would hold.

In OCI the run's nodes and VM are gone once the run is terminal: the node groups read DELETED
(FAILED stays: it says which group sank the run), and the resource principal key and token and
the storage mount copies go with the VM. The run's ``work/`` folders and ``output.log`` stay for
inspection (the emulator's own addition).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

RUNS_DIR = "runs"
# Folders of a run (or of each node of a multi-node run) that live only as long as its VM.
VM_ONLY = ("resource-principal", "mounts")
GROUP_DETAILS = {
    "SUCCEEDED": "Node group finished.",
    "CANCELED": "Node group stopped: the job run was canceled.",
}
ENDED_DETAILS = "Node group stopped: the job run ended."


def closed_node_groups(groups: Any, state: str) -> list[dict[str, Any]] | None:
    """The run's nodeGroupDetailsList once it ended in ``state``: every group not FAILED is DELETED
    with why (None when nothing changes)."""
    if not isinstance(groups, list) or not groups:
        return None
    changed = False
    closed = []
    for group in groups:
        if group.get("lifecycleState") in ("FAILED", "DELETED"):
            closed.append(group)
            continue
        changed = True
        details = GROUP_DETAILS.get(state, ENDED_DETAILS)
        closed.append({**group, "lifecycleState": "DELETED", "lifecycleDetails": details})
    return closed if changed else None


def release_run_files(data_dir: Path, run_id: str) -> None:
    """Remove what only the run's VM held: its resource principal and its mount copies (a shared
    FILE_STORAGE export is bind-mounted, not copied, so it stays)."""
    folder = data_dir / RUNS_DIR / run_id
    if not folder.is_dir():
        return
    for place in [folder, *(p for p in folder.iterdir() if p.is_dir())]:
        for name in VM_ONLY:
            shutil.rmtree(place / name, ignore_errors=True)
