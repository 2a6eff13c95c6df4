"""`ocids-controlplane up|down|status`: a local control plane in the background (`make cluster-up`).

State lives in a directory (default `.cluster/` under the current directory, gitignored in the
repo): PKI, etcd data, logs, the admin kubeconfig and state.json with the process ids. `up` always
starts a fresh, empty cluster; `down` stops the recorded processes (checking each pid still runs the
recorded binary, so a stale state file never kills an unrelated process) and removes the state.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from . import binaries
from .controlplane import MARKER, ControlPlane, ControlPlaneStartError
from .processes import same_process, stop_group

STATE_FILE = "state.json"


def _load_state(directory: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((directory / STATE_FILE).read_text()))
    except (OSError, ValueError):
        return None


def _running(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in state.get("processes", []) if same_process(int(p["pid"]), str(p["exe"]))]


def _stop(directory: Path) -> int:
    state = _load_state(directory)
    if state is None:
        return 0
    stopped = 0
    for proc in reversed(_running(state)):
        stop_group(int(proc["pid"]))
        print(f"stopped {proc['name']} (pid {proc['pid']})")
        stopped += 1
    (directory / STATE_FILE).unlink(missing_ok=True)
    return stopped


def cmd_up(directory: Path) -> int:
    state = _load_state(directory)
    if state is not None:
        running = _running(state)
        if len(running) == len(state.get("processes", [])) and running:
            print(f"already running at {state['server']}", file=sys.stderr)
            print(f"export KUBECONFIG={state['kubeconfig']}")
            return 0
        _stop(directory)  # partly dead: clean up what is left before starting afresh
    if directory.exists() and any(directory.iterdir()):
        # Only ever wipe a directory a previous `up` created, never e.g. a mistyped --dir.
        if not (directory / MARKER).exists():
            print(
                f"error: {directory} is not empty and was not created by ocids-controlplane; "
                "remove it yourself or choose another --dir",
                file=sys.stderr,
            )
            return 2
        shutil.rmtree(directory)
    try:
        plane = ControlPlane.start(directory, detached=True)
    except (ControlPlaneStartError, binaries.MissingBinaryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    (directory / STATE_FILE).write_text(json.dumps(plane.state(), indent=2) + "\n")
    print(
        f"control plane ready at {plane.server} (logs: {directory / 'logs'}); "
        "stop it with `make cluster-down`",
        file=sys.stderr,
    )
    print(f"export KUBECONFIG={plane.kubeconfig}")
    return 0


def cmd_down(directory: Path) -> int:
    if _stop(directory) == 0:
        print(f"no control plane running from {directory}", file=sys.stderr)
    return 0


def cmd_status(directory: Path) -> int:
    state = _load_state(directory)
    if state is None:
        print(f"not running (no {directory / STATE_FILE})")
        return 3
    running = {p["name"] for p in _running(state)}
    for proc in state["processes"]:
        status = "running" if proc["name"] in running else "NOT running"
        print(f"{proc['name']:<24} pid {proc['pid']:<8} {status}")
    print(f"server {state['server']}\nexport KUBECONFIG={state['kubeconfig']}")
    return 0 if len(running) == len(state["processes"]) else 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ocids-controlplane", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status", "binaries"])
    parser.add_argument(
        "--dir", type=Path, default=Path(".cluster"), help="state directory (default .cluster)"
    )
    args = parser.parse_args(argv)
    directory = args.dir.resolve()
    if args.command == "binaries":
        for name, path in binaries.all_binaries().items():
            print(f"{name:<24} {path}")
        return 0
    return {"up": cmd_up, "down": cmd_down, "status": cmd_status}[args.command](directory)


if __name__ == "__main__":
    sys.exit(main())
