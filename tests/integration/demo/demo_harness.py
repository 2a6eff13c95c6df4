"""Running `make demo` the way a newcomer does, and finding what it left running.

A demo's processes are found from /proc alone (command line, environment or working directory
naming the demo's state dir), not from the demo's own bookkeeping, so "nothing left running"
is checked independently of the code under test.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
README = REPO / "README.md"


def quickstart_commands() -> list[str]:
    """The command lines of the first ```sh block under `## Quick start` in the README."""
    text = README.read_text()
    match = re.search(r"^## Quick start\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, "README.md has no `## Quick start` section"
    block = re.search(r"^```sh\n(.*?)^```", match.group(1), re.S | re.M)
    assert block, "the Quick start section has no ```sh block"
    return [
        line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def clean_env(demo_dir: Path, **extra: str) -> dict[str, str]:
    """What a fresh login shell has: no KUBECONFIG, no OCIDS_* settings, no activated venv."""
    venv_bin = str(REPO / ".venv" / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    env = {"HOME": os.environ.get("HOME", "/root"), "PATH": path, "LANG": "C.UTF-8", "TERM": "dumb"}
    if "OCIDS_BIN_CACHE" in os.environ:  # where this machine keeps the built control plane
        env["OCIDS_BIN_CACHE"] = os.environ["OCIDS_BIN_CACHE"]
    env["OCIDS_DEMO_DIR"] = str(demo_dir)
    env.update(extra)
    return env


def run_bash(commands: list[str], env: dict[str, str], timeout: float) -> tuple[int, dict[str, str]]:
    """Run the lines in one bash (so `eval`/`export` carry over), stopping at the first failure.

    Returns the exit code and each command's output (stdout and stderr, as a terminal shows them).
    """
    marker = "@@@ quickstart command: "
    script = "set -eo pipefail\n" + "".join(
        f"printf '%s\\n' {_quote(marker + cmd)}\n{cmd}\n" for cmd in commands
    )
    proc = subprocess.run(
        ["bash", "-c", script], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=timeout, check=False,
    )  # fmt: skip
    outputs: dict[str, str] = {}
    current = None
    for line in proc.stdout.splitlines(keepends=True):
        if line.startswith(marker):
            current = line[len(marker) :].rstrip("\n")
            outputs[current] = ""
        elif current is not None:
            outputs[current] += line
    return proc.returncode, outputs


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def processes_using(path: Path) -> dict[int, str]:
    """pid -> command line of every process whose command line, environment or cwd names `path`."""
    needle = str(path).encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
            cwd = os.readlink(entry / "cwd").encode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (needle in cmdline or needle in environ or cwd.startswith(needle)):
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def listening_ports(pids: set[int]) -> set[int]:
    """TCP ports the given processes listen on (from `ss`, which names each socket's owner)."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    ports = set()
    for line in out.splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if owners & pids:
            ports.add(int(line.split()[3].rsplit(":", 1)[1]))
    return ports


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0
