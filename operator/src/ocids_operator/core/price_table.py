"""The price table: list prices per shape family, as data a user edits (a ConfigMap, key
`prices.yaml`). Pure: parses and checks the YAML, and finds the row for a shape.

OCI Data Science bills a job run for the compute and block storage under it, so a row prices a
shape by OCPU-hour, memory GB-hour and GPU-hour (GPU shapes are billed per GPU, their OCPUs and
memory included), and the table prices block storage per GB-month. Every figure names where it was
read and when, so a reader can check it against Oracle's price list.
"""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import re
from collections.abc import Mapping
from typing import Any

import yaml

# The ConfigMap's key holding the table.
PRICES_KEY = "prices.yaml"
# OCI's block volume prices are per GB-month; the price list counts a month as 730 hours.
HOURS_PER_MONTH = 730.0
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_ROW_FIELDS = {"match", "ocpuHour", "memoryGBHour", "gpuHour", "gpus", "ocpus", "memoryGBs", "source", "date"}
_BLOCK_FIELDS = {"gbMonth", "source", "date"}
_TOP_FIELDS = {"currency", "shapes", "blockStorage"}


class PriceTableError(ValueError):
    """The table cannot be used; the message names the row and field."""


@dataclasses.dataclass(frozen=True)
class PriceRow:
    """Prices of the shapes whose name fits `match` (an fnmatch glob, e.g. `VM.GPU.A10.*`)."""

    match: str
    source: str
    date: str
    ocpu_hour: float = 0.0
    memory_gb_hour: float = 0.0
    gpu_hour: float = 0.0
    # GPUs per node; None: the trailing number of a GPU shape's name (VM.GPU.A10.2 -> 2).
    gpus: int | None = None
    # OCPUs and memory of a fixed shape's node (a flex shape's come from the run's own size).
    ocpus: float | None = None
    memory_gbs: float | None = None


@dataclasses.dataclass(frozen=True)
class BlockStoragePrice:
    gb_month: float
    source: str
    date: str


@dataclasses.dataclass(frozen=True)
class PriceTable:
    currency: str
    rows: tuple[PriceRow, ...]
    block_storage: BlockStoragePrice | None = None
    # `<namespace>/<ConfigMap name>` it was read from (what status.cost.estimate.basis.priceTable says).
    name: str | None = None

    def row_for(self, shape: str) -> PriceRow | None:
        """The first row whose `match` fits the shape name (case-sensitive, as OCI names shapes)."""
        for row in self.rows:
            if fnmatch.fnmatchcase(shape, row.match):
                return row
        return None


def parse_price_table(text: str, name: str | None = None) -> PriceTable:
    """The table in `text` (YAML); PriceTableError naming the row and field when it is unusable."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PriceTableError(f"{PRICES_KEY} is not valid YAML: {exc}") from None
    return price_table_from(data, name)


def price_table_from(data: Any, name: str | None = None) -> PriceTable:
    if not isinstance(data, Mapping):
        raise PriceTableError(f"{PRICES_KEY} must be a mapping with currency, shapes and blockStorage")
    _no_unknown(data, _TOP_FIELDS, "")
    currency = data.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise PriceTableError(f"currency: must be an ISO 4217 code such as USD, got {currency!r}")
    shapes = data.get("shapes")
    if not isinstance(shapes, list) or not shapes:
        raise PriceTableError("shapes: must be a non-empty list of rows")
    rows = tuple(_row(raw, index) for index, raw in enumerate(shapes))
    block = data.get("blockStorage")
    block_price = None if block is None else _block(block)
    return PriceTable(currency=currency, rows=rows, block_storage=block_price, name=name)


def _row(raw: Any, index: int) -> PriceRow:
    where = f"shapes[{index}]"
    if not isinstance(raw, Mapping):
        raise PriceTableError(f"{where}: must be a mapping with match, source and date")
    match = raw.get("match")
    if not isinstance(match, str) or not match.strip():
        raise PriceTableError(f"{where}.match: required, a shape name or glob such as VM.GPU.A10.*")
    where = f"{where} ({match})"
    _no_unknown(raw, _ROW_FIELDS, where)
    gpus = raw.get("gpus")
    if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0):
        raise PriceTableError(f"{where}.gpus: must be a whole number of GPUs per node, 0 or more")
    return PriceRow(
        match=match,
        source=_text(raw, "source", where),
        date=_date(raw, where),
        ocpu_hour=_price(raw, "ocpuHour", where),
        memory_gb_hour=_price(raw, "memoryGBHour", where),
        gpu_hour=_price(raw, "gpuHour", where),
        gpus=gpus,
        ocpus=_size(raw, "ocpus", where),
        memory_gbs=_size(raw, "memoryGBs", where),
    )


def _block(raw: Any) -> BlockStoragePrice:
    where = "blockStorage"
    if not isinstance(raw, Mapping):
        raise PriceTableError(f"{where}: must be a mapping with gbMonth, source and date")
    _no_unknown(raw, _BLOCK_FIELDS, where)
    return BlockStoragePrice(
        gb_month=_price(raw, "gbMonth", where), source=_text(raw, "source", where), date=_date(raw, where)
    )


def _no_unknown(raw: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        prefix = f"{where}." if where else ""
        raise PriceTableError(f"{prefix}{unknown[0]}: unknown field (known: {', '.join(sorted(known))})")


def _price(raw: Mapping[str, Any], field: str, where: str) -> float:
    value = raw.get(field, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PriceTableError(f"{where}.{field}: must be a number, 0 or more, got {value!r}")
    return float(value)


def _size(raw: Mapping[str, Any], field: str, where: str) -> float | None:
    value = raw.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise PriceTableError(f"{where}.{field}: must be a number above 0, got {value!r}")
    return float(value)


def _text(raw: Mapping[str, Any], field: str, where: str) -> str:
    value = raw.get(field)
    if not isinstance(value, str) or not value.strip():
        raise PriceTableError(f"{where}.{field}: required (where the price was read, e.g. its URL)")
    return value


def _date(raw: Mapping[str, Any], where: str) -> str:
    value = raw.get("date")
    # YAML reads an unquoted 2026-12-01 as a date.
    if isinstance(value, datetime.date):
        return value.isoformat()[:10]
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise PriceTableError(f"{where}.date: required, the day the price was read (YYYY-MM-DD), got {value!r}")
