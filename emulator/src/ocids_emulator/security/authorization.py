"""What each emulated operation needs (resource type, verb) and which compartment a request targets.

The verbs follow OCI's per-service policy references where they are clear (list = inspect,
get = read, data science create/delete = manage, update/cancel of a run = use); the choices the
references leave open are marked "unverified" in emulator/README.md "Policies".
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from ocids_emulator.api.object_storage.buckets import BUCKET
from ocids_emulator.core.emulator import JOB, LOG_GROUP, LOGGING_WORK_REQUEST, RUN, WORK_REQUEST, Emulator

DS, RUNS, PROJECTS, WRS = (
    "data-science-jobs",
    "data-science-job-runs",
    "data-science-projects",
    "data-science-work-requests",
)

# operation (SDK method name) -> (resource type, least verb); None: any authenticated principal.
OPERATIONS: dict[str, tuple[str, str] | None] = {
    "list_projects": (PROJECTS, "inspect"),
    "get_project": (PROJECTS, "read"),
    "list_jobs": (DS, "inspect"),
    "get_job": (DS, "read"),
    "create_job": (DS, "manage"),
    "update_job": (DS, "use"),
    "delete_job": (DS, "manage"),
    "change_job_compartment": (DS, "manage"),
    "create_job_artifact": (DS, "manage"),
    "head_job_artifact": (DS, "read"),
    "get_job_artifact_content": (DS, "read"),
    "list_job_shapes": (DS, "inspect"),
    "list_job_runs": (RUNS, "inspect"),
    "get_job_run": (RUNS, "read"),
    "create_job_run": (RUNS, "manage"),
    "update_job_run": (RUNS, "use"),
    "cancel_job_run": (RUNS, "use"),
    "delete_job_run": (RUNS, "manage"),
    "change_job_run_compartment": (RUNS, "manage"),
    "list_work_requests": (WRS, "inspect"),
    "get_work_request": (WRS, "read"),
    "list_work_request_errors": (WRS, "read"),
    "list_work_request_logs": (WRS, "read"),
    "search_logs": ("log-content", "read"),
    "list_log_groups": ("log-groups", "inspect"),
    "get_log_group": ("log-groups", "read"),
    "create_log_group": ("log-groups", "manage"),
    "list_logs": ("log-groups", "inspect"),
    "get_log": ("log-groups", "read"),
    "create_log": ("log-groups", "manage"),
    "get_logging_work_request": ("log-groups", "read"),
    # OCI answers GetNamespace to any authenticated caller.
    "get_namespace": None,
    "list_buckets": ("buckets", "inspect"),
    "get_bucket": ("buckets", "read"),
    "head_bucket": ("buckets", "read"),
    "create_bucket": ("buckets", "manage"),
    "delete_bucket": ("buckets", "manage"),
    "list_objects": ("objects", "inspect"),
    "get_object": ("objects", "read"),
    "head_object": ("objects", "read"),
    "put_object": ("objects", "manage"),
    "delete_object": ("objects", "manage"),
}
# An operation missing from the table needs the most: only `manage all-resources` reaches it.
UNLISTED = ("all-resources", "manage")

_PATH_KINDS = {"job_id": JOB, "run_id": RUN, "wr_id": WORK_REQUEST, "log_group_id": LOG_GROUP}
_SEARCH_COMPARTMENTS = re.compile(r'"([^"/]+)(?:/[^"]*)?"')


def requirement(operation: str) -> tuple[str, str] | None:
    return OPERATIONS.get(operation, UNLISTED)


def target_compartments(emu: Emulator, request: web.Request, body: bytes | None) -> list[str | None]:
    """Every compartment the call acts in, all of which must be allowed: the query's and body's
    compartmentId (a change of compartment is checked in both the source and the destination), a
    log search's streams, the compartment of the resource its path names. [None] when none is
    known: only tenancy-wide statements reach it."""
    doc = _json(body)
    found = [
        request.query.get("compartmentId"),
        _str(doc.get("compartmentId")),
        _path_compartment(emu, request),
    ]
    query = doc.get("searchQuery")
    if isinstance(query, str):
        # search "<compartment>/<logGroup>/<log>" [, "..."] | ...: every stream's compartment.
        found += _SEARCH_COMPARTMENTS.findall(query.split("|", 1)[0])
    return list(dict.fromkeys(c for c in found if c)) or [None]


def _path_compartment(emu: Emulator, request: web.Request) -> str | None:
    match = request.match_info
    if "work_request_id" in match:
        return _doc_compartment(emu, LOGGING_WORK_REQUEST, match["work_request_id"])
    for key, kind in _PATH_KINDS.items():
        if key in match:
            return _doc_compartment(emu, kind, match[key])
    if "project_id" in match:
        project = emu.tenancy.projects.get(match["project_id"])
        return _str(project.get("compartmentId")) if project else None
    if "bucket" in match:
        bucket = next((b for b in emu.store.all(BUCKET) if b.doc.get("name") == match["bucket"]), None)
        return _str(bucket.doc.get("compartmentId")) if bucket else None
    return None


def _doc_compartment(emu: Emulator, kind: str, rid: str) -> str | None:
    record = emu.store.get(kind, rid)
    return _str(record.doc.get("compartmentId")) if record else None


def _json(body: bytes | None) -> dict[str, Any]:
    if not body:
        return {}
    try:
        doc = json.loads(body)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
