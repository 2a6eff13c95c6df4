"""What each emulated operation needs (resource type, verb) and which compartment a request targets.

The verbs follow OCI's per-service policy references where they are clear (list = inspect,
get = read, data science create/delete = manage, update/cancel of a run = use); the choices the
references leave open are marked "unverified" in emulator/README.md "Policies".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ocids_emulator.api.object_storage.buckets import BUCKET
from ocids_emulator.core.cloud_events import RULE, STREAM, STREAM_POOL
from ocids_emulator.core.emulator import (
    JOB,
    LOG_GROUP,
    LOGGING_WORK_REQUEST,
    RUN,
    SCHEDULE,
    WORK_REQUEST,
    Emulator,
)
from ocids_emulator.core.notifications import SUBSCRIPTION, TOPIC
from ocids_emulator.security.policies import permission_text

DS, RUNS, PROJECTS, WRS, TARGETS = (
    "data-science-jobs",
    "data-science-job-runs",
    "data-science-projects",
    "data-science-work-requests",
    "data-science-compute-targets",
)
SCHEDULES = "data-science-schedules"

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
    "list_fast_launch_job_configs": (DS, "inspect"),
    "list_compute_targets": (TARGETS, "inspect"),
    "get_compute_target": (TARGETS, "read"),
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
    "get_subnet": ("subnets", "read"),
    "get_secret_bundle": ("secret-bundles", "read"),
    # Schedules: activate/deactivate as "use" (unverified); firing is checked as the schedule's own
    # resource principal (execution/scheduler.py).
    "list_schedules": (SCHEDULES, "inspect"),
    "get_schedule": (SCHEDULES, "read"),
    "create_schedule": (SCHEDULES, "manage"),
    "update_schedule": (SCHEDULES, "use"),
    "activate_schedule": (SCHEDULES, "use"),
    "deactivate_schedule": (SCHEDULES, "use"),
    "delete_schedule": (SCHEDULES, "manage"),
    "change_schedule_compartment": (SCHEDULES, "manage"),
    # Usage API: OCI's "Allow group G to read usage-report in tenancy" (its body names no
    # compartment, so only tenancy-wide statements reach it).
    "request_summarized_usages": ("usage-report", "read"),
    # Events and Streaming, per OCI's policy references: rules are cloudevents-rules; streams'
    # messages are stream-pull (CreateCursor, GetMessages) and stream-push (PutMessages).
    "list_rules": ("cloudevents-rules", "inspect"),
    "get_rule": ("cloudevents-rules", "read"),
    "create_rule": ("cloudevents-rules", "manage"),
    "update_rule": ("cloudevents-rules", "manage"),
    "delete_rule": ("cloudevents-rules", "manage"),
    "list_stream_pools": ("stream-pools", "inspect"),
    "get_stream_pool": ("stream-pools", "read"),
    "create_stream_pool": ("stream-pools", "manage"),
    "delete_stream_pool": ("stream-pools", "manage"),
    "list_streams": ("streams", "inspect"),
    "get_stream": ("streams", "read"),
    "create_stream": ("streams", "manage"),
    "delete_stream": ("streams", "manage"),
    "create_cursor": ("stream-pull", "use"),
    "get_messages": ("stream-pull", "use"),
    "put_messages": ("stream-push", "use"),
    # Notifications: topics (PublishMessage is `use ons-topics`) and their subscriptions. The
    # confirmation link is unsigned, as OCI's is, so it is no operation here.
    "list_topics": ("ons-topics", "inspect"),
    "get_topic": ("ons-topics", "read"),
    "create_topic": ("ons-topics", "manage"),
    "update_topic": ("ons-topics", "manage"),
    "delete_topic": ("ons-topics", "manage"),
    "publish_message": ("ons-topics", "use"),
    "list_subscriptions": ("ons-subscriptions", "inspect"),
    "get_subscription": ("ons-subscriptions", "read"),
    "create_subscription": ("ons-subscriptions", "manage"),
    "delete_subscription": ("ons-subscriptions", "manage"),
    "resend_subscription_confirmation": ("ons-subscriptions", "manage"),
}
# An operation missing from the table needs the most: only `manage all-resources` reaches it.
UNLISTED = ("all-resources", "manage")

_PATH_KINDS = {
    "job_id": JOB,
    "run_id": RUN,
    "wr_id": WORK_REQUEST,
    "log_group_id": LOG_GROUP,
    "schedule_id": SCHEDULE,
    "rule_id": RULE,
    "stream_id": STREAM,
    "stream_pool_id": STREAM_POOL,
    "topic_id": TOPIC,
    "subscription_id": SUBSCRIPTION,
}
_SEARCH_STREAMS = re.compile(r'"([^"/]+)(?:/([^"/]+))?(?:/[^"]*)?"')
# Creates and updates that name other resources: the caller needs rights where those live too.
REFERENCING = frozenset({"create_job", "update_job", "create_job_run", "create_schedule", "update_schedule"})


@dataclass(frozen=True)
class Check:
    """One permission a call needs: ``verb`` on ``resource_type`` in ``compartment_id`` (None: the
    tenancy, or unknown), with the ``target.*`` variables its statements' conditions may test."""

    resource_type: str
    verb: str
    compartment_id: str | None
    target: tuple[tuple[str, str], ...] = ()

    @property
    def target_vars(self) -> dict[str, str]:
        return dict(self.target)

    def text(self) -> str:
        return permission_text(self.resource_type, self.verb, self.compartment_id, self.target_vars)


def requirement(operation: str) -> tuple[str, str] | None:
    return OPERATIONS.get(operation, UNLISTED)


def required_checks(emu: Emulator, request: web.Request, operation: str, body: bytes | None) -> list[Check]:
    """Everything a call needs: the operation's own permission in every compartment it targets, and
    for creates that name a project, log group or subnet, the caller's rights where those live."""
    needed = requirement(operation)
    if needed is None:
        return []
    doc = _json(body)
    target = _path_target(request, doc)
    query = doc.get("searchQuery")
    if isinstance(query, str):
        checks = _search_checks(needed, query)
        if checks:
            return checks
    checks = [Check(needed[0], needed[1], c, target) for c in target_compartments(emu, request, body)]
    if operation in REFERENCING:
        checks += referenced_checks(emu, operation, doc)
    return checks


def _path_target(request: web.Request, doc: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    match = request.match_info
    found = []
    bucket = match.get("bucket") or (
        _str(doc.get("name")) if request.path.rstrip("/").endswith("/b") else None
    )
    if bucket:
        found.append(("target.bucket.name", bucket))
    if "log_group_id" in match:
        found.append(("target.loggroup.id", match["log_group_id"]))
    if "stream_id" in match:
        found.append(("target.stream.id", match["stream_id"]))
    pool = match.get("stream_pool_id") or _str(doc.get("streamPoolId"))
    if pool:
        found.append(("target.streampool.id", pool))
    return tuple(found)


def _search_checks(needed: tuple[str, str], query: str) -> list[Check]:
    """search "<compartment>/<logGroup>/<log>" [, "..."] | ...: each stream in its compartment, with
    its log group as target.loggroup.id when the stream names one."""
    checks = []
    for compartment, group in _SEARCH_STREAMS.findall(query.split("|", 1)[0]):
        target = (("target.loggroup.id", group),) if group else ()
        checks.append(Check(needed[0], needed[1], compartment, target))
    return list(dict.fromkeys(checks))


def referenced_checks(emu: Emulator, operation: str, doc: dict[str, Any]) -> list[Check]:
    """The caller's rights on what a create or update names (OCI checks them as the caller):
    ``read data-science-projects`` where the project is (unverified), ``use subnets`` and ``use
    vnics`` where the subnet is, ``use data-science-compute-targets`` where a compute target is
    (unverified), and for logging ``use log-content`` plus ``use log-groups``
    (``manage log-groups`` with automatic log creation, which creates a log on the caller's
    behalf) where the log group is."""
    if operation in ("create_schedule", "update_schedule"):
        return schedule_checks(emu, doc)
    checks = []
    project = emu.tenancy.projects.get(_str(doc.get("projectId")) or "")
    if project:
        checks.append(Check(PROJECTS, "read", _str(project.get("compartmentId"))))
    infra_key = (
        "jobInfrastructureConfigurationOverrideDetails"
        if operation == "create_job_run"
        else "jobInfrastructureConfigurationDetails"
    )
    infra = doc.get(infra_key)
    infra = infra if isinstance(infra, dict) else {}
    node_key = (
        "jobNodeConfigurationOverrideDetails"
        if operation == "create_job_run"
        else "jobNodeConfigurationDetails"
    )
    node = doc.get(node_key)
    network = node.get("jobNetworkConfiguration") if isinstance(node, dict) else None
    # A multi-node job names its subnet in its node configuration's network, not its infrastructure.
    node_subnet = _str(network.get("subnetId")) if isinstance(network, dict) else None
    subnet = _str(infra.get("subnetId")) or node_subnet
    if subnet:
        where = emu.tenancy.subnets.get(subnet)
        checks += [Check("subnets", "use", where), Check("vnics", "use", where)]
    target = emu.tenancy.compute_targets.get(_str(infra.get("computeTargetId")) or "")
    if target:
        checks.append(Check(TARGETS, "use", _str(target.get("compartmentId"))))
    checks += _log_checks(emu, operation, doc)
    return checks


def schedule_checks(emu: Emulator, doc: dict[str, Any]) -> list[Check]:
    """A schedule's create or update: its project, and everything its CREATE_JOB_RUN action's
    CreateJobRunDetails names, as a CreateJobRun with that body would check (log group, subnet,
    compute target), so a caller cannot have a schedule do what it may not do itself."""
    checks = []
    project = emu.tenancy.projects.get(_str(doc.get("projectId")) or "")
    if project:
        checks.append(Check(PROJECTS, "read", _str(project.get("compartmentId"))))
    run = job_run_details(doc.get("action"))
    if run is not None:
        checks += referenced_checks(emu, "create_job_run", run)
    return list(dict.fromkeys(checks))


def job_run_details(action: Any) -> dict[str, Any] | None:
    """A schedule action's CreateJobRunDetails (``action.actionDetails.createJobRunDetails``)."""
    details = action.get("actionDetails") if isinstance(action, dict) else None
    run = details.get("createJobRunDetails") if isinstance(details, dict) else None
    return run if isinstance(run, dict) else None


def _log_checks(emu: Emulator, operation: str, doc: dict[str, Any]) -> list[Check]:
    if operation == "update_job":
        return []
    log = doc.get(
        "jobLogConfigurationOverrideDetails"
        if operation == "create_job_run"
        else "jobLogConfigurationDetails"
    )
    if log is None and operation == "create_job_run":
        job = emu.store.get(JOB, _str(doc.get("jobId")) or "")
        log = job.doc.get("jobLogConfigurationDetails") if job else None
    if not isinstance(log, dict) or not log.get("enableLogging") or not _str(log.get("logGroupId")):
        return []
    group_id = str(log["logGroupId"])
    compartment = _doc_compartment(emu, LOG_GROUP, group_id)
    target = (("target.loggroup.id", group_id),)
    groups_verb = "manage" if log.get("enableAutoLogCreation") and not log.get("logId") else "use"
    # A job only records the configuration; the log is created (or written to) by its runs.
    if operation == "create_job":
        groups_verb = "use"
    return [
        Check("log-groups", groups_verb, compartment, target),
        Check("log-content", "use", compartment, target),
    ]


def target_compartments(emu: Emulator, request: web.Request, body: bytes | None) -> list[str | None]:
    """Every compartment the call acts in, all of which must be allowed: the query's and body's
    compartmentId (a change of compartment is checked in both the source and the destination), a
    log search's streams, the compartment of the resource its path names, the compartment of the
    stream pool a stream call names (query or body ``streamPoolId``). [None] when none is known:
    only tenancy-wide statements reach it."""
    doc = _json(body)
    pool = request.query.get("streamPoolId") or _str(doc.get("streamPoolId"))
    found = [
        request.query.get("compartmentId"),
        _str(doc.get("compartmentId")),
        _path_compartment(emu, request),
        _doc_compartment(emu, STREAM_POOL, pool) if pool else None,
    ]
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
    if "subnet_id" in match:
        return emu.tenancy.subnets.get(match["subnet_id"])
    if "secret_id" in match:
        secret = emu.tenancy.vault_secrets.get(match["secret_id"])
        return _str(secret.get("compartmentId")) if secret else None
    if "compute_target_id" in match:
        target = emu.tenancy.compute_targets.get(match["compute_target_id"])
        return _str(target.get("compartmentId")) if target else None
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
