"""One descriptor per custom resource kind: what the shared machinery needs to know about it.

Handlers, status writers, events and the RBAC list take a `Kind` instead of a kind string plus
loose facts about it; adding a kind means adding one of these (see operator/README.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..api import (
    API_VERSION,
    GROUP,
    TRAINING_BUDGET,
    TRAINING_JOB,
    TRAINING_JOB_RUN,
    TRAINING_JOB_SCHEDULE,
    TRAINING_JOB_SWEEP,
    VERSION,
    Resource,
    StatusModel,
)


@dataclasses.dataclass(frozen=True)
class Kind:
    resource: Resource
    # The status field holding the OCI resource's OCID: once set, something exists in OCI.
    oci_id_field: str

    @property
    def name(self) -> str:
        return self.resource.kind

    @property
    def status_model(self) -> type[StatusModel]:
        return self.resource.status_model

    @property
    def plural(self) -> str:
        return self.resource.plural

    @property
    def gvr(self) -> tuple[str, str, str]:
        """(group, version, plural), as kopf's decorators take it."""
        return GROUP, VERSION, self.resource.plural

    def involved_object(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """The object an Event is about."""
        return {
            "apiVersion": API_VERSION,
            "kind": self.name,
            "metadata": {
                "name": metadata.get("name"),
                "namespace": metadata.get("namespace"),
                "uid": metadata.get("uid"),
                "resourceVersion": metadata.get("resourceVersion"),
            },
        }


TRAINING_JOB_KIND = Kind(TRAINING_JOB, oci_id_field="jobId")
TRAINING_JOB_RUN_KIND = Kind(TRAINING_JOB_RUN, oci_id_field="jobRunId")
# A sweep has nothing in OCI of its own: "trials" (created so far) plays the part, once set.
TRAINING_JOB_SWEEP_KIND = Kind(TRAINING_JOB_SWEEP, oci_id_field="trials")
# engine OCI: the OCI Data Science Schedule (engine Operator makes only TrainingJobRuns).
TRAINING_JOB_SCHEDULE_KIND = Kind(TRAINING_JOB_SCHEDULE, oci_id_field="scheduleId")
# A budget has nothing in OCI: its period's start plays the part, once set.
TRAINING_BUDGET_KIND = Kind(TRAINING_BUDGET, oci_id_field="periodStart")
KINDS: tuple[Kind, ...] = (
    TRAINING_JOB_KIND,
    TRAINING_JOB_RUN_KIND,
    TRAINING_JOB_SWEEP_KIND,
    TRAINING_JOB_SCHEDULE_KIND,
    TRAINING_BUDGET_KIND,
)
