"""What runs cost: TrainingJobRun status.cost, TrainingJob status.spend, and money amounts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from .base import ApiModel, StatusModel

# ISO 4217, as Oracle's price list and the Usage API name currencies (USD, EUR, GBP...).
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
DEFAULT_CURRENCY = "USD"


class Money(ApiModel):
    """An amount of money."""

    amount: float = Field(ge=0)
    """The amount, in `currency` (e.g. 500 or 12.75)."""
    currency: Currency = DEFAULT_CURRENCY
    """ISO 4217 code; it must be the price table's currency."""


class CostBasis(StatusModel):
    """What an estimate was computed from: what OCI bills a Data Science job run for."""

    shape: str | None = None
    """The compute shape (of the largest node group, in a multi-node run)."""
    ocpus: float | None = None
    """OCPUs per node."""
    memory_in_gbs: float | None = Field(
        default=None, validation_alias="memoryInGBs", serialization_alias="memoryInGBs"
    )
    """Memory per node, GB."""
    gpus: int | None = None
    """GPUs per node."""
    node_count: int | None = None
    """Nodes billed (1 for a single-node run)."""
    block_storage_in_gbs: int | None = Field(
        default=None, validation_alias="blockStorageInGBs", serialization_alias="blockStorageInGBs"
    )
    """Block storage per node, GB."""
    price_per_hour: float | None = None
    """What all its nodes cost per hour together (compute, memory, GPUs, block storage)."""
    duration_seconds: int | None = None
    """Billed time: from timeStarted to timeFinished."""
    price_table: str | None = None
    """The price table used: `<namespace>/<ConfigMap name>`."""
    price_date: str | None = None
    """The date of the price rows used (the table's rows say where each price comes from)."""


class CostEstimate(StatusModel):
    """The cost as the price table computes it (list prices: no discounts or credits)."""

    amount: float | None = None
    """Estimated cost (set when the run ended; its earlier attempts' included)."""
    currency: str | None = None
    """ISO 4217 code of the price table."""
    worst_case: float | None = None
    """The most it can cost: pricePerHour times maximumRuntimeInMinutes (unset without one). What a
    TrainingBudget counts as committed while it runs."""
    basis: CostBasis | None = None
    """What it was computed from."""


class CostActual(StatusModel):
    """The cost OCI's Usage API reports for this run's OCI job run (hours after the usage)."""

    amount: float | None = None
    """Reported cost so far."""
    currency: str | None = None
    """ISO 4217 code, as the Usage API reports it."""
    updated_at: datetime | None = None
    """When the operator last read it."""
    final: bool | None = None
    """True once the operator stopped reading it (the run ended long enough ago that usage no longer
    changes)."""


class RunCost(StatusModel):
    """status.cost of a TrainingJobRun."""

    estimate: CostEstimate | None = None
    """Its basis and worstCase written when the OCI run is created, its amount when it ends
    (`kubectl ocids runs` shows the running estimate meanwhile)."""
    actual: CostActual | None = None
    """Filled in from OCI's Usage API when it arrives."""


class JobSpend(StatusModel):
    """status.spend of a TrainingJob: what its runs cost (actual where known, else the estimate)."""

    currency: str | None = None
    """ISO 4217 code."""
    total: float | None = None
    """All its runs that still exist, plus the archived ones' recorded cost."""
    month: float | None = None
    """Runs that finished this calendar month (UTC)."""
    month_start: datetime | None = None
    """The start of that month."""
    runs: int | None = None
    """Runs counted."""
    updated_at: datetime | None = None
    """When it was last summed."""
