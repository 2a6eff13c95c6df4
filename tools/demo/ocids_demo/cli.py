"""`demo.py up|down|status|env|logs`: the commands behind `make demo` and `make demo-down`."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from . import state

RULE = "-" * 100


def shown(path: Path | str) -> str:
    """A path as a user in the repository root would type it."""
    path = Path(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def cmd_env(directory: Path) -> int:
    """Lines for `eval "$(tools/demo/demo.py env)"`: this demo's KUBECONFIG and kubectl."""
    saved = state.load(directory)
    cluster = saved.get("cluster") or {}
    if not cluster.get("kubeconfig"):
        print(f"no demo is up (no {state.state_file(directory)}); run `make demo` first", file=sys.stderr)
        return 1
    print(f"export KUBECONFIG={shlex.quote(cluster['kubeconfig'])}")
    if saved.get("kubectl"):
        bin_dir = str(Path(saved["kubectl"]).parent)
        print(f'export PATH={shlex.quote(bin_dir)}:"$PATH"')
    return 0


def cmd_status(directory: Path) -> int:
    saved = state.load(directory)
    if not saved:
        print(f"no demo is up (no {state.state_file(directory)})")
        return 3
    cluster = saved.get("cluster") or {}
    print(f"cluster   {cluster.get('mode')} {cluster.get('server')} (KUBECONFIG={cluster.get('kubeconfig')})")
    up = True
    if cluster.get("mode") == "bundled":
        procs = state.load(directory / "cluster").get("processes") or []
        up = bool(procs)
        for proc in procs:
            running = state.runs(int(proc["pid"]), str(proc["exe"]))
            up = up and running
            print(f"  {proc['name']:<23} {'running' if running else 'NOT running'} pid {proc['pid']}")
    for name in ("emulator", "operator"):
        record = saved.get(name) or {}
        running = state.alive(record)
        up = up and running
        where = record.get("endpoint") or f"health port {record.get('health_port')}"
        print(f"{name:<9} {'running' if running else 'NOT running'} pid {record.get('pid')} {where}")
    return 0 if up else 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/demo/demo.py", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start everything (or reuse it), apply the quickstart, show the results")
    sub.add_parser("down", help="stop everything `up` started")
    sub.add_parser("status", help="what is running")
    sub.add_parser("env", help='shell lines for this demo\'s kubectl: eval "$(tools/demo/demo.py env)"')
    logs = sub.add_parser("logs", help="a run's log lines through the OCI Logging search API")
    logs.add_argument("run", help="TrainingJobRun name, e.g. logreg-lr-0.5")
    args = parser.parse_args(argv)
    directory = state.demo_dir()
    if args.command == "env":
        return cmd_env(directory)
    if args.command == "status":
        return cmd_status(directory)
    from . import lifecycle  # needs the project's venv (oci, ocids_controlplane)

    if args.command == "up":
        return lifecycle.up(directory)
    if args.command == "down":
        return lifecycle.down(directory)
    return lifecycle.logs(directory, args.run)


def venv_python() -> str | None:
    """The project's venv interpreter when this one lacks the project (e.g. run as ./demo.py)."""
    python = state.REPO / ".venv" / "bin" / "python"
    if Path(sys.prefix).resolve() == (state.REPO / ".venv").resolve() or not python.exists():
        return None
    return str(python)


def run(argv: list[str], script: str) -> Any:
    if argv[:1] not in (["env"], ["status"], ["-h"], ["--help"]) and (python := venv_python()):
        os.execv(python, [python, script, *argv])
    return main(argv)
