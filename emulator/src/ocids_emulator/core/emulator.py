"""The emulator's state and the rules shared by every API: tenancy, etags, retry tokens."""

from __future__ import annotations

import hashlib
import json
import math
import random
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocids_emulator.config import DB_FILE, Tenancy, load_tenancy
from ocids_emulator.core.cloud_events import CloudEvents
from ocids_emulator.core.errors import ApiError, invalidated_retry_token, no_etag_match, not_found
from ocids_emulator.core.ocids import new_ocid
from ocids_emulator.core.prices import PriceTable, load_price_table
from ocids_emulator.core.run_end import closed_node_groups, release_run_files
from ocids_emulator.core.stats import RequestStats
from ocids_emulator.core.stream_log import StreamLog
from ocids_emulator.core.timeutil import now_rfc3339
from ocids_emulator.faults.spec import Faults
from ocids_emulator.security.policies import PolicySet, principal_attributes
from ocids_emulator.store.sqlite import Record, Store

JOB = "job"
RUN = "jobrun"
WORK_REQUEST = "workrequest"
LOG_GROUP = "loggroup"
LOG = "log"
LOGGING_WORK_REQUEST = "loggingworkrequest"
SCHEDULE = "schedule"
# How many runs drew a simulated duration from a range (Emulator.simulation_draw_key).
DRAW_COUNTER = "simulationdraws"

ACTIVE_RUN_STATES = {"ACCEPTED", "IN_PROGRESS", "CANCELING", "NEEDS_ATTENTION"}
TERMINAL_RUN_STATES = {"SUCCEEDED", "FAILED", "CANCELED", "DELETED"}
RESTART_DETAILS = (
    "Job run failed: the ocids-emulator stopped while the run was executing, so its outcome is unknown."
)


@dataclass(frozen=True)
class Simulation:
    """A run that ends after ``duration_s`` with ``exit_code`` and starts no process. With
    ``max_duration_s``, each run's duration is drawn from ``duration_s..max_duration_s``."""

    duration_s: float
    exit_code: int = 0
    max_duration_s: float | None = None

    @classmethod
    def parse(cls, value: str) -> Simulation:
        """``SECONDS[:EXIT]`` or ``LO..HI[:EXIT]`` (a duration drawn per run); ValueError naming the
        part that is wrong: durations finite with 0 <= LO <= HI, the exit code 0..255."""
        duration, _, code = value.partition(":")
        low, dots, high = duration.partition("..")
        simulation = cls(
            _seconds(low, value), _exit_code(code, value), _seconds(high, value) if dots else None
        )
        if simulation.max_duration_s is not None and simulation.max_duration_s < simulation.duration_s:
            raise ValueError(f"simulated {value!r}: LO {low} is above HI {high}")
        return simulation

    def text(self) -> str:
        span = (
            f"{self.duration_s:g}"
            if self.max_duration_s is None
            else f"{self.duration_s:g}..{self.max_duration_s:g}"
        )
        return f"{span}:{self.exit_code}"

    def for_run(self, draw_key: str) -> Simulation:
        """The fixed simulation of one run (or node group): a range is drawn from a chooser seeded by
        ``draw_key`` (the seed, the run's ordinal among the runs made, the node group), so the same
        seed and the same sequence of creates give the same durations."""
        if self.max_duration_s is None:
            return self
        drawn = random.Random(draw_key).uniform(self.duration_s, self.max_duration_s)
        return Simulation(round(drawn, 3), self.exit_code)


def _seconds(text: str, value: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"simulated {value!r}: {text!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"simulated {value!r}: {text!r} must be a finite number of seconds >= 0")
    return seconds


def _exit_code(text: str, value: str) -> int:
    try:
        code = int(text or 0)
    except ValueError:
        raise ValueError(f"simulated {value!r}: exit code {text!r} is not an integer") from None
    if not 0 <= code <= 255:
        raise ValueError(f"simulated {value!r}: exit code {code} must be from 0 to 255")
    return code


@dataclass
class Settings:
    data_dir: Path
    simulated: Simulation | None = None
    # Seeds the per-run draw of a ranged simulated duration (--simulated-seed).
    simulated_seed: int = 0
    # Seconds per "minute" of maximumRuntimeInMinutes; tests shrink it to see a timeout quickly.
    minute_seconds: float = 60.0
    provisioning_seconds: float = 0.1
    delete_seconds: float = 0.1
    cancel_grace_seconds: float = 5.0
    container_default: Simulation = field(default_factory=lambda: Simulation(1.0, 0))
    max_body_bytes: int = 512 * 1024 * 1024
    # Lifetime of the security tokens the emulator issues (OKE workload identity); tests shorten it.
    session_token_seconds: int = 3600
    # Usage API: the price table file (None: amounts null) and how long after it happened usage shows.
    price_table: Path | None = None
    usage_delay_seconds: float = 0.0
    # Notifications: the CA bundle HTTPS subscribers' certificates are verified against (None: the
    # system's), how long a delivery is retried, and the backoff unit (OCI's is a minute).
    notifications_ca_file: Path | None = None
    notifications_retry_seconds: float = 7200.0
    notifications_retry_base_seconds: float = 1.0
    # GetMessages calls a second per stream partition before 429 (OCI: 5); 0, the default: no limit,
    # so tests and the operator's reader are not throttled unless a test asks for it.
    streaming_rate_limit: float = 0.0


def policy_set(
    tenancy: Tenancy, policies: Any = None, groups: Any = None, dynamic_groups: Any = None
) -> PolicySet:
    """tenancy.json's IAM, with the given parts replaced (the admin API's PUT /_emulator/policies)."""
    return PolicySet.build(
        tenancy.policies if policies is None else policies,
        tenancy.groups if groups is None else groups,
        tenancy.dynamic_groups if dynamic_groups is None else dynamic_groups,
        tenancy.compartments,
    )


def body_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def new_etag() -> str:
    return uuid.uuid4().hex


def clean(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if v is not None}


class Emulator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tenancy: Tenancy = load_tenancy(settings.data_dir)
        # Parsed before the store opens: a malformed statement stops serve (PolicyError names it).
        self.policies = policy_set(self.tenancy)
        # What the Usage API bills runs with; a broken file stops serve (PriceTableError names it).
        self.prices: PriceTable | None = (
            load_price_table(settings.price_table) if settings.price_table else None
        )
        self.store = Store(settings.data_dir / DB_FILE)
        self.faults = Faults()
        self.stats = RequestStats()
        # Set by the executor module; kept as callables so this module has no import cycle.
        self.start_run: Callable[[Record], None] = lambda record: None
        self.cancel_run: Callable[[Record], None] = lambda record: None
        self.faults_changed: Callable[[], None] = lambda: None
        # Notifications' PublishMessage for an Events rule's ONS action (installed by that API).
        self.publish_to_topic: Callable[[str, dict[str, Any]], None] = lambda topic_id, body: None
        self.stream_log = StreamLog(self.store, settings.streaming_rate_limit)
        self.cloud_events = CloudEvents(self)
        # What IAM refused lately, with the permission that was missing (GET /_emulator/policies/denials).
        self.denials: deque[dict[str, str]] = deque(maxlen=500)
        self._seed_log_groups()

    def record_denial(self, principal: Any, operation: str, needs: str) -> None:
        attrs = principal_attributes(principal)
        self.denials.append(
            {
                "time": now_rfc3339(),
                "operation": operation,
                "principalType": attrs["request.principal.type"],
                "principalId": attrs["request.principal.id"],
                "needs": needs,
            }
        )

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults
        self.faults_changed()

    @property
    def region(self) -> str:
        return self.tenancy.region

    def _seed_log_groups(self) -> None:
        for group in self.tenancy.log_groups:
            if self.store.get(LOG_GROUP, group["id"]) is None:
                now = now_rfc3339()
                doc = {
                    "id": group["id"],
                    "compartmentId": group["compartmentId"],
                    "displayName": group.get("displayName", "log-group"),
                    "description": group.get("description"),
                    "lifecycleState": "ACTIVE",
                    "freeformTags": {},
                    "definedTags": {},
                    "timeCreated": now,
                    "timeLastModified": now,
                }
                self.store.save(Record(LOG_GROUP, group["id"], clean(doc), {"etag": new_etag()}))

    # tenancy ---------------------------------------------------------------------------------
    def check_compartment(self, compartment_id: str) -> None:
        if compartment_id not in self.tenancy.compartments and compartment_id != self.tenancy.tenancy_id:
            raise not_found(f"compartment {compartment_id}")

    def check_subnet(self, infrastructure: Any) -> None:
        """A job's (or run's) subnet must exist, as in OCI (tenancy.json's ``subnets``)."""
        subnet = infrastructure.get("subnetId") if isinstance(infrastructure, dict) else None
        if subnet and subnet not in self.tenancy.subnets:
            raise not_found(f"subnet {subnet}")

    def check_project(self, project_id: str) -> dict[str, Any]:
        project = self.tenancy.projects.get(project_id)
        if project is None:
            raise not_found(f"project {project_id}")
        return project

    def project_doc(self, project_id: str) -> dict[str, Any]:
        project = self.check_project(project_id)
        return {
            "id": project_id,
            "compartmentId": project["compartmentId"],
            "displayName": project.get("displayName", "project"),
            "description": project.get("description"),
            "createdBy": self.tenancy.user_id,
            "timeCreated": project.get("timeCreated", "2024-01-01T00:00:00.000Z"),
            "lifecycleState": "ACTIVE",
            "freeformTags": {},
            "definedTags": {},
        }

    def simulation_draw_key(self) -> str:
        """The chooser key of the next run whose simulated duration is drawn from a range: the seed
        and how many such runs were made before under it (kept in the store, so a restart goes on
        counting; a new seed starts over). Run OCIDs are random, so they cannot be the key."""
        seed = self.settings.simulated_seed
        record = self.store.get(DRAW_COUNTER, DRAW_COUNTER)
        made = 0
        if record is not None and record.doc.get("seed") == seed:
            made = int(record.doc.get("made", 0))
        self.store.save(Record(DRAW_COUNTER, DRAW_COUNTER, {"seed": seed, "made": made + 1}, {}))
        return f"{seed}:{made}"

    # resources -------------------------------------------------------------------------------
    def new_id(self, resource_type: str) -> str:
        return new_ocid(resource_type, self.region)

    def require(self, kind: str, rid: str, *, allow_deleted: bool = True) -> Record:
        record = self.store.get(kind, rid)
        if record is None or (not allow_deleted and record.doc.get("lifecycleState") == "DELETED"):
            raise not_found(f"{kind} {rid}")
        return record

    def save(self, record: Record, **changes: Any) -> Record:
        """Apply field changes; every change gives the resource a new etag."""
        before = record.doc.get("lifecycleState")
        record.doc.update(changes)
        record.doc = clean(record.doc)
        record.meta["etag"] = new_etag()
        self.store.save(record)
        # Every path that moves a run (API, executor, faults, restart) passes here: OCI Events.
        if record.kind == RUN and record.doc.get("lifecycleState") != before:
            self.cloud_events.run_changed(record, before)
        return record

    def create(self, kind: str, rid: str, doc: dict[str, Any], meta: dict[str, Any] | None = None) -> Record:
        record = Record(kind, rid, clean(doc), {**(meta or {}), "etag": new_etag()})
        self.store.save(record)
        if kind == RUN:
            self.cloud_events.run_changed(record, None)
        return record

    @staticmethod
    def check_if_match(record: Record, if_match: str | None) -> None:
        if if_match is not None and if_match not in ("*", record.meta["etag"]):
            raise no_etag_match(record.id)

    # retry tokens ----------------------------------------------------------------------------
    def replay(self, scope: str, token: str | None, body: Any) -> str | None:
        """The resource id an earlier identical request made, or None to go ahead."""
        if not token:
            return None
        seen = self.store.retry_token(scope, token)
        if seen is None:
            return None
        if seen[0] != body_hash(body):
            raise invalidated_retry_token(
                "The opc-retry-token was already used for a request with a different body"
            )
        return seen[1]

    def remember(self, scope: str, token: str | None, body: Any, resource_id: str) -> None:
        if token:
            self.store.remember_retry_token(scope, token, body_hash(body), resource_id)

    def active_run_count(self) -> int:
        return sum(1 for r in self.store.all(RUN) if r.doc.get("lifecycleState") in ACTIVE_RUN_STATES)

    # restart ---------------------------------------------------------------------------------
    def recover_after_restart(self) -> None:
        """Runs that were executing when the emulator stopped cannot be resumed: end them."""
        now = now_rfc3339()
        for run in self.store.all(RUN):
            state = run.doc.get("lifecycleState")
            if state == "CANCELING":
                ended = {"lifecycleState": "CANCELED", "lifecycleDetails": "Job run canceled."}
            elif state in ACTIVE_RUN_STATES:
                ended = {"lifecycleState": "FAILED", "lifecycleDetails": RESTART_DETAILS}
            else:
                continue
            groups = closed_node_groups(run.doc.get("nodeGroupDetailsList"), ended["lifecycleState"])
            if groups is not None:
                ended["nodeGroupDetailsList"] = groups  # type: ignore[assignment]
            self.save(run, timeFinished=now, **ended)
            release_run_files(self.settings.data_dir, run.id)
        for kind in (WORK_REQUEST, LOGGING_WORK_REQUEST):
            for wr in self.store.all(kind):
                if wr.doc.get("status") in ("ACCEPTED", "IN_PROGRESS"):
                    self.save(wr, status="SUCCEEDED", percentComplete=100.0, timeFinished=now)


__all__ = ["ApiError", "Emulator", "Settings", "Simulation"]
