"""ADS-style runtimes end to end: the operator packs its driver with the code, the emulator really runs
it as the job run (with the run's resource principal), and what the user gets is read back with the
real SDK: Object Storage for outputs, Logging search for what the code printed, GetJob for what OCI
keeps in the job's definition.

- a notebook (examples/runtimes/notebook/) runs without its `skip` cell; the executed notebook,
  each cell's output in it, lands under outputs.uri/<run OCID>/ with what the notebook wrote; a
  cell that raises fails the run with exit code 1 and its error in the uploaded notebook;
- an entry function (examples/runtimes/entry-function/, and a zip with pythonPath and workingDir)
  gets the job's args, or a run's own, parsed as ADS does;
- an env var from OCI Vault reaches the code, at job or run level, and its value is nowhere in the OCI
  job or run, the Kubernetes objects, Events or the operator's log;
- a plain script job with outputs uploads them under the run's prefix, after success and failure.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import secrets
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from ocids_operator.driver import DRIVER_VERSION
from operator_harness import REPO_ROOT, Kube, OciTarget, OperatorProcess, Scenario

pytestmark = pytest.mark.integration

EXAMPLES = REPO_ROOT / "examples" / "runtimes"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
FOLDERS = ("notebook", "entry-function", "vault-secret")


@pytest.fixture
def rt(world: Scenario, start_operator: Callable[..., OperatorProcess], oci_target: OciTarget) -> Scenario:
    """The usual world; the operator also passes the emulator's Secrets endpoint to the driver."""
    world.operator = start_operator(env={"OCIDS_SECRETS_ENDPOINT": oci_target.endpoint})
    return world


# helpers -----------------------------------------------------------------------------------------
def example(rt: Scenario, folder: str) -> list[dict[str, Any]]:
    """examples/runtimes/<folder>/ as its README applies it: placeholders filled from ids.env."""
    docs = []
    for name in ("trainingjob.yaml", "trainingjobrun.yaml"):
        text = PLACEHOLDER.sub(lambda m: rt.ids[m.group(1)], (EXAMPLES / folder / name).read_text())
        doc = yaml.safe_load(text)
        doc["metadata"]["namespace"] = rt.namespace
        docs.append(doc)
    return docs


SAMPLE_IDS = {
    "COMPARTMENT_ID": "ocid1.compartment.oc1..exampleuniqueid",
    "PROJECT_ID": "ocid1.datascienceproject.oc1.iad.exampleuniqueid",
    "LOG_GROUP_ID": "ocid1.loggroup.oc1.iad.exampleuniqueid",
    "OBJECT_STORAGE_BUCKET": "ml-outputs",
    "OBJECT_STORAGE_NAMESPACE": "mytenancy",
    "VAULT_SECRET_ID": "ocid1.vaultsecret.oc1.iad.exampleuniqueid",
}


def test_the_runtimes_examples_pass_server_side_dry_run(kube: Kube, namespace: str) -> None:
    for folder in FOLDERS:
        text = "---\n".join(
            PLACEHOLDER.sub(lambda m: SAMPLE_IDS[m.group(1)], (EXAMPLES / folder / name).read_text())
            for name in ("trainingjob.yaml", "trainingjobrun.yaml")
        )
        result = kube.kubectl(
            "apply", "--dry-run=server", "-n", namespace, "-f", "-", input=text, check=False
        )
        assert result.returncode == 0, (folder, result.stderr)
        assert result.stdout.count("(server dry run)") == 2, result.stdout


class Bucket:
    """The emulator's seeded bucket, read as a user with the SDK."""

    def __init__(self, rt: Scenario, emulator: Any) -> None:
        self.namespace = rt.ids["OBJECT_STORAGE_NAMESPACE"]
        self.name = rt.ids["OBJECT_STORAGE_BUCKET"]
        self.client = emulator.object_storage_client(retries=False)

    def uri(self, prefix: str) -> str:
        return f"oci://{self.name}@{self.namespace}/{prefix}"

    def names(self, prefix: str) -> set[str]:
        listed = self.client.list_objects(self.namespace, self.name, prefix=prefix).data.objects
        return {o.name[len(prefix) :] for o in listed}

    def read(self, name: str) -> bytes:
        return bytes(self.client.get_object(self.namespace, self.name, name).data.content)


def cell_text(cell: dict[str, Any]) -> str:
    """What a reader sees under a cell: stream text, results, and an error's name, value and traceback."""
    parts: list[str] = []
    for output in cell.get("outputs", []):
        for key in ("text", "traceback"):
            value = output.get(key, "")
            parts.append("".join(value) if isinstance(value, list) else str(value))
        parts.append(str(output.get("evalue", "")))
        plain = (output.get("data") or {}).get("text/plain", "")
        parts.append("".join(plain) if isinstance(plain, list) else str(plain))
    return "".join(parts)


def cell_with(notebook: dict[str, Any], source: str) -> dict[str, Any]:
    return next(c for c in notebook["cells"] if source in "".join(c["source"]))


def succeeded(rt: Scenario, name: str) -> tuple[dict[str, Any], str]:
    run = rt.wait_run(name, {"Succeeded", "Failed"}, timeout=120)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    return run, run["status"]["jobRunId"]


# notebook ----------------------------------------------------------------------------------------
def test_a_notebook_runs_without_its_skip_cell_and_the_executed_notebook_lands_in_object_storage(
    rt: Scenario, emulator: Any
) -> None:
    bucket = Bucket(rt, emulator)
    job, run = example(rt, "notebook")
    # The same notebook with nothing excluded: its `skip` cell raises.
    every_cell = json.loads(json.dumps(job))
    every_cell["metadata"]["name"] = "notebook-every-cell"
    every_cell["spec"]["runtime"]["notebook"]["excludeTags"] = []
    rt.apply(job, run, every_cell, rt.run("every-cell-1", "notebook-every-cell"))

    status = rt.wait_job_active("notebook")["status"]
    assert status["artifact"]["driverVersion"] == DRIVER_VERSION, status["artifact"]

    run_obj, run_id = succeeded(rt, "notebook-lr-0.1")
    prefix = f"runtimes/notebook/{run_id}/"
    assert run_obj["status"]["outputs"]["uri"] == bucket.uri(prefix), run_obj["status"]
    assert bucket.names(prefix) == {"model.json", "train.ipynb"}

    executed = json.loads(bucket.read(prefix + "train.ipynb"))
    # The run's env reached the first cell, each cell's output is under it, the skip cell never ran.
    assert "training: epochs=20 learning_rate=0.1" in cell_text(cell_with(executed, "learning_rate = float"))
    assert "200 samples" in cell_text(cell_with(executed, "rng = random.Random(7)"))
    model = json.loads(bucket.read(prefix + "model.json"))
    assert f"accuracy={model['accuracy']:.3f}" in cell_text(cell_with(executed, "def predict"))
    assert "saved outputs/model.json" in cell_text(cell_with(executed, "os.makedirs"))
    skipped = cell_with(executed, "raise RuntimeError")
    assert (cell_text(skipped), skipped.get("execution_count")) == ("", None), skipped
    # ... and was echoed to the run's log, as ADS's notebook runs are.
    assert any("saved outputs/model.json" in line for line in rt.run_log(run_obj, "saved outputs/model.json"))

    failed = rt.wait_run("every-cell-1", {"Succeeded", "Failed"}, timeout=120)
    assert failed["status"]["phase"] == "Failed" and failed["status"]["exitCode"] == 1, failed["status"]
    failed_prefix = f"runtimes/notebook/{failed['status']['jobRunId']}/"
    # Uploaded after the failure: the executed notebook with the error under the cell that raised;
    # the cells after it did not run, so there is no model.
    assert bucket.names(failed_prefix) == {"train.ipynb"}
    executed = json.loads(bucket.read(failed_prefix + "train.ipynb"))
    assert "a cell tagged skip ran" in cell_text(cell_with(executed, "raise RuntimeError"))
    assert cell_text(cell_with(executed, "os.makedirs")) == ""
    assert rt.run_log(failed, "a cell tagged skip ran")


# entry function ----------------------------------------------------------------------------------
def test_the_entry_function_example_gets_the_jobs_args_or_a_runs_own(rt: Scenario) -> None:
    job, run = example(rt, "entry-function")
    rt.apply(job, run, rt.run("job-args", "entry-function"))

    job_args, _ = succeeded(rt, "job-args")
    lines = rt.run_log(job_args, "positional=")
    assert "lr=0.1 epochs=20 positional=['baseline']" in lines, lines
    assert any("trained with lr=0.1: accuracy=" in line for line in rt.run_log(job_args, "trained with")), (
        lines
    )

    own_args, _ = succeeded(rt, "entry-function-lr-0.5")
    lines = rt.run_log(own_args, "positional=")
    assert "lr=0.5 epochs=5 positional=['fast']" in lines, lines


ENTRY_MODULE = """\
import os

import helpers


def main(*positional, lr="0.01", **keyword):
    with open("settings.txt") as f:
        setting = f.read().strip()
    print(f"lr={lr} positional={list(positional)} keyword={sorted(keyword)}", flush=True)
    print(f"cwd={os.path.basename(os.getcwd())} setting={setting} helper={helpers.NAME}", flush=True)
    return f"returned lr={lr}"
"""


def _entry_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("src/pkg/__init__.py", "")
        archive.writestr("src/pkg/train.py", ENTRY_MODULE)
        archive.writestr("lib/helpers.py", "NAME = 'from lib'\n")
        archive.writestr("conf/settings.txt", "read from conf\n")
    return buffer.getvalue()


def test_an_entry_function_in_a_zip_gets_lr_and_a_positional_with_its_python_path_and_working_dir(
    rt: Scenario,
) -> None:
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "entry-code", "namespace": rt.namespace},
        "binaryData": {"code.zip": base64.b64encode(_entry_zip()).decode()},
    }
    job = rt.job("entry-zip", "unused", args=["--lr", "0.1", "extra"])
    job["spec"]["artifact"] = {"configMapRef": {"name": "entry-code", "key": "code.zip"}}
    job["spec"]["runtime"] = {
        "python": {
            "module": "pkg.train",
            "function": "main",
            "pythonPath": ["src", "lib"],
            "workingDir": "conf",
        }
    }
    rt.apply(config_map, job, rt.run("zip-1", "entry-zip"), rt.run("zip-2", "entry-zip", args=["other"]))

    first, _ = succeeded(rt, "zip-1")
    lines = rt.run_log(first, "returned lr=0.1")
    assert "lr=0.1 positional=['extra'] keyword=[]" in lines, lines
    assert "cwd=conf setting=read from conf helper=from lib" in lines, lines

    # A run's args replace the job's: no --lr, so main's default.
    second, _ = succeeded(rt, "zip-2")
    lines = rt.run_log(second, "positional=")
    assert "lr=0.01 positional=['other'] keyword=[]" in lines, lines


# Vault -------------------------------------------------------------------------------------------
SHOW_SECRETS = """\
import hashlib, os
for name in ("DB_PASSWORD", "API_TOKEN"):
    value = os.environ.get(name)
    shown = "unset" if value is None else f"{len(value)} {hashlib.sha256(value.encode()).hexdigest()[:12]}"
    print(f"{name}: {shown}", flush=True)
"""


def shown(value: str) -> str:
    """How SHOW_SECRETS (and the example) prints a value: its length and a sha256 prefix."""
    return f"{len(value)} {hashlib.sha256(value.encode()).hexdigest()[:12]}"


def vault_env(name: str, secret_id: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"vaultSecretRef": {"secretId": secret_id}}}


def test_vault_secrets_reach_the_code_at_job_and_run_level_and_are_stored_nowhere(
    rt: Scenario, emulator: Any
) -> None:
    db_password, api_token = "db-" + secrets.token_urlsafe(24), "tok-" + secrets.token_urlsafe(24)
    secret_id = rt.ids["VAULT_SECRET_ID"]
    other_id = secret_id.rsplit(".", 1)[0] + ".amaaaaaa" + secrets.token_hex(26)
    rt.admin.set_vault_secret(secret_id, db_password)
    rt.admin.set_vault_secret(other_id, api_token, compartment_id=rt.compartment_id, name="api-token")

    example_job, example_run = example(rt, "vault-secret")
    job = rt.job("vault", SHOW_SECRETS, extra_env=[vault_env("DB_PASSWORD", secret_id)])
    runs = [
        rt.run("job-level", "vault"),
        # A run adds a secret of its own; the job's still arrives.
        rt.run("run-level", "vault"),
        # A run's plain value wins over the job's secret, as any run env wins over the job's.
        rt.run("plain-override", "vault", env={"DB_PASSWORD": "plain-run-value"}),
    ]
    runs[1]["spec"]["env"] = [vault_env("API_TOKEN", other_id)]
    rt.apply(example_job, example_run, job, *runs)

    run, _ = succeeded(rt, "vault-secret-1")
    lines = rt.run_log(run, "DB_PASSWORD:")
    digest = hashlib.sha256(db_password.encode()).hexdigest()[:12]
    assert f"DB_PASSWORD: {len(db_password)} characters, sha256 {digest}..." in lines, lines

    expected = {
        "job-level": [f"DB_PASSWORD: {shown(db_password)}", "API_TOKEN: unset"],
        "run-level": [f"DB_PASSWORD: {shown(db_password)}", f"API_TOKEN: {shown(api_token)}"],
        "plain-override": [f"DB_PASSWORD: {shown('plain-run-value')}", "API_TOKEN: unset"],
    }
    run_ids, seen = [], {}
    for name in expected:
        run, run_id = succeeded(rt, name)
        run_ids.append(run_id)
        lines = rt.run_log(run, "API_TOKEN:")
        seen[name] = [line for line in lines if line.startswith(("DB_PASSWORD:", "API_TOKEN:"))]

    # OCI keeps the secrets' OCIDs only: not in the jobs' definitions, not in the runs' overrides.
    oci_side = []
    for tj in ("vault", "vault-secret"):
        oci_job = rt.oci.get_job(rt.get_job(tj)["status"]["jobId"])  # type: ignore[index]
        variables = oci_job.job_configuration_details.environment_variables or {}
        assert "DB_PASSWORD" not in variables, variables
        assert secret_id in variables.get("OCIDS_DRIVER_VAULT_SECRETS", ""), variables
        oci_side.append(str(oci_job))
    oci_side += [str(rt.oci.get_job_run(run_id)) for run_id in run_ids]
    assert other_id in oci_side[-2], oci_side[-2]  # the run-level secret's OCID, in that run's override
    kube_side = json.dumps(
        [rt.kube.list_objects(kind, rt.namespace) for kind in ("trainingjobs", "trainingjobruns")]
        + [rt.kube.events(rt.namespace)]
    )
    assert rt.operator is not None
    for where, text in {
        "OCI": "".join(oci_side),
        "Kubernetes": kube_side,
        "operator log": rt.operator.log_text(),
    }.items():
        for value in (db_password, api_token):
            assert value not in text, f"a Vault secret's value is in the {where} side"
    # Last, so that a wrong value does not hide the checks above.
    assert seen == expected


# outputs of a plain script -----------------------------------------------------------------------
SAVE_OUTPUTS = """\
import os, sys
os.makedirs("outputs/metrics", exist_ok=True)
with open("outputs/model.txt", "w") as f:
    f.write(f"model of {os.environ['JOB_RUN_OCID']}\\n")
with open("outputs/metrics/scores.json", "w") as f:
    f.write('{"accuracy": 0.9}')
print("wrote outputs", flush=True)
sys.exit(int(os.environ.get("EXIT_CODE", "0")))
"""


def test_a_script_jobs_outputs_land_under_each_runs_prefix_after_success_and_failure(
    rt: Scenario, emulator: Any
) -> None:
    bucket = Bucket(rt, emulator)
    job = rt.job("saver", SAVE_OUTPUTS, outputs={"uri": bucket.uri("team-a/saver/")})
    rt.apply(job, rt.run("saver-ok", "saver"), rt.run("saver-fails", "saver", env={"EXIT_CODE": "3"}))

    for name, phase, exit_code in (("saver-ok", "Succeeded", 0), ("saver-fails", "Failed", 3)):
        run = rt.wait_run(name, {"Succeeded", "Failed"}, timeout=120)
        status = run["status"]
        assert (status["phase"], status.get("exitCode")) == (phase, exit_code), status
        prefix = f"team-a/saver/{status['jobRunId']}/"
        assert status["outputs"]["uri"] == bucket.uri(prefix), status
        assert bucket.names(prefix) == {"model.txt", "metrics/scores.json"}, name
        assert bucket.read(prefix + "model.txt").decode() == f"model of {status['jobRunId']}\n"
        assert json.loads(bucket.read(prefix + "metrics/scores.json")) == {"accuracy": 0.9}
