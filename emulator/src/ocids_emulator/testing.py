"""Test helper: run a real ``ocids-emulator`` process for a test and talk to it.

from ocids_emulator.testing import running_emulator

with running_emulator(tmp_path / "emu", simulated="0.5:0") as emu:
    client = emu.datascience_client()          # real SDK, real signatures
    emu.admin.set_faults({"errors": [{"operation": "get_job_run", "status": 503, "count": 2}]})
    os.environ.update(emu.env)                 # OCIDS_DATASCIENCE_ENDPOINT, OCI_CONFIG_FILE, ...
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ocids_emulator.api.identity.resource_principal import write_resource_principal
from ocids_emulator.api.identity.tls import CA_CERT_FILE
from ocids_emulator.config import (
    ADMIN_GROUP,
    DEFAULT_POLICIES,
    ENDPOINT_FILE,
    IDS_FILE,
    TENANCY_FILE,
    init_data_dir,
    is_initialized,
    read_ids,
)
from ocids_emulator.execution.orphans import kill_orphans

START_TIMEOUT_S = 30.0
# Tests always run under explicit IAM (deny by default): the config user administers the tenancy,
# the keyless principals this emulator issues are trusted, the Data Science service may use subnets.
FIXTURE_POLICIES: tuple[str, ...] = DEFAULT_POLICIES


class _Unset:
    pass


UNSET: Any = _Unset()


def write_policies(
    data_dir: Path,
    policies: Sequence[str] | _Unset | None = UNSET,
    dynamic_groups: dict[str, str] | None = None,
) -> None:
    """Put IAM into tenancy.json before ``serve`` reads it. ``UNSET``: the fixture's allow set where the
    file has no ``policies`` (a test never runs in the legacy allow-everything mode by accident);
    a list: exactly those statements; None: leave the file as it is."""
    if policies is None:
        return
    path = data_dir / TENANCY_FILE
    tenancy = json.loads(path.read_text())
    if isinstance(policies, _Unset):
        if "policies" in tenancy:
            return
        policies = FIXTURE_POLICIES
    tenancy["policies"] = list(policies)
    tenancy.setdefault("groups", {ADMIN_GROUP: [tenancy["userId"]]})
    if dynamic_groups is not None:
        tenancy["dynamicGroups"] = dynamic_groups
    path.write_text(json.dumps(tenancy, indent=2) + "\n")


class Admin:
    """The emulator's admin endpoint (``/_emulator``), outside the OCI paths."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.endpoint}/_emulator{path}",
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def health(self) -> dict[str, Any]:
        return dict(self._call("GET", "/health"))

    def set_faults(self, spec: dict[str, Any]) -> dict[str, Any]:
        """See ocids_emulator.faults.spec for the spec (errors / latencyMs / maxActiveRuns)."""
        return dict(self._call("PUT", "/faults", spec))

    def get_faults(self) -> dict[str, Any]:
        return dict(self._call("GET", "/faults"))

    def patch_faults(self, sections: dict[str, Any]) -> dict[str, Any]:
        """Set only the named sections of the spec (``None`` removes one); the others stay."""
        return dict(self._call("PATCH", "/faults", sections))

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    # OCI behaviours (faults/ in the emulator; README "Faults") ---------------------------------
    def deny(self, *operations: str, resource_ids: Sequence[str] = (), count: int | None = None) -> None:
        """OCI's IAM denial (404 NotAuthorizedOrNotFound) for these SDK operations, on top of earlier ones."""
        denials = self.get_faults()["denials"]
        denials += [{"operation": op, "resourceIds": list(resource_ids), "count": count} for op in operations]
        self.patch_faults({"denials": denials})

    def hold_canceling(self, *run_ids: str) -> None:
        """Canceled runs (these, or every run) stay CANCELING until ``release_canceling``."""
        self.patch_faults({"stuckCanceling": {"runIds": list(run_ids)}})

    def release_canceling(self) -> None:
        self.patch_faults({"stuckCanceling": None})

    def needs_attention(
        self, run_id: str | None = None, *, next_runs: int = 0, lifecycle_details: str | None = None
    ) -> None:
        """Put a run (and/or the next ``next_runs`` runs created) into NEEDS_ATTENTION; cancel answers
        409 IncorrectState until ``clear_needs_attention``."""
        current = self.get_faults()["needsAttention"] or {}
        run_ids = sorted({*current.get("runIds", []), *([run_id] if run_id else [])})
        section = {
            "runIds": run_ids,
            "nextRuns": current.get("nextRuns", 0) + next_runs,
            "lifecycleDetails": lifecycle_details or current.get("lifecycleDetails"),
        }
        self.patch_faults({"needsAttention": section})

    def clear_needs_attention(self) -> None:
        self.patch_faults({"needsAttention": None})

    def fail_runs(
        self,
        run_id: str | None = None,
        *,
        next_runs: int = 0,
        lifecycle_details: str | None = None,
        kind: str = "infrastructure",
    ) -> None:
        """The service fails a run (and/or the next ``next_runs`` runs created): FAILED with OCI-style
        lifecycleDetails and no exit code, as an infrastructure failure (out of capacity) reads; with
        ``kind="timeout"``, as a run that outlived its maximumRuntimeInMinutes reads."""
        current = self.get_faults()["failedRuns"] or {}
        section = {
            "runIds": sorted({*current.get("runIds", []), *([run_id] if run_id else [])}),
            "nextRuns": current.get("nextRuns", 0) + next_runs,
            "lifecycleDetails": lifecycle_details or current.get("lifecycleDetails"),
            "kind": kind,
        }
        self.patch_faults({"failedRuns": section})

    def not_found_after_create(
        self,
        *,
        seconds: float | None = None,
        calls: int | None = None,
        operations: Sequence[str] = ("get_job", "get_job_run"),
    ) -> None:
        """Jobs and runs created from now on answer 404 to these reads for a while (eventual consistency)."""
        lag = {"seconds": seconds, "calls": calls, "operations": list(operations)}
        self.patch_faults({"notFoundAfterCreate": lag})

    def fail_job_deletes(self, *job_ids: str, count: int | None = None, message: str | None = None) -> None:
        """DeleteJob still answers 202, but its work request ends FAILED and the job stays."""
        self.patch_faults({"failedJobDeletes": {"jobIds": list(job_ids), "count": count, "message": message}})

    def policies(self) -> dict[str, Any]:
        """The live IAM: ``{"policies": [...] or None, "groups": {...}, "dynamicGroups": {...}}``."""
        return dict(self._call("GET", "/policies"))

    def set_policies(
        self,
        statements: Sequence[str] | None,
        *,
        groups: dict[str, list[str]] | None = None,
        dynamic_groups: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Replace the policy statements live (None: allow everything); groups and dynamic groups
        stay tenancy.json's unless given. Raises urllib's HTTPError 400 for a malformed statement."""
        body: dict[str, Any] = {"policies": None if statements is None else list(statements)}
        if groups is not None:
            body["groups"] = groups
        if dynamic_groups is not None:
            body["dynamicGroups"] = dynamic_groups
        return dict(self._call("PUT", "/policies", body))

    def denials(self) -> list[dict[str, str]]:
        """IAM refusals since start / ``clear_denials``, oldest first: ``{operation, principalType,
        principalId, needs}`` (``needs``: the missing permission, e.g. ``use log-content in
        compartment id ... where target.loggroup.id='...'``)."""
        return list(self._call("GET", "/policies/denials")["denials"])

    def clear_denials(self) -> None:
        self._call("DELETE", "/policies/denials")

    def set_vault_secret(
        self, secret_id: str, content: str, *, compartment_id: str | None = None, name: str | None = None
    ) -> dict[str, Any]:
        """Set a Vault secret's content live (a new version; a new secret needs ``compartment_id``);
        returns the secret without its content. Not written to tenancy.json."""
        body: dict[str, Any] = {"content": content}
        if compartment_id:
            body["compartmentId"] = compartment_id
        if name:
            body["name"] = name
        return dict(self._call("PUT", f"/vaultSecrets/{secret_id}", body))

    def stats(self) -> dict[str, Any]:
        """OCI requests answered since start/reset: ``{"total", "operations": {op: {"total",
        "byStatus": {"200": n}}}, "since"}`` (operations are SDK method names)."""
        return dict(self._call("GET", "/stats"))

    def reset_stats(self) -> None:
        self._call("DELETE", "/stats")

    def tenancy_catalog(self, key: str) -> list[dict[str, Any]]:
        """The live ``jobShapes``, ``fastLaunchJobConfigs`` or ``computeTargets`` (tenancy.json's form)."""
        return list(self._call("GET", f"/tenancy/{key}")[key])

    def set_tenancy_catalog(self, key: str, items: Sequence[dict[str, Any]] | None) -> list[dict[str, Any]]:
        """Replace one of them live (None: the built-in one; not written to tenancy.json). Raises
        urllib's HTTPError 400 for a malformed entry."""
        return list(self._call("PUT", f"/tenancy/{key}", {key: None if items is None else list(items)})[key])

    def add_job_shape(
        self, name: str, *, core_count: int = 2, memory_in_gbs: int = 16, shape_series: str = "GENERIC"
    ) -> None:
        """Offer one more (fixed) shape, e.g. one only this tenancy has."""
        shapes = self.tenancy_catalog("jobShapes")
        shapes.append(
            {"name": name, "coreCount": core_count, "memoryInGBs": memory_in_gbs, "shapeSeries": shape_series}
        )
        self.set_tenancy_catalog("jobShapes", shapes)

    def set_simulated(self, value: str | None, *, seed: int | None = None) -> None:
        """``"SECONDS[:EXIT]"`` (or ``"LO..HI[:EXIT]"``, each run's duration drawn with ``seed``) makes
        later runs simulated; None returns to real execution."""
        body: dict[str, Any] = {"simulated": value}
        if seed is not None:
            body["simulatedSeed"] = seed
        self._call("PUT", "/settings", body)

    def event_delivery(
        self,
        *,
        delay_seconds: float = 0.0,
        jitter_seconds: float = 0.0,
        loss_rate: float = 0.0,
        duplicate_rate: float = 0.0,
        reorder_window_seconds: float = 0.0,
        event_types: Sequence[str] = (),
        seed: int | None = None,
    ) -> dict[str, Any]:
        """How OCI Events delivers from now on (the faults spec's ``eventDelivery``); ``seed`` replays."""
        sections: dict[str, Any] = {
            "eventDelivery": {
                "delaySeconds": delay_seconds,
                "jitterSeconds": jitter_seconds,
                "lossRate": loss_rate,
                "duplicateRate": duplicate_rate,
                "reorderWindowSeconds": reorder_window_seconds,
                "eventTypes": list(event_types),
            }
        }
        if seed is not None:
            sections["seed"] = seed
        return self.patch_faults(sections)

    def clear_event_delivery(self) -> None:
        self.patch_faults({"eventDelivery": None})

    def cloud_events(self) -> dict[str, Any]:
        """What OCI Events emitted: ``{counts: {emitted, matched, delivered, lost, duplicated, dropped},
        recent: [{eventID, eventType, resourceId, eventTime, deliveries}]}``."""
        return dict(self._call("GET", "/events"))

    def notification_deliveries(self) -> list[dict[str, Any]]:
        """Notifications' deliveries: ``[{messageId, messageType, subscriptionId, topicId, endpoint
        (redacted), state, timeCreated, timeFinished, attempts: [{time, status | error, seconds}]}]``."""
        return list(self._call("GET", "/notifications/deliveries")["deliveries"])

    def advance_schedules(self, seconds: float) -> dict[str, Any]:
        """Move the Schedules clock ahead and fire what fell due: ``{now, offsetSeconds, fired}``."""
        return dict(self._call("POST", "/schedules/clock/advance", {"seconds": seconds}))

    def effective_configuration(self, run_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/jobRuns/{run_id}/effective"))

    def usage(self) -> dict[str, Any]:
        """The Usage API settings: ``{delaySeconds, priceTable: {origin, currency, shapes, ...} | None}``."""
        return dict(self._call("GET", "/usage"))

    def usage_delay(self, seconds: float) -> dict[str, Any]:
        """Usage shows in RequestSummarizedUsages ``seconds`` after it happened."""
        return dict(self._call("PUT", "/usage/delay", {"seconds": seconds}))

    def set_price_table(
        self, path: str | os.PathLike[str] | None = None, *, yaml_text: str | None = None
    ) -> dict[str, Any]:
        """Bill with this prices.yaml (a file, or its text); neither: no table, amounts null."""
        body: dict[str, Any] = (
            {"yaml": yaml_text} if yaml_text is not None else {"path": str(path) if path else None}
        )
        return dict(self._call("PUT", "/usage/prices", body))


class RunningEmulator:
    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 0,
        simulated: str | None = None,
        faults: dict[str, Any] | None = None,
        extra_args: Sequence[str] = (),
        proxymux: str | None = None,
        kubeconfig: str | os.PathLike[str] | None = None,
        session_token_seconds: int | None = None,
        policies: Sequence[str] | _Unset | None = UNSET,
        dynamic_groups: dict[str, str] | None = None,
        simulated_seed: int | None = None,
        notifications_ca_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.notifications_ca_file = notifications_ca_file
        self.data_dir = Path(data_dir).resolve()
        # OKE workload identity's token exchange (HOST:PORT, TLS); needs the kubeconfig of the API
        # server that reviews ServiceAccount tokens.
        self.proxymux = proxymux
        self.kubeconfig = Path(kubeconfig).resolve() if kubeconfig else None
        self.session_token_seconds = session_token_seconds
        self.port = port
        self.simulated = simulated
        self.simulated_seed = simulated_seed
        self.faults = faults
        self.extra_args = list(extra_args)
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoint = ""
        if not is_initialized(self.data_dir):
            init_data_dir(self.data_dir)
        write_policies(self.data_dir, policies, dynamic_groups)
        self.ids: dict[str, str] = read_ids(self.data_dir)

    # ids and clients -------------------------------------------------------------------------
    @property
    def config_file(self) -> str:
        return str(self.data_dir / "config")

    @property
    def profile(self) -> str:
        return "DEFAULT"

    @property
    def ids_file(self) -> str:
        return str(self.data_dir / IDS_FILE)

    @property
    def admin(self) -> Admin:
        return Admin(self.endpoint)

    @property
    def env(self) -> dict[str, str]:
        """Environment a client process (the operator, the oci CLI) needs to reach this emulator."""
        return {
            "OCIDS_DATASCIENCE_ENDPOINT": self.endpoint,
            "OCIDS_LOGGING_ENDPOINT": self.endpoint,
            "OCIDS_OBJECT_STORAGE_ENDPOINT": self.endpoint,
            "OCIDS_NETWORK_ENDPOINT": self.endpoint,
            "OCIDS_SECRETS_ENDPOINT": self.endpoint,
            "OCIDS_USAGE_ENDPOINT": self.endpoint,
            "OCI_CONFIG_FILE": self.config_file,
            "OCI_CLI_CONFIG_FILE": self.config_file,
            "OCI_CONFIG_PROFILE": self.profile,
            "OCI_CLI_PROFILE": self.profile,
            **{f"OCIDS_EMULATOR_{k}": v for k, v in self.ids.items()},
        }

    @property
    def proxymux_ca_file(self) -> str:
        """The CA that signs the proxymux's certificate (``OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH``)."""
        return str(self.data_dir / CA_CERT_FILE)

    @property
    def workload_identity_env(self) -> dict[str, str]:
        """What ``oci.auth.signers.get_oke_workload_identity_resource_principal_signer`` reads
        (the SDK dials port 12250 of ``KUBERNETES_SERVICE_HOST``; pass the token itself to it)."""
        if not self.proxymux:
            raise RuntimeError("this emulator was started without proxymux=")
        return {
            "KUBERNETES_SERVICE_HOST": self.proxymux.rpartition(":")[0],
            "OCI_KUBERNETES_SERVICE_ACCOUNT_CERT_PATH": self.proxymux_ca_file,
            "OCI_RESOURCE_PRINCIPAL_REGION": self.ids["REGION"],
        }

    def resource_principal(
        self, out_dir: str | os.PathLike[str] | None = None, **kwargs: Any
    ) -> dict[str, str]:
        """Write a resource principal v2.2 token + key (``ocids-emulator resource-principal``) and
        return the ``OCI_RESOURCE_PRINCIPAL_*`` environment for ``get_resource_principals_signer()``."""
        return write_resource_principal(self.data_dir, Path(out_dir) if out_dir else None, **kwargs)

    def oci_config(self) -> dict[str, Any]:
        import oci

        return dict(oci.config.from_file(self.config_file, self.profile))

    def _client_kwargs(self, retries: bool) -> dict[str, Any]:
        import oci

        kwargs: dict[str, Any] = {"service_endpoint": self.endpoint}
        if not retries:
            kwargs["retry_strategy"] = oci.retry.NoneRetryStrategy()
            kwargs["circuit_breaker_strategy"] = oci.circuit_breaker.NoCircuitBreakerStrategy()
        return kwargs

    def datascience_client(self, *, retries: bool = True) -> Any:
        import oci

        return oci.data_science.DataScienceClient(self.oci_config(), **self._client_kwargs(retries))

    def log_search_client(self, *, retries: bool = True) -> Any:
        import oci

        return oci.loggingsearch.LogSearchClient(self.oci_config(), **self._client_kwargs(retries))

    def logging_client(self, *, retries: bool = True) -> Any:
        import oci

        return oci.logging.LoggingManagementClient(self.oci_config(), **self._client_kwargs(retries))

    def object_storage_client(self, *, retries: bool = True) -> Any:
        import oci

        return oci.object_storage.ObjectStorageClient(self.oci_config(), **self._client_kwargs(retries))

    def secrets_client(self, *, retries: bool = True) -> Any:
        import oci

        return oci.secrets.SecretsClient(self.oci_config(), **self._client_kwargs(retries))

    def usage_client(self, *, retries: bool = True) -> Any:
        import oci

        return oci.usage_api.UsageapiClient(self.oci_config(), **self._client_kwargs(retries))

    def events_client(self, *, retries: bool = True) -> Any:
        import oci

        return oci.events.EventsClient(self.oci_config(), **self._client_kwargs(retries))

    def stream_admin_client(self, *, retries: bool = True) -> Any:
        import oci

        return oci.streaming.StreamAdminClient(self.oci_config(), **self._client_kwargs(retries))

    def stream_client(self, messages_endpoint: str | None = None, *, retries: bool = True) -> Any:
        """A StreamClient for a stream's ``messagesEndpoint`` (this emulator's own URL)."""
        import oci

        kwargs = self._client_kwargs(retries)
        kwargs["service_endpoint"] = messages_endpoint or self.endpoint
        return oci.streaming.StreamClient(self.oci_config(), **kwargs)

    def notification_clients(self, *, retries: bool = True) -> tuple[Any, Any]:
        """Notifications' control plane (topics) and data plane (subscriptions, messages) clients."""
        import oci

        kwargs = self._client_kwargs(retries)
        return (
            oci.ons.NotificationControlPlaneClient(self.oci_config(), **kwargs),
            oci.ons.NotificationDataPlaneClient(self.oci_config(), **kwargs),
        )

    # process ---------------------------------------------------------------------------------
    def _command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "ocids_emulator.cli",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
            "--log-level",
            "WARNING",
        ]
        if self.simulated:
            command += ["--simulated", self.simulated]
        if self.simulated_seed is not None:
            command += ["--simulated-seed", str(self.simulated_seed)]
        if self.faults:
            command += ["--faults-json", json.dumps(self.faults)]
        if self.proxymux:
            command += ["--proxymux", self.proxymux, "--kubeconfig", str(self.kubeconfig)]
        if self.session_token_seconds is not None:
            command += ["--session-token-seconds", str(self.session_token_seconds)]
        if self.notifications_ca_file is not None:
            command += ["--notifications-ca-file", str(self.notifications_ca_file)]
        return command + self.extra_args

    def start(self) -> RunningEmulator:
        if self.process is not None and self.process.poll() is None:
            return self
        endpoint_file = self.data_dir / ENDPOINT_FILE
        with contextlib.suppress(FileNotFoundError):
            endpoint_file.unlink()
        log = (self.data_dir / "emulator.log").open("ab")
        self.process = subprocess.Popen(self._command(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ocids-emulator exited with {self.process.returncode}; see {log.name}")
            if endpoint_file.exists() and (text := endpoint_file.read_text().strip()):
                self.endpoint = text
                # A restart keeps the endpoint: clients configured with it keep working.
                self.port = int(text.rsplit(":", 1)[1])
                if self._answers():
                    return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"ocids-emulator did not answer within {START_TIMEOUT_S}s; see {log.name}")

    def _answers(self) -> bool:
        try:
            self.admin.health()
            return True
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful stop (SIGTERM): children are killed, data stays for a restart."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Crash stop (SIGKILL), as if the machine went away."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        # Artifact processes live in their own sessions and outlive a SIGKILLed emulator.
        kill_orphans(self.data_dir / "runs")

    def restart(self, *, hard: bool = False) -> RunningEmulator:
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start()

    def __enter__(self) -> RunningEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# The SDK dials OKE workload identity's token exchange at this fixed port of KUBERNETES_SERVICE_HOST.
PROXYMUX_PORT = 12250


def free_loopback_host(*ports: int) -> str:
    """A 127.x.y.z address on which every one of ``ports`` (default: the proxymux port) is free.

    The SDK's port is fixed, so parallel tests (and other runs on the machine) each take an address
    of their own instead of a port of their own."""
    wanted = ports or (PROXYMUX_PORT,)
    for _ in range(50):
        host = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
        try:
            for port in wanted:
                with contextlib.closing(socket.socket()) as sock:
                    sock.bind((host, port))
        except OSError:
            continue
        return host
    raise RuntimeError("no free loopback address")


@contextlib.contextmanager
def running_emulator(
    data_dir: str | os.PathLike[str],
    *,
    port: int = 0,
    simulated: str | None = None,
    faults: dict[str, Any] | None = None,
    extra_args: Sequence[str] = (),
    proxymux: str | None = None,
    kubeconfig: str | os.PathLike[str] | None = None,
    session_token_seconds: int | None = None,
    policies: Sequence[str] | _Unset | None = UNSET,
    dynamic_groups: dict[str, str] | None = None,
    simulated_seed: int | None = None,
    notifications_ca_file: str | os.PathLike[str] | None = None,
) -> Iterator[RunningEmulator]:
    """Start ``ocids-emulator serve`` (after ``init`` when ``data_dir`` is new) and stop it on exit.

    ``proxymux="127.0.0.x:12250"`` + ``kubeconfig`` also serve OKE workload identity's token exchange.
    ``policies``: the IAM statements tenancy.json gets (default: ``FIXTURE_POLICIES`` unless it has
    some; None: tenancy.json untouched, e.g. a legacy folder without policies); ``dynamic_groups`` too.
    """
    emulator = RunningEmulator(
        Path(data_dir),
        port=port,
        simulated=simulated,
        faults=faults,
        extra_args=extra_args,
        proxymux=proxymux,
        kubeconfig=kubeconfig,
        session_token_seconds=session_token_seconds,
        policies=policies,
        dynamic_groups=dynamic_groups,
        simulated_seed=simulated_seed,
        notifications_ca_file=notifications_ca_file,
    )
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
