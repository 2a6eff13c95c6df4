"""The contract between the operator and its driver: which jobs run through the driver, and the
`OCIDS_DRIVER_*` environment variables that tell the driver what to do (`driver/runner.py` reads
them). Pure: the workflows pass in what they resolved (the driver's version, the endpoints).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Mapping, Sequence

from ..api import EnvVar, TrainingJobRunSpec, TrainingJobSpec

ARTIFACT_FILE_NAME = "ocids-driver.zip"
DRIVER_DIR = "ocids_driver"
CODE_DIR = "code"
DRIVER_ENTRYPOINT = f"{DRIVER_DIR}/main.py"

MODE = "OCIDS_DRIVER_MODE"
ENTRYPOINT = "OCIDS_DRIVER_ENTRYPOINT"
MODULE = "OCIDS_DRIVER_MODULE"
FUNCTION = "OCIDS_DRIVER_FUNCTION"
PYTHON_PATH = "OCIDS_DRIVER_PYTHON_PATH"
WORKING_DIR = "OCIDS_DRIVER_WORKING_DIR"
NOTEBOOK = "OCIDS_DRIVER_NOTEBOOK"
EXCLUDE_TAGS = "OCIDS_DRIVER_EXCLUDE_TAGS"
NOTEBOOK_ENCODING = "OCIDS_DRIVER_NOTEBOOK_ENCODING"
OUTPUT_DIR = "OCIDS_DRIVER_OUTPUT_DIR"
OUTPUT_URI = "OCIDS_DRIVER_OUTPUT_URI"
VAULT_SECRETS = "OCIDS_DRIVER_VAULT_SECRETS"
VERSION = "OCIDS_DRIVER_VERSION"
# The operator's own endpoint settings the driver honours (a private realm, or the emulator).
ENDPOINT_VARIABLES = ("OCIDS_OBJECT_STORAGE_ENDPOINT", "OCIDS_SECRETS_ENDPOINT")
# Job runs are Linux: PYTHON_PATH is split on ":" there, whatever the operator runs on.
RUN_PATHSEP = ":"
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")


@dataclasses.dataclass(frozen=True)
class DriverContext:
    """What the driver env needs besides the spec: the packaged driver's version, the operator's
    endpoint settings to pass on, and (for an artifact whose file name the spec does not say, a
    urlFrom URL) the resolved single file's name."""

    version: str
    endpoints: tuple[tuple[str, str], ...] = ()
    code_file: str | None = None

    @classmethod
    def of(
        cls, version: str, endpoints: Mapping[str, str | None] | None = None, code_file: str | None = None
    ) -> DriverContext:
        return cls(version, tuple(sorted(driver_endpoints(endpoints or {}).items())), code_file)


def driver_endpoints(settings: Mapping[str, str | None]) -> dict[str, str]:
    """The endpoint variables that are set, e.g. {"OCIDS_OBJECT_STORAGE_ENDPOINT": ...}; unset ones
    are left out, so a job in a commercial region carries none and the driver uses OCI's."""
    return {name: value for name, value in settings.items() if name in ENDPOINT_VARIABLES and value}


def vault_refs(env: Sequence[EnvVar]) -> dict[str, str]:
    """{NAME: Vault secret OCID} of the variables read from OCI Vault at run time."""
    return {var.name: var.vault_secret_id for var in env if var.vault_secret_id}


def needs_driver(spec: TrainingJobSpec) -> bool:
    """A Git source, a runtime, outputs or a Vault secret: the job runs through the driver. Any other
    job is sent to OCI exactly as before (no driver, the same template hash)."""
    git = spec.artifact is not None and spec.artifact.git is not None
    return git or spec.runtime is not None or spec.outputs is not None or bool(vault_refs(spec.env))


def is_archive(file_name: str) -> bool:
    return file_name.lower().endswith(ARCHIVE_SUFFIXES)


def url_file_name(url: str) -> str:
    """The file name a URL artifact gets: its path's last segment (query and fragment dropped)."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    return path.rstrip("/").rsplit("/", 1)[-1]


def code_entrypoint(spec: TrainingJobSpec, code_file: str | None = None) -> str | None:
    """The file the driver runs (script mode) or imports (python mode without a module):
    spec.entrypoint, else the artifact's single file (an archive or a Git tree has no default)."""
    if spec.entrypoint:
        return spec.entrypoint
    artifact = spec.artifact
    name = code_file
    if name is None and artifact is not None:
        if artifact.inline is not None:
            name = artifact.inline.file_name
        elif artifact.config_map_ref is not None:
            name = artifact.config_map_ref.key
        elif artifact.url is not None:
            name = url_file_name(artifact.url)
    return None if name is None or is_archive(name) else name


def driver_env(
    spec: TrainingJobSpec,
    run: TrainingJobRunSpec | None = None,
    *,
    version: str,
    endpoints: Mapping[str, str | None] | None = None,
    code_file: str | None = None,
    shadowed: Collection[str] = (),
) -> dict[str, str]:
    """The OCIDS_DRIVER_* variables (and JOB_RUN_ENTRYPOINT) of a job that `needs_driver`, or of a
    run of it: a run's Vault variables are merged over the job's, and a run's plain variable of the
    same name takes a job's Vault variable out; so do the `shadowed` names (a node group's literals)."""
    env = {"JOB_RUN_ENTRYPOINT": DRIVER_ENTRYPOINT, VERSION: version}
    runtime = spec.runtime
    python = runtime.python if runtime else None
    notebook = runtime.notebook if runtime else None
    entry = code_entrypoint(spec, code_file)
    if notebook is not None:
        env[MODE] = "notebook"
        env[NOTEBOOK] = notebook.path
        env[NOTEBOOK_ENCODING] = notebook.encoding
        if notebook.exclude_tags:
            env[EXCLUDE_TAGS] = ",".join(notebook.exclude_tags)
    elif python is not None:
        env[MODE] = "python"
        env[FUNCTION] = python.function
        if python.module:
            env[MODULE] = python.module
        elif entry:
            env[ENTRYPOINT] = entry
        if python.python_path:
            env[PYTHON_PATH] = RUN_PATHSEP.join(python.python_path)
        if python.working_dir:
            env[WORKING_DIR] = python.working_dir
    else:
        env[MODE] = "script"
        if entry:
            env[ENTRYPOINT] = entry
    if spec.outputs is not None:
        env[OUTPUT_URI] = spec.outputs.uri
        if spec.outputs.directory:
            env[OUTPUT_DIR] = spec.outputs.directory
    secrets = vault_secrets(spec, run, shadowed)
    if secrets is not None:
        env[VAULT_SECRETS] = secrets
    env.update(driver_endpoints(endpoints or {}))
    return env


def vault_secrets(
    spec: TrainingJobSpec, run: TrainingJobRunSpec | None = None, shadowed: Collection[str] = ()
) -> str | None:
    """OCIDS_DRIVER_VAULT_SECRETS of a job (run None) or a run, less the `shadowed` names a more
    specific level sets to a literal (a node group's env); None: the variable is left out."""
    vault = run_vault_refs(spec, run) if run is not None else vault_refs(spec.env)
    vault = {name: ref for name, ref in vault.items() if name not in shadowed}
    # A run that replaces every Vault variable of its job still sends the (empty) map: OCI merges a
    # run's environmentVariables over the job's, so leaving it out would let the job's map win.
    if vault or (run is not None and vault_refs(spec.env)):
        return json.dumps(vault, sort_keys=True, separators=(",", ":"))
    return None


def run_vault_refs(job: TrainingJobSpec, run: TrainingJobRunSpec) -> dict[str, str]:
    """The Vault variables of a run: the job's, less those the run sets otherwise, plus the run's."""
    overridden = {var.name for var in run.env}
    job_vault = {name: ref for name, ref in vault_refs(job.env).items() if name not in overridden}
    return {**job_vault, **vault_refs(run.env)}


def run_vault_problem(run: TrainingJobRunSpec, job: TrainingJobSpec, job_name: str) -> str | None:
    """Why a run's vaultSecretRef cannot work on this TrainingJob (None: it can). Only the driver reads
    Vault secrets, and it runs only in the jobs that need it."""
    names = sorted(vault_refs(run.env))
    if not names:
        return None
    where = f"spec.env[{names[0]}].valueFrom.vaultSecretRef"
    if job.container is not None:
        return (
            f"{where}: TrainingJob {job_name} runs a container, and the operator's driver that reads Vault "
            "secrets does not run in a container job"
        )
    if not needs_driver(job):
        return (
            f"{where}: TrainingJob {job_name} does not run the operator's driver, which reads Vault secrets "
            "(set runtime: {} on the TrainingJob, or a vaultSecretRef env there)"
        )
    return None


def run_outputs_uri(spec: TrainingJobSpec, job_run_id: str) -> str | None:
    """Where a run's outputs go, oci://bucket@namespace/prefix/<job run OCID>/ (status.outputs.uri);
    None without spec.outputs. The driver names the objects the same way."""
    if spec.outputs is None:
        return None
    authority, _, prefix = spec.outputs.uri.removeprefix("oci://").partition("/")
    folder = "/".join(part for part in (prefix.strip("/"), job_run_id) if part)
    return f"oci://{authority}/{folder}/"
