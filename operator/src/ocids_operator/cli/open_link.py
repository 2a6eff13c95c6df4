"""`kubectl ocids open RUN|TRAININGJOB [--logs] [--print]`: the OCI Console page, or the run's log search.

A TrainingJobRun: its console page (status.consoleUrl) or, with --logs, its log search
(status.logs.url). A TrainingJob: its own console page (the OCI job and its runs) or, with --logs,
its newest run's log search. The URL is always printed; without --print a browser is asked to open
it, but only where a graphical one can exist: on a headless machine Python's `webbrowser` would
start a text browser (lynx, w3m) in the user's terminal.
"""

from __future__ import annotations

import contextlib
import os
import sys
import webbrowser

from .errors import CliError
from .kube import Cluster, Obj, resolve


def _url(obj: Obj, logs: bool) -> str | None:
    status = obj.get("status") or {}
    url = (status.get("logs") or {}).get("url") if logs else status.get("consoleUrl")
    return str(url) if url else None


def link(cluster: Cluster, name: str, logs: bool) -> str:
    target = resolve(cluster, name)
    obj = target.run if target.run is not None and (logs or target.job is None) else target.job
    if obj is None:
        raise CliError(f"TrainingJob {name} has no TrainingJobRun yet: no log search to open")
    url = _url(obj, logs)
    if url is None:
        kind = "TrainingJobRun" if obj is target.run else "TrainingJob"
        field = "status.logs.url" if logs else "status.consoleUrl"
        status = obj.get("status") or {}
        state = f"{status.get('phase') or 'Pending'}: {status.get('message') or 'no status yet'}"
        if logs and not status.get("logs"):
            state += " (a run has a log search only with spec.logging enabled)"
        raise CliError(f"{kind} {obj['metadata']['name']} has no {field} yet ({state})")
    return url


def can_show_browser() -> bool:
    if os.environ.get("BROWSER"):
        return True
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_command(cluster: Cluster, name: str, logs: bool, print_only: bool) -> int:
    url = link(cluster, name, logs)
    print(url, flush=True)
    if not print_only and can_show_browser():
        with contextlib.suppress(webbrowser.Error):  # printed anyway
            webbrowser.open(url)
    return 0
