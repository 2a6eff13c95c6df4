"""What the driver does in a job run: Vault secrets, the user's code in its mode, then outputs."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any, NamedTuple

from . import DRIVER_VERSION, DriverError, notebook, outputs, python_entry, script, vault

MODES = ("script", "python", "notebook")
DEFAULT_OUTPUT_DIR = "outputs"


def log(message: str) -> None:
    print(f"ocids-driver: {message}", file=sys.stderr, flush=True)


def env(name: str) -> str:
    return os.environ.get(f"OCIDS_DRIVER_{name}", "").strip()


class Plan(NamedTuple):
    mode: str
    code_dir: Path
    working_dir: Path
    output_dir: Path | None
    output_uri: str


def code_dir() -> Path:
    """``code/`` beside the driver's folder in the unpacked artifact."""
    return Path(__file__).resolve().parent.parent / "code"


def file_in_code(code: Path, variable: str) -> Path:
    relative = env(variable)
    if not relative:
        raise DriverError(f"OCIDS_DRIVER_{variable} is not set")
    path = code / relative
    if not path.is_file():
        raise DriverError(f"OCIDS_DRIVER_{variable} {relative!r} is not a file in the job's code")
    return path


def make_plan() -> Plan:
    mode = env("MODE") or "script"
    if mode not in MODES:
        raise DriverError(f"OCIDS_DRIVER_MODE {mode!r} is not one of {', '.join(MODES)}")
    code = code_dir()
    if env("WORKING_DIR"):
        working = code / env("WORKING_DIR")
        if not working.is_dir():
            raise DriverError(f"OCIDS_DRIVER_WORKING_DIR {env('WORKING_DIR')!r} is not a folder in the code")
    elif mode == "notebook":
        working = file_in_code(code, "NOTEBOOK").parent  # as Jupyter does
    else:
        working = code
    uri = env("OUTPUT_URI")
    if uri:
        outputs.parse_output_uri(uri)  # a bad URI fails before the user's code runs, not after
    output_dir = None
    if env("OUTPUT_DIR") or uri:
        output_dir = working / os.path.expanduser(env("OUTPUT_DIR") or DEFAULT_OUTPUT_DIR)
        output_dir.mkdir(parents=True, exist_ok=True)
        # The user's code finds the folder here, resolved.
        os.environ["OCIDS_DRIVER_OUTPUT_DIR"] = str(output_dir)
    return Plan(mode, code, working, output_dir, uri)


def _raise_exit(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def run_user_code(plan: Plan, arguments: list[str]) -> int:
    if plan.mode == "script":
        return script.run_script(file_in_code(plan.code_dir, "ENTRYPOINT"), arguments, plan.working_dir)
    # In-process modes: a cancel (SIGTERM) ends the user's code like an exception would, so the
    # outputs are still uploaded.
    signal.signal(signal.SIGTERM, _raise_exit)
    os.chdir(plan.working_dir)
    if plan.mode == "python":
        module = env("MODULE") or None
        entry = None if module else file_in_code(plan.code_dir, "ENTRYPOINT")
        extra = [plan.code_dir / p for p in env("PYTHON_PATH").split(os.pathsep) if p]
        # Like PYTHONPATH: ahead of site-packages, so the job's code wins over installed packages.
        sys.path[:0] = [str(p) for p in (plan.code_dir, *extra)]
        return python_entry.run_function(entry, module, env("FUNCTION") or None, arguments)
    path = file_in_code(plan.code_dir, "NOTEBOOK")
    exclude = {tag.strip() for tag in env("EXCLUDE_TAGS").split(",") if tag.strip()}
    executed = (plan.output_dir or plan.working_dir) / path.name
    encoding = env("NOTEBOOK_ENCODING") or "utf-8"
    return notebook.run_notebook(path, encoding, exclude, plan.working_dir, executed)


def upload(plan: Plan, code: int) -> int:
    if not plan.output_uri or plan.output_dir is None:
        return code
    run_id = os.environ.get("JOB_RUN_OCID", "")
    try:
        names = outputs.upload_outputs(plan.output_dir, plan.output_uri, run_id)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, DriverError) else f"{type(exc).__name__}: {exc}"
        log(f"error: uploading the outputs to {plan.output_uri} failed: {reason}")
        return code or 1
    where = outputs.parse_output_uri(plan.output_uri).run_uri(run_id)
    log(f"uploaded {len(names)} output file(s) from {plan.output_dir} to {where}")
    return code


def main(arguments: list[str]) -> int:
    log(f"driver {DRIVER_VERSION}, mode {env('MODE') or 'script'}")
    try:
        names = vault.apply_to_environment()
        if names:
            log(f"set {', '.join(names)} from OCI Vault")
        plan = make_plan()
    except DriverError as exc:
        log(f"error: {exc}")
        return 1
    try:
        code = run_user_code(plan, arguments)
    except DriverError as exc:
        log(f"error: {exc}")
        code = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return upload(plan, code)
