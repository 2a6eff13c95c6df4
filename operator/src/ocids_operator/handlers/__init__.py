"""kopf only, and thin: each kind's module registers its handlers, which call its workflow.

The RBAC these handlers (and the operator's own Kubernetes client) need is `ocids_operator.rbac`.
"""

from __future__ import annotations

import kopf

from ..adapters import kube_login
from ..settings import OperatorSettings
from . import lifecycle, training_job, training_job_run


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    @kopf.on.login(registry=registry)  # type: ignore[arg-type]
    def login(settings: kopf.OperatorSettings, **_: object) -> kopf.ConnectionInfo:
        return kube_login.login(settings)

    lifecycle.register(registry, settings)
    training_job.register(registry, settings)
    training_job_run.register(registry, settings)
