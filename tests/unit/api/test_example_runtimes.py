"""examples/runtimes/: the manifests load through the API models, and the code in them does what the
README says when run the way the driver runs it (notebook cells in order without `skip`; the entry
function with ADS-parsed arguments; the Vault script printing no secret)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ocids_operator.api import TrainingJob, TrainingJobRun

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "runtimes"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
IDS = {
    "COMPARTMENT_ID": "ocid1.compartment.oc1..exampleuniqueid",
    "PROJECT_ID": "ocid1.datascienceproject.oc1.iad.exampleuniqueid",
    "LOG_GROUP_ID": "ocid1.loggroup.oc1.iad.exampleuniqueid",
    "OBJECT_STORAGE_BUCKET": "ml-outputs",
    "OBJECT_STORAGE_NAMESPACE": "mytenancy",
    "VAULT_SECRET_ID": "ocid1.vaultsecret.oc1.iad.exampleuniqueid",
}
FOLDERS = ("notebook", "entry-function", "vault-secret")


def load(folder: str, name: str) -> dict[str, Any]:
    text = PLACEHOLDER.sub(lambda m: IDS[m.group(1)], (EXAMPLES / folder / name).read_text())
    return dict(yaml.safe_load(text))


def models(folder: str) -> tuple[TrainingJob, TrainingJobRun]:
    job = TrainingJob.model_validate(load(folder, "trainingjob.yaml"))
    run = TrainingJobRun.model_validate(load(folder, "trainingjobrun.yaml"))
    assert run.spec.job_ref.name == job.metadata["name"] == folder
    return job, run


def inline_code(folder: str) -> str:
    return str(load(folder, "trainingjob.yaml")["spec"]["artifact"]["inline"]["content"])


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_placeholder_is_documented_in_the_readme(folder: str) -> None:
    readme = (EXAMPLES / "README.md").read_text()
    for name in ("trainingjob.yaml", "trainingjobrun.yaml"):
        for placeholder in PLACEHOLDER.findall((EXAMPLES / folder / name).read_text()):
            assert f"${{{placeholder}}}" in readme, f"{folder}/{name}: ${{{placeholder}}} not in README"


def test_the_notebook_example_loads_through_the_models() -> None:
    job, run = models("notebook")
    runtime = job.spec.runtime
    assert runtime is not None and runtime.notebook is not None and runtime.python is None
    assert job.spec.artifact is not None and job.spec.artifact.inline is not None
    assert runtime.notebook.path == job.spec.artifact.inline.file_name == "train.ipynb"
    assert runtime.notebook.exclude_tags == ["skip"]
    assert job.spec.outputs is not None
    assert job.spec.outputs.uri == "oci://ml-outputs@mytenancy/runtimes/notebook/"
    assert [(e.name, e.value) for e in run.spec.env] == [("LEARNING_RATE", "0.1")]


def test_the_notebook_runs_without_its_skip_cell_and_writes_its_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = json.loads(inline_code("notebook"))
    assert notebook["nbformat"] == 4
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    skipped = [c for c in cells if "skip" in c["metadata"].get("tags", [])]
    assert len(skipped) == 1
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEARNING_RATE", "0.1")
    namespace: dict[str, Any] = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for cell in cells:
            if cell not in skipped:
                exec("".join(cell["source"]), namespace)
    assert "training: epochs=20 learning_rate=0.1" in out.getvalue()
    model = json.loads((tmp_path / "outputs" / "model.json").read_text())
    assert model["accuracy"] > 0.9, model
    # The cell excludeTags leaves out really would fail the run.
    with pytest.raises(RuntimeError, match="tagged skip"):
        exec("".join(skipped[0]["source"]), namespace)


def test_the_entry_function_example_loads_through_the_models() -> None:
    job, run = models("entry-function")
    runtime = job.spec.runtime
    assert runtime is not None and runtime.python is not None and runtime.notebook is None
    assert (runtime.python.module, runtime.python.function) == ("train", "main")
    assert job.spec.args == ["--lr", "0.1", "baseline"]
    assert run.spec.args == ["--lr", "0.5", "--epochs", "5", "fast"]


@pytest.mark.parametrize(
    ("positional", "keyword", "printed"),
    [
        # What the job's args `--lr 0.1 baseline` and the run's own args become, parsed as ADS does.
        (("baseline",), {"lr": "0.1"}, "lr=0.1 epochs=20 positional=['baseline']"),
        (("fast",), {"lr": "0.5", "epochs": "5"}, "lr=0.5 epochs=5 positional=['fast']"),
    ],
)
def test_the_entry_function_prints_its_arguments_and_returns_a_summary(
    positional: tuple[str, ...], keyword: dict[str, str], printed: str
) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(inline_code("entry-function"), "train.py", "exec"), namespace)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        summary = namespace["main"](*positional, **keyword)
    assert out.getvalue().strip() == printed
    assert summary.startswith(f"trained with lr={float(keyword['lr'])}: accuracy="), summary


def test_the_vault_example_loads_through_the_models() -> None:
    job, _ = models("vault-secret")
    [env] = job.spec.env
    assert env.name == "DB_PASSWORD" and env.value is None
    assert env.value_from is not None and env.value_from.vault_secret_ref is not None
    assert env.value_from.vault_secret_ref.secret_id == IDS["VAULT_SECRET_ID"]


def test_the_vault_example_prints_the_secrets_length_and_hash_never_the_value() -> None:
    secret = "correct horse battery staple"
    done = subprocess.run(
        [sys.executable, "-c", inline_code("vault-secret")],
        env={**os.environ, "DB_PASSWORD": secret},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert secret not in done.stdout + done.stderr
    assert done.stdout.startswith(f"DB_PASSWORD: {len(secret)} characters, sha256 "), done.stdout
