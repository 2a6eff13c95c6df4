"""The aiohttp application: routing, OCI error bodies, request ids, signatures, faults and counts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ocids_emulator.api import (
    admin,
    data_science,
    events,
    networking,
    notifications,
    object_storage,
    secrets,
    streaming,
    usage,
)
from ocids_emulator.api import logging as logging_service
from ocids_emulator.api.data_science import schedules, shapes
from ocids_emulator.api.data_science.job_deletion import finish_job_delete
from ocids_emulator.api.httpio import EMULATOR_KEY, TOKENS_KEY, json_response
from ocids_emulator.api.identity import instance
from ocids_emulator.api.identity.resource_principal import DEFAULT_RESOURCE_TYPE
from ocids_emulator.api.object_storage.buckets import seed_buckets
from ocids_emulator.core.emulator import JOB, RUN, TERMINAL_RUN_STATES, Emulator, Settings
from ocids_emulator.core.errors import FAULT_CODES, ApiError, not_authenticated
from ocids_emulator.execution.executor import Executor
from ocids_emulator.execution.orphans import kill_orphans
from ocids_emulator.execution.scheduler import scheduler_of
from ocids_emulator.faults.denials import not_authorized_or_not_found
from ocids_emulator.faults.spec import Faults
from ocids_emulator.security.authorization import required_checks
from ocids_emulator.security.session_tokens import SessionTokens, TokenPrincipal
from ocids_emulator.security.signatures import Principal, Verifier

LOG = logging.getLogger(__name__)
EXECUTOR_KEY: web.AppKey[Executor] = web.AppKey("executor", Executor)
VERIFIER_KEY: web.AppKey[Verifier] = web.AppKey("verifier", Verifier)
# Object Storage has no version in its paths: /n (get_namespace) and /n/{namespace}/...
OCI_PREFIXES = (
    "/20190101/",
    "/20190909/",
    "/20200531/",
    "/20160918/",
    "/20190301/",
    "/20200107/",
    "/20181201/",
    "/20180418/",
    "/n/",
)
# Streamed uploads are signed without the body headers (the SDK's create_job_artifact, put_object),
# and so is Streaming's PutMessages (the SDK leaves its body out of the signature).
UNSIGNED_BODY_OPERATIONS = {"create_job_artifact", "put_object", "put_messages"}
BODY_RESOURCE_FIELDS = ("jobId", "projectId", "compartmentId")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, code: str, message: str) -> web.Response:
    return json_response({"code": code, "message": message}, status=status)


def not_implemented(request: web.Request) -> web.Response:
    """An OCI path or method no handler serves: OCI's 501 MethodNotImplemented, so it reads as what it
    is (a gap in the emulator), never as an authorization failure or a missing resource (a 404 would
    make a client conclude the resource is gone)."""
    return error_response(
        501,
        "MethodNotImplemented",
        f"The ocids-emulator does not implement {request.method} {request.path} "
        "(see emulator/README.md, 'Implemented')",
    )


def is_oci_path(path: str) -> bool:
    return path.startswith(OCI_PREFIXES) or path == "/n"


def operation_name(request: web.Request) -> str | None:
    handler = getattr(request.match_info, "handler", None)
    if handler is None or not is_oci_path(request.path):
        return None
    name = getattr(handler, "__name__", None)
    return name if isinstance(name, str) and not name.startswith("_") else None


@web.middleware
async def oci_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.headers.get("opc-request-id") or uuid.uuid4().hex.upper()
    is_oci = is_oci_path(request.path)
    try:
        response = await _dispatch(request, handler)
    except ApiError as exc:
        response = error_response(exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status in (404, 405) and is_oci:
            response = not_implemented(request)
        elif exc.status == 404:
            response = error_response(404, "NotFound", f"No such path: {request.path}")
        elif exc.status == 405:
            response = error_response(
                405, "MethodNotAllowed", f"{request.method} is not allowed on {request.path}"
            )
        elif exc.status == 413:
            response = error_response(413, "PayloadTooLarge", "The request body is too large")
        else:
            response = error_response(exc.status, "HttpError", exc.reason)
    except Exception:
        LOG.exception("unhandled error in %s %s", request.method, request.path)
        response = error_response(500, "InternalServerError", "Internal error in the emulator")
    response.headers["opc-request-id"] = request_id
    if is_oci:
        request.app[EMULATOR_KEY].stats.count(operation_name(request), response.status)
    return response


async def _dispatch(request: web.Request, handler: Handler) -> web.StreamResponse:
    operation = operation_name(request)
    if operation is None:
        return await handler(request)
    emu = request.app[EMULATOR_KEY]
    delay = emu.faults.latency_s(operation)
    if delay:
        await asyncio.sleep(delay)
    status = emu.faults.pick_error(operation)
    if status is not None:
        code, message = FAULT_CODES[status]
        return error_response(status, code, message)
    body_signed = request.method in ("POST", "PUT", "PATCH") and operation not in UNSIGNED_BODY_OPERATIONS
    body = await request.read() if body_signed else None
    # The verified principal (user, workload, resource) stays on the request for policy checks.
    request["principal"] = principal = request.app[VERIFIER_KEY].verify(
        request.method, request.raw_path, request.headers, body, body_signed=body_signed
    )
    claims = getattr(principal, "claims", {})
    ended_run_token(emu, claims)
    workload = (
        f"{claims.get('namespace')}/{claims.get('service_account')}" if principal.kind == "workload" else None
    )
    emu.stats.count_principal(principal.kind, workload)
    if not authorized(emu, request, operation, principal, body):
        emu.stats.count_denial(principal.kind)
        raise not_authorized_or_not_found()
    # OCI authenticates before it authorizes: a denial (or a read that trails a create) is a 404
    # only for a correctly signed request.
    resources = resource_ids(request, body)
    if emu.faults.denies(operation, resources) or emu.faults.hides_new(operation, resources):
        raise not_authorized_or_not_found()
    return await handler(request)


def ended_run_token(emu: Emulator, claims: dict[str, Any]) -> None:
    """A job run's resource principal lives as long as the run (in OCI, as its VM): once the run is
    terminal its token is refused, 401 NotAuthenticated, before its expiry. A token for a run this
    emulator never ran (`ocids-emulator resource-principal` mints them for a workload standing in
    for a job run, e.g. the operator itself) lives to its expiry."""
    if claims.get("res_type") != DEFAULT_RESOURCE_TYPE:
        return
    run = emu.store.get(RUN, str(claims.get("res_id") or ""))
    if run is not None and run.doc.get("lifecycleState") in TERMINAL_RUN_STATES:
        raise not_authenticated("The job run's resource principal ended with the job run")


def authorized(
    emu: Emulator,
    request: web.Request,
    operation: str,
    principal: Principal | TokenPrincipal,
    body: bytes | None,
) -> bool:
    """IAM: a statement must grant what the operation needs in every compartment the call targets,
    and the caller's rights on what a create names (project, log group, subnet)."""
    if emu.policies.statements is None:
        return True
    for check in required_checks(emu, request, operation, body):
        if not emu.policies.allows(
            principal, check.resource_type, check.verb, check.compartment_id, operation, check.target_vars
        ):
            emu.record_denial(principal, operation, check.text())
            return False
    return True


def resource_ids(request: web.Request, body: bytes | None) -> list[str]:
    """The OCIDs a call is about: those in its path, and for a create the job/project/compartment."""
    ids = list(request.match_info.values())
    if body:
        with contextlib.suppress(ValueError):
            doc = json.loads(body)
            if isinstance(doc, dict):
                ids += [v for k in BODY_RESOURCE_FIELDS if isinstance(v := doc.get(k), str)]
    return ids


def build_app(settings: Settings, faults: dict[str, Any] | None = None) -> web.Application:
    emu = Emulator(settings)
    if faults:
        emu.faults = Faults.from_dict(faults)
    app = web.Application(middlewares=[oci_middleware], client_max_size=settings.max_body_bytes)
    app[EMULATOR_KEY] = emu
    app[TOKENS_KEY] = SessionTokens.for_data_dir(settings.data_dir, settings.session_token_seconds)
    app[VERIFIER_KEY] = Verifier(emu.tenancy.key_ids, app[TOKENS_KEY])
    app[EXECUTOR_KEY] = Executor(emu)
    app.add_routes(data_science.routes())
    app.add_routes(logging_service.routes())
    app.add_routes(object_storage.routes())
    app.add_routes(networking.routes())
    app.add_routes(secrets.routes())
    app.add_routes(secrets.admin_routes())
    app.add_routes(usage.routes())
    app.add_routes(usage.admin_routes())
    app.add_routes(events.routes())
    app.add_routes(events.admin_routes())
    app.add_routes(streaming.routes())
    app.add_routes(notifications.routes())
    app.add_routes(notifications.admin_routes())
    notifications.install(app)
    app.add_routes(admin.routes())
    app.add_routes(shapes.admin_routes())
    app.add_routes(schedules.admin_routes())
    instance.setup(app)
    app.on_startup.append(_on_startup)
    app.on_cleanup.append(_on_cleanup)
    return app


async def _on_startup(app: web.Application) -> None:
    emu = app[EMULATOR_KEY]
    kill_orphans(emu.settings.data_dir / "runs")
    emu.recover_after_restart()
    seed_buckets(emu)
    for job in emu.store.all(JOB):
        if job.doc.get("lifecycleState") == "DELETING":
            finish_job_delete(emu, job)
    scheduler_of(emu).start()


async def _on_cleanup(app: web.Application) -> None:
    await scheduler_of(app[EMULATOR_KEY]).shutdown()
    await app[EXECUTOR_KEY].shutdown()
    # Held event deliveries are counted lost now, not fired into a closed store later.
    app[EMULATOR_KEY].cloud_events.close()
    app[EMULATOR_KEY].store.close()
