"""`python -m ocids_operator` as a real process: restartable, SIGKILL-able, its log kept in a file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from harness_oci import OciTarget
from ocids_controlplane.ports import free_ports


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
                "OCIDS_OBJECT_STORAGE_ENDPOINT": self.oci_target.endpoint,
                "OCIDS_NETWORK_ENDPOINT": self.oci_target.endpoint,
                "OCIDS_SECRETS_ENDPOINT": self.oci_target.endpoint,
                "OCIDS_USAGE_ENDPOINT": self.oci_target.endpoint,
                "OCIDS_NAMESPACES": ",".join(self.namespaces),
                "OCIDS_POLL_INTERVAL_SECONDS": "1",
                "OCIDS_RESYNC_INTERVAL_SECONDS": "3",
                # The emulator's Logging has a line searchable the moment it is written: an ended
                # run's metrics need not wait the 30 s real OCI's ingestion may take.
                "OCIDS_METRICS_INGESTION_LAG_SECONDS": "2",
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
