"""The price table as the operator reads it (a ConfigMap, OCIDS_PRICE_TABLE), and a run's price.

The table is read through the Kubernetes API at most once a minute (a changed table is taken within
that minute; runs created meanwhile use the one read). A missing table means no estimates; a broken
one is logged once per version with the error naming its row and field, and treated as missing, so
a typo never stops runs (budgets then hold the runs they cover: NoPrice).
"""

from __future__ import annotations

import dataclasses
import logging
import time
import weakref
from collections.abc import Mapping
from typing import Any

from ..adapters.kube import KubeClient
from ..adapters.oci_identities import operator_namespace
from ..api import TrainingJobRunSpec, TrainingJobSpec
from ..api.cost import CostEstimate
from ..core.cost import NodeSize, estimate, max_runtime_minutes, price_problem, run_sizes
from ..core.price_table import PRICES_KEY, PriceTable, PriceTableError, parse_price_table
from ..runtime import Runtime
from . import shape_gate

log = logging.getLogger(__name__)

REREAD_SECONDS = 60.0


@dataclasses.dataclass
class _Cached:
    read_at: float = -1e18
    version: str | None = None
    table: PriceTable | None = None
    problem: str | None = None
    read_problem: str | None = None


# One cache per API client (an operator process has one; tests may make several).
_CACHES: weakref.WeakKeyDictionary[KubeClient, _Cached] = weakref.WeakKeyDictionary()


def table_ref(setting: str) -> tuple[str, str]:
    """(namespace, name) of OCIDS_PRICE_TABLE: `namespace/name`, or a name in the operator's namespace."""
    namespace, _, name = setting.rpartition("/")
    return (namespace or operator_namespace(), name)


async def load_price_table(rt: Runtime, clock: Any = time.monotonic) -> PriceTable | None:
    """The price table, or None when there is none (or it is broken: logged once per version)."""
    cached = _CACHES.setdefault(rt.kube, _Cached())
    now = clock()
    if now - cached.read_at < REREAD_SECONDS:
        return cached.table
    namespace, name = table_ref(rt.settings.price_table)
    try:
        config_map = await rt.kube.get_config_map(namespace, name)
    except Exception as exc:  # the API server briefly away: keep what was read before
        # Asked again in a minute, not on every create and budget check meanwhile; said once.
        cached.read_at = now
        unread = f"could not read the price table ConfigMap {namespace}/{name}: {exc}"
        if unread != cached.read_problem:
            log.warning("%s", unread)
            cached.read_problem = unread
        return cached.table
    cached.read_problem = None
    cached.read_at = now
    version = ((config_map or {}).get("metadata") or {}).get("resourceVersion")
    if config_map is not None and version == cached.version:
        return cached.table
    cached.version = version
    cached.table, problem = _parse(config_map, namespace, name)
    if problem is not None and problem != cached.problem:
        log.warning("%s: no cost estimates until it is fixed", problem)
    elif cached.table is not None and cached.problem is not None:
        log.info("the price table %s/%s is usable again", namespace, name)
    cached.problem = problem
    return cached.table


def _parse(
    config_map: Mapping[str, Any] | None, namespace: str, name: str
) -> tuple[PriceTable | None, str | None]:
    where = f"{namespace}/{name}"
    if config_map is None:
        return None, f"the price table ConfigMap {where} does not exist"
    text = (config_map.get("data") or {}).get(PRICES_KEY)
    if text is None:
        return None, f"the price table ConfigMap {where} has no key {PRICES_KEY}"
    try:
        return parse_price_table(str(text), where), None
    except PriceTableError as exc:
        return None, f"the price table ConfigMap {where} is unusable: {PRICES_KEY}: {exc}"


def forget_cache(rt: Runtime) -> None:
    """Read the table again on the next use (tests that edit it)."""
    _CACHES.pop(rt.kube, None)


async def run_price(
    rt: Runtime,
    spec: TrainingJobRunSpec,
    job_spec: TrainingJobSpec,
    job: Mapping[str, Any] | None = None,
) -> tuple[CostEstimate | None, str | None]:
    """The run's estimate as written at creation (basis, pricePerHour, worstCase; no amount yet), or
    why it has none (no table, no row for its shape...). `job`: the TrainingJob's body, to find a
    fast-launch job's shape and size from its chosen configuration."""
    table = await load_price_table(rt)
    if job_spec.infrastructure.fast_launch and job_spec.nodes is None:
        try:
            job_spec, _ = await shape_gate.with_fast_launch(
                rt, job_spec, (job or {}).get("status"), ((job or {}).get("metadata") or {}).get("generation")
            )
        except Exception as exc:  # no configuration fits: the create path says so; no price here
            return None, f"its fast launch shape is not known ({exc})"
    sizes = run_sizes(spec, job_spec)
    if isinstance(sizes, str):
        return None, sizes
    sizes = await _with_catalog_sizes(rt, sizes, job_spec.compartment_id)
    problem = price_problem(sizes, table)
    if problem is not None or table is None:
        return None, problem
    found = estimate(sizes, table, max_runtime_minutes(spec, job_spec))
    if found is None:
        return None, price_problem(sizes, table) or "it cannot be priced"
    return found, None


async def _with_catalog_sizes(rt: Runtime, sizes: list[NodeSize], compartment_id: str) -> list[NodeSize]:
    """A fixed shape's OCPUs and memory as OCI's shape catalog gives them (ListJobShapes, cached per
    compartment by the gateway), as OCI bills them; a flexible shape's come from its config. When
    the catalog cannot be read, the price table row's `ocpus`/`memoryGBs` stand in."""
    if all(size.ocpus is not None and size.memory_in_gbs is not None for size in sizes):
        return sizes
    reader = getattr(rt.oci, "job_shape_sizes", None)
    if reader is None:
        return sizes
    try:
        catalog = await reader(compartment_id)
    except Exception as exc:  # priced by the row's size instead
        log.debug("the shape catalog of %s for prices: %s", compartment_id, exc)
        return sizes
    filled = []
    for size in sizes:
        cores, memory = catalog.get(size.shape, (None, None))
        filled.append(
            dataclasses.replace(
                size,
                ocpus=size.ocpus if size.ocpus is not None else cores,
                memory_in_gbs=size.memory_in_gbs if size.memory_in_gbs is not None else memory,
            )
        )
    return filled
