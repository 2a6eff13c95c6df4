"""podman as the tests' container runtime: the global flags this kind of host needs, one container.

cgroupfs + runc because the host has hybrid cgroups (crun and the systemd manager fail there); a
file events backend because there is no journald. A real node's kubelet would talk CRI instead;
what the container gets (user, mounts, env, capabilities) is what matters and is set by the caller.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GLOBAL_FLAGS = ["--cgroup-manager=cgroupfs", "--events-backend=file", "--runtime=runc"]
# runc cannot raise a container's limits above this host's hard limits (podman's defaults are
# higher); these are what a node gives too.
RUN_FLAGS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096"]


class PodmanError(subprocess.CalledProcessError):
    def __str__(self) -> str:
        return f"{super().__str__()}\n{self.stderr}"


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["podman", *GLOBAL_FLAGS, *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise PodmanError(result.returncode, cmd, result.stdout, result.stderr)
    return result


def parse_time(text: str) -> datetime:
    """podman's RFC 3339 timestamps carry nanoseconds; datetime takes microseconds."""
    date, _, rest = text.partition(".")
    digits = "".join(c for c in rest if c.isdigit())
    zone = rest[len(digits) :].replace("Z", "+00:00").split(" ")[0]
    return datetime.fromisoformat(f"{date}.{digits[:6].ljust(6, '0')}{zone}")


@dataclass
class Container:
    id: str

    @classmethod
    def run(cls, run_args: list[str]) -> Container:
        return cls(podman("run", "--detach", *RUN_FLAGS, *run_args).stdout.strip())

    def inspect(self) -> dict[str, Any]:
        return dict(json.loads(podman("inspect", self.id).stdout)[0])

    @property
    def running(self) -> bool:
        return bool(self.inspect()["State"]["Running"])

    def exit_code(self) -> int:
        return int(self.inspect()["State"]["ExitCode"])

    def started_at(self) -> datetime:
        return parse_time(self.inspect()["State"]["StartedAt"])

    def logs(self) -> str:
        result = podman("logs", self.id, check=False)
        return result.stdout + result.stderr

    def timed_log_lines(self) -> list[tuple[datetime, str]]:
        """Each log line with the time the runtime received it (independent of the app's format)."""
        result = podman("logs", "--timestamps", self.id, check=False)
        lines = []
        for raw in (result.stdout + result.stderr).splitlines():
            stamp, _, line = raw.partition(" ")
            try:
                lines.append((parse_time(stamp), line))
            except ValueError:
                continue
        return sorted(lines, key=lambda item: item[0])

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.id, *command, check=False)

    def remove(self) -> None:
        podman("rm", "--force", "--time", "10", self.id, check=False)
