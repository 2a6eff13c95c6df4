"""Job shapes and fast-launch configs (``/20190101/jobShapes``, ``/20190101/fastLaunchJobConfigs``):
what the tenancy offers (tenancy.json, core/catalog.py), and what validation checks a shapeName against.

Both can be replaced while the emulator runs (``PUT /_emulator/tenancy/{jobShapes|fastLaunchJobConfigs|
computeTargets}``, not written to tenancy.json), so a test can offer a shape only this tenancy has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ocids_emulator.api.httpio import emulator, json_body, json_response, list_response, query
from ocids_emulator.api.listing import required_compartment
from ocids_emulator.core.catalog import (
    BUILTIN_SHAPES,
    CatalogError,
    Shape,
    parse_compute_targets,
    parse_fast_launch,
    parse_shapes,
)
from ocids_emulator.core.emulator import Emulator
from ocids_emulator.core.errors import invalid
from ocids_emulator.store.paging import check_limit

__all__ = [
    "SHAPES",
    "Shape",
    "catalog",
    "fast_launch_config_for",
    "fast_launch_configs",
    "provisioning_seconds",
]

# The built-in catalog (a tenancy.json without jobShapes); validation reads catalog(emu).
SHAPES: dict[str, Shape] = {s.name: s for s in BUILTIN_SHAPES}
# A run on a fast-launch config provisions in this fraction of --provisioning-seconds (OCI says fast
# launch starts "in seconds" from a warm pool; the factor is the emulator's choice).
FAST_LAUNCH_PROVISIONING_FACTOR = 0.1


def catalog(emu: Emulator) -> Mapping[str, Shape]:
    """The job shapes the tenancy offers, by name."""
    return emu.tenancy.job_shapes


def fast_launch_configs(emu: Emulator) -> list[dict[str, Any]]:
    """The tenancy's FastLaunchJobConfigSummary objects (each on a shape of catalog(emu))."""
    return [dict(c) for c in emu.tenancy.fast_launch_configs]


def fast_launch_config_for(emu: Emulator, infrastructure: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The fast-launch config an infrastructure block runs on, if any: same shapeName and, for a
    flexible shape, the config's OCPUs and memory (a warm pool holds one size)."""
    if not isinstance(infrastructure, Mapping):
        return None
    name = infrastructure.get("shapeName")
    shape_config = infrastructure.get("jobShapeConfigDetails") or {}
    shape = catalog(emu).get(name) if isinstance(name, str) else None
    if shape is None:
        return None
    # A REQUIRED config's pool only takes managed-egress infrastructure, an UNSUPPORTED one only
    # customer-networking (STANDALONE) infrastructure; SUPPORTED takes either.
    egress = infrastructure.get("jobInfrastructureType")
    for config in emu.tenancy.fast_launch_configs:
        if config["shapeName"] != name:
            continue
        support = config.get("managedEgressSupport", "SUPPORTED")
        if (support == "REQUIRED" and egress == "STANDALONE") or (
            support == "UNSUPPORTED" and egress == "ME_STANDALONE"
        ):
            continue
        if not shape.flex or (
            shape_config.get("ocpus") == config["coreCount"]
            and shape_config.get("memoryInGBs") in (None, config["memoryInGBs"])
        ):
            return dict(config)
    return None


def provisioning_seconds(emu: Emulator, run_doc: Mapping[str, Any]) -> float:
    """How long a run's infrastructure takes to provision: a tenth of ``--provisioning-seconds`` on a
    fast-launch config's shape or on a compute target (both warm pools), else all of it."""
    infra = run_doc.get("jobInfrastructureConfigurationDetails")
    base = emu.settings.provisioning_seconds
    warm = isinstance(infra, Mapping) and (
        infra.get("jobInfrastructureType") == "MANAGED_COMPUTE_CLUSTER"
        or fast_launch_config_for(emu, infra) is not None
    )
    return base * FAST_LAUNCH_PROVISIONING_FACTOR if warm else base


def _offset_page(items: list[dict[str, Any]], request: web.Request) -> web.Response:
    limit = check_limit(request.query.get("limit"), default=100)
    raw = request.query.get("page") or "0"
    if not raw.isdigit():
        raise invalid("page is not a page token this service issued")
    start = int(raw)
    chunk = items[start : start + limit]
    return list_response(chunk, str(start + limit) if start + limit < len(items) else None)


async def list_job_shapes(request: web.Request) -> web.Response:
    emu = emulator(request)
    required_compartment(emu, query(request))
    return _offset_page([s.summary() for s in catalog(emu).values()], request)


async def list_fast_launch_job_configs(request: web.Request) -> web.Response:
    emu = emulator(request)
    required_compartment(emu, query(request))
    return _offset_page(fast_launch_configs(emu), request)


# Admin (not OCI): the tenancy's catalog, live.
_CATALOG_KEYS = ("jobShapes", "fastLaunchJobConfigs", "computeTargets")


def _catalog_json(emu: Emulator, key: str) -> list[dict[str, Any]]:
    tenancy = emu.tenancy
    if key == "jobShapes":
        return [s.to_json() for s in tenancy.job_shapes.values()]
    if key == "fastLaunchJobConfigs":
        return fast_launch_configs(emu)
    return [dict(t) for t in tenancy.compute_targets.values()]


async def get_tenancy_catalog(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    if key not in _CATALOG_KEYS:
        raise invalid(f"key must be one of {', '.join(_CATALOG_KEYS)}")
    return json_response({key: _catalog_json(emulator(request), key)})


async def put_tenancy_catalog(request: web.Request) -> web.Response:
    """``PUT /_emulator/tenancy/{key}`` with ``{"<key>": [...] | null}``: replaces that part of the
    live tenancy (null: the built-in one). New shapes keep the configs whose shape still exists;
    a malformed entry is 400 InvalidParameter naming it and changes nothing."""
    emu = emulator(request)
    key = request.match_info["key"]
    if key not in _CATALOG_KEYS:
        raise invalid(f"key must be one of {', '.join(_CATALOG_KEYS)}")
    body = await json_body(request)
    if key not in body:
        raise invalid(f"the body must name {key} (a list, or null)")
    tenancy = emu.tenancy
    try:
        if key == "jobShapes":
            shapes = parse_shapes(body[key])
            kept = [c for c in tenancy.fast_launch_configs if c["shapeName"] in shapes]
            tenancy.job_shapes, tenancy.fast_launch_configs = shapes, kept
        elif key == "fastLaunchJobConfigs":
            tenancy.fast_launch_configs = parse_fast_launch(body[key], tenancy.job_shapes)
        else:
            compartments = {**tenancy.compartments, tenancy.tenancy_id: "tenancy"}
            tenancy.compute_targets = parse_compute_targets(body[key], compartments)
    except CatalogError as exc:
        raise invalid(str(exc)) from None
    return json_response({key: _catalog_json(emu, key)})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/20190101/jobShapes", list_job_shapes, allow_head=False),
        web.get("/20190101/fastLaunchJobConfigs", list_fast_launch_job_configs, allow_head=False),
    ]


def admin_routes() -> list[web.RouteDef]:
    return [
        web.get("/_emulator/tenancy/{key}", get_tenancy_catalog, allow_head=False),
        web.put("/_emulator/tenancy/{key}", put_tenancy_catalog),
    ]
