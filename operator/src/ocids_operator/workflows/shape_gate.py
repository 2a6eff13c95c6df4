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

from collections.abc import Sequence

from .. import shapes
from ..api import TrainingJobRunSpec, TrainingJobSpec
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


async def with_fast_launch(rt: Runtime, spec: TrainingJobSpec) -> tuple[TrainingJobSpec, str | None]:
    """The spec as it goes to OCI, and the fast launch config it uses (None without fastLaunch).

    With fastLaunch the shape (and for a .Flex shape the config's cores and memory) comes from the
    chosen config, so planning, mapping and status only ever see a spec with a shape.
    """
    infra = spec.infrastructure
    if not infra.fast_launch:
        return spec, None
    managed_egress = infra.subnet_id is None
    configs = await rt.oci.list_fast_launch_job_configs(spec.compartment_id)
    chosen = choose_fast_launch(configs, infra.shape, managed_egress)
    if chosen is None:
        configs = await rt.oci.list_fast_launch_job_configs(spec.compartment_id, fresh=True)
        chosen = choose_fast_launch(configs, infra.shape, managed_egress)
    if chosen is None:
        raise fast_launch_refusal(configs, infra.shape, managed_egress, spec.compartment_id)
    sized = shapes.is_flex(chosen.shape_name)
    update = {
        "shape": chosen.shape_name,
        "ocpus": float(chosen.core_count) if sized and chosen.core_count else None,
        "memory_in_gbs": float(chosen.memory_in_gbs) if sized and chosen.memory_in_gbs else None,
    }
    if not sized:
        update["cpu_baseline"] = None
    resolved = spec.model_copy(update={"infrastructure": infra.model_copy(update=update)})
    return resolved, chosen.name
