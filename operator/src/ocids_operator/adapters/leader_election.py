"""Leader election on a coordination.k8s.io Lease, with the `kubernetes` client's `leaderelection`.

The protocol (acquire, renew, take over an expired Lease) is the library's. What is added here is
what it leaves to its caller, each kept minimal:

- its `LeaseLock` talks through the global default client and sends requests without a timeout;
  `OperatorLeaseLock` gives it our credentials (`api_client()`) and bounded requests, and turns a
  connection error into a failed attempt (the library only expects `ApiException`: anything else
  would kill its thread, and a standby would never take over);
- it notices a lost Lease only once its renew deadline has passed, even when the Lease already
  names another holder; the lock reports such a read at once, and a watchdog enforces the
  deadline even when a request hangs;
- it has no release on shutdown (client-go's ReleaseOnCancel): `Elector.release()` writes the
  Lease without a holder, as client-go does, so a standby takes over at its next retry.

What the operator does then (exit on loss, start kopf when leading) is `__main__`'s business.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kopf
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from ..settings import OperatorSettings
from . import kube_login

log = logging.getLogger(__name__)
# The library logs every attempt at INFO ("yet to finish lease_duration ..." every retry period);
# the transitions that matter are logged here instead.
LIBRARY_LOGGER = "leaderelection"
NAMESPACE_FILE = kube_login.SERVICE_ACCOUNT_DIR / "namespace"
# The library refuses periods under one second and a renew deadline within 1.2 retry periods
# (with sys.exit): checked before it is called, so the message names our settings.
MIN_SECONDS = 1.0
JITTER = 1.2


@dataclasses.dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    name: str
    identity: str
    # Whole seconds: the Lease stores leaseDurationSeconds as an integer.
    lease_duration: int
    renew_deadline: float
    retry_period: float

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.name}"


def timing_problem(settings: OperatorSettings) -> str | None:
    """What the library would refuse (it exits the process); settings check the rest."""
    periods = {
        "LEASE_DURATION": settings.leader_election_lease_duration_seconds,
        "RENEW_DEADLINE": settings.leader_election_renew_deadline_seconds,
        "RETRY_PERIOD": settings.leader_election_retry_period_seconds,
    }
    for name, value in periods.items():
        if value < MIN_SECONDS:
            return f"invalid setting OCIDS_LEADER_ELECTION_{name}_SECONDS: must be at least 1"
    if (
        settings.leader_election_renew_deadline_seconds
        <= JITTER * settings.leader_election_retry_period_seconds
    ):
        return (
            "invalid settings: OCIDS_LEADER_ELECTION_RENEW_DEADLINE_SECONDS must be more than 1.2 times "
            "OCIDS_LEADER_ELECTION_RETRY_PERIOD_SECONDS"
        )
    return None


def lease_config(
    settings: OperatorSettings,
    environ: dict[str, str] | os._Environ[str] = os.environ,
    namespace_file: Path = NAMESPACE_FILE,
) -> LeaseConfig:
    namespace = settings.leader_election_namespace or environ.get("POD_NAMESPACE")
    if not namespace and namespace_file.is_file():
        namespace = namespace_file.read_text().strip()
    return LeaseConfig(
        namespace=namespace or "default",
        name=settings.leader_election_lease_name,
        identity=settings.leader_election_identity or f"{socket.gethostname()}_{os.getpid()}",
        lease_duration=math.ceil(settings.leader_election_lease_duration_seconds),
        renew_deadline=settings.leader_election_renew_deadline_seconds,
        retry_period=settings.leader_election_retry_period_seconds,
    )


def api_client(account_dir: Path | None = None, environ: Mapping[str, str] | None = None) -> client.ApiClient:
    """The operator's credentials by `kube_login`'s rule, the one kopf and the operator's client use.

    In a Pod: KUBERNETES_SERVICE_HOST:PORT verified with the ServiceAccount's ca.crt, and its token
    (read again for every request: the kubelet rotates it); else the kubeconfig (KUBECONFIG or
    ~/.kube/config), never written back.
    """
    configuration = client.Configuration()
    settings = kopf.OperatorSettings()
    info = kube_login.in_cluster(settings, account_dir, environ)
    if info is not None:
        configuration.host = info.server
        configuration.ssl_ca_cert = str(info.ca_path) if info.ca_path else None

        def fresh_token(conf: client.Configuration) -> None:
            latest = kube_login.in_cluster(settings, account_dir, environ) or info
            if latest.token:  # a token file caught mid-rotation (empty) keeps the previous token
                conf.api_key["BearerToken"] = f"Bearer {latest.token}"

        fresh_token(configuration)
        configuration.refresh_api_key_hook = fresh_token  # type: ignore[assignment]
    else:
        # The KUBECONFIG kopf reads now, not the one the library saw when it was imported.
        kubeconfig = (os.environ if environ is None else environ).get("KUBECONFIG") or None
        config.load_kube_config(kubeconfig, client_configuration=configuration, persist_config=False)
    # One request per attempt: the election retries every period itself, and urllib3's own retries
    # would stretch an attempt past the renew deadline.
    configuration.retries = False
    return client.ApiClient(configuration)


class _BoundedLeaseApi:
    """The three Lease calls the lock makes, each with a timeout; transport errors as ApiException."""

    def __init__(self, api: client.CoordinationV1Api, timeout: float) -> None:
        self._api = api
        self._timeout = timeout

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, _request_timeout=self._timeout, **kwargs)
        except ApiException:
            raise
        except Exception as exc:  # urllib3/socket errors: one failed attempt, retried next period
            raise ApiException(status=0, reason=f"{type(exc).__name__}: {exc}") from exc

    def read_namespaced_lease(self, name: str, namespace: str) -> Any:
        return self._call(self._api.read_namespaced_lease, name, namespace)

    def create_namespaced_lease(self, namespace: str, body: Any) -> Any:
        return self._call(self._api.create_namespaced_lease, namespace, body)

    def replace_namespaced_lease(self, name: str, namespace: str, body: Any) -> Any:
        return self._call(self._api.replace_namespaced_lease, name=name, namespace=namespace, body=body)


class OperatorLeaseLock(LeaseLock):  # type: ignore[misc]
    """The library's LeaseLock with our client, bounded requests and prompt notice of a new holder."""

    def __init__(
        self,
        lease: LeaseConfig,
        api: client.ApiClient,
        on_other_holder: Callable[[str], None],
        on_renewed: Callable[[float], None],
    ) -> None:
        super().__init__(lease.name, lease.namespace, lease.identity)
        # The parent bound itself to the global default client; ours carries the operator's login.
        self.api_instance = _BoundedLeaseApi(  # type: ignore[assignment]
            client.CoordinationV1Api(api), timeout=lease.retry_period
        )
        self.leading = False
        self.closed = False
        # One lock operation at a time: release() must not interleave with a renewal.
        self.mutex = threading.Lock()
        self._on_other_holder = on_other_holder
        self._on_renewed = on_renewed

    def get(self, name: str, namespace: str) -> tuple[bool, Any]:
        with self.mutex:
            if self.closed:
                return False, ApiException(status=0, reason="released")
            found, record = super().get(name, namespace)
        if found and self.leading and record.holder_identity not in (None, self.identity):
            self._on_other_holder(str(record.holder_identity))
        return found, record

    def create(self, name: str, namespace: str, election_record: Any) -> bool:
        with self.mutex:
            return not self.closed and bool(super().create(name, namespace, election_record))

    def update(self, name: str, namespace: str, updated_record: Any) -> bool:
        started = time.monotonic()
        with self.mutex:
            done = not self.closed and bool(super().update(name, namespace, updated_record))
        if done:
            self._on_renewed(started)
        return done

    def release(self) -> bool:
        """Leave the Lease without a holder (only if it still names us); no further renewals."""
        with self.mutex:
            self.closed = True
            try:
                lease = self.api_instance.read_namespaced_lease(self.name, self.namespace)
                if lease.spec is None or lease.spec.holder_identity != self.identity:
                    return False
                now = datetime.now(UTC)
                lease.spec.holder_identity = None
                lease.spec.lease_duration_seconds = 1
                lease.spec.acquire_time = now
                lease.spec.renew_time = now
                self.api_instance.replace_namespaced_lease(self.name, self.namespace, lease)
                return True
            except ApiException as exc:
                log.warning(
                    "could not release the leader Lease %s/%s: %s", self.namespace, self.name, exc.reason
                )
                return False


class Elector:
    """Runs the library's election on a daemon thread; `leading` is set once this process leads.

    `on_lost(reason)` is called (from another thread) at most once, when a leader's Lease is
    renewed no longer within the renew deadline or names another holder; it must stop the process.
    """

    def __init__(
        self,
        lease: LeaseConfig,
        api: client.ApiClient,
        on_lost: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lease = lease
        self.leading = threading.Event()
        self._on_lost = on_lost
        self._clock = clock
        self._lost = threading.Lock()
        self._last_renewed = clock()
        self.lock = OperatorLeaseLock(lease, api, self._other_holder, self._renewed)
        self._config = electionconfig.Config(
            self.lock,
            lease_duration=lease.lease_duration,
            renew_deadline=lease.renew_deadline,
            retry_period=lease.retry_period,
            onstarted_leading=self._started,
            onstopped_leading=lambda: self.lost("the Lease was not renewed within the renew deadline"),
        )
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)

    def start(self) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            logging.getLogger(LIBRARY_LOGGER).setLevel(logging.WARNING)
        self._thread.start()
        threading.Thread(target=self._watch, name="leader-watchdog", daemon=True).start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            leaderelection.LeaderElection(self._config).run()
        except Exception:
            log.exception("leader election stopped")
            if self.leading.is_set():
                self.lost("leader election failed")

    def _started(self) -> None:
        self._last_renewed = self._clock()
        self.lock.leading = True
        self.leading.set()

    def _renewed(self, started: float) -> None:
        self._last_renewed = started

    def _other_holder(self, holder: str) -> None:
        self.lost(f"the Lease names {holder} now")

    def overdue(self, now: float | None = None) -> bool:
        """A leader whose last successful renewal began more than the renew deadline ago."""
        now = self._clock() if now is None else now
        return self.leading.is_set() and now - self._last_renewed > self.lease.renew_deadline

    def _watch(self) -> None:
        while True:
            time.sleep(min(0.5, self.lease.retry_period / 2))
            if self.overdue():
                self.lost("the Lease was not renewed within the renew deadline")
                return

    def lost(self, reason: str) -> None:
        if self.lock.closed or not self._lost.acquire(blocking=False):
            return  # released on purpose, or already reported
        self._on_lost(reason)

    def release(self) -> bool:
        return self.lock.release()
