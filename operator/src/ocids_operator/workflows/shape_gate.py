"""The shape gate: a shape goes to OCI only if the compartment's ListJobShapes offers it, and a
fastLaunch job gets its shape from the compartment's fast launch configs.

Called after the tenancy gate (workflows/tenancy.py), so a compartment the namespace was not granted
costs no OCI call here either, and right before each write that sends a shape: CreateJob (first,
new revision, re-creation), UpdateJob (in place, adoption) and CreateJobRun with infrastructure or
node-group overrides. The catalogs are cached per (identity, compartment) by the gateway
(OCIDS_SHAPE_CACHE_SECONDS); a name missing from the cached answer is looked up once more before it
is refused, so a shape the tenancy just gained is taken at once. A refusal is a stalled
`UnknownShape` / `NoFastLaunchConfig`, re-checked while stalled (errors.RECHECKED_WHILE_STALLED): it
heals when the tenancy gains the shape, without an edit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import shapes
from ..api import TrainingJobRunSpec, TrainingJobSpec
from ..core.conditions import STALLED
from ..core.job_plan import InfrastructureKey
from ..core.model import num
from ..core.shape_choice import (
    ShapeUse,
    check_shapes,
    choose_fast_launch,
    fast_launch_refusal,
    job_shape_uses,
    run_shape_uses,
)
from ..runtime import Runtime


async def check_job(rt: Runtime, spec: TrainingJobSpec) -> None:
    """Raises a stalled ReconcileError unless every shape the TrainingJob sends is offered."""
    await _check(rt, job_shape_uses(spec), spec.compartment_id)


async def check_run(rt: Runtime, run: TrainingJobRunSpec, job: TrainingJobSpec) -> None:
    """The run's own shapes (overrides), in its TrainingJob's compartment, where the run is made."""
    await _check(rt, run_shape_uses(run), job.compartment_id)


async def _check(rt: Runtime, uses: Sequence[ShapeUse], compartment_id: str) -> None:
    if not uses:
        return
    offered = await rt.oci.list_job_shapes(compartment_id)
    if check_shapes(uses, compartment_id, offered) is None:
        return
    refusal = check_shapes(uses, compartment_id, await rt.oci.list_job_shapes(compartment_id, fresh=True))
    if refusal is not None:
        raise refusal


async def with_fast_launch(
    rt: Runtime, spec: TrainingJobSpec, status: Mapping[str, Any] | None = None, generation: int | None = None
) -> tuple[TrainingJobSpec, str | None]:
    """The spec as it goes to OCI, and the fast launch config it uses (None without fastLaunch).

    With fastLaunch the shape (and for a .Flex shape the config's cores and memory) comes from the
    chosen config, so planning, mapping and status only ever see a spec with a shape. The config in
    status.fastLaunchConfig is kept while it still fits, so a config OCI adds later does not move a
    running job. A job made for this very spec (status.observedGeneration is the generation) keeps
    the shape it has when no config fits any more or the list cannot be read: the OCI job works, and
    only a new job or an edited spec needs a config.
    """
    infra = spec.infrastructure
    if not infra.fast_launch:
        return spec, None
    status = status or {}
    current = status.get("fastLaunchConfig")
    # A stalled refusal of this generation (e.g. an edit no config fits) also records it: not made.
    made_for_spec = (
        generation is not None
        and status.get("observedGeneration") == generation
        and not any(
            c.get("type") == STALLED and c.get("status") == "True" for c in status.get("conditions") or []
        )
    )
    job_id = status.get("jobId") if made_for_spec else None
    managed_egress = infra.subnet_id is None
    size = {"ocpus": infra.ocpus, "memory_in_gbs": infra.memory_in_gbs}
    try:
        configs = await rt.oci.list_fast_launch_job_configs(spec.compartment_id)
        chosen = choose_fast_launch(configs, infra.shape, managed_egress, prefer=current, **size)
        if chosen is None:
            configs = await rt.oci.list_fast_launch_job_configs(spec.compartment_id, fresh=True)
            chosen = choose_fast_launch(configs, infra.shape, managed_egress, prefer=current, **size)
    except Exception:
        kept = await _current_shape(rt, spec, job_id) if job_id else None
        if kept is None:
            raise
        return kept, current
    if chosen is None:
        kept = await _current_shape(rt, spec, job_id) if job_id else None
        if kept is None:
            raise fast_launch_refusal(configs, infra.shape, managed_egress, spec.compartment_id, **size)
        return kept, current
    return _sized(spec, chosen.shape_name, chosen.core_count, chosen.memory_in_gbs), chosen.name


async def _current_shape(rt: Runtime, spec: TrainingJobSpec, job_id: str) -> TrainingJobSpec | None:
    """The spec with the shape and size the OCI job has now; None when it is gone or has no shape."""
    observed = await rt.oci.get_job(job_id)
    if observed is None or len(observed.in_place.infrastructure) < len(InfrastructureKey._fields):
        return None
    compute = InfrastructureKey(*observed.in_place.infrastructure)
    infra = spec.infrastructure
    # Only what the spec still asks for: its shape and size when it names them, and its network.
    asked = (
        (infra.shape, compute.shape),
        (num(infra.ocpus), compute.ocpus),
        (num(infra.memory_in_gbs), compute.memory_in_gbs),
    )
    if not compute.shape or any(want is not None and want != have for want, have in asked):
        return None
    if compute.subnet_id != infra.subnet_id:
        return None
    return _sized(spec, compute.shape, compute.ocpus, compute.memory_in_gbs)


def _sized(
    spec: TrainingJobSpec, shape: str, ocpus: float | None, memory_in_gbs: float | None
) -> TrainingJobSpec:
    infra = spec.infrastructure
    sized = shapes.is_flex(shape)
    update = {
        "shape": shape,
        "ocpus": float(ocpus) if sized and ocpus else None,
        "memory_in_gbs": float(memory_in_gbs) if sized and memory_in_gbs else None,
    }
    if not sized:
        update["cpu_baseline"] = None
    return spec.model_copy(update={"infrastructure": infra.model_copy(update=update)})
