"""Notebook mode: the driver executes the code cells and writes the executed notebook (stdlib runner)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from driver_support import KERNEL, notebook, read_json, run_driver, unpack

stdlib_runner = pytest.mark.skipif(
    KERNEL, reason="the driver's Python has nbclient: it uses a Jupyter kernel"
)


CELLS_SOURCE = json.dumps(
    [
        ("import sys\nrate = 0.5\nprint('training', rate)\nprint('warn', file=sys.stderr)", []),
        ("raise RuntimeError('only interactive')", ["interactive"]),
        ("open('model.txt', 'w').write(str(rate * 2))\nrate * 4", []),
        ("x = 1;", ["parameters"]),
    ]
)
CELLS = notebook(*json.loads(CELLS_SOURCE))


@stdlib_runner
def test_cells_run_in_one_namespace_skipping_excluded_tags_and_the_executed_notebook_is_an_output(
    tmp_path: Path,
) -> None:
    root = unpack(tmp_path, {"nb/train.ipynb": CELLS})
    done = run_driver(
        root, MODE="notebook", NOTEBOOK="nb/train.ipynb", EXCLUDE_TAGS="interactive, other", OUTPUT_DIR="out"
    )
    assert done.returncode == 0, done.stderr
    # Echoed as they run, so the lines reach the job's log.
    assert done.stdout.splitlines() == ["training 0.5", "2.0"]
    assert "warn" in done.stderr
    # The notebook's folder is the working directory, as in Jupyter; outputs go under it.
    assert (root / "code" / "nb" / "model.txt").read_text() == "1.0"
    executed = read_json(root / "code" / "nb" / "out" / "train.ipynb")
    first, skipped, last, quiet = executed["cells"]
    assert first["execution_count"] == 1
    assert first["outputs"] == [
        {"output_type": "stream", "name": "stdout", "text": "training 0.5\n"},
        {"output_type": "stream", "name": "stderr", "text": "warn\n"},
    ]
    assert (skipped["execution_count"], skipped["outputs"]) == (None, [])
    assert last["execution_count"] == 2
    assert last["outputs"] == [
        {"output_type": "execute_result", "execution_count": 2, "data": {"text/plain": "2.0"}, "metadata": {}}
    ]
    assert (quiet["execution_count"], quiet["outputs"]) == (3, [])
    assert executed["metadata"] == json.loads(CELLS)["metadata"]


@stdlib_runner
def test_failing_cell_stops_the_run_with_exit_1_and_the_error_in_the_notebook(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"train.ipynb": CELLS})
    done = run_driver(root, MODE="notebook", NOTEBOOK="train.ipynb", OUTPUT_DIR="out")
    assert done.returncode == 1
    assert "RuntimeError: only interactive" in done.stderr
    cells = read_json(root / "code" / "out" / "train.ipynb")["cells"]
    error = cells[1]["outputs"][-1]
    assert (error["output_type"], error["ename"], error["evalue"]) == (
        "error",
        "RuntimeError",
        "only interactive",
    )
    assert "raise RuntimeError('only interactive')" in "".join(error["traceback"])
    assert cells[2]["execution_count"] is None  # never reached
    assert not (root / "code" / "model.txt").exists()


@stdlib_runner
def test_without_an_output_dir_the_executed_notebook_lands_in_the_working_dir(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"nb/train.ipynb": notebook(("print('hi')", [])), "work/.keep": ""})
    done = run_driver(root, MODE="notebook", NOTEBOOK="nb/train.ipynb", WORKING_DIR="work")
    assert done.returncode == 0, done.stderr
    cell = read_json(root / "code" / "work" / "train.ipynb")["cells"][0]
    assert cell["outputs"] == [{"output_type": "stream", "name": "stdout", "text": "hi\n"}]


@stdlib_runner
def test_notebook_encoding_is_honoured(tmp_path: Path) -> None:
    source = notebook(("print('café')", [])).replace("\\u00e9", "é")
    root = unpack(tmp_path, {"train.ipynb": source.encode("latin-1")})
    done = run_driver(
        root, MODE="notebook", NOTEBOOK="train.ipynb", NOTEBOOK_ENCODING="latin-1", OUTPUT_DIR="out"
    )
    assert done.returncode == 0, done.stderr
    assert read_json(root / "code" / "out" / "train.ipynb")["cells"][0]["outputs"][0]["text"] == "café\n"


@stdlib_runner
def test_ipython_magic_fails_with_a_hint(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"train.ipynb": notebook(("%matplotlib inline", []))})
    done = run_driver(root, MODE="notebook", NOTEBOOK="train.ipynb")
    assert done.returncode == 1
    assert "needs nbclient and ipykernel" in done.stderr


@stdlib_runner
def test_not_a_notebook_names_the_variable(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"train.ipynb": "{not json"})
    done = run_driver(root, MODE="notebook", NOTEBOOK="train.ipynb")
    assert done.returncode == 1
    assert "OCIDS_DRIVER_NOTEBOOK 'train.ipynb' is not a readable notebook" in done.stderr


def text(output: dict[str, Any]) -> str:
    value = output.get("text", output.get("data", {}).get("text/plain", ""))
    return "".join(value) if isinstance(value, list) else str(value)


@pytest.mark.skipif(
    not KERNEL, reason="needs nbclient and ipykernel in OCIDS_TEST_DRIVER_PYTHON's environment"
)
def test_with_nbclient_a_jupyter_kernel_runs_the_cells_with_the_same_results(tmp_path: Path) -> None:
    cells = notebook(*json.loads(CELLS_SOURCE), ("%time y = 2", []))
    root = unpack(tmp_path, {"nb/train.ipynb": cells})
    done = run_driver(
        root,
        timeout=120,
        MODE="notebook",
        NOTEBOOK="nb/train.ipynb",
        EXCLUDE_TAGS="interactive",
        OUTPUT_DIR="out",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("training 0.5\n2.0\n")
    first, skipped, last, _, magic = read_json(root / "code" / "nb" / "out" / "train.ipynb")["cells"]
    assert [(o["name"], text(o)) for o in first["outputs"]] == [
        ("stdout", "training 0.5\n"),
        ("stderr", "warn\n"),
    ]
    assert (skipped["execution_count"], skipped["outputs"], skipped["metadata"]) == (
        None,
        [],
        {"tags": ["interactive"]},
    )
    assert [text(o) for o in last["outputs"]] == ["2.0"]
    assert "Wall time" in text(magic["outputs"][0])

    failed = unpack(tmp_path / "failed", {"nb/train.ipynb": cells})
    done = run_driver(failed, timeout=120, MODE="notebook", NOTEBOOK="nb/train.ipynb", OUTPUT_DIR="out")
    assert done.returncode == 1
    assert "RuntimeError: only interactive" in done.stderr and "\x1b[" not in done.stderr
    error = read_json(failed / "code" / "nb" / "out" / "train.ipynb")["cells"][1]["outputs"][-1]
    assert (error["output_type"], error["ename"]) == ("error", "RuntimeError")
