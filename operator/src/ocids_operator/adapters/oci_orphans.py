"""The OCI calls of the orphan report (`ocids-operator orphans`, the periodic check): list a
compartment's jobs, read what a run's nodes are (to price it), tag a job kept on purpose.

On the gateway's client, call counter and threads, like every other OCI call.
"""

from __future__ import annotations

from typing import Any, Protocol

from oci.data_science.models import UpdateJobDetails

from ..core.cost import NodeSize
from ..core.orphans import OciJob
from .oci_client import PAGE_LIMIT, OciGateway, _off_loop


class OrphanCalls(Protocol):
    async def list_jobs_page(self, compartment_id: str, page: str | None) -> tuple[list[OciJob], str | None]:
        """One page of the compartment's ListJobs (every project) and the next page's token."""
        ...

    async def run_sizes(self, job_run_id: str) -> list[NodeSize] | None:
        """The nodes the run got (GetJobRun; GetJob for a multi-node run without its own node
        override); None when the run is gone or runs on something not priced by shape."""
        ...

    async def tag_job(self, job_id: str, freeform_tags: dict[str, str]) -> None:
        """Replace the job's freeform tags (UpdateJob): pass the job's tags with the new ones."""
        ...


class OciOrphanCalls:
    def __init__(self, gateway: OciGateway) -> None:
        self._gateway = gateway
        self._counter = gateway._counter

    @property
    def _client(self) -> Any:
        return self._gateway.client

    @_off_loop
    def list_jobs_page(self, compartment_id: str, page: str | None) -> tuple[list[OciJob], str | None]:
        response = self._counter.call(
            "list_jobs", self._client.list_jobs, compartment_id, limit=PAGE_LIMIT, page=page
        )
        jobs = [
            OciJob(
                id=str(job.id),
                compartment_id=str(job.compartment_id),
                lifecycle_state=str(job.lifecycle_state),
                tags=dict(job.freeform_tags or {}),
                display_name=str(job.display_name or ""),
                time_created=job.time_created,
            )
            for job in response.data
        ]
        return jobs, response.next_page or None

    @_off_loop
    def run_sizes(self, job_run_id: str) -> list[NodeSize] | None:
        read = self._counter.call_unless_missing("get_job_run", self._client.get_job_run, job_run_id)
        if read is None:
            return None
        run = read.data
        nodes = run.job_node_configuration_override_details
        infra = (
            run.job_infrastructure_configuration_override_details
            or run.job_infrastructure_configuration_details
        )
        if nodes is None and (infra is None or getattr(infra, "shape_name", None) is None):
            job = self._counter.call_unless_missing("get_job", self._client.get_job, run.job_id)
            if job is None:
                return None
            nodes = job.data.job_node_configuration_details
            infra = infra or job.data.job_infrastructure_configuration_details
        if nodes is not None:
            groups = getattr(nodes, "job_node_group_configuration_details_list", None) or []
            sizes = [
                _size(group.job_infrastructure_configuration_details, group.replicas or 1) for group in groups
            ]
            return None if not sizes or None in sizes else [s for s in sizes if s is not None]
        size = _size(infra, 1)
        return None if size is None else [size]

    @_off_loop
    def tag_job(self, job_id: str, freeform_tags: dict[str, str]) -> None:
        details = UpdateJobDetails(freeform_tags=dict(freeform_tags))
        self._counter.call("update_job", self._client.update_job, job_id, details)


def _size(infra: Any, count: int) -> NodeSize | None:
    shape = getattr(infra, "shape_name", None)
    if not shape:
        return None
    config = getattr(infra, "job_shape_config_details", None)
    return NodeSize(
        shape=str(shape),
        ocpus=getattr(config, "ocpus", None),
        memory_in_gbs=getattr(config, "memory_in_gbs", None),
        block_storage_in_gbs=int(getattr(infra, "block_storage_size_in_gbs", None) or 0),
        count=int(count),
    )


def orphan_calls_of(oci_service: Any) -> OrphanCalls | None:
    """The orphan calls of a runtime's OCI service: the gateway's own (tests' fakes may implement
    them themselves); None when the service has neither."""
    if isinstance(oci_service, OciGateway):
        return OciOrphanCalls(oci_service)
    return oci_service if hasattr(oci_service, "list_jobs_page") else None
