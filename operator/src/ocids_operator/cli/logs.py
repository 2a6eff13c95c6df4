"""`kubectl ocids logs RUN|TRAININGJOB [-f] [--since DURATION] [--tail N]`.

Lines come from the OCI Logging search API, with the query the operator puts in status.logs.url
(the run's log, filtered to the run's OCID as source). With -f it waits through Pending and
Accepted (saying so on stderr once per phase), follows while the run goes, and ends once the run is
final, FINISH_SETTLE has passed and one more poll found nothing new, with the run's exit code.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from ..core import links
from ..core.phases import TERMINAL_RUN_PHASES, RunPhase
from ..core.times import parse_time
from .errors import CliError
from .kube import Cluster, Obj, newest_run, resolve
from .log_search import LogFollower, Search

POLL_SECONDS = 2.0
# Lines written before the run's object was created are not its own; a little slack for clock skew
# between the cluster and OCI.
START_SLACK = dt.timedelta(minutes=5)
# Lines of a finished run may reach Logging a moment after it ended: polls go on at least this long
# after the first poll that saw the run final. Measured on this machine's monotonic clock: OCI's
# timeFinished against the local time would mix two clocks (a skew of minutes would end too early,
# losing the last lines, or poll on for minutes).
FINISH_SETTLE = dt.timedelta(seconds=5)
_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Phases a follower waits through, saying so.
_WAITING = frozenset({RunPhase.PENDING, RunPhase.ACCEPTED})


def parse_duration(text: str) -> dt.timedelta:
    """`30s`, `10m`, `2h`, `1d`, `1h30m`: kubectl's --since form."""
    if not text or _DURATION.sub("", text) != "":
        raise ValueError(f"{text!r} is not a duration like 30s, 10m, 2h or 1h30m")
    return dt.timedelta(seconds=sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(text)))


def exit_code_of(status: Obj) -> int:
    """The run's exit code as a process exit status: status.exitCode, else by phase (Succeeded 0,
    Failed 1, Canceled or Deleted 2)."""
    code = status.get("exitCode")
    if isinstance(code, int) and not isinstance(code, bool):
        return code if 0 <= code <= 255 else 1
    phase = status.get("phase")
    if phase == RunPhase.SUCCEEDED:
        return 0
    if phase == RunPhase.FAILED:
        return 1
    return 2


@dataclass(frozen=True)
class LogTarget:
    """The run's log search: its query, and when its lines can start."""

    query: str
    start: dt.datetime


def _phase(run: Obj | None) -> str:
    if run is None:
        return RunPhase.DELETED.value
    return str((run.get("status") or {}).get("phase") or RunPhase.PENDING.value)


def _name(run: Obj) -> str:
    return str((run.get("metadata") or {}).get("name"))


def log_target(run: Obj, job: Obj | None, since: dt.timedelta | None, now: dt.datetime) -> LogTarget | None:
    """Where the run's lines are, once its log is known (status.logs); None: not yet."""
    status = run.get("status") or {}
    logs = status.get("logs") or {}
    run_id = status.get("jobRunId")
    if not (logs.get("logGroupId") and logs.get("logId") and run_id):
        return None
    url = logs.get("url")
    if url:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("searchQuery", [""])[0]
    else:  # status names the log but not its compartment: the TrainingJob's
        compartment = ((job or {}).get("spec") or {}).get("compartmentId")
        query = ""
        if compartment:
            query = links.log_search_query(compartment, logs["logGroupId"], logs["logId"], run_id)
    if not query:
        return None
    if since is not None:
        start = now - since
    else:
        created = parse_time((run.get("metadata") or {}).get("creationTimestamp"))
        start = (created or now - dt.timedelta(days=1)) - START_SLACK
    return LogTarget(query=query, start=start)


def logging_enabled(run: Obj, job: Obj | None) -> bool | None:
    """Whether the run sends its output to OCI Logging (its spec.logging, else its TrainingJob's);
    None when the TrainingJob cannot be read to tell."""
    own = (run.get("spec") or {}).get("logging")
    if own is not None:
        return bool(own.get("enabled"))
    if job is None:
        return None
    return bool(((job.get("spec") or {}).get("logging") or {}).get("enabled"))


@dataclass
class Follow:
    """One `logs` command: the run it reads, how, and where it prints."""

    read_run: Callable[[], Obj | None]
    read_job: Callable[[str], Obj | None]
    make_search: Callable[[str], Search]
    follow: bool
    since: dt.timedelta | None = None
    tail: int | None = None
    interval: float = POLL_SECONDS
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    monotonic: Callable[[], float] = time.monotonic

    def run(self) -> int:
        follower: LogFollower | None = None
        job: Obj | None = None
        told: str | None = None  # the phase last announced on stderr
        trouble: str | None = None  # the last retryable failure announced
        polls = 0
        final_polls = 0
        final_since: float | None = None  # when a poll first saw the run final (monotonic)
        while True:
            started = self.monotonic()
            try:
                run = self.read_run()
                if run is not None and follower is None:
                    follower, job = self._open(run, job)
                fresh = follower.poll(self.now()) if follower is not None else []
            except CliError as exc:
                # Following outlives a busy or unreachable server (the API server, OCI Logging).
                if not (self.follow and exc.retryable):
                    raise
                if str(exc) != trouble:
                    self.err.write(f"retrying: {exc}\n")
                    self.err.flush()
                    trouble = str(exc)
                self.sleep(self.interval)
                continue
            trouble = None
            phase = _phase(run)
            final = phase in TERMINAL_RUN_PHASES
            if follower is not None:
                polls += 1
                if polls == 1 and self.tail is not None:
                    fresh = fresh[-self.tail :] if self.tail else []
                for line in fresh:
                    self.out.write(line.message + "\n")
                self.out.flush()
            if not self.follow:
                if follower is None and run is not None:
                    self.err.write(f"no log lines yet: {self._state(run, phase)}\n")
                return 0
            if final:
                # Final, and a poll started after the run was seen final (and a little after, for
                # lines still on their way to Logging) found nothing new: done.
                if final_since is None:
                    final_since = started
                settled = started - final_since >= FINISH_SETTLE.total_seconds()
                if follower is None or (final_polls > 0 and not fresh and settled):
                    self.err.write(f"{self._state(run, phase)}\n")
                    return exit_code_of((run or {}).get("status") or {"phase": phase})
                final_polls += 1
            elif run is not None and told != phase and (follower is None or phase in _WAITING):
                why = "" if follower is not None or phase in _WAITING else " (its log is not known yet)"
                self.err.write(f"waiting: {self._state(run, phase)}{why}\n")
                self.err.flush()
                told = phase
            self.sleep(self.interval)

    def _open(self, run: Obj, job: Obj | None) -> tuple[LogFollower | None, Obj | None]:
        """The follower of the run's log once status names it; refuses a run without logging."""
        job_name = ((run.get("spec") or {}).get("jobRef") or {}).get("name")
        if job is None and job_name:
            job = self.read_job(str(job_name))
        target = log_target(run, job, self.since, self.now())
        if target is not None:
            return LogFollower(self.make_search(target.query), target.start), job
        if logging_enabled(run, job) is False:
            raise CliError(
                f"TrainingJobRun {_name(run)} has no logging: set spec.logging (enabled: true, "
                "logGroupId, and logId or autoCreateLog) on its TrainingJob or on the run"
            )
        return None, job

    @staticmethod
    def _state(run: Obj | None, phase: str) -> str:
        if run is None:
            return "the TrainingJobRun was deleted"
        status = run.get("status") or {}
        conditions = status.get("conditions") or []
        ready: Obj = next((c for c in conditions if c.get("type") == "Ready"), {})
        message = (
            status.get("message")
            or ready.get("message")
            or status.get("lifecycleDetails")
            or ("no status yet (is the operator running?)" if not status else "-")
        )
        code = status.get("exitCode")
        if phase in TERMINAL_RUN_PHASES and code is not None and f"exit code {code}" not in message:
            message = f"{message} (exit code {status['exitCode']})"
        return f"{_name(run)} is {phase}: {message}"


def logs_command(
    cluster: Cluster,
    name: str,
    make_search: Callable[[str], Search],
    *,
    follow: bool,
    since: dt.timedelta | None,
    tail: int | None,
    interval: float = POLL_SECONDS,
    err: TextIO | None = None,
) -> int:
    """NAME is a TrainingJobRun, or a TrainingJob: its newest run (with -f, the first one to come)."""
    err = err or sys.stderr
    target = resolve(cluster, name)
    run = target.run
    if run is None:
        if not follow:
            raise CliError(f"TrainingJob {name} has no TrainingJobRun yet")
        err.write(f"waiting: TrainingJob {name} has no TrainingJobRun yet\n")
        err.flush()
        while run is None:
            time.sleep(interval)
            run = newest_run(cluster.list_runs(), name)
    run_name = _name(run)
    if target.job is not None:
        err.write(f"TrainingJob {name}: its newest run, TrainingJobRun {run_name}\n")
    return Follow(
        read_run=lambda: cluster.get_run(run_name),
        read_job=cluster.get_job,
        make_search=make_search,
        follow=follow,
        since=since,
        tail=tail,
        interval=interval,
        err=err,
    ).run()
