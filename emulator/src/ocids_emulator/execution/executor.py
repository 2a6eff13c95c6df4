"""Runs job runs: a real child process per run, or a timer in simulated mode.

Each process starts in its own session so cancel, timeout and shutdown can stop it together with
any children it spawned.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import signal
from pathlib import Path
from typing import Any

from ocids_emulator.api.data_science.shapes import provisioning_seconds
from ocids_emulator.core.emulator import JOB, RUN, Emulator
from ocids_emulator.core.logs import append_lines
from ocids_emulator.core.timeutil import now_rfc3339
from ocids_emulator.execution.artifacts import BootstrapError, command_for, find_entrypoint, unpack
from ocids_emulator.execution.holds import RunHolds
from ocids_emulator.execution.mounts import prepare_mounts, wrap_command
from ocids_emulator.execution.multi_node import MultiNodeRun
from ocids_emulator.execution.outcomes import (
    CANCELED_DETAILS,
    RUNNING_DETAILS,
    STARTING_DETAILS,
    SUCCEEDED_DETAILS,
    exit_status,
    failed_details,
    signal_group,
    timeout_details,
)
from ocids_emulator.execution.probes import run_startup_probe
from ocids_emulator.execution.run_identity import bootstrap_refusal, may_push_logs, provisioning_refusal
from ocids_emulator.execution.run_principal import run_principal_environment
from ocids_emulator.store.sqlite import Record

LOG = logging.getLogger(__name__)
_PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
MAX_LINE = 1024 * 1024


class Executor:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancel: dict[str, asyncio.Event] = {}
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self.holds = RunHolds(emu)
        # Runs the failedRuns fault ends FAILED (their stop is a cancel that ends FAILED instead).
        self._failing: dict[str, str] = {}
        emu.start_run = self.start
        emu.cancel_run = self.cancel
        emu.faults_changed = self._faults_changed

    @property
    def runs_dir(self) -> Path:
        return self.emu.settings.data_dir / "runs"

    def start(self, run: Record) -> None:
        self._cancel[run.id] = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._execute(run))
        self._tasks[run.id] = task
        task.add_done_callback(functools.partial(self._forget, run.id))

    def _forget(self, run_id: str, _task: object = None) -> None:
        self._tasks.pop(run_id, None)
        self._cancel.pop(run_id, None)
        self._procs.pop(run_id, None)

    def cancel(self, run: Record) -> None:
        event = self._cancel.get(run.id)
        if event is not None:
            event.set()
        proc = self._procs.get(run.id)
        if proc is not None:
            signal_group(proc, signal.SIGTERM)
            grace = self.emu.settings.cancel_grace_seconds
            asyncio.get_running_loop().call_later(grace, signal_group, proc, signal.SIGKILL)
        elif event is None:
            # Nothing executes it (e.g. lost across a restart): finish the cancel at once.
            self._finish(run, "CANCELED", CANCELED_DETAILS)

    def _faults_changed(self) -> None:
        self.holds.apply()
        for run in self.emu.store.all(RUN):
            active = run.doc["lifecycleState"] in ("ACCEPTED", "IN_PROGRESS")
            if active and run.id not in self._failing and self.emu.faults.fails_run(run.id):
                self._failing[run.id] = self._failure_details(run)
                self.cancel(run)

    def _failure_details(self, run: Record) -> str:
        failure = self.emu.faults.failure()
        if failure.kind == "timeout":
            config = (run.meta.get("effective") or {}).get("jobConfigurationDetails") or {}
            return timeout_details(int(config.get("maximumRuntimeInMinutes") or 0))
        return failure.lifecycle_details

    async def shutdown(self) -> None:
        """Stop every child; the runs' states are settled by the restart rule on the next start."""
        for proc in list(self._procs.values()):
            signal_group(proc, signal.SIGKILL)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def cancel_event(self, run_id: str) -> asyncio.Event:
        """Set when the run is canceled."""
        return self._cancel[run_id]

    # one run ---------------------------------------------------------------------------------
    async def _pause(self, run_id: str, seconds: float) -> bool:
        """Wait; True when the run got canceled meanwhile."""
        event = self._cancel[run_id]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=max(seconds, 0))
        return event.is_set()

    def _progress(self, run: Record, details: str) -> None:
        self.holds.advance(run, lifecycleDetails=details)

    def _finish(self, run: Record, state: str, details: str) -> None:
        failure = self._failing.pop(run.id, None)
        if failure is not None:  # the service failed it: whatever stopped, it ends FAILED, no exit code
            state, details = "FAILED", failure
        self.holds.finish(run, state, details)

    async def _execute(self, run: Record) -> None:
        emu = self.emu
        try:
            if await self._pause(run.id, provisioning_seconds(emu, run.doc)):
                return self._finish(run, "CANCELED", CANCELED_DETAILS)
            refusal = provisioning_refusal(emu, run)
            if refusal:
                return self._finish(run, "FAILED", refusal)
            self._progress(run, "Infrastructure provisioned.")
            self.holds.advance(
                run,
                lifecycleState="IN_PROGRESS",
                lifecycleDetails="Job run bootstrap starting.",
                timeStarted=now_rfc3339(),
            )
            refusal = bootstrap_refusal(emu, run)
            if refusal:
                return self._finish(run, "FAILED", refusal)
            simulation = run.meta.get("simulation")
            if (run.meta.get("effective") or {}).get("jobNodeConfigurationDetails") is not None:
                await MultiNodeRun(self, run).execute()
            elif simulation is not None:
                await self._simulate(run, simulation)
            else:
                await self._run_process(run)
        except asyncio.CancelledError:
            raise
        except BootstrapError as exc:
            self._finish(run, "FAILED", str(exc))
        except Exception as exc:  # a bug here must not leave the run IN_PROGRESS forever
            LOG.exception("job run %s failed inside the emulator", run.id)
            self._finish(run, "FAILED", f"Job run failed: emulator error ({type(exc).__name__}: {exc}).")

    async def _simulate(self, run: Record, simulation: dict[str, Any]) -> None:
        self._progress(run, STARTING_DETAILS)
        self._progress(run, RUNNING_DETAILS)
        if await self._pause(run.id, float(simulation["durationSeconds"])):
            return self._finish(run, "CANCELED", CANCELED_DETAILS)
        code = int(simulation["exitCode"])
        if code == 0:
            self._finish(run, "SUCCEEDED", SUCCEEDED_DETAILS)
        else:
            self._finish(run, "FAILED", failed_details(code))

    def _environment(self, run: Record, job: Record, artifact_name: str) -> dict[str, str]:
        env = self.service_environment(run, job, artifact_name)
        env.update(run.meta["effective"]["jobConfigurationDetails"].get("environmentVariables") or {})
        return env

    def service_environment(self, run: Record, job: Record, artifact_name: str) -> dict[str, str]:
        """What OCI sets in every run (plus the emulator's PATH, HOME, ...), before the job's env vars."""
        emu = self.emu
        project = emu.tenancy.projects.get(run.doc["projectId"], {})
        env = {k: os.environ[k] for k in _PASSTHROUGH if k in os.environ}
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "TENANCY_OCID": emu.tenancy.tenancy_id,
                "PROJECT_OCID": run.doc["projectId"],
                "PROJECT_COMPARTMENT_OCID": project.get("compartmentId", run.doc["compartmentId"]),
                "JOB_OCID": job.id,
                "JOB_COMPARTMENT_OCID": job.doc["compartmentId"],
                "JOB_ARTIFACT_FILE_NAME": artifact_name,
                "JOB_RUN_OCID": run.id,
                "JOB_RUN_COMPARTMENT_OCID": run.doc["compartmentId"],
            }
        )
        # The run calls OCI as itself (resource principal v2.2), every node alike.
        env.update(run_principal_environment(emu, run, self.runs_dir / run.id))
        return env

    def prepared_command(self, run: Record, command: list[str], folder: Path) -> list[str]:
        """The artifact's command, started inside the run's storage mounts (if it has any)."""
        mounts = (run.meta.get("effective") or {}).get("jobStorageMountConfigurationDetailsList") or []
        return wrap_command(command, prepare_mounts(self.emu, mounts, folder))

    def log_target(self, run: Record) -> str | None:
        """The run's log, if its output may be pushed there."""
        log_id = (run.doc.get("logDetails") or {}).get("logId")
        # The run pushes its logs as itself: without `use log-content` they never arrive (as in OCI).
        if log_id and not may_push_logs(self.emu, run, log_id):
            return None
        return log_id

    def probe_scale(self) -> float:
        return self.emu.settings.minute_seconds / 60.0

    async def _run_process(self, run: Record) -> None:
        emu = self.emu
        job = emu.require(JOB, run.doc["jobId"])
        artifact = emu.store.artifact(job.id)
        if artifact is None:
            raise BootstrapError("Job run bootstrap failed: the job has no artifact.")
        folder = self.runs_dir / run.id
        shutil.rmtree(folder, ignore_errors=True)
        workdir = folder / "work"
        # In a thread: the run's resource principal key takes a moment to generate.
        env = await asyncio.to_thread(self._environment, run, job, artifact.filename)
        config = run.meta["effective"]["jobConfigurationDetails"]
        await asyncio.to_thread(unpack, artifact.filename, artifact.content, workdir)
        entry = find_entrypoint(artifact.filename, workdir, env.get("JOB_RUN_ENTRYPOINT"))
        command = command_for(entry, config.get("commandLineArguments"))
        command = await asyncio.to_thread(self.prepared_command, run, command, folder)
        self._progress(run, STARTING_DETAILS)
        proc = await asyncio.create_subprocess_exec(
            *command,
            cwd=str(workdir),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            limit=MAX_LINE,
        )
        self._procs[run.id] = proc
        if self._cancel[run.id].is_set():  # canceled while the artifact was being unpacked
            signal_group(proc, signal.SIGTERM)
        probe = config.get("startupProbeDetails")
        if not probe:
            self._progress(run, RUNNING_DETAILS)
        log_id = self.log_target(run)
        pump = asyncio.get_running_loop().create_task(self.pump(proc, run.id, log_id, folder / "output.log"))
        minutes = config.get("maximumRuntimeInMinutes")
        timed_out = False
        probe_failure: str | None = None

        async def supervise() -> None:
            nonlocal probe_failure
            if probe:
                probe_failure = await run_startup_probe(
                    probe, workdir, env, lambda: proc.returncode is None, self.probe_scale()
                )
                if probe_failure is not None:
                    signal_group(proc, signal.SIGKILL)
                elif proc.returncode is None:
                    self._progress(run, RUNNING_DETAILS)
            await proc.wait()

        try:
            limit = minutes * emu.settings.minute_seconds if minutes else None
            await asyncio.wait_for(supervise(), timeout=limit)
        except TimeoutError:
            timed_out = True
            signal_group(proc, signal.SIGKILL)
            await proc.wait()
        finally:
            # The artifact's own children die with it, as they would with the job's VM.
            signal_group(proc, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(pump), timeout=5)
            pump.cancel()
        code = proc.returncode if proc.returncode is not None else -1
        if self._cancel[run.id].is_set():
            self._finish(run, "CANCELED", CANCELED_DETAILS)
        elif timed_out:
            self._finish(run, "FAILED", timeout_details(int(minutes)))
        elif probe_failure is not None:
            self._finish(run, "FAILED", probe_failure)
        elif code == 0:
            self._finish(run, "SUCCEEDED", SUCCEEDED_DETAILS)
        else:
            # A signal death reads like a shell would report it (128 + signal number).
            self._finish(run, "FAILED", failed_details(exit_status(code)))

    async def pump(
        self, proc: asyncio.subprocess.Process, source: str, log_id: str | None, path: Path
    ) -> None:
        """Copy a process's output to ``path`` and, as records with ``source``, to its log."""
        assert proc.stdout is not None
        with path.open("ab") as out:
            while True:
                try:
                    raw = await proc.stdout.readline()
                except ValueError:  # a line longer than MAX_LINE: take what is there
                    raw = await proc.stdout.read(MAX_LINE)
                if not raw:
                    return
                out.write(raw)
                out.flush()
                if log_id:
                    line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                    append_lines(self.emu, log_id, source, [line])
