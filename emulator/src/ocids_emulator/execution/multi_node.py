"""A multi-node job run: one process (or, simulated, one timer) per replica of each node group.

Every node gets its own folder, ``runs/<runId>/<group>-<groupRank>/`` (``work/`` and ``output.log``),
as each would get its own VM, and its own log source ``<group>-<groupRank>/<runOcid>``. Groups start
together (IN_PARALLEL) or one after the other (IN_ORDER: a group starts once every node of the one
before has started, i.e. its startup probe passed). A group succeeds when at least
minimumSuccessReplicas of its nodes exit 0; the run succeeds when every group does. The first
group that can no longer succeed ends the run FAILED and every other node is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocids_emulator.core.emulator import JOB
from ocids_emulator.core.run_end import closed_node_groups
from ocids_emulator.execution.artifacts import BootstrapError, command_for, find_entrypoint, unpack
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
from ocids_emulator.store.sqlite import Record

if TYPE_CHECKING:
    from ocids_emulator.execution.executor import Executor

LOG = logging.getLogger(__name__)
# Every node's name for node-to-node traffic: all nodes share this machine.
NODE_FQDN = "localhost"
MAX_LINE = 1024 * 1024


@dataclass
class Node:
    group: str
    group_rank: int
    rank: int
    config: dict[str, Any]
    simulation: dict[str, Any] | None
    folder: Path
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    proc: asyncio.subprocess.Process | None = None
    exit_code: int | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return f"{self.group}-{self.group_rank}"

    @property
    def workdir(self) -> Path:
        return self.folder / "work"


@dataclass
class Group:
    name: str
    replicas: int
    minimum: int
    nodes: list[Node]
    state: str = "CREATING"
    details: str = "Node group provisioning."

    def failures(self) -> int:
        return sum(1 for n in self.nodes if n.exit_code not in (None, 0))

    def sunk(self) -> bool:
        """Too many nodes failed for minimumSuccessReplicas to be reached."""
        return self.failures() > self.replicas - self.minimum

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "lifecycleState": self.state, "lifecycleDetails": self.details}


class MultiNodeRun:
    def __init__(self, executor: Executor, run: Record) -> None:
        self.executor = executor
        self.emu = executor.emu
        self.run = run
        effective = run.meta["effective"]
        self.node_config: dict[str, Any] = effective["jobNodeConfigurationDetails"]
        self.groups = self._plan(effective, run.meta.get("groupSimulations") or {})
        self.nodes = [n for g in self.groups for n in g.nodes]
        self.outcome: tuple[str, str] | None = None
        self.decided = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def _plan(self, effective: dict[str, Any], simulations: dict[str, Any]) -> list[Group]:
        folder = self.executor.runs_dir / self.run.id
        groups, rank = [], 0
        for spec in self.node_config.get("jobNodeGroupConfigurationDetailsList") or []:
            replicas = int(spec["replicas"])
            nodes = []
            for group_rank in range(replicas):
                nodes.append(
                    Node(
                        group=spec["name"],
                        group_rank=group_rank,
                        rank=rank,
                        config=spec.get("jobConfigurationDetails") or {"environmentVariables": {}},
                        simulation=simulations.get(spec["name"]),
                        folder=folder / f"{spec['name']}-{group_rank}",
                    )
                )
                rank += 1
            minimum = spec.get("minimumSuccessReplicas") or replicas
            groups.append(Group(spec["name"], replicas, int(minimum), nodes))
        return groups

    # preparation -----------------------------------------------------------------------------
    async def _prepare(self) -> None:
        """Unpack the artifact for every real node and build its command; BootstrapError if it cannot."""
        real = [n for n in self.nodes if n.simulation is None]
        shutil.rmtree(self.executor.runs_dir / self.run.id, ignore_errors=True)
        if not real:
            return
        job = self.emu.require(JOB, self.run.doc["jobId"])
        artifact = self.emu.store.artifact(job.id)
        if artifact is None:
            raise BootstrapError("Job run bootstrap failed: the job has no artifact.")
        # In a thread: the run's resource principal key takes a moment to generate.
        base = await asyncio.to_thread(self.executor.service_environment, self.run, job, artifact.filename)
        main = NODE_FQDN
        for node in real:
            env = {**base, **(node.config.get("environmentVariables") or {})}
            env.update(
                {
                    "NODE_RANK": str(node.rank),
                    "NODE_COUNT": str(len(self.nodes)),
                    "NODE_GROUP_NAME": node.group,
                    "NODE_GROUP_RANK": str(node.group_rank),
                    "FQDN": NODE_FQDN,
                    "MAIN_NODE_FQDN": main,
                }
            )
            node.env = env
            await asyncio.to_thread(unpack, artifact.filename, artifact.content, node.workdir)
            entry = find_entrypoint(artifact.filename, node.workdir, env.get("JOB_RUN_ENTRYPOINT"))
            command = command_for(entry, node.config.get("commandLineArguments"))
            node.command = await asyncio.to_thread(
                self.executor.prepared_command, self.run, command, node.folder
            )

    # run -------------------------------------------------------------------------------------
    async def execute(self) -> None:
        await self._prepare()
        self.executor.holds.advance(self.run, lifecycleDetails=STARTING_DETAILS)
        minutes = self._runtime_minutes()
        limit = minutes * self.emu.settings.minute_seconds if minutes else None
        loop = asyncio.get_running_loop()
        starter = loop.create_task(self._start_groups())
        canceled = loop.create_task(self._watch_cancel())
        try:
            await asyncio.wait_for(self.decided.wait(), timeout=limit)
        except TimeoutError:
            self._decide("FAILED", timeout_details(int(minutes or 0)))
        finally:
            starter.cancel()
            canceled.cancel()
            self._stop_nodes(graceful=self.outcome is not None and self.outcome[0] == "CANCELED")
            # Cancelled from outside (shutdown): simulated nodes wait on this, not on a process.
            self.decided.set()
            await asyncio.gather(starter, canceled, *self.tasks, return_exceptions=True)
        state, details = self.outcome or ("FAILED", failed_details(-1))
        self._settle_groups(state)
        self.executor.holds.finish(self.run, state, details)

    def _runtime_minutes(self) -> int | None:
        """The node configuration's limit; a group's own maximumRuntimeInMinutes, if shorter, wins."""
        limits = [self.node_config.get("maximumRuntimeInMinutes")]
        limits += [n.config.get("maximumRuntimeInMinutes") for n in self.nodes]
        given = [int(m) for m in limits if m]
        return min(given) if given else None

    def _decide(self, state: str, details: str) -> None:
        if self.outcome is None:
            self.outcome = (state, details)
        self.decided.set()

    async def _watch_cancel(self) -> None:
        await self.executor.cancel_event(self.run.id).wait()
        self._decide("CANCELED", CANCELED_DETAILS)

    async def _start_groups(self) -> None:
        in_order = self.node_config.get("startupOrder") == "IN_ORDER"
        loop = asyncio.get_running_loop()
        for group in self.groups:
            for node in group.nodes:
                self.tasks.append(loop.create_task(self._run_node(group, node)))
            if in_order:
                await asyncio.gather(*(n.started.wait() for n in group.nodes))

    def _stop_nodes(self, graceful: bool) -> None:
        """Stop every node still running: SIGTERM then SIGKILL after the grace for a cancel."""
        grace = self.emu.settings.cancel_grace_seconds
        for node in self.nodes:
            if node.proc is None or node.proc.returncode is not None:
                continue
            if graceful:
                signal_group(node.proc, signal.SIGTERM)
                asyncio.get_running_loop().call_later(grace, signal_group, node.proc, signal.SIGKILL)
            else:
                signal_group(node.proc, signal.SIGKILL)

    async def _run_node(self, group: Group, node: Node) -> None:
        try:
            if node.simulation is not None:
                await self._simulate_node(group, node)
            else:
                await self._process_node(group, node)
        except Exception as exc:  # a bug here must not leave the run waiting on this node forever
            LOG.exception("node %s of job run %s failed inside the emulator", node.name, self.run.id)
            self._decide("FAILED", f"Job run failed: emulator error ({type(exc).__name__}: {exc}).")
        finally:
            node.started.set()  # an IN_ORDER start never waits on a node that is gone
        if node.exit_code is not None:
            self._node_exited(group, node)

    async def _simulate_node(self, group: Group, node: Node) -> None:
        assert node.simulation is not None
        self._node_started(group, node)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.decided.wait(), timeout=float(node.simulation["durationSeconds"]))
        if not self.decided.is_set():
            node.exit_code = int(node.simulation["exitCode"])

    async def _process_node(self, group: Group, node: Node) -> None:
        if self.decided.is_set():
            return
        proc = await asyncio.create_subprocess_exec(
            *node.command,
            cwd=str(node.workdir),
            env=node.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            limit=MAX_LINE,
        )
        node.proc = proc
        source = f"{node.name}/{self.run.id}"
        log_id = self.executor.log_target(self.run)
        pump = asyncio.get_running_loop().create_task(
            self.executor.pump(proc, source, log_id, node.folder / "output.log")
        )
        try:
            if self.decided.is_set():
                signal_group(proc, signal.SIGKILL)
            probe = node.config.get("startupProbeDetails")
            if probe:
                failure = await run_startup_probe(
                    probe,
                    node.workdir,
                    node.env,
                    lambda: proc.returncode is None,
                    self.executor.probe_scale(),
                )
                if failure is not None:
                    signal_group(proc, signal.SIGKILL)
                    if not self.decided.is_set():
                        group.state, group.details = "FAILED", f"{node.name}: {failure}"
                    self._decide("FAILED", failure)
            if proc.returncode is None and not self.decided.is_set():
                self._node_started(group, node)
            await proc.wait()
        finally:
            # The node's own children die with it, as they would with its VM.
            signal_group(proc, signal.SIGKILL)
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(pump), timeout=5)
            pump.cancel()
        node.exit_code = exit_status(proc.returncode)

    # state -----------------------------------------------------------------------------------
    def _node_started(self, group: Group, node: Node) -> None:
        node.started.set()
        if group.state == "CREATING" and all(n.started.is_set() for n in group.nodes):
            group.state, group.details = "ACTIVE", "Node group nodes are running."
            changes: dict[str, Any] = {"nodeGroupDetailsList": [g.summary() for g in self.groups]}
            if all(g.state == "ACTIVE" for g in self.groups):
                changes["lifecycleDetails"] = RUNNING_DETAILS
            self.executor.holds.advance(self.run, **changes)

    def _node_exited(self, group: Group, node: Node) -> None:
        if self.decided.is_set():
            return
        if group.sunk():
            group.state = "FAILED"
            group.details = (
                f"Node group failed: {group.failures()} of {group.replicas} nodes failed "
                f"(minimumSuccessReplicas {group.minimum}); {node.name} exited with {node.exit_code}."
            )
            self._decide("FAILED", failed_details(node.exit_code or 0))
        elif all(n.exit_code is not None for n in self.nodes):
            self._decide("SUCCEEDED", SUCCEEDED_DETAILS)

    def _settle_groups(self, state: str) -> None:
        groups = [g.summary() for g in self.groups]
        self.executor.holds.advance(
            self.run, nodeGroupDetailsList=closed_node_groups(groups, state) or groups
        )
