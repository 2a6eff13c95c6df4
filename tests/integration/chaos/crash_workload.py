"""The crash-safety workload: what users do to TrainingJobs and runs, drawn from one seeded random.

The schedule is a model of what the cluster should end up as; the same seed gives the same
creates, edits, deletions and kill points, so a failure found at seed N is replayed with
OCIDS_CHAOS_SEED=N. Pure: the test turns each `Step` into a kubectl call.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Any

from operator_manifests import training_job, training_job_run

SHAPES = ("VM.Standard.E4.Flex", "VM.Standard3.Flex")
# Most runs succeed; some end with a non-zero exit, which must show as Failed, not be retried.
FAILING_EXIT = 3


@dataclasses.dataclass
class JobModel:
    name: str
    retain: bool
    shape: str = SHAPES[0]
    ocpus: int = 1
    # GEN (env) and the artifact's code version are template fields: changing one needs a new OCI job.
    gen: int = 1
    code: int = 1
    deleted: bool = False

    def script(self) -> str:
        return f"print('code version {self.code} of {self.name}', flush=True)\n"

    def manifest(self, ids: dict[str, str], namespace: str) -> dict[str, Any]:
        return training_job(
            self.name,
            namespace,
            compartment_id=ids["COMPARTMENT_ID"],
            project_id=ids["PROJECT_ID"],
            script=self.script(),
            env={"GEN": str(self.gen)},
            shape=self.shape,
            ocpus=self.ocpus,
            memory_in_gbs=16,
            logging={"enabled": False},
            deletion_policy="Retain" if self.retain else None,
        )


@dataclasses.dataclass
class RunModel:
    name: str
    job: str
    retain: bool
    seconds: float
    exit_code: int
    deleted: bool = False

    @property
    def phase(self) -> str:
        return "Succeeded" if self.exit_code == 0 else "Failed"

    def manifest(self, namespace: str) -> dict[str, Any]:
        # The emulator simulates the run (no process): it ends after `seconds` with `exit_code`.
        simulate = {"OCIDS_EMULATOR_SIMULATE": f"{self.seconds:g}:{self.exit_code}"}
        return training_job_run(
            self.name, namespace, self.job, env=simulate, deletion_policy="Retain" if self.retain else None
        )


@dataclasses.dataclass(frozen=True)
class Step:
    """One user action: `apply` a manifest, or `delete` an object (kind 'job' or 'run')."""

    verb: str  # apply | delete
    kind: str  # job | run
    name: str
    what: str  # create | inplace | revision | delete, for the figures


@dataclasses.dataclass
class Workload:
    rng: random.Random
    jobs_total: int
    runs_total: int
    edits_total: int
    run_deletes_total: int
    job_deletes_total: int
    jobs: dict[str, JobModel] = dataclasses.field(default_factory=dict)
    runs: dict[str, RunModel] = dataclasses.field(default_factory=dict)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def live_jobs(self) -> list[JobModel]:
        return [j for j in self.jobs.values() if not j.deleted]

    @property
    def live_runs(self) -> list[RunModel]:
        return [r for r in self.runs.values() if not r.deleted]

    def done(self) -> bool:
        return not self._choices()

    def _choices(self) -> list[tuple[Callable[[], Step], int]]:
        live = self.live_jobs
        made = len(self.jobs)
        choices: list[tuple[Callable[[], Step], int]] = []
        if made < self.jobs_total:
            choices.append((self._create_job, 3))
        if live and len(self.runs) < self.runs_total:
            choices.append((self._create_run, 6))
        if live and self._count("inplace") + self._count("revision") < self.edits_total:
            choices.append((self._edit_job, 3))
        if self.live_runs and self._count("delete-run") < self.run_deletes_total:
            choices.append((self._delete_run, 1))
        # Never the last live job while runs remain to be made: they need a job to run on.
        if (
            len(live) > 1
            and made >= self.jobs_total // 2
            and self._count("delete-job") < self.job_deletes_total
        ):
            choices.append((self._delete_job, 1))
        return choices

    def next_steps(self, count: int) -> list[Step]:
        steps = []
        for _ in range(count):
            choices = self._choices()
            if not choices:
                break
            actions, weights = zip(*choices, strict=True)
            steps.append(self.rng.choices(actions, weights)[0]())
        return steps

    def _count(self, what: str) -> int:
        return self.counts.get(what, 0)

    def _step(self, verb: str, kind: str, name: str, what: str) -> Step:
        self.counts[what] = self._count(what) + 1
        return Step(verb, kind, name, what)

    def _create_job(self) -> Step:
        name = f"job-{len(self.jobs):02d}"
        self.jobs[name] = JobModel(name, retain=self.rng.random() < 0.25, ocpus=self.rng.randint(1, 2))
        return self._step("apply", "job", name, "create-job")

    def _create_run(self) -> Step:
        job = self.rng.choice(self.live_jobs)
        name = f"run-{len(self.runs):03d}"
        exit_code = FAILING_EXIT if self.rng.random() < 0.15 else 0
        seconds = round(self.rng.uniform(0.5, 6.0), 1)
        self.runs[name] = RunModel(name, job.name, self.rng.random() < 0.2, seconds, exit_code)
        return self._step("apply", "run", name, "create-run")

    def _edit_job(self) -> Step:
        job = self.rng.choice(self.live_jobs)
        roll = self.rng.random()
        if roll < 0.3:
            job.shape = SHAPES[1 - SHAPES.index(job.shape)]
            return self._step("apply", "job", job.name, "inplace")
        if roll < 0.55:
            job.ocpus = 1 + job.ocpus % 4
            return self._step("apply", "job", job.name, "inplace")
        if roll < 0.8:
            job.gen += 1
        else:
            job.code += 1
        return self._step("apply", "job", job.name, "revision")

    def _delete_run(self) -> Step:
        run = self.rng.choice(self.live_runs)
        run.deleted = True
        return self._step("delete", "run", run.name, "delete-run")

    def _delete_job(self) -> Step:
        job = self.rng.choice(self.live_jobs)
        job.deleted = True
        # Its runs are owned by it: garbage collection deletes them, each by its own deletionPolicy.
        for run in self.runs.values():
            if run.job == job.name:
                run.deleted = True
        return self._step("delete", "job", job.name, "delete-job")
