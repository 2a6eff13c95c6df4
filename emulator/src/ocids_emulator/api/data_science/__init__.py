"""OCI Data Science (``/20190101``): jobs, their artifacts and deletion, job runs, work requests,
projects, job shapes, fast-launch configs, compute targets and schedules. Multi-node jobs
(jobNodeConfigurationDetails) are stored as sent."""

from __future__ import annotations

from aiohttp import web

from ocids_emulator.api.data_science import (
    compute_targets,
    job_artifacts,
    job_deletion,
    job_runs,
    jobs,
    projects,
    schedules,
    shapes,
    work_requests,
)


def routes() -> list[web.RouteDef]:
    return [
        *jobs.routes(),
        *job_deletion.routes(),
        *job_artifacts.routes(),
        *job_runs.routes(),
        *work_requests.routes(),
        *projects.routes(),
        *shapes.routes(),
        *compute_targets.routes(),
        *schedules.routes(),
    ]
