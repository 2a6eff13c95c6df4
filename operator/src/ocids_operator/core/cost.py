"""What a run costs by the price table: its nodes' sizes, its price per hour, its worst case, and
its estimate once it ended. Pure.

OCI bills a Data Science job run for its compute (OCPUs and memory, or GPUs for GPU shapes) and its
block storage, from when it starts running to when it ends, for every node it has. List prices only:
discounts, credits and free tiers are OCI's business and show in the actual cost (Usage API).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..api import TrainingJobRunSpec, TrainingJobSpec
from ..api.common import Infrastructure, NodeInfrastructure
from ..api.cost import CostBasis, CostEstimate, RunCost
from .history import finished_at
from .price_table import HOURS_PER_MONTH, PriceRow, PriceTable
from .times import parse_time

_TRAILING_NUMBER = re.compile(r"\.(\d+)$")
# Money is shown with cents; the sums keep more so a long run's rounding does not drift.
DIGITS = 4


@dataclasses.dataclass(frozen=True)
class NodeSize:
    """`count` nodes of one shape and size (a single-node run: one; a multi-node run: one per group)."""

    shape: str
    ocpus: float | None = None
    memory_in_gbs: float | None = None
    block_storage_in_gbs: int = 0
    count: int = 1
    # GPUs per node when known from elsewhere (None: from the price row or the shape's name).
    gpus: int | None = None


def gpus_per_node(shape: str, row: PriceRow | None = None) -> int:
    """GPUs of one node: the row's `gpus`, else a GPU shape's trailing number (BM.GPU.H100.8 -> 8)."""
    if row is not None and row.gpus is not None:
        return row.gpus
    if "GPU" in shape:
        found = _TRAILING_NUMBER.search(shape)
        if found:
            return int(found.group(1))
    return 0


def node_price_per_hour(size: NodeSize, table: PriceTable) -> float | None:
    """One node's price per hour; None when no row prices its shape, or a figure it needs is unknown
    (a fixed shape priced per OCPU or GB whose row does not give its OCPUs or memory)."""
    row = table.row_for(size.shape)
    if row is None:
        return None
    ocpus = size.ocpus if size.ocpus is not None else row.ocpus
    memory = size.memory_in_gbs if size.memory_in_gbs is not None else row.memory_gbs
    if (row.ocpu_hour and ocpus is None) or (row.memory_gb_hour and memory is None):
        return None
    gpus = size.gpus if size.gpus is not None else gpus_per_node(size.shape, row)
    block = table.block_storage.gb_month / HOURS_PER_MONTH if table.block_storage else 0.0
    return (
        (ocpus or 0.0) * row.ocpu_hour
        + (memory or 0.0) * row.memory_gb_hour
        + gpus * row.gpu_hour
        + size.block_storage_in_gbs * block
    )


def price_per_hour(sizes: Sequence[NodeSize], table: PriceTable) -> float | None:
    """What all the nodes cost per hour together; None when any of them cannot be priced."""
    total = 0.0
    for size in sizes:
        one = node_price_per_hour(size, table)
        if one is None:
            return None
        total += one * size.count
    return total


def price_problem(sizes: Sequence[NodeSize], table: PriceTable | None) -> str | None:
    """Why the run has no price (for a message), or None when it has one."""
    if table is None:
        return "there is no price table"
    where = f"the price table {table.name}" if table.name else "the price table"
    for size in sizes:
        row = table.row_for(size.shape)
        if row is None:
            return f"{where} has no row for shape {size.shape}"
        if node_price_per_hour(size, table) is None:
            return (
                f"{where} row {row.match} prices {size.shape} per OCPU or GB, and the shape's OCPUs "
                f"or memory are unknown (set ocpus and memoryGBs on the row)"
            )
    return None


def run_sizes(run: TrainingJobRunSpec, job: TrainingJobSpec) -> list[NodeSize] | str:
    """The nodes a run gets (its overrides over its TrainingJob, a fast launch shape already resolved
    into the job's), or why it has no sizes the price table can price."""
    if job.nodes is not None:
        try:
            nodes = job.nodes.with_overrides(run.node_groups)
        except ValueError as exc:
            return str(exc)
        sizes = []
        for group in nodes.groups:
            try:
                node = group.effective_infrastructure(job.infrastructure)
            except ValueError as exc:
                return str(exc)
            sizes.append(_size(node, group.replicas))
        return sizes
    infra = job.infrastructure.with_override(run.infrastructure)
    if infra.compute_target_id is not None:
        return "it runs on a compute target, whose own instances are billed"
    if infra.shape is None:
        return "its shape is not known yet (fast launch)"
    return [_size(infra, 1)]


def _size(infra: Infrastructure | NodeInfrastructure, count: int) -> NodeSize:
    assert infra.shape is not None
    return NodeSize(
        shape=infra.shape,
        ocpus=infra.ocpus,
        memory_in_gbs=infra.memory_in_gbs,
        block_storage_in_gbs=infra.block_storage_size_in_gbs or 0,
        count=count,
    )


def max_runtime_minutes(run: TrainingJobRunSpec, job: TrainingJobSpec) -> int | None:
    """The bound OCI puts on the run: the run's own maximumRuntimeInMinutes, else the job's."""
    return run.maximum_runtime_in_minutes or job.maximum_runtime_in_minutes


def worst_case(price: float | None, max_runtime_min: int | None) -> float | None:
    """The most a run can cost: its price per hour for its whole maximum runtime (None: unbounded)."""
    if price is None or max_runtime_min is None:
        return None
    return round(price * max_runtime_min / 60.0, DIGITS)


def cost_of(price: float, seconds: float) -> float:
    return round(price * max(seconds, 0.0) / 3600.0, DIGITS)


def estimate(
    sizes: Sequence[NodeSize], table: PriceTable, max_runtime_min: int | None = None
) -> CostEstimate | None:
    """The estimate written when the run is created: its basis, price per hour and worst case (the
    amount comes when it ends). None when it cannot be priced (price_problem says why)."""
    price = price_per_hour(sizes, table)
    if price is None or not sizes:
        return None
    # The basis names one shape: the largest group's (by what its nodes cost together).
    main = max(sizes, key=lambda s: (node_price_per_hour(s, table) or 0.0) * s.count)
    row = table.row_for(main.shape)
    assert row is not None
    basis = CostBasis(
        shape=main.shape,
        ocpus=main.ocpus if main.ocpus is not None else row.ocpus,
        memory_in_gbs=main.memory_in_gbs if main.memory_in_gbs is not None else row.memory_gbs,
        gpus=main.gpus if main.gpus is not None else gpus_per_node(main.shape, row),
        node_count=sum(s.count for s in sizes),
        block_storage_in_gbs=main.block_storage_in_gbs,
        price_per_hour=round(price, DIGITS + 2),
        price_table=table.name,
        price_date=row.date,
    )
    return CostEstimate(currency=table.currency, worst_case=worst_case(price, max_runtime_min), basis=basis)


def billed_seconds(time_started: datetime.datetime | None, time_finished: datetime.datetime | None) -> int:
    """Billed time of one attempt: started to finished (0 if it never started, or its end is unknown)."""
    if time_started is None or time_finished is None:
        return 0
    return max(int((time_finished - time_started).total_seconds()), 0)


def _attempts_timed(
    status: Mapping[str, Any],
) -> list[tuple[datetime.datetime | None, datetime.datetime | None]]:
    """(started, finished) of every attempt a run's status records (a retried run costs all of
    them), else of its one OCI run."""
    attempts = status.get("attempts") or []
    if attempts:
        return [(parse_time(a.get("timeStarted")), parse_time(a.get("timeFinished"))) for a in attempts]
    return [(parse_time(status.get("timeStarted")), parse_time(status.get("timeFinished")))]


def billed_seconds_of(status: Mapping[str, Any], ended_at: datetime.datetime | None = None) -> int:
    """Billed time of every attempt of an ended run. `ended_at`: when the run ended as the operator
    saw it (its terminal condition), for a last attempt OCI gave no timeFinished (its run deleted
    while running): billed up to then rather than not at all."""
    timed = _attempts_timed(status)
    total = 0
    for position, (started, finished) in enumerate(timed):
        if finished is None and position == len(timed) - 1:
            finished = ended_at
        total += billed_seconds(started, finished)
    return total


def was_billed(status: Mapping[str, Any]) -> bool:
    """Whether any attempt of the run started in OCI (one that never started costs nothing)."""
    return any(started is not None for started, _ in _attempts_timed(status))


def usage_ended_at(status: Mapping[str, Any]) -> datetime.datetime | None:
    """When an ended run's OCI usage ended: its (last attempt's) timeFinished, else when its terminal
    condition was written (a run deleted in OCI while running; a pending retry ended later keeps
    its last attempt's)."""
    stamps = [parse_time(status.get("timeFinished"))]
    stamps += [parse_time(a.get("timeFinished")) for a in status.get("attempts") or []]
    known = [stamp for stamp in stamps if stamp is not None]
    if known:
        return max(known)
    return finished_at(status)


def ended_cost(
    previous: Mapping[str, Any], ended: Mapping[str, Any], now: datetime.datetime | None = None
) -> RunCost | None:
    """status.cost for the write `ended` that ends a run (whole: the status writer replaces the
    member): the estimate's amount = pricePerHour x the billed time of all its attempts, and
    basis.durationSeconds. None when it had no estimate at creation (no price). `now`: when the
    write is made, the end of a last attempt OCI gave no timeFinished (its run deleted while
    running; without `now`, its terminal condition's time)."""
    cost = dict(previous.get("cost") or {})
    estimate_status = dict(cost.get("estimate") or {})
    basis = dict(estimate_status.get("basis") or {})
    price = basis.get("pricePerHour")
    if price is None:
        return None
    merged = {**previous, **ended}
    seconds = billed_seconds_of(merged, now if now is not None else finished_at(merged))
    basis["durationSeconds"] = seconds
    estimate_status.update(amount=cost_of(float(price), seconds), basis=basis)
    return RunCost.model_validate({**cost, "estimate": estimate_status})


def created_cost(previous: Mapping[str, Any], estimate: CostEstimate) -> RunCost:
    """status.cost for the write that records a create attempt: the new estimate (basis, price,
    worst case), whatever else status.cost holds kept."""
    cost = dict(previous.get("cost") or {})
    cost["estimate"] = estimate.model_dump(mode="json", by_alias=True, exclude_none=True)
    return RunCost.model_validate(cost)


def running_amount(
    estimate_status: Mapping[str, Any] | None, time_started: datetime.datetime | None, now: datetime.datetime
) -> float | None:
    """What a running run has cost so far (pricePerHour x elapsed), for `kubectl ocids runs`."""
    basis = (estimate_status or {}).get("basis") or {}
    price = basis.get("pricePerHour")
    if price is None or time_started is None:
        return None
    return cost_of(float(price), (now - time_started).total_seconds())


def recorded_cost(status: Mapping[str, Any]) -> tuple[float, str | None, bool] | None:
    """What an ended run cost as its status records it: (amount, currency, whether it is OCI's
    actual figure). OCI's final actual cost; before it is final (usage still arriving), the larger of
    the partial actual and the estimate; None when neither is known (no price, or not ended)."""
    cost = status.get("cost") or {}
    actual, estimate_status = cost.get("actual") or {}, cost.get("estimate") or {}
    currency = actual.get("currency") or estimate_status.get("currency")
    reported, estimated = actual.get("amount"), estimate_status.get("amount")
    if reported is not None and (actual.get("final") or estimated is None or reported >= estimated):
        return float(reported), currency, True
    if estimated is not None:
        return float(estimated), estimate_status.get("currency"), False
    return None
