"""The price table the Usage API bills runs with: the same YAML the operator's chart ships
(``charts/ocids-operator/prices/prices.yaml``, the ``ocids-prices`` ConfigMap's ``prices.yaml``).

The emulator keeps its own small reader (it does not import the operator): the first row whose
``match`` glob fits a shape wins; absent prices are 0; each row needs ``match``, ``source`` and
``date``. A table that breaks these rules is refused with the row and field named.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# Block storage is priced per GB-month; OCI's month for hourly proration is 730 hours.
HOURS_PER_MONTH = 730.0
ENV_VAR = "OCIDS_EMULATOR_PRICE_TABLE"
# The chart's table, when the emulator runs from a source checkout (emulator/src/ocids_emulator/core/).
CHART_TABLE = Path(__file__).resolve().parents[4] / "charts" / "ocids-operator" / "prices" / "prices.yaml"
_TRAILING_NUMBER = re.compile(r"\.(\d+)$")
# The fields the operator's reader knows (operator core/price_table.py): a typo is refused by both.
_TOP_FIELDS = {"currency", "shapes", "blockStorage"}
_ROW_FIELDS = {"match", "ocpuHour", "memoryGBHour", "gpuHour", "gpus", "ocpus", "memoryGBs", "source", "date"}
_BLOCK_FIELDS = {"gbMonth", "source", "date"}


class PriceTableError(ValueError):
    """A price table the emulator cannot use (the message names the row and field)."""


@dataclass(frozen=True)
class ShapePrice:
    match: str
    ocpu_hour: float = 0.0
    memory_gb_hour: float = 0.0
    gpu_hour: float = 0.0
    gpus: int | None = None
    # A fixed shape's node size when the shape catalog does not know the shape.
    ocpus: float | None = None
    memory_gbs: float | None = None


@dataclass(frozen=True)
class PriceTable:
    currency: str
    shapes: tuple[ShapePrice, ...]
    block_gb_month: float = 0.0
    origin: str = "inline"

    def row_for(self, shape: str) -> ShapePrice | None:
        return next((row for row in self.shapes if fnmatch.fnmatchcase(shape, row.match)), None)

    def summary(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "currency": self.currency,
            "shapes": [row.match for row in self.shapes],
            "blockStorageGBMonth": self.block_gb_month,
        }


def gpus_per_node(shape: str, row: ShapePrice | None) -> int:
    """A row's ``gpus``, else the trailing number of a GPU shape's name (VM.GPU.A10.2 -> 2), else 0."""
    if row is not None and row.gpus is not None:
        return row.gpus
    found = _TRAILING_NUMBER.search(shape)
    return int(found.group(1)) if "GPU" in shape.upper() and found else 0


def _price(doc: dict[str, Any], key: str, where: str) -> float:
    value = doc.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PriceTableError(f"{where}.{key} must be a number >= 0, not {value!r}")
    return float(value)


def _known(doc: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in doc if k not in known)
    if unknown:
        prefix = f"{where}." if where else ""
        raise PriceTableError(f"{prefix}{unknown[0]} is not a field (known: {', '.join(sorted(known))})")


def _size(doc: dict[str, Any], key: str, where: str) -> float | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise PriceTableError(f"{where}.{key} must be a number > 0, not {value!r}")
    return float(value)


def _needs(doc: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        value = doc.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise PriceTableError(f"{where}.{key} is required")


def parse_price_table(text: str, origin: str = "inline") -> PriceTable:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PriceTableError(f"not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise PriceTableError("the table must be a mapping with currency, shapes and blockStorage")
    _known(doc, _TOP_FIELDS, "")
    currency = doc.get("currency")
    if not isinstance(currency, str) or not currency.strip():
        raise PriceTableError("currency is required (e.g. USD)")
    raw_shapes = doc.get("shapes") or []
    if not isinstance(raw_shapes, list):
        raise PriceTableError("shapes must be a list of rows")
    rows = []
    for i, raw in enumerate(raw_shapes):
        where = f"shapes[{i}]"
        if not isinstance(raw, dict):
            raise PriceTableError(f"{where} must be a mapping")
        _needs(raw, ("match", "source", "date"), where)
        _known(raw, _ROW_FIELDS, where)
        gpus = raw.get("gpus")
        if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0):
            raise PriceTableError(f"{where}.gpus must be a whole number >= 0, not {gpus!r}")
        rows.append(
            ShapePrice(
                match=str(raw["match"]),
                ocpu_hour=_price(raw, "ocpuHour", where),
                memory_gb_hour=_price(raw, "memoryGBHour", where),
                gpu_hour=_price(raw, "gpuHour", where),
                gpus=gpus,
                ocpus=_size(raw, "ocpus", where),
                memory_gbs=_size(raw, "memoryGBs", where),
            )
        )
    block = doc.get("blockStorage") or {}
    if not isinstance(block, dict):
        raise PriceTableError("blockStorage must be a mapping")
    if block:
        _needs(block, ("source", "date"), "blockStorage")
        _known(block, _BLOCK_FIELDS, "blockStorage")
    return PriceTable(
        currency=currency.strip(),
        shapes=tuple(rows),
        block_gb_month=_price(block, "gbMonth", "blockStorage"),
        origin=origin,
    )


def load_price_table(path: Path) -> PriceTable:
    try:
        text = path.read_text()
    except OSError as exc:
        raise PriceTableError(f"{path}: {exc.strerror or exc}") from None
    try:
        return parse_price_table(text, origin=str(path))
    except PriceTableError as exc:
        raise PriceTableError(f"{path}: {exc}") from None


def default_price_table_path(flag: Path | None, env: dict[str, str]) -> Path | None:
    """``--price-table``, else $OCIDS_EMULATOR_PRICE_TABLE, else the chart's table if it exists."""
    if flag is not None:
        return flag
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR])
    return CHART_TABLE if CHART_TABLE.is_file() else None
