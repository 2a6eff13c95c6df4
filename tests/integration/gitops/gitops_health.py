"""What Flux and Argo CD would say about an object: kstatus (the real Go library) and the Lua health scripts.

kstatus runs as tools/kstatus (sigs.k8s.io/cli-utils' status.Compute, built by `make kstatus`); the
Lua scripts run in Lua 5.1 (lupa), the dialect of gopher-lua, which Argo CD embeds.
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from lupa import lua51

REPO = Path(__file__).resolve().parents[3]
KSTATUS_BUILD = REPO / "tools" / "kstatus" / "build.sh"
ARGOCD_DIR = REPO / "charts" / "ocids-operator" / "argocd"
SCRIPTS = {
    "TrainingJob": "trainingjob.lua",
    "TrainingJobRun": "trainingjobrun.lua",
    "TrainingJobSweep": "trainingjobsweep.lua",
    "TrainingJobSchedule": "trainingjobschedule.lua",
    "TrainingBudget": "trainingbudget.lua",
}


@cache
def kstatus_binary() -> str:
    """The built checker; builds it when missing (as `make kstatus` does) so a lone pytest run works."""
    proc = subprocess.run(["bash", str(KSTATUS_BUILD)], capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        raise AssertionError(f"tools/kstatus/build.sh failed:\n{proc.stderr}")
    return proc.stdout.strip().splitlines()[-1]


def _run_kstatus(args: list[str], stdin: str | None = None) -> list[dict[str, Any]]:
    proc = subprocess.run([kstatus_binary(), *args], input=stdin, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise AssertionError(f"kstatus {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
    return [json.loads(line) for line in proc.stdout.splitlines()]


def kstatus(*objects: dict[str, Any]) -> list[dict[str, Any]]:
    """status.Compute of objects given as JSON (one result each: status, message, kind, name)."""
    return _run_kstatus([], stdin="\n".join(json.dumps(o) for o in objects))


def kstatus_live(kubeconfig: Path, *refs: str) -> list[dict[str, Any]]:
    """status.Compute of objects the checker reads from the API server itself (kind/namespace/name)."""
    return _run_kstatus(["--kubeconfig", str(kubeconfig), *refs])


def _to_lua(runtime: Any, value: Any) -> Any:
    # Argo CD hands the script the object decoded from JSON: maps and 1-based arrays become tables.
    if isinstance(value, dict):
        return runtime.table_from({k: _to_lua(runtime, v) for k, v in value.items()})
    if isinstance(value, list):
        return runtime.table_from([_to_lua(runtime, v) for v in value])
    return value


def argocd_health(obj: dict[str, Any], script: str | None = None) -> dict[str, str]:
    """The `hs` table an Argo CD health script returns for `obj`: {"status": ..., "message": ...}."""
    source = script if script is not None else (ARGOCD_DIR / SCRIPTS[obj["kind"]]).read_text()
    runtime = lua51.LuaRuntime(unpack_returned_tuples=False)
    runtime.globals().obj = _to_lua(runtime, obj)
    # Argo CD runs the script as a chunk; its top-level `return hs` is the result.
    hs = runtime.execute(source)
    return {"status": str(hs["status"]), "message": str(hs["message"])}
