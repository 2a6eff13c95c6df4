"""One test's world: its namespace, its emulator (ids, SDK view, admin API) and its operator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness_kube import JOBS, RUNS, Kube, status_summary, wait_for
from harness_oci import OciView, log_query_from_url
from harness_operator import OperatorProcess
from operator_manifests import training_job, training_job_run


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

        found: dict[str, Any] = wait_for(
            check, timeout=timeout, message=lambda: f"{what}; status={status_summary(seen.get('obj'))}"
        )
        return found

    def release_file(self, marker: str) -> Path:
        """A path a GATED script waits for; create it to let that run finish."""
        return self.work_dir / f"release-{marker}"

    def run_log(self, run: dict[str, Any], expect: str, timeout: float = 30) -> list[str]:
        """The run's log lines through the query its status.logs.url link carries; waits for `expect`."""
        query = log_query_from_url(run["status"]["logs"]["url"])
        return list(
            wait_for(
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
            wait_for(
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
