"""What the Usage API answers, computed from the emulator's own job runs (pure: no I/O).

Each run that started is metered from ``timeStarted`` to ``timeFinished`` (or now, while it runs)
as a few lines (OCPU, memory, GPU, block volume) per node group, each a constant rate per hour from
the price table. A query cuts them into HOURLY / DAILY / MONTHLY buckets, filters and groups them;
usage becomes visible ``delay`` seconds after it happened.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ocids_emulator.core.errors import ApiError, invalid, missing
from ocids_emulator.core.prices import HOURS_PER_MONTH, PriceTable, gpus_per_node
from ocids_emulator.core.timeutil import parse_rfc3339, rfc3339

SERVICE = "Data Science"
GRANULARITIES = ("HOURLY", "DAILY", "MONTHLY", "TOTAL")
QUERY_TYPES = ("USAGE", "COST", "CREDIT", "EXPIREDCREDIT", "ALLCREDIT", "USAGE_ONLY")
# groupBy / filter dimension -> the UsageSummary field it fills ("logicalAd" is the AD's).
DIMENSIONS = {
    "tenantId": "tenantId",
    "tenantName": "tenantName",
    "compartmentId": "compartmentId",
    "compartmentName": "compartmentName",
    "compartmentPath": "compartmentPath",
    "service": "service",
    "resourceId": "resourceId",
    "resourceName": "resourceName",
    "region": "region",
    "logicalAd": "ad",
    "shape": "shape",
    "skuName": "skuName",
    "skuPartNumber": "skuPartNumber",
    "unit": "unit",
    "platform": "platform",
}
# OCI's default block volume of a job run when the request names none (unverified; its minimum).
DEFAULT_BLOCK_GB = 50.0
DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Meter:
    """One billed line of one run: ``quantity_per_hour`` (in ``unit``) and ``amount_per_hour``
    (None: no price known) from ``start`` to ``end``; ``dims`` are its UsageSummary fields."""

    dims: Mapping[str, str | None]
    quantity_per_hour: float
    amount_per_hour: float | None
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class NodeSize:
    shape: str
    count: int
    ocpus: float
    memory_gb: float
    block_gb: float


@dataclass(frozen=True)
class UsageQuery:
    start: dt.datetime
    end: dt.datetime
    granularity: str
    query_type: str = "COST"
    group_by: tuple[str, ...] = ()
    aggregate_by_time: bool = False
    filter: Mapping[str, Any] | None = None


@dataclass
class _Total:
    quantity: float = 0.0
    amount: float | None = None
    dims: dict[str, str | None] = field(default_factory=dict)
    # A line with no price went into it (a multi-node run's group whose shape has no row): its
    # amount is unknown as a whole, never the priced lines' partial sum.
    unpriced: bool = False

    def add(self, quantity: float, amount: float | None) -> None:
        self.quantity += quantity
        if amount is None:
            self.unpriced = True
        else:
            self.amount = (self.amount or 0.0) + amount

    @property
    def known_amount(self) -> float | None:
        return None if self.unpriced else self.amount


# --- what a run is billed for ------------------------------------------------------------------
def _infra_size(
    infra: Mapping[str, Any], count: int, shapes: Mapping[str, Any], table: PriceTable | None
) -> NodeSize | None:
    """A node's size: a flex shape's config, else the shape catalog's, else (a shape the catalog no
    longer offers) the price row's ``ocpus`` / ``memoryGBs``."""
    name = infra.get("shapeName")
    if not isinstance(name, str) or not name:
        return None
    config = infra.get("jobShapeConfigDetails") or {}
    shape = shapes.get(name)
    row = table.row_for(name) if table else None
    ocpus = config.get("ocpus") if isinstance(config, dict) else None
    memory = config.get("memoryInGBs") if isinstance(config, dict) else None
    if ocpus is None:
        ocpus = shape.cores if shape is not None else (row.ocpus if row else None)
    if memory is None:
        memory = shape.memory_gb if shape is not None else (row.memory_gbs if row else None)
    block = infra.get("blockStorageSizeInGBs")
    return NodeSize(
        shape=name,
        count=count,
        ocpus=float(ocpus or 0),
        memory_gb=float(memory or 0),
        block_gb=float(block if block is not None else DEFAULT_BLOCK_GB),
    )


def node_sizes(
    doc: Mapping[str, Any],
    meta: Mapping[str, Any],
    shapes: Mapping[str, Any],
    table: PriceTable | None = None,
) -> list[NodeSize]:
    """The nodes a run ran on: each node group's replicas (multi-node), else its one node. A run on
    a compute target (MANAGED_COMPUTE_CLUSTER) has none: the cluster's instances bill, not the run."""
    node = (meta.get("effective") or {}).get("jobNodeConfigurationDetails")
    if isinstance(node, dict):
        sizes = []
        for group in node.get("jobNodeGroupConfigurationDetailsList") or []:
            infra = group.get("jobInfrastructureConfigurationDetails") or {}
            size = _infra_size(infra, int(group.get("replicas") or 1), shapes, table)
            if size is not None:
                sizes.append(size)
        return sizes
    infra = doc.get("jobInfrastructureConfigurationDetails") or {}
    if infra.get("jobInfrastructureType") not in ("STANDALONE", "ME_STANDALONE"):
        return []
    size = _infra_size(infra, 1, shapes, table)
    return [size] if size is not None else []


def run_meters(
    doc: Mapping[str, Any],
    meta: Mapping[str, Any],
    *,
    shapes: Mapping[str, Any],
    table: PriceTable | None,
    now: dt.datetime,
    common: Mapping[str, str | None],
    compartments: Mapping[str, str],
) -> list[Meter]:
    """A run's billed lines from ``timeStarted`` to ``timeFinished`` (now while it runs). With a
    table row for the shape, the lines it prices (> 0); without a table, or for a shape it has no
    row for, every line with its amount None (never a partial figure that reads like the whole)."""
    started = doc.get("timeStarted")
    if not started:
        return []
    start = parse_rfc3339(str(started))
    finished = doc.get("timeFinished")
    end = parse_rfc3339(str(finished)) if finished else now
    if end <= start:
        return []
    base = {
        **common,
        "compartmentId": doc.get("compartmentId"),
        # Compartments are flat here (all children of the root): the path is the name.
        "compartmentName": compartments.get(str(doc.get("compartmentId"))),
        "compartmentPath": compartments.get(str(doc.get("compartmentId"))),
        "resourceId": doc.get("id"),
        "resourceName": doc.get("displayName"),
        "service": SERVICE,
    }
    meters: list[Meter] = []
    for size in node_sizes(doc, meta, shapes, table):
        row = table.row_for(size.shape) if table else None
        lines = [
            (f"{size.shape} - OCPU", "OCPU Hours", size.ocpus, row.ocpu_hour if row else None),
            (f"{size.shape} - Memory", "GB Hours", size.memory_gb, row.memory_gb_hour if row else None),
            (
                f"{size.shape} - GPU",
                "GPU Hours",
                float(gpus_per_node(size.shape, row)),
                row.gpu_hour if row else None,
            ),
            # Priced per GB-month: an hour of it is 1/730 of a GB-month.
            (
                "Block Volume - Storage",
                "GB Months",
                size.block_gb / HOURS_PER_MONTH,
                table.block_gb_month if row and table else None,
            ),
        ]
        for sku, unit, per_node, price in lines:
            # With a row, a line it does not price is not billed (a GPU shape's OCPUs are in its GPU price).
            if per_node <= 0 or (row is not None and not price):
                continue
            meters.append(
                Meter(
                    dims={**base, "shape": size.shape, "skuName": sku, "unit": unit},
                    quantity_per_hour=size.count * per_node,
                    amount_per_hour=None if price is None else size.count * per_node * price,
                    start=start,
                    end=end,
                )
            )
    return meters


# --- the request -------------------------------------------------------------------------------
def _time(body: Mapping[str, Any], key: str) -> dt.datetime:
    value = body.get(key)
    if value is None:
        raise missing(key)
    try:
        return parse_rfc3339(str(value)).astimezone(dt.UTC)
    except ValueError:
        raise invalid(f"{key} must be an RFC 3339 date-time, not {value!r}") from None


def _check_precision(value: dt.datetime, key: str, granularity: str) -> None:
    """OCI's 400: HOURLY needs whole hours, DAILY and MONTHLY midnight UTC (wording from OCI's
    answer for DAILY; the HOURLY rule's wording is the emulator's)."""
    if granularity == "HOURLY":
        if value.minute or value.second or value.microsecond:
            raise invalid(
                f"{key}: Passed UTC date does not have the right precision: minutes, seconds, and second"
                " fractions must be 0"
            )
    elif value.hour or value.minute or value.second or value.microsecond:
        raise invalid(
            f"{key}: Passed UTC date does not have the right precision: hours, minutes, seconds, and second"
            " fractions must be 0"
        )


def _choice(body: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str | None) -> str:
    value = body.get(key, default)
    if value is None:
        raise missing(key)
    if value not in allowed:
        raise invalid(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _check_filter(value: Any, where: str = "filter") -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise invalid(f"{where} must be an object")
    operator = value.get("operator", "AND")
    if operator not in ("AND", "OR", "NOT"):
        raise invalid(f"{where}.operator must be one of AND, OR, NOT, not {operator!r}")
    if value.get("tags"):
        raise invalid(f"{where}.tags: the ocids-emulator filters by dimensions only (see emulator/README.md)")
    for i, dim in enumerate(value.get("dimensions") or []):
        if not isinstance(dim, dict) or dim.get("key") is None or dim.get("value") is None:
            raise invalid(f"{where}.dimensions[{i}] needs key and value")
        if dim["key"] not in DIMENSIONS:
            raise invalid(f"{where}.dimensions[{i}].key {dim['key']!r} is not one of {', '.join(DIMENSIONS)}")
    for i, sub in enumerate(value.get("filters") or []):
        _check_filter(sub, f"{where}.filters[{i}]")


def parse_query(body: Mapping[str, Any], tenancy_id: str) -> UsageQuery:
    """RequestSummarizedUsagesDetails as OCI checks it; ApiError (400, naming the field) if not.
    Another tenancy's id is 404 NotAuthorizedOrNotFound, as for any resource one cannot see."""
    tenant = body.get("tenantId")
    if not tenant:
        raise missing("tenantId")
    if tenant != tenancy_id:
        raise ApiError(
            404,
            "NotAuthorizedOrNotFound",
            f"Authorization failed or requested resource not found: tenancy {tenant}",
        )
    granularity = _choice(body, "granularity", GRANULARITIES, None)
    if granularity == "TOTAL":
        raise invalid("granularity TOTAL is not yet supported (as OCI's API reference says); use MONTHLY")
    query_type = _choice(body, "queryType", QUERY_TYPES, "COST")
    start, end = _time(body, "timeUsageStarted"), _time(body, "timeUsageEnded")
    _check_precision(start, "timeUsageStarted", granularity)
    _check_precision(end, "timeUsageEnded", granularity)
    if end <= start:
        raise invalid("timeUsageEnded must be after timeUsageStarted")
    group_by = body.get("groupBy") or []
    if not isinstance(group_by, list) or not all(isinstance(g, str) for g in group_by):
        raise invalid("groupBy must be a list of dimension names")
    for name in group_by:
        if name not in DIMENSIONS:
            raise invalid(f"groupBy {name!r} is not one of {', '.join(DIMENSIONS)}")
    if body.get("groupByTag"):
        raise invalid("groupByTag: the ocids-emulator groups by dimensions only (see emulator/README.md)")
    if body.get("forecast"):
        raise invalid("forecast: the ocids-emulator has no forecasts (see emulator/README.md)")
    _check_filter(body.get("filter"))
    return UsageQuery(
        start=start,
        end=end,
        granularity=granularity,
        query_type=query_type,
        group_by=tuple(dict.fromkeys(group_by)),
        aggregate_by_time=bool(body.get("isAggregateByTime")),
        filter=body.get("filter"),
    )


# --- the answer --------------------------------------------------------------------------------
def _next_boundary(value: dt.datetime, granularity: str) -> dt.datetime:
    if granularity == "HOURLY":
        return value.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    if granularity == "DAILY":
        return value.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    month_start = value.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (month_start + dt.timedelta(days=32)).replace(day=1)


def buckets(query: UsageQuery) -> list[tuple[dt.datetime, dt.datetime]]:
    """The query's time buckets (one when it aggregates by time); a month cut by the query's ends is
    the part inside it."""
    if query.aggregate_by_time:
        return [(query.start, query.end)]
    found = []
    at = query.start
    while at < query.end:
        following = min(_next_boundary(at, query.granularity), query.end)
        found.append((at, following))
        at = following
    return found


def matches(filter_doc: Mapping[str, Any] | None, dims: Mapping[str, str | None]) -> bool:
    """Filter: its dimensions (key = value) and nested filters, joined by its operator (AND, OR;
    NOT: none of them holds)."""
    if not filter_doc:
        return True
    results = [dims.get(DIMENSIONS[d["key"]]) == d["value"] for d in filter_doc.get("dimensions") or []]
    results += [matches(sub, dims) for sub in filter_doc.get("filters") or []]
    operator = filter_doc.get("operator", "AND")
    if operator == "OR":
        return any(results)
    if operator == "NOT":
        return not any(results)
    return all(results)


def summarize(
    meters: Iterable[Meter],
    query: UsageQuery,
    *,
    visible_until: dt.datetime,
    currency: str | None,
    tenancy: Mapping[str, str | None],
) -> list[dict[str, Any]]:
    """UsageSummary items, oldest bucket first, then by the grouped values. Only usage up to
    ``visible_until`` counts; a group with no usage in a bucket has no item."""
    if query.query_type in ("CREDIT", "EXPIREDCREDIT", "ALLCREDIT"):
        return []  # the emulator grants no credits
    spans = buckets(query)
    starts = [s for s, _ in spans]
    totals: dict[tuple[int, tuple[str | None, ...]], _Total] = {}
    for meter in meters:
        if not matches(query.filter, meter.dims):
            continue
        begin, end = max(meter.start, query.start), min(meter.end, query.end, visible_until)
        if end <= begin:
            continue
        key_dims = {DIMENSIONS[g]: meter.dims.get(DIMENSIONS[g]) for g in query.group_by}
        index = max(bisect.bisect_right(starts, begin) - 1, 0)
        while index < len(spans) and spans[index][0] < end:
            overlap = (min(end, spans[index][1]) - max(begin, spans[index][0])).total_seconds() / 3600
            if overlap > 0:
                key = (index, tuple(key_dims.values()))
                total = totals.setdefault(key, _Total(dims=key_dims))
                amount = None if meter.amount_per_hour is None else meter.amount_per_hour * overlap
                total.add(meter.quantity_per_hour * overlap, amount)
            index += 1
    items = []
    for (index, _values), total in sorted(
        totals.items(), key=lambda kv: (kv[0][0], [str(v) for v in kv[0][1]])
    ):
        with_cost = query.query_type != "USAGE_ONLY"
        item: dict[str, Any] = {
            "tenantId": tenancy.get("tenantId"),
            **{k: v for k, v in total.dims.items() if v is not None},
            "timeUsageStarted": rfc3339(spans[index][0]),
            "timeUsageEnded": rfc3339(spans[index][1]),
            "computedQuantity": _significant(total.quantity),
            "computedAmount": (
                _significant(total.known_amount) if with_cost and total.known_amount is not None else None
            ),
            "currency": currency if with_cost else None,
            "isForecast": False,
        }
        if "tenantName" in query.group_by:
            item["tenantName"] = tenancy.get("tenantName")
        items.append({k: v for k, v in item.items() if v is not None})
    return items


def _significant(value: float) -> float:
    """12 significant digits: drops float noise from summing slices, keeps a short run's cents."""
    return float(f"{value:.12g}")


def page_of(
    items: list[dict[str, Any]], page: str | None, limit: str | None, at: dt.datetime | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """``limit`` items from the ``page`` token on (an opaque offset), and the next token if more.
    ``at``: the time the answer was computed for, kept in the token (see ``page_time``)."""
    size = DEFAULT_PAGE_SIZE
    if limit is not None:
        try:
            size = int(limit)
        except ValueError:
            raise invalid("limit must be an integer") from None
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise invalid(f"limit must be from 1 to {MAX_PAGE_SIZE}")
    offset = int(_token(page).get("offset", 0)) if page else 0
    chunk = items[offset : offset + size]
    more = offset + size < len(items)
    following: dict[str, Any] = {"offset": offset + size}
    if at is not None:
        following["at"] = rfc3339(at)
    token = base64.urlsafe_b64encode(json.dumps(following).encode()).decode() if more else None
    return chunk, token


def page_time(page: str | None) -> dt.datetime | None:
    """The time a paged answer was computed for (its first page's): the next pages are cut from the
    same answer, so an active run's growing usage never shifts items between pages."""
    if not page:
        return None
    at = _token(page).get("at")
    if at is None:
        return None
    try:
        return parse_rfc3339(str(at))
    except ValueError:
        raise invalid("page is not a page token this service issued") from None


def _token(page: str) -> dict[str, Any]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(page.encode()))
        int(decoded["offset"])
    except (ValueError, KeyError, TypeError):
        raise invalid("page is not a page token this service issued") from None
    if not isinstance(decoded, dict):
        raise invalid("page is not a page token this service issued")
    return decoded
