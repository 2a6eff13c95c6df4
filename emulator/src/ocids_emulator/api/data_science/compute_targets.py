"""Compute targets (``/20190101/computeTargets``, read-only; they come from tenancy.json).

A compute target is a Managed Compute Cluster a job can run on (MANAGED_COMPUTE_CLUSTER
infrastructure with ``computeTargetId``). The emulator serves the fields of the SDK's
ComputeTarget / ComputeTargetSummary models; the cluster is a fixed-size pool of
``instanceCount`` instances of ``instanceShape``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aiohttp import web

from ocids_emulator.api.httpio import emulator, json_response, query
from ocids_emulator.api.listing import Listing, page_response, required_compartment
from ocids_emulator.core.catalog import COMPUTE_TARGET_STATES
from ocids_emulator.core.emulator import Emulator
from ocids_emulator.core.errors import incorrect_state, invalid, not_found
from ocids_emulator.store.paging import enum_param

COMPUTE_TARGETS = Listing(
    "computeTarget",
    summary_fields=(
        "id",
        "timeCreated",
        "createdBy",
        "compartmentId",
        "displayName",
        "lifecycleState",
        "freeformTags",
        "definedTags",
    ),
)
# No timeCreated in tenancy.json: a fixed time, so the doc (and its etag) stays stable across restarts.
DEFAULT_TIME_CREATED = "2024-01-01T00:00:00.000Z"


def target_doc(emu: Emulator, entry: dict[str, Any]) -> dict[str, Any]:
    """The ComputeTarget OCI would answer for a tenancy.json entry."""
    shape_details = {
        k: entry[src] for k, src in (("ocpus", "ocpus"), ("memoryInGBs", "memoryInGBs")) if src in entry
    }
    instance: dict[str, Any] = {"instanceShape": entry["instanceShape"]}
    if shape_details:
        instance["instanceShapeDetails"] = shape_details
    count = int(entry.get("instanceCount", 1))
    doc = {
        "id": entry["id"],
        "timeCreated": entry.get("timeCreated", DEFAULT_TIME_CREATED),
        "createdBy": entry.get("createdBy", emu.tenancy.user_id),
        "compartmentId": entry["compartmentId"],
        "displayName": entry["displayName"],
        "description": entry.get("description"),
        "computeConfigurationDetails": {
            "computeType": "MANAGED_COMPUTE_CLUSTER",
            "instanceConfiguration": instance,
            "scalingPolicy": {"policyType": "FIXED_SIZE", "instanceCount": count},
        },
        "computeTargetSystemData": {"computeType": "MANAGED_COMPUTE_CLUSTER", "currentInstanceCount": count},
        "lifecycleState": entry["lifecycleState"],
        "lifecycleDetails": entry.get("lifecycleDetails"),
        "freeformTags": entry.get("freeformTags", {}),
        "definedTags": entry.get("definedTags", {}),
    }
    return {k: v for k, v in doc.items() if v is not None}


def require(emu: Emulator, compute_target_id: str, field: str) -> dict[str, Any]:
    """The ComputeTarget a job names in ``field``: 400 InvalidParameter naming the field when the
    tenancy has no such target, 409 IncorrectState when it is not ACTIVE (unverified: OCI's
    answers for both are not documented)."""
    entry = emu.tenancy.compute_targets.get(compute_target_id)
    if entry is None:
        raise invalid(f"{field} {compute_target_id!r} is not a compute target of this tenancy")
    if entry["lifecycleState"] != "ACTIVE":
        raise incorrect_state(
            f"{field}: compute target {compute_target_id} is {entry['lifecycleState']}, not ACTIVE"
        )
    return target_doc(emu, entry)


async def get_compute_target(request: web.Request) -> web.Response:
    emu = emulator(request)
    target_id = request.match_info["compute_target_id"]
    entry = emu.tenancy.compute_targets.get(target_id)
    if entry is None:
        raise not_found(f"compute target {target_id}")
    doc = target_doc(emu, entry)
    etag = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]
    return json_response(doc, etag=etag)


async def list_compute_targets(request: web.Request) -> web.Response:
    emu = emulator(request)
    q = query(request)
    compartment = required_compartment(emu, q)
    state = enum_param(q.get("lifecycleState"), "lifecycleState", frozenset(COMPUTE_TARGET_STATES))
    docs = [
        target_doc(emu, e)
        for e in emu.tenancy.compute_targets.values()
        if e["compartmentId"] == compartment
        and (e["lifecycleState"] == state if state else e["lifecycleState"] != "DELETED")
        and all(not q.get(k) or e.get(k) == q[k] for k in ("id", "displayName"))
    ]
    return page_response(docs, q, COMPUTE_TARGETS)


def routes() -> list[web.RouteDef]:
    p = "/20190101/computeTargets"
    return [
        web.get(p, list_compute_targets, allow_head=False),
        web.get(f"{p}/{{compute_target_id}}", get_compute_target, allow_head=False),
    ]
