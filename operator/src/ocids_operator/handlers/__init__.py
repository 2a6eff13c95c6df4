"""Thin kopf handlers: parse, call a workflow, write `patch.status`, post events.

RBAC the operator needs (for the chart, H3):
- ocids.io trainingjobs, trainingjobruns: get, list, watch, patch, update
- ocids.io trainingjobs/status, trainingjobruns/status: get, patch, update
- ocids.io trainingjobs/finalizers, trainingjobruns/finalizers: update
- core secrets, configmaps: get (env valueFrom, ConfigMap artifacts; reads by name only)
- core events: create, patch; events.k8s.io events: create, patch (kopf's own posting)
- core namespaces: list, watch (kopf, when watching all namespaces or a glob)
- apiextensions.k8s.io customresourcedefinitions: list, watch (kopf scans them)
The run poller patches trainingjobruns/status itself and reads trainingjobs, both covered above.
"""

from __future__ import annotations

import kopf

from ..settings import OperatorSettings
from . import lifecycle, training_job, training_job_run


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    lifecycle.register(registry, settings)
    training_job.register(registry, settings)
    training_job_run.register(registry, settings)
