"""Shapes as OCI offers them to a compartment: the check of a named shape, and fast launch's pick. Pure.

The CRD takes any well-formed shape name (new shapes appear in OCI before any release of this
operator could list them), so whether a compartment can use it is only known from OCI's own
`ListJobShapes`; `workflows/shape_gate.py` reads it and asks here.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Sequence

from ..api import TrainingJobRunSpec, TrainingJobSpec
from .errors import NO_FAST_LAUNCH_CONFIG, UNKNOWN_SHAPE, ReconcileError, stalled
from .model import num

CLOSEST = 3


@dataclasses.dataclass(frozen=True)
class FastLaunchConfig:
    """One entry of ListFastLaunchJobConfigs, in the core's words."""

    name: str
    shape_name: str
    core_count: int | None = None
    memory_in_gbs: int | None = None
    # REQUIRED | SUPPORTED | UNSUPPORTED (OCI's words; anything newer is taken as UNSUPPORTED).
    managed_egress_support: str | None = None


@dataclasses.dataclass(frozen=True)
class ShapeUse:
    """A shape a spec sends to OCI, and the field that names it (for the message)."""

    shape: str
    field: str


def job_shape_uses(spec: TrainingJobSpec) -> list[ShapeUse]:
    """Every shape a TrainingJob sends to OCI as it names it. A fastLaunch shape is left to the fast
    launch configs (choose_fast_launch); a compute target's nodes have no shape of their own."""
    infra = spec.infrastructure
    uses = []
    if infra.shape and not infra.fast_launch and not infra.compute_target_id:
        uses.append(ShapeUse(infra.shape, "spec.infrastructure.shape"))
    for group in spec.nodes.groups if spec.nodes is not None else ():
        if group.infrastructure is not None and group.infrastructure.shape:
            uses.append(
                ShapeUse(group.infrastructure.shape, f"spec.nodes.groups[{group.name}].infrastructure.shape")
            )
    return uses


def run_shape_uses(run: TrainingJobRunSpec) -> list[ShapeUse]:
    """The shapes a run's own overrides send (the TrainingJob's were checked when it was applied)."""
    uses = []
    if run.infrastructure is not None and run.infrastructure.shape:
        uses.append(ShapeUse(run.infrastructure.shape, "spec.infrastructure.shape"))
    for group in run.node_groups or ():
        if group.infrastructure is not None and group.infrastructure.shape:
            uses.append(
                ShapeUse(group.infrastructure.shape, f"spec.nodeGroups[{group.name}].infrastructure.shape")
            )
    return uses


def closest(name: str, offered: Iterable[str], count: int = CLOSEST) -> list[str]:
    """The offered names most like `name`, best first; at least one whenever anything is offered."""
    names = sorted(set(offered))
    found = difflib.get_close_matches(name, names, n=count, cutoff=0.4)
    if not found:
        lowered = {n.lower(): n for n in names}
        found = [
            lowered[n] for n in difflib.get_close_matches(name.lower(), list(lowered), n=count, cutoff=0)
        ]
    return found


def unknown_shape_message(use: ShapeUse, compartment_id: str, offered: Sequence[str]) -> str:
    near = closest(use.shape, offered)
    hint = f"closest: {', '.join(near)}" if near else "OCI lists no job shape for it"
    return (
        f'{use.field}: shape "{use.shape}" is not offered in compartment {compartment_id}; {hint} '
        "(OCI's ListJobShapes; nothing was sent to OCI)"
    )


def check_shapes(
    uses: Iterable[ShapeUse], compartment_id: str, offered: Iterable[str]
) -> ReconcileError | None:
    """The refusal for the first shape the compartment does not offer, or None when all are offered."""
    catalog = set(offered)
    for use in uses:
        if use.shape not in catalog:
            return stalled(UNKNOWN_SHAPE, unknown_shape_message(use, compartment_id, sorted(catalog)))
    return None


# Managed egress (no subnet) needs a config whose shape supports it; a subnet one that allows a VNIC.
_FITS_EGRESS = {True: ("REQUIRED", "SUPPORTED"), False: ("SUPPORTED", "UNSUPPORTED")}


def choose_fast_launch(
    configs: Sequence[FastLaunchConfig],
    shape: str | None,
    managed_egress: bool,
    *,
    ocpus: float | None = None,
    memory_in_gbs: float | None = None,
    prefer: str | None = None,
) -> FastLaunchConfig | None:
    """The config a fastLaunch job runs with: its shape when one is asked for, its size when ocpus or
    memoryInGBs is (a config's size replaces the spec's, so only one of that size fits), and one whose
    managed-egress support fits the network (no subnet: REQUIRED or SUPPORTED; a subnet: SUPPORTED or
    UNSUPPORTED). `prefer` (the config the job already runs with) while it still fits, so a config
    OCI adds later does not move a running job; else the smallest (cores, memory, then name)."""
    fitting = [
        config
        for config in configs
        if (shape is None or config.shape_name == shape)
        and (ocpus is None or num(config.core_count) == num(ocpus))
        and (memory_in_gbs is None or num(config.memory_in_gbs) == num(memory_in_gbs))
        and (config.managed_egress_support or "UNSUPPORTED") in _FITS_EGRESS[managed_egress]
    ]
    if not fitting:
        return None
    preferred = [config for config in fitting if config.name == prefer]
    if preferred:
        return preferred[0]
    return min(fitting, key=lambda c: (c.core_count or 0, c.memory_in_gbs or 0, c.name))


def _size(ocpus: float | None, memory_in_gbs: float | None) -> str:
    parts = [
        f"{num(ocpus):g} OCPU" if ocpus is not None else "",
        f"{num(memory_in_gbs):g} GB" if memory_in_gbs is not None else "",
    ]
    return ", ".join(part for part in parts if part)


def no_fast_launch_message(
    configs: Sequence[FastLaunchConfig],
    shape: str | None,
    managed_egress: bool,
    compartment_id: str,
    *,
    ocpus: float | None = None,
    memory_in_gbs: float | None = None,
) -> str:
    network = "managed egress (no subnetId)" if managed_egress else "a subnetId"
    size = _size(ocpus, memory_in_gbs)
    asked = " ".join(
        part for part in (f'shape "{shape}"' if shape else "", f"of {size}" if size else "") if part
    )
    asked = f"{asked} with {network}" if asked else network
    offered = ", ".join(
        f"{c.name} ({c.shape_name}{', ' + _size(c.core_count, c.memory_in_gbs) if size else ''}, "
        f"egress {c.managed_egress_support})"
        for c in configs
    )
    return (
        "spec.infrastructure.fastLaunch: no fast launch config in compartment "
        f"{compartment_id} fits {asked}; "
        f"offered: {offered or 'none'} (OCI's ListFastLaunchJobConfigs; nothing was sent to OCI)"
    )


def fast_launch_refusal(
    configs: Sequence[FastLaunchConfig],
    shape: str | None,
    managed_egress: bool,
    compartment_id: str,
    *,
    ocpus: float | None = None,
    memory_in_gbs: float | None = None,
) -> ReconcileError:
    message = no_fast_launch_message(
        configs, shape, managed_egress, compartment_id, ocpus=ocpus, memory_in_gbs=memory_in_gbs
    )
    return stalled(NO_FAST_LAUNCH_CONFIG, message)
