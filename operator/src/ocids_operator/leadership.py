"""OCIDS_LEADER_ELECTION=true: wait as a standby, run the operator only while holding the Lease.

A standby serves /metrics and a /healthz of its own and makes no OCI call and no Kubernetes write
(besides trying the Lease). Once it leads, the operator runs as a single replica would. A leader
that loses its Lease exits at once with EXIT_LOST_LEASE, as controller-runtime does: no await or
cleanup that could still write, and the Pod restarts as a standby. Stopped (SIGTERM) as leader,
it releases the Lease once the operator has stopped, so a standby takes over within a retry period
instead of a lease duration.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

from . import metrics
from .adapters import leader_election
from .adapters.standby_health import StandbyHealth
from .settings import OperatorSettings

log = logging.getLogger("ocids_operator")
# 1 is "cannot reach Kubernetes", 2 a bad setting (see __main__).
EXIT_LOST_LEASE = 3


def exit_lost(lease: leader_election.LeaseConfig, reason: str) -> None:
    log.error(
        "lost the leader Lease %s (identity %s): %s; exiting at once so that only the new leader acts",
        lease.where,
        lease.identity,
        reason,
    )
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(EXIT_LOST_LEASE)


def run_elected(settings: OperatorSettings, run_operator: Callable[[], None]) -> int:
    lease = leader_election.lease_config(settings)
    try:
        api = leader_election.api_client()
    except Exception as exc:
        print(f"ocids-operator: cannot reach Kubernetes for leader election: {exc}", file=sys.stderr)
        return 1
    elector = leader_election.Elector(lease, api, on_lost=lambda reason: exit_lost(lease, reason))
    metrics.LEADER.set(0)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    health = (
        StandbyHealth(settings.bind_address, settings.health_port, lambda: elector.alive).start()
        if settings.health_port
        else None
    )
    log.info("standby: waiting for Lease %s (identity %s)", lease.where, lease.identity)
    elector.start()
    while not elector.leading.wait(0.2) and not stop.is_set():
        if not elector.alive:  # its error is logged; a standby that cannot take over must not linger
            log.error("leader election stopped while waiting for Lease %s; exiting", lease.where)
            return 1
    if health is not None:
        health.close()
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    if stop.is_set():
        elector.release()
        log.info("stopped before leading (Lease %s)", lease.where)
        return 0
    metrics.LEADER.set(1)
    log.info("leading: acquired Lease %s (identity %s); starting to reconcile", lease.where, lease.identity)
    try:
        run_operator()
    finally:
        if elector.release():
            log.info("released the leader Lease %s", lease.where)
    return 0
