"""Notebook mode: execute a notebook's code cells in order and keep what they printed.

With nbclient and ipykernel importable (most data science conda environments) a real Jupyter
kernel runs the cells. Otherwise the stdlib runner here does: each code cell is ``exec``'d in one
namespace, its stdout and stderr become the cell's "stream" outputs (and are echoed, so they reach
the job's log), the value of a last bare expression becomes an "execute_result", and an exception
becomes an "error" output and ends the run. IPython syntax (``%magic``, ``!shell``) needs the
kernel.
"""

from __future__ import annotations

import ast
import builtins
import io
import json
import linecache
import re
import sys
import traceback
from pathlib import Path
from typing import Any

from . import DriverError
from .python_entry import exit_code_of

ANSI_COLOURS = re.compile(r"\x1b\[[0-9;]*m")
MAGIC_HINT = "IPython syntax (%magic, !command) needs nbclient and ipykernel in the job's conda environment"


def read_notebook(path: Path, encoding: str) -> dict[str, Any]:
    try:
        notebook = json.loads(path.read_text(encoding=encoding))
    except (OSError, UnicodeError, ValueError) as exc:
        raise DriverError(f"OCIDS_DRIVER_NOTEBOOK {path.name!r} is not a readable notebook ({exc})") from exc
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise DriverError(f"OCIDS_DRIVER_NOTEBOOK {path.name!r} is not a notebook (it has no cells)")
    return notebook


def write_notebook(notebook: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def source_of(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def is_excluded(cell: dict[str, Any], exclude_tags: set[str]) -> bool:
    tags = (cell.get("metadata") or {}).get("tags") or []
    return bool(exclude_tags.intersection(tags))


class _Tee(io.TextIOBase):
    """A stdout/stderr stand-in: echoes to the real stream and records (stream name, text)."""

    def __init__(self, name: str, echo: Any, record: list[tuple[str, str]]) -> None:
        self.name_ = name
        self.echo = echo
        self.record = record

    def write(self, text: str) -> int:
        self.echo.write(text)
        self.echo.flush()
        self.record.append((self.name_, text))
        return len(text)

    def flush(self) -> None:
        self.echo.flush()

    def fileno(self) -> int:
        return int(self.echo.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.echo, "encoding", None) or "utf-8")


def stream_outputs(record: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Consecutive writes to the same stream make one nbformat "stream" output."""
    outputs: list[dict[str, Any]] = []
    for name, text in record:
        if outputs and outputs[-1]["name"] == name:
            outputs[-1]["text"] += text
        elif text:
            outputs.append({"output_type": "stream", "name": name, "text": text})
    return outputs


def _compile_cell(source: str, filename: str) -> tuple[Any, Any]:
    """(statements, last expression or None): a last bare expression is shown, as in Jupyter,
    unless the line ends with ';'."""
    tree = ast.parse(source, filename=filename, mode="exec")
    last = None
    final = tree.body[-1] if tree.body else None
    if isinstance(final, ast.Expr) and not source.rstrip().endswith(";"):
        tree.body.pop()
        last = ast.Expression(final.value)
    return compile(tree, filename, "exec"), (compile(last, filename, "eval") if last else None)


def _error_output(exc: BaseException) -> dict[str, Any]:
    tb = exc.__traceback__
    # Drop the runner's own frames: the user sees their cell first.
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell"):
        tb = tb.tb_next
    lines = traceback.format_exception(type(exc), exc, tb)
    if isinstance(exc, SyntaxError) and (exc.text or "").lstrip().startswith(("%", "!")):
        lines.append(f"Note: {MAGIC_HINT}.\n")
    return {"output_type": "error", "ename": type(exc).__name__, "evalue": str(exc), "traceback": lines}


def run_cells(notebook: dict[str, Any], exclude_tags: set[str]) -> int:
    """Execute the code cells in place (outputs, execution_count); the exit code."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    count = 0
    for index, cell in enumerate(notebook["cells"]):
        if cell.get("cell_type") != "code" or is_excluded(cell, exclude_tags):
            continue
        count += 1
        filename = f"<cell {index}>"
        source = source_of(cell)
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        record: list[tuple[str, str]] = []
        real = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee("stdout", real[0], record), _Tee("stderr", real[1], record)
        error: dict[str, Any] | None = None
        result: dict[str, Any] | None = None
        code = 0
        try:
            body, last = _compile_cell(source, filename)
            exec(body, namespace)
            if last is not None:
                value = eval(last, namespace)
                if value is not None:
                    text = repr(value)
                    real[0].write(text + "\n")  # echoed, but kept as the result, not a stream
                    real[0].flush()
                    result = {
                        "output_type": "execute_result",
                        "execution_count": count,
                        "data": {"text/plain": text},
                        "metadata": {},
                    }
        except SystemExit as exc:
            code = exit_code_of(exc)
            if code:
                error = _error_output(exc)
        except BaseException as exc:
            error = _error_output(exc)
            code = 130 if isinstance(exc, KeyboardInterrupt) else 1
        finally:
            sys.stdout, sys.stderr = real
        outputs = stream_outputs(record)
        if result is not None:
            outputs.append(result)
        if error is not None:
            outputs.append(error)
            sys.stderr.write("".join(error["traceback"]))
            sys.stderr.flush()
        cell["outputs"] = outputs
        cell["execution_count"] = count
        if error is not None or code:
            return code or 1
    return 0


def run_with_kernel(notebook: dict[str, Any], exclude_tags: set[str], cwd: Path) -> int | None:
    """Run with nbclient and a Jupyter kernel when both are importable; None when they are not."""
    try:
        import ipykernel  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
        import nbformat  # type: ignore[import-not-found,unused-ignore]
        from nbclient import NotebookClient  # type: ignore[import-not-found,unused-ignore]
        from nbclient.exceptions import CellExecutionError  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    skip_tag = "ocids-driver-excluded"
    for cell in notebook["cells"]:
        if is_excluded(cell, exclude_tags):
            cell.setdefault("metadata", {}).setdefault("tags", []).append(skip_tag)
    node = nbformat.from_dict(notebook)

    def echo(cell: Any, **_: Any) -> None:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                stream = sys.stderr if output.get("name") == "stderr" else sys.stdout
                stream.write(output.get("text", ""))
                stream.flush()
            elif output.get("output_type") == "execute_result":
                print(output.get("data", {}).get("text/plain", ""), flush=True)
            elif output.get("output_type") == "error":
                # The kernel colours tracebacks for Jupyter; log lines stay plain.
                text = ANSI_COLOURS.sub("", "\n".join(output.get("traceback", [])))
                print(text, file=sys.stderr, flush=True)

    client = NotebookClient(
        node,
        timeout=None,
        kernel_name="python3",
        skip_cells_with_tag=skip_tag,
        resources={"metadata": {"path": str(cwd)}},
        on_cell_executed=lambda cell, **kw: echo(cell),
    )
    code = 0
    try:
        client.execute()
    except CellExecutionError:
        code = 1
    executed = json.loads(nbformat.writes(node))
    for cell in executed["cells"]:
        tags = (cell.get("metadata") or {}).get("tags")
        if tags and skip_tag in tags:
            tags.remove(skip_tag)
            if not tags:
                del cell["metadata"]["tags"]
    notebook.clear()
    notebook.update(executed)
    return code


def run_notebook(path: Path, encoding: str, exclude_tags: set[str], cwd: Path, executed_path: Path) -> int:
    """Execute the notebook at ``path`` and write the executed copy to ``executed_path``, also
    when a cell fails (the error is in that cell's outputs)."""
    notebook = read_notebook(path, encoding)
    try:
        code = run_with_kernel(notebook, exclude_tags, cwd)
        if code is None:
            code = run_cells(notebook, exclude_tags)
    finally:
        write_notebook(notebook, executed_path)
        print(f"ocids-driver: the executed notebook is {executed_path}", file=sys.stderr, flush=True)
    return code
