"""ADS job YAML import: each document of tests/data/ads (written from the ADS documentation's examples)
goes through `ocids-operator convert ads` as a user runs it, is applied to the real API server (its
server-side validation), and runs to Succeeded in the emulator.

The code the documents name is put where they say: Object Storage for oci:// URLs, a bare repository
on this machine (file://, allowed by OCIDS_GIT_ALLOW_FILE_URLS) for the Git one.
"""

from __future__ import annotations

import io
import json
import os
import string
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from operator_harness import REPO_ROOT, OperatorProcess, Scenario

pytestmark = pytest.mark.integration
DATA = REPO_ROOT / "tests" / "data" / "ads"

SCRIPT_SH = 'echo "$NAME"\necho "args=$* count=$#"\n'
PY_SCRIPT = """import os
from helper import greeting


def train(epochs):
    os.makedirs("output", exist_ok=True)
    with open("output/result.txt", "w") as f:
        f.write(f"epochs={epochs}\\n")
    print(f"{greeting()} epochs={epochs} cwd={os.path.basename(os.getcwd())}", flush=True)
    return "trained"
"""
HELPER = 'def greeting():\n    return "hello from other_packages"\n'
GIT_SCRIPT = """import os
print(os.environ["GREETINGS"], "from git", flush=True)
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "loss.txt"), "w") as f:
    f.write("0.01\\n")
"""


def _cell(source: str, tags: list[str] | None = None) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": tags or []},
        "outputs": [],
        "source": source,
    }


NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "cells": [
        _cell("import os\nprint(os.environ['GREETINGS'], 'from the notebook')"),
        _cell("raise RuntimeError('an excluded cell ran')", tags=["ignore"]),
        _cell("print('notebook done', 6 * 7)"),
    ],
}


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _git(cwd: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@e"
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, timeout=60)


def _bare_repository(root: Path) -> str:
    work = root / "tutorials"
    (work / "beginner_source" / "examples_nn").mkdir(parents=True)
    (work / "beginner_source" / "examples_nn" / "polynomial_nn.py").write_text(GIT_SCRIPT)
    _git(root, "init", "-q", "-b", "main", str(work))
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "polynomial")
    _git(root, "clone", "-q", "--bare", str(work), str(root / "tutorials.git"))
    return f"file://{root / 'tutorials.git'}"


def _convert(
    document: Path, values: dict[str, str], work_dir: Path, namespace: str
) -> subprocess.CompletedProcess[str]:
    """The document with its ${...} filled in, through the command a user runs."""
    filled = work_dir / document.name
    filled.write_text(string.Template(document.read_text()).safe_substitute(values))
    command = Path(sys.executable).with_name("ocids-operator")
    argv = [str(command)] if command.exists() else [sys.executable, "-m", "ocids_operator"]
    return subprocess.run(
        [*argv, "convert", "ads", str(filled), "--namespace", namespace],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _objects(emulator: Any, prefix: str) -> list[str]:
    store = emulator.object_storage_client(retries=False)
    ids = emulator.ids
    listed = store.list_objects(ids["OBJECT_STORAGE_NAMESPACE"], ids["OBJECT_STORAGE_BUCKET"], prefix=prefix)
    return [o.name for o in listed.data.objects]


def _get_object(emulator: Any, name: str) -> bytes:
    store = emulator.object_storage_client(retries=False)
    ids = emulator.ids
    return bytes(
        store.get_object(ids["OBJECT_STORAGE_NAMESPACE"], ids["OBJECT_STORAGE_BUCKET"], name).data.content
    )


def _check_script(e2e: Scenario, emulator: Any, run: dict[str, Any]) -> None:
    lines = e2e.run_log(run, "count=")
    assert "Welcome to OCI Data Science." in lines, lines
    # ADS passes each args item as one argument (shlex-quoted), and so does the operator.
    assert 'args=100 linux "hi there" count=1' in lines, lines


def _check_python(e2e: Scenario, emulator: Any, run: dict[str, Any]) -> None:
    lines = e2e.run_log(run, "epochs=")
    # pythonPath (other_packages) and workingDir (code_dir) as ADS sets them; `--epochs 3` as keyword.
    assert "hello from other_packages epochs=3 cwd=code_dir" in lines, lines
    prefix = f"ads-outputs/python/{run['status']['jobRunId']}/"
    assert _get_object(emulator, prefix + "result.txt") == b"epochs=3\n", _objects(emulator, prefix)


def _check_git(e2e: Scenario, emulator: Any, run: dict[str, Any]) -> None:
    assert "Welcome to OCI Data Science from git" in e2e.run_log(run, "from git")
    job = e2e.get_job(run["spec"]["jobRef"]["name"]) or {}
    artifact = job["status"]["artifact"]
    assert artifact["source"] == "git" and len(artifact["commit"]) == 40, artifact
    prefix = f"ads-outputs/git/{run['status']['jobRunId']}/"
    assert _get_object(emulator, prefix + "loss.txt") == b"0.01\n", _objects(emulator, prefix)


def _check_notebook(e2e: Scenario, emulator: Any, run: dict[str, Any]) -> None:
    lines = e2e.run_log(run, "notebook done")
    assert "Welcome to OCI Data Science from the notebook" in lines, lines
    assert not any("an excluded cell ran" in line for line in lines), lines
    prefix = f"ads-outputs/notebook/{run['status']['jobRunId']}/"
    executed = json.loads(_get_object(emulator, prefix + "basics.ipynb"))
    outputs = [out for cell in executed["cells"] for out in cell.get("outputs", [])]
    assert any("notebook done 42" in "".join(out.get("text", "")) for out in outputs), outputs


def _check_container(e2e: Scenario, emulator: Any, run: dict[str, Any]) -> None:
    oci_job = e2e.oci.get_job(run["status"]["jobId"])
    env = oci_job.job_environment_configuration_details
    assert env.entrypoint == ["/bin/sh", "-c"] and env.cmd == ["sleep 5 && echo $GREETINGS"], env


Check = Callable[[Scenario, Any, dict[str, Any]], None]
DOCUMENTS: dict[str, tuple[str, Check]] = {
    "script.yaml": ("my-job", _check_script),
    "python.yaml": ("my-python-job", _check_python),
    "git_python.yaml": ("my-git-job", _check_git),
    "notebook.yaml": ("my-notebook-job", _check_notebook),
    "container.yaml": ("my-container-job", _check_container),
}


@pytest.mark.parametrize("document", sorted(DOCUMENTS))
def test_ads_example_converts_applies_and_succeeds(
    document: str,
    world: Scenario,
    emulator: Any,
    start_operator: Callable[..., OperatorProcess],
    tmp_path: Path,
) -> None:
    ids = dict(emulator.ids)
    store = emulator.object_storage_client(retries=False)
    namespace, bucket = ids["OBJECT_STORAGE_NAMESPACE"], ids["OBJECT_STORAGE_BUCKET"]
    store.put_object(namespace, bucket, "ads/code_dir.zip", _zip({"my_package/my_script.sh": SCRIPT_SH}))
    store.put_object(
        namespace,
        bucket,
        "ads/python_code.zip",
        _zip({"code_dir/my_package/my_script.py": PY_SCRIPT, "code_dir/other_packages/helper.py": HELPER}),
    )
    store.put_object(namespace, bucket, "ads/basics.ipynb", json.dumps(NOTEBOOK).encode())
    values = {**ids, "GIT_URL": _bare_repository(tmp_path)}

    done = _convert(DATA / document, values, tmp_path, world.namespace)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # the documented examples convert without loss
    job, run = list(yaml.safe_load_all(done.stdout))
    name, check = DOCUMENTS[document]
    assert (job["metadata"]["name"], run["metadata"]["name"]) == (name, f"{name}-1")

    # Server-side validation: the API server (CRD schema and CEL rules) accepts what was printed.
    world.kube.kubectl("apply", "--dry-run=server", "-f", "-", input=done.stdout)
    world.operator = start_operator(env={"OCIDS_GIT_ALLOW_FILE_URLS": "true"})
    world.kube.kubectl("apply", "-f", "-", input=done.stdout)
    world.wait_job_active(name, timeout=120)
    finished = world.wait_run(f"{name}-1", {"Succeeded", "Failed"}, timeout=180)
    assert finished["status"]["phase"] == "Succeeded", finished["status"]
    check(world, emulator, finished)
