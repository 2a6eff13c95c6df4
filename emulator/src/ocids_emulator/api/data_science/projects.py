"""Projects (read-only; they come from tenancy.json)."""

from __future__ import annotations

from aiohttp import web

from ocids_emulator.api.httpio import emulator, json_response, query
from ocids_emulator.api.listing import Listing, page_response, required_compartment

PROJECTS = Listing("project")


async def get_project(request: web.Request) -> web.Response:
    emu = emulator(request)
    return json_response(emu.project_doc(request.match_info["project_id"]), etag="project")


async def list_projects(request: web.Request) -> web.Response:
    emu = emulator(request)
    q = query(request)
    compartment = required_compartment(emu, q)
    docs = [
        emu.project_doc(pid) for pid, p in emu.tenancy.projects.items() if p["compartmentId"] == compartment
    ]
    return page_response(docs, q, PROJECTS)


def routes() -> list[web.RouteDef]:
    p = "/20190101"
    return [
        web.get(f"{p}/projects", list_projects, allow_head=False),
        web.get(f"{p}/projects/{{project_id}}", get_project, allow_head=False),
    ]
