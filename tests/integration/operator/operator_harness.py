"""The operator end to end: the operator as a real subprocess, kubectl against a real API server, and the
real `oci` SDK against the emulator. No pytest here, so the benchmark drives the same code.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import oci
import yaml
from ocids_controlplane.ports import free_ports
from ocids_controlplane.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[3]
CRD_DIR = REPO_ROOT / "crds"
GROUP = "ocids.io"
VERSION = "v1alpha1"
JOBS = "trainingjobs"
RUNS = "trainingjobruns"
TERMINAL_RUN_PHASES = {"Succeeded", "Failed", "Canceled", "Deleted"}


# --------------------------------------------------------------------------------------------- kube
@dataclass
class Kube:
    """kubectl with one kubeconfig: what a user types, so failures read like a user's terminal."""

    kubeconfig: Path
    kubectl_bin: str = "kubectl"
    # The cluster's client environment (private discovery cache per xdist worker).
    env: dict[str, str] | None = None

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        cmd = [self.kubectl_bin, "--kubeconfig", str(self.kubeconfig), *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, env=self.env)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def apply(self, *manifests: dict[str, Any], check: bool = True) -> subprocess.CompletedProcess[str]:
        text = yaml.safe_dump_all(list(manifests))
        return self.kubectl("apply", "-f", "-", input=text, check=check)

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        proc = self.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
        if proc.returncode != 0:
            if "NotFound" in proc.stderr or "not found" in proc.stderr:
                return None
            raise AssertionError(f"get {kind}/{name}: {proc.stderr.strip()}")
        return dict(json.loads(proc.stdout))

    def list(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        proc = self.kubectl("get", kind, "-n", namespace, "-o", "json")
        return list(json.loads(proc.stdout)["items"])

    def patch(self, kind: str, name: str, namespace: str, patch: dict[str, Any]) -> None:
        self.kubectl("patch", kind, name, "-n", namespace, "--type", "merge", "-p", json.dumps(patch))

    def delete(self, kind: str, name: str, namespace: str, wait: bool = True, timeout: float = 60) -> None:
        self.kubectl(
            "delete",
            kind,
            name,
            "-n",
            namespace,
            f"--wait={str(wait).lower()}",
            f"--timeout={timeout:.0f}s",
            timeout=timeout + 10,
        )

    def events(self, namespace: str, name: str | None = None) -> list[dict[str, Any]]:
        args = ["get", "events", "-n", namespace, "-o", "json"]
        if name:
            args += ["--field-selector", f"involvedObject.name={name}"]
        return list(json.loads(self.kubectl(*args).stdout)["items"])

    def status(self, kind: str, name: str, namespace: str) -> dict[str, Any]:
        obj = self.get(kind, name, namespace) or {}
        return dict(obj.get("status") or {})

    def wait_phase(
        self, kind: str, name: str, namespace: str, phases: str | set[str], timeout: float = 90
    ) -> dict[str, Any]:
        """Wait until status.phase is one of `phases`; returns the object."""
        wanted = {phases} if isinstance(phases, str) else set(phases)
        seen: dict[str, Any] = {}

        def check() -> dict[str, Any] | None:
            obj = self.get(kind, name, namespace)
            seen["obj"] = obj
            if obj and (obj.get("status") or {}).get("phase") in wanted:
                return obj
            return None

        return wait_until(
            check,
            timeout=timeout,
            interval=0.3,
            message=lambda: f"{kind}/{name} phase in {sorted(wanted)}; status={_status_of(seen.get('obj'))}",
        )

    def wait_condition(
        self, kind: str, name: str, namespace: str, condition: str, timeout: float = 90
    ) -> None:
        """`kubectl wait --for=condition=X`, the way a user (or a CI pipeline) waits for a run."""
        self.kubectl(
            "wait",
            f"--for=condition={condition}",
            f"{kind}/{name}",
            "-n",
            namespace,
            f"--timeout={timeout:.0f}s",
            timeout=timeout + 15,
        )


def _status_of(obj: dict[str, Any] | None) -> str:
    if obj is None:
        return "<absent>"
    return json.dumps(obj.get("status") or {}, sort_keys=True)[:1500]


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


# ----------------------------------------------------------------------------------------- operator
@dataclass
class OciTarget:
    """Where (and as whom) the operator and the tests talk OCI: the emulator in tests."""

    endpoint: str
    config_file: Path
    profile: str
    region: str


@dataclass
class OperatorProcess:
    """`python -m ocids_operator` as a real process: restartable, SIGKILL-able, its log kept in a file."""

    kubeconfig: Path
    oci_target: OciTarget
    namespaces: list[str]
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    python: str = sys.executable
    proc: subprocess.Popen[bytes] | None = None
    metrics_port: int = 0
    health_port: int = 0
    starts: int = 0

    def env(self, overrides: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OCIDS_", "KUBECONFIG"))}
        env.update(
            {
                "KUBECONFIG": str(self.kubeconfig),
                "OCIDS_AUTH": "api_key",
                "OCIDS_OCI_CONFIG_FILE": str(self.oci_target.config_file),
                "OCIDS_OCI_PROFILE": self.oci_target.profile,
                "OCIDS_REGION": self.oci_target.region,
                "OCIDS_DATASCIENCE_ENDPOINT": self.oci_target.endpoint,
                "OCIDS_LOGGING_ENDPOINT": self.oci_target.endpoint,
                "OCIDS_NAMESPACES": ",".join(self.namespaces),
                "OCIDS_POLL_INTERVAL_SECONDS": "1",
                "OCIDS_RESYNC_INTERVAL_SECONDS": "3",
                # Retries after OCI errors in seconds, not minutes: tests wait for them.
                "OCIDS_RETRY_BASE_SECONDS": "1",
                "OCIDS_RETRY_MAX_SECONDS": "8",
                "OCIDS_CLUSTER_NAME": "e2e",
                "OCIDS_METRICS_PORT": str(self.metrics_port),
                "OCIDS_HEALTH_PORT": str(self.health_port),
                "OCIDS_BIND_ADDRESS": "127.0.0.1",
                "PYTHONUNBUFFERED": "1",
                # The emulator answers locally; a tripped circuit breaker would only hide real errors.
                "OCI_SDK_DEFAULT_CIRCUITBREAKER_ENABLED": "false",
            }
        )
        env.update(self.extra_env)
        env.update(overrides or {})
        # An empty override means "unset", e.g. restarting without OCIDS_DEBUG_CRASH_AFTER.
        return {k: v for k, v in env.items() if v != ""}

    def start(self, env_overrides: dict[str, str] | None = None) -> OperatorProcess:
        assert self.proc is None or self.proc.poll() is not None, "operator already running"
        self.metrics_port, self.health_port = free_ports(2)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== operator start #{self.starts} at {datetime.now(UTC).isoformat()}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [self.python, "-m", "ocids_operator"],
                env=self.env(env_overrides),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.log_path.parent,
                start_new_session=True,
            )
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return int(self.proc.wait(timeout=timeout))

    def kill(self) -> None:
        """SIGKILL: the crash a node failure or OOM kill causes."""
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, grace: float = 10) -> int | None:
        """SIGTERM, then SIGKILL after `grace` seconds."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def restart(self, env_overrides: dict[str, str] | None = None) -> OperatorProcess:
        self.stop()
        return self.start(env_overrides)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def metrics_text(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return str(resp.read().decode())

    def rss_bytes(self) -> int:
        """Resident memory of the operator process (from /proc: no psutil needed)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


# ------------------------------------------------------------------------------------------------ oci
class OciView:
    """The OCI side as a user with the SDK sees it (here: the emulator)."""

    def __init__(self, target: OciTarget) -> None:
        config = oci.config.from_file(str(target.config_file), target.profile)
        config.setdefault("region", target.region)
        self.target = target
        self.ds = oci.data_science.DataScienceClient(
            config, service_endpoint=target.endpoint, retry_strategy=oci.retry.NoneRetryStrategy()
        )
        self.log_search = oci.loggingsearch.LogSearchClient(config, service_endpoint=target.endpoint)

    def jobs(self, compartment_id: str, *, include_deleted: bool = False) -> list[Any]:
        items = oci.pagination.list_call_get_all_results(
            self.ds.list_jobs, compartment_id=compartment_id
        ).data
        return [j for j in items if include_deleted or j.lifecycle_state not in ("DELETED", "DELETING")]

    def job_runs(
        self, compartment_id: str, job_id: str | None = None, *, include_deleted: bool = False
    ) -> list[Any]:
        kwargs: dict[str, Any] = {"compartment_id": compartment_id}
        if job_id:
            kwargs["job_id"] = job_id
        items = oci.pagination.list_call_get_all_results(self.ds.list_job_runs, **kwargs).data
        return [r for r in items if include_deleted or r.lifecycle_state != "DELETED"]

    def get_job(self, job_id: str) -> Any | None:
        try:
            return self.ds.get_job(job_id).data
        except oci.exceptions.ServiceError as exc:
            if exc.status == 404:
                return None
            raise

    def get_job_run(self, run_id: str) -> Any | None:
        try:
            return self.ds.get_job_run(run_id).data
        except oci.exceptions.ServiceError as exc:
            if exc.status == 404:
                return None
            raise

    def search_log_messages(self, query: str, window: timedelta = timedelta(hours=2)) -> list[str]:
        now = datetime.now(UTC)
        details = oci.loggingsearch.models.SearchLogsDetails(
            time_start=now - window, time_end=now + timedelta(minutes=5), search_query=query
        )
        result = self.log_search.search_logs(details, limit=1000).data
        messages = []
        for item in result.results or []:
            data = item.data or {}
            content = data.get("logContent") or {}
            message = (content.get("data") or {}).get("message")
            if message is not None:
                messages.append(str(message))
        return messages


def log_query_from_url(url: str) -> str:
    """The Logging search query a status.logs.url link carries (what the console would run)."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    return query["searchQuery"][0]


def wait_for(predicate: Callable[[], Any], timeout: float = 60, message: str = "condition") -> Any:
    return wait_until(predicate, timeout=timeout, interval=0.3, message=message)


@contextlib.contextmanager
def stopped_on_exit(operator: OperatorProcess) -> Iterator[OperatorProcess]:
    try:
        yield operator
    finally:
        operator.stop()


def monotonic() -> float:
    return time.monotonic()


# ------------------------------------------------------------------------------------------ scenario
@dataclass
class Scenario:
    """One test's world: its namespace, its emulator (ids + SDK view) and its operator."""

    kube: Kube
    namespace: str
    oci: OciView
    ids: dict[str, str]
    work_dir: Path
    # None until a test starts one (tests that need a special operator start their own).
    operator: OperatorProcess | None = None
    # The emulator's admin API (faults, limits): ocids_emulator.testing.Admin.
    admin: Any = None

    @property
    def compartment_id(self) -> str:
        return self.ids["COMPARTMENT_ID"]

    @property
    def region(self) -> str:
        return self.ids.get("REGION") or self.oci.target.region

    def job(self, name: str, script: str, **kwargs: Any) -> dict[str, Any]:
        from operator_manifests import training_job

        kwargs.setdefault(
            "logging", {"enabled": True, "autoCreateLog": True, "logGroupId": self.ids["LOG_GROUP_ID"]}
        )
        return training_job(
            name,
            self.namespace,
            compartment_id=self.compartment_id,
            project_id=self.ids["PROJECT_ID"],
            script=script,
            **kwargs,
        )

    def run(self, name: str, job: str, **kwargs: Any) -> dict[str, Any]:
        from operator_manifests import training_job_run

        return training_job_run(name, self.namespace, job, **kwargs)

    def apply(self, *manifests: dict[str, Any]) -> None:
        self.kube.apply(*manifests)

    def get_job(self, name: str) -> dict[str, Any] | None:
        return self.kube.get(JOBS, name, self.namespace)

    def get_run(self, name: str) -> dict[str, Any] | None:
        return self.kube.get(RUNS, name, self.namespace)

    def wait_job_active(self, name: str, timeout: float = 90) -> dict[str, Any]:
        return self.kube.wait_phase(JOBS, name, self.namespace, "Active", timeout=timeout)

    def wait_run(self, name: str, phases: str | set[str], timeout: float = 120) -> dict[str, Any]:
        return self.kube.wait_phase(RUNS, name, self.namespace, phases, timeout=timeout)

    def wait_job_status(
        self, name: str, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float = 60
    ) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def check() -> dict[str, Any] | None:
            obj = self.get_job(name)
            seen["obj"] = obj
            return obj if obj and predicate(obj.get("status") or {}) else None

        return wait_until(
            check,
            timeout=timeout,
            interval=0.3,
            message=lambda: f"{what}; status={_status_of(seen.get('obj'))}",
        )

    def release_file(self, marker: str) -> Path:
        """A path a GATED script waits for; create it to let that run finish."""
        return self.work_dir / f"release-{marker}"

    def run_log(self, run: dict[str, Any], expect: str, timeout: float = 30) -> list[str]:
        """The run's log lines through the query its status.logs.url link carries; waits for `expect`."""
        query = log_query_from_url(run["status"]["logs"]["url"])
        return list(
            wait_until(
                lambda: (
                    (m := self.oci.search_log_messages(query)) and any(expect in line for line in m) and m
                ),
                timeout=timeout,
                interval=0.5,
                message=f"log line containing {expect!r} for query {query!r}",
            )
        )

    def oci_jobs(self) -> list[Any]:
        return self.oci.jobs(self.compartment_id)

    def oci_runs(self, job_id: str | None = None) -> list[Any]:
        return self.oci.job_runs(self.compartment_id, job_id)

    def wait_event(self, name: str, reason: str, timeout: float = 30) -> dict[str, Any]:
        """The first Event with `reason` on object `name` (Events are posted just after status writes)."""
        return dict(
            wait_until(
                lambda: next(
                    (ev for ev in self.kube.events(self.namespace, name) if ev.get("reason") == reason), None
                ),
                timeout=timeout,
                interval=0.3,
                message=lambda: (
                    f"Event {reason!r} on {name}; have "
                    f"{[ev.get('reason') for ev in self.kube.events(self.namespace, name)]}"
                ),
            )
        )
