"""kopf only, and thin: each kind's module registers its handlers, which call its workflow.

The RBAC these handlers (and the operator's own Kubernetes client) need is `ocids_operator.rbac`.
"""

from __future__ import annotations

from typing import Any

import kopf

from ..adapters import kube_login
from ..settings import OperatorSettings
from . import (
    budget,
    cost,
    daemon_bodies,
    events,
    kueue,
    lifecycle,
    orphans,
    run_cleanup,
    run_ledger,
    run_wakeup,
    schedule,
    sweep,
    training_job,
    training_job_run,
)


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    # The only login handler: kopf would pick at random among several (and its own service-account
    # login dials kubernetes.default.svc, which needs cluster DNS). See adapters/kube_login.py.
    @kopf.on.login(id="login", registry=registry)
    def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
        return kube_login.login(settings)

    daemon_bodies.install()  # kopf's per-object memory: see the module
    orphans.register(registry)  # before lifecycle's cleanup closes the clients it uses
    cost.register(registry)  # likewise
    events.register(registry)  # likewise (its status ConfigMap)
    lifecycle.register(registry, settings)
    training_job.register(registry, settings)
    training_job_run.register(registry, settings)
    run_ledger.register(registry)
    run_wakeup.register(registry)
    schedule.register(registry, settings)
    sweep.register(registry, settings)
    run_cleanup.register(registry, settings)
    budget.register(registry, settings)
    kueue.register(registry)
