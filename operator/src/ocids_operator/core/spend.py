"""What a TrainingJob's runs cost together (status.spend). Pure.

A run counts once it ended, at cost.recorded_cost: OCI's final actual cost, before then the
larger of the partial actual cost and the price table's estimate. Runs still running are not
counted yet (`kubectl ocids runs` shows what they cost so far); runs removed by history limits or
TTL count by the cost their archive record kept.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from ..api.cost import JobSpend
from .cost import DIGITS, recorded_cost
from .history import finished_at
from .times import parse_time


def month_start(now: datetime.datetime) -> datetime.datetime:
    return now.astimezone(datetime.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def job_spend(
    run_statuses: Iterable[Mapping[str, Any]],
    archived: Iterable[Mapping[str, Any]],
    now: datetime.datetime,
) -> JobSpend | None:
    """The spend of a TrainingJob's runs (their statuses) and archived records; None when no run of
    it has a cost yet. Amounts in another currency than the first one seen are left out (one price
    table has one currency; the Usage API reports the tenancy's)."""
    since = month_start(now)
    items: list[tuple[float, str | None, datetime.datetime | None]] = []
    for status in run_statuses:
        found = recorded_cost(status)
        if found is not None:
            items.append((found[0], found[1], finished_at(status)))
    for record in archived:
        cost = record.get("cost") or {}
        if cost.get("amount") is not None:
            finished = parse_time(record.get("timeFinished"))
            items.append((float(cost["amount"]), cost.get("currency"), finished))
    if not items:
        return None
    currency = next((c for _, c, _ in items if c), None)
    kept = [(amount, finished) for amount, c, finished in items if c in (currency, None)]
    return JobSpend(
        currency=currency,
        total=round(sum(amount for amount, _ in kept), DIGITS),
        month=round(sum(amount for amount, finished in kept if finished and finished >= since), DIGITS),
        month_start=since,
        runs=len(kept),
        updated_at=now.replace(microsecond=0),
    )


def spend_changed(current: Mapping[str, Any] | None, new: JobSpend) -> bool:
    """Whether status.spend must be written (its figures changed; updatedAt alone does not count)."""
    wire = new.model_dump(mode="json", by_alias=True, exclude_none=True)
    old = dict(current or {})
    return any(old.get(key) != value for key, value in wire.items() if key != "updatedAt")
