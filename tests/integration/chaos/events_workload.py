"""What the events chaos cases share: the OCI Events plumbing in the emulator (a stream and a rule
routing job-run events to it), the operator's events settings, a watch of every run's status, the
operator's metrics and the OCI side's figures (end times, request counts).

The stream and the rule are made with the `oci` SDK the way a tenancy admin would, so the cases
depend on the emulator's wire contract only, not on `ocids-operator events setup`.
"""

from __future__ import annotations

import base64
import ipaddress
import itertools
import json
import ssl
import statistics
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import oci
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from operator_harness import RUNS, Kube, OperatorProcess, Scenario, wait_for
from prometheus_client.parser import text_string_to_metric_families

DS = "com.oraclecloud.datascience."
RUN_EVENT_TYPES = [
    f"{DS}{name}"
    for name in (
        "createjobrun.begin",
        "createjobrun.end",
        "updatejobrun",
        "canceljobrun.begin",
        "canceljobrun.end",
        "succeededjobrun",
        "failedjobrun",
        "deletejobrun.begin",
        "deletejobrun.end",
    )
]
END_TYPES = [
    f"{DS}{name}" for name in ("succeededjobrun", "failedjobrun", "canceljobrun.end", "deletejobrun.end")
]
TERMINAL = {"Succeeded", "Failed", "Canceled", "Deleted"}
# How far along a phase is: a run's phases as seen by a watch never go down this scale, and once
# terminal never change at all. NeedsAttention ranks with InProgress (OCI may take a run back from it).
PHASE_RANK: dict[str | None, int] = {
    None: 0,
    "Pending": 0,
    "Accepted": 1,
    "InProgress": 2,
    "NeedsAttention": 2,
    "Canceling": 3,
    **{phase: 4 for phase in TERMINAL},
}
# Status times that, once set, a later status never changes or drops.
FIXED_ONCE_SET = ("jobRunId", "timeAccepted", "timeStarted", "timeFinished")
SCRIPT = "print('simulated: never executed')\n"
LEASE = "ocids-operator"  # the operator's default lease name: its events ConfigMap is `<lease>-events`


# The OCI side ---------------------------------------------------------------------------------------
@dataclass
class Plumbing:
    """The stream the Events rule writes job-run events to."""

    stream_id: str
    messages_endpoint: str
    rule_id: str
    config: dict[str, Any] = field(repr=False)


def _client_kwargs(endpoint: str) -> dict[str, Any]:
    return {"service_endpoint": endpoint, "retry_strategy": oci.retry.NoneRetryStrategy()}


def create_plumbing(emu: Any) -> Plumbing:
    """A stream pool, a one-partition stream and an Events rule over the job-run event types."""
    config = dict(oci.config.from_file(emu.config_file, emu.profile))
    compartment = emu.ids["COMPARTMENT_ID"]
    admin = oci.streaming.StreamAdminClient(config, **_client_kwargs(emu.endpoint))
    pool = admin.create_stream_pool(
        oci.streaming.models.CreateStreamPoolDetails(compartment_id=compartment, name="ocids-events-chaos")
    ).data
    stream = admin.create_stream(
        oci.streaming.models.CreateStreamDetails(
            name="ocids-events-chaos", partitions=1, stream_pool_id=pool.id, retention_in_hours=24
        )
    ).data
    stream = wait_for(
        lambda: (s := admin.get_stream(stream.id).data).lifecycle_state == "ACTIVE" and s,
        timeout=30,
        message="stream ACTIVE",
    )
    events = oci.events.EventsClient(config, **_client_kwargs(emu.endpoint))
    condition = {"eventType": RUN_EVENT_TYPES, "data": {"compartmentId": [compartment]}}
    rule = events.create_rule(
        oci.events.models.CreateRuleDetails(
            display_name="ocids-events-chaos",
            is_enabled=True,
            condition=json.dumps(condition),
            compartment_id=compartment,
            actions=oci.events.models.ActionDetailsList(
                actions=[
                    oci.events.models.CreateStreamingServiceActionDetails(
                        is_enabled=True, stream_id=stream.id
                    )
                ]
            ),
        )
    ).data
    wait_for(
        lambda: events.get_rule(rule.id).data.lifecycle_state == "ACTIVE", timeout=30, message="rule ACTIVE"
    )
    return Plumbing(stream.id, stream.messages_endpoint or emu.endpoint, rule.id, config)


def stream_envelopes(plumbing: Plumbing) -> list[dict[str, Any]]:
    """Every envelope in the stream, oldest first (read with a cursor of the test's own)."""
    client = oci.streaming.StreamClient(plumbing.config, **_client_kwargs(plumbing.messages_endpoint))
    cursor = client.create_cursor(
        plumbing.stream_id, oci.streaming.models.CreateCursorDetails(partition="0", type="TRIM_HORIZON")
    ).data.value
    envelopes: list[dict[str, Any]] = []
    while True:
        response = client.get_messages(plumbing.stream_id, cursor, limit=1000)
        envelopes += [json.loads(base64.b64decode(m.value)) for m in response.data]
        cursor = response.headers.get("opc-next-cursor")
        if not response.data or not cursor:
            return envelopes


class StreamForger:
    """Puts envelopes on the stream the way anyone granted `use stream-push` on it could."""

    def __init__(self, plumbing: Plumbing) -> None:
        self._plumbing = plumbing
        self._client = oci.streaming.StreamClient(
            plumbing.config, **_client_kwargs(plumbing.messages_endpoint)
        )

    def put(self, doc: Mapping[str, Any]) -> int:
        entry = oci.streaming.models.PutMessagesDetailsEntry(
            key=base64.b64encode(str(doc.get("eventID", "")).encode()).decode(),
            value=base64.b64encode(json.dumps(doc).encode()).decode(),
        )
        response = self._client.put_messages(
            self._plumbing.stream_id, oci.streaming.models.PutMessagesDetails(messages=[entry])
        )
        return 200 if not response.data.failures else 500


def events_env(plumbing: Plumbing, emu: Any, namespace: str, **settings: float | str) -> dict[str, str]:
    """The operator's events settings (OCIDS_<NAME> for each keyword), its ConfigMap in `namespace`."""
    env = {
        "OCIDS_EVENTS_STREAM_ID": plumbing.stream_id,
        "OCIDS_STREAMING_ENDPOINT": str(emu.endpoint),
        # The events ConfigMap goes to the lease's namespace: the test's own.
        "OCIDS_LEADER_ELECTION_NAMESPACE": namespace,
        # After the last run is done the harness's 3 s resync would only add reads to the counts.
        "OCIDS_RESYNC_INTERVAL_SECONDS": "300",
    }
    env.update(
        {
            f"OCIDS_{name.upper()}": f"{value:g}" if isinstance(value, float) else str(value)
            for name, value in settings.items()
        }
    )
    return env


def request_counts(admin: Any, *operations: str) -> int:
    """Requests the emulator answered for these SDK operations since its last stats reset."""
    ops = admin.stats()["operations"]
    return sum(int(ops.get(op, {}).get("total", 0)) for op in operations)


def by_operation(admin: Any) -> dict[str, int]:
    return {op: int(entry.get("total", 0)) for op, entry in sorted(admin.stats()["operations"].items())}


def oci_times_finished(scenario: Scenario) -> dict[str, datetime]:
    """Run OCID -> when OCI says it ended."""
    return {
        run.id: run.time_finished
        for run in scenario.oci.job_runs(scenario.compartment_id, include_deleted=True)
        if run.time_finished is not None
    }


# The operator ---------------------------------------------------------------------------------------
def metric(op: OperatorProcess, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels` (0 when it has none yet)."""
    total = 0.0
    for family in text_string_to_metric_families(op.metrics_text()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += float(sample.value)
    return total


def received(op: OperatorProcess) -> dict[str, int]:
    """ocids_events_received_total by outcome (all sources)."""
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(op.metrics_text()):
        for sample in family.samples:
            if sample.name == "ocids_events_received_total":
                outcome = sample.labels.get("outcome", "")
                counts[outcome] = counts.get(outcome, 0) + int(sample.value)
    return counts


def events_state(op: OperatorProcess) -> str | None:
    """The state the gauge ocids_events_state shows (the one sample set to 1)."""
    for family in text_string_to_metric_families(op.metrics_text()):
        for sample in family.samples:
            if sample.name == "ocids_events_state" and sample.value == 1:
                return str(sample.labels.get("state"))
    return None


def events_config_map(kube: Kube, namespace: str) -> dict[str, str]:
    proc = kube.kubectl("get", "configmap", f"{LEASE}-events", "-n", namespace, "-o", "json", check=False)
    return dict(json.loads(proc.stdout).get("data") or {}) if proc.returncode == 0 else {}


def start_jobs(scenario: Scenario, jobs: int) -> list[str]:
    names = [f"job-{j}" for j in range(jobs)]
    scenario.apply(*[scenario.job(name, SCRIPT, logging={"enabled": False}) for name in names])
    for name in names:
        scenario.wait_job_active(name, timeout=120)
    return names


def apply_runs(scenario: Scenario, jobs: list[str], runs: Iterable[str]) -> list[str]:
    names = list(runs)
    manifests = [scenario.run(name, jobs[i % len(jobs)]) for i, name in enumerate(names)]
    for chunk in range(0, len(manifests), 25):
        scenario.apply(*manifests[chunk : chunk + 25])
    return names


# A watch of every run's status -------------------------------------------------------------------
@dataclass
class Sighting:
    at: float  # wall clock (time.time()): comparable with OCI's times, same machine
    name: str
    phase: str | None
    status: dict[str, Any]


class StatusWatch:
    """`kubectl get trainingjobruns -w` in a thread: every status the API server held, in order."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        self._kube = kube
        self.namespace = namespace
        self.sightings: list[Sighting] = []
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> StatusWatch:
        cmd = [
            self._kube.kubectl_bin,
            "--kubeconfig",
            str(self._kube.kubeconfig),
            "get",
            RUNS,
            "-n",
            self.namespace,
            "-w",
            "-o",
            "json",
            "--output-watch-events",
        ]
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self._kube.env
        )
        self._thread = threading.Thread(target=self._read, name="status-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        buffer = ""
        for line in self._proc.stdout:
            # One compact document a line (kubectl 1.3x); pretty-printed ones are gathered until whole.
            buffer += line
            try:
                event = json.loads(buffer)
            except json.JSONDecodeError:
                continue
            buffer = ""
            obj = event.get("object") or {}
            if event.get("type") not in ("ADDED", "MODIFIED") or obj.get("kind") != "TrainingJobRun":
                continue
            status = dict(obj.get("status") or {})
            with self._lock:
                self.sightings.append(
                    Sighting(time.time(), obj["metadata"]["name"], status.get("phase"), status)
                )

    def stderr(self) -> str:
        """What kubectl said on stderr (once the watch is over)."""
        if self._proc is None or self._proc.stderr is None or self._proc.poll() is None:
            return ""
        return self._proc.stderr.read()

    def by_run(self) -> dict[str, list[Sighting]]:
        with self._lock:
            runs: dict[str, list[Sighting]] = {}
            for sighting in self.sightings:
                runs.setdefault(sighting.name, []).append(sighting)
            return runs

    def phases(self) -> dict[str, list[str | None]]:
        """Each run's distinct phases in the order they were seen."""
        out: dict[str, list[str | None]] = {}
        for name, sightings in self.by_run().items():
            seq: list[str | None] = []
            for s in sightings:
                if not seq or seq[-1] != s.phase:
                    seq.append(s.phase)
            out[name] = seq
        return out

    def first_terminal(self) -> dict[str, Sighting]:
        return {
            name: next(s for s in sightings if s.phase in TERMINAL)
            for name, sightings in self.by_run().items()
            if any(s.phase in TERMINAL for s in sightings)
        }

    def regressions(self) -> list[str]:
        """Every way a run's status went backwards, described (empty: none did)."""
        problems: list[str] = []
        for name, sightings in self.by_run().items():
            for before, after in itertools.pairwise(sightings):
                problems += [f"{name}: {p}" for p in _went_back(before.status, after.status)]
        return problems


def _went_back(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    old, new = before.get("phase"), after.get("phase")
    if PHASE_RANK.get(new, 0) < PHASE_RANK.get(old, 0):
        problems.append(f"phase {old} -> {new}")
    elif old in TERMINAL and new != old:
        problems.append(f"terminal phase {old} -> {new}")
    for key in FIXED_ONCE_SET:
        if before.get(key) is not None and after.get(key) != before.get(key):
            problems.append(f"{key} {before.get(key)} -> {after.get(key)}")
    old_conditions = {c.get("type"): c for c in before.get("conditions") or []}
    for cond in after.get("conditions") or []:
        prior = old_conditions.get(cond.get("type"))
        if prior is None:
            continue
        if str(cond.get("lastTransitionTime") or "") < str(prior.get("lastTransitionTime") or ""):
            problems.append(f"condition {cond.get('type')} lastTransitionTime went back")
        if old in TERMINAL and (cond.get("status"), cond.get("reason")) != (
            prior.get("status"),
            prior.get("reason"),
        ):
            problems.append(
                f"condition {cond.get('type')} of a {old} run changed: "
                f"{prior.get('status')}/{prior.get('reason')} -> {cond.get('status')}/{cond.get('reason')}"
            )
    for cond_type in old_conditions:
        if old in TERMINAL and cond_type not in {c.get("type") for c in after.get("conditions") or []}:
            problems.append(f"condition {cond_type} of a {old} run dropped")
    return problems


def status_lags(watch: StatusWatch, scenario: Scenario) -> dict[str, float]:
    """Run name -> seconds from OCI's timeFinished to the watch seeing the terminal phase."""
    finished = oci_times_finished(scenario)
    lags: dict[str, float] = {}
    for name, sighting in watch.first_terminal().items():
        ended = finished.get(str(sighting.status.get("jobRunId")))
        if ended is not None:
            lags[name] = max(0.0, sighting.at - ended.timestamp())
    return lags


def lag_figures(lags: Iterable[float]) -> dict[str, float]:
    values = sorted(lags)
    if not values:
        return {}
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return {
        "p50_s": round(statistics.median(values), 2),
        "p95_s": round(p95, 2),
        "max_s": round(values[-1], 2),
    }


def all_runs_terminal(kube: Kube, namespace: str, count: int) -> bool:
    phases = [(o.get("status") or {}).get("phase") for o in kube.list_objects(RUNS, namespace)]
    return len(phases) == count and all(p in TERMINAL for p in phases)


# The operator's Notifications endpoint, as a forger with the right (or wrong) credentials sees it ----
@dataclass
class Endpoint:
    """The operator's HTTPS endpoint for OCI Notifications and what it takes to talk to it."""

    port: int
    user: str
    password: str
    topic_id: str
    ca_file: Path
    path: str = "/"

    def env(self, cert_file: Path, key_file: Path, credentials_file: Path) -> dict[str, str]:
        return {
            "OCIDS_NOTIFICATIONS_PORT": str(self.port),
            "OCIDS_NOTIFICATIONS_TLS_CERT_FILE": str(cert_file),
            "OCIDS_NOTIFICATIONS_TLS_KEY_FILE": str(key_file),
            "OCIDS_NOTIFICATIONS_CREDENTIALS_FILE": str(credentials_file),
            "OCIDS_NOTIFICATIONS_TOPIC_IDS": self.topic_id,
        }

    def post(
        self,
        body: Mapping[str, Any],
        *,
        user: str | None = None,
        password: str | None = None,
        topic_id: str | None = None,
    ) -> int:
        """POST one Notification (the envelope as OCI Notifications delivers it); the HTTP status."""
        user = self.user if user is None else user
        password = self.password if password is None else password
        headers = {
            "content-type": "application/json",
            "X-OCI-NS-MessageType": "Notification",
            "X-OCI-NS-TopicOcid": topic_id or self.topic_id,
            "X-OCI-NS-SubscriptionId": "ocid1.onssubscription.oc1..forged",
            "X-OCI-NS-MessageId": str(uuid.uuid4()),
            "X-OCI-NS-Timestamp": datetime.now(UTC).isoformat(),
        }
        if user or password:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["authorization"] = f"Basic {token}"
        request = urllib.request.Request(
            f"https://127.0.0.1:{self.port}{self.path}",
            data=json.dumps(body).encode(),
            headers=headers,
            method="POST",
        )
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)


def serving_files(
    work: Path, *, port: int, user: str, password: str, topic_id: str
) -> tuple[Endpoint, dict[str, str]]:
    """A self-signed certificate for 127.0.0.1 (the client trusts it alone), the credentials file, and
    the operator's env for them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ocids-notifications-test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    work.mkdir(parents=True, exist_ok=True)
    cert_file, key_file, credentials = work / "tls.crt", work / "tls.key", work / "credentials"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    credentials.write_text(f"{user}:{password}\n")
    endpoint = Endpoint(port, user, password, topic_id, cert_file)
    return endpoint, endpoint.env(cert_file, key_file, credentials)


def envelope(
    event_type: str, resource_id: str, compartment_id: str, *, event_id: str | None = None
) -> dict[str, Any]:
    """A job-run event envelope as OCI Events writes it (CloudEvents 0.1, OCI's field names)."""
    return {
        "eventType": event_type,
        "cloudEventsVersion": "0.1",
        "eventTypeVersion": "2.0",
        "source": "datascience",
        "eventTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "contentType": "application/json",
        "eventID": event_id or str(uuid.uuid4()),
        "extensions": {"compartmentId": compartment_id},
        "data": {
            "compartmentId": compartment_id,
            "resourceId": resource_id,
            "resourceName": "forged",
            "additionalDetails": {"lifecycleState": "SUCCEEDED"},
        },
    }
