"""Python mode: the driver imports the job's code and calls its entry function (ADS PythonRuntime)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from driver_support import command, driver_env, run_driver, unpack
from ocids_controlplane.waiting import wait_until

TRAIN = (
    "import os\n"
    "def main(*args, **kwargs):\n"
    "    print('called', args, sorted(kwargs.items()), os.getcwd())\n"
    "    return {'accuracy': 0.9}\n"
    "def quiet():\n"
    "    print('quiet')\n"
    "def broken():\n"
    "    raise ValueError('bad input')\n"
    "def leave():\n"
    "    raise SystemExit(5)\n"
)


def test_function_gets_positional_and_keyword_arguments_and_its_result_is_printed(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"train.py": TRAIN})
    done = run_driver(
        root,
        "data.csv",
        "--epochs",
        "3",
        "--lr",
        "0.1",
        MODE="python",
        ENTRYPOINT="train.py",
        FUNCTION="main",
    )
    assert done.returncode == 0, done.stderr
    cwd = root / "code"
    assert (
        done.stdout == f"called ('data.csv',) [('epochs', '3'), ('lr', '0.1')] {cwd}\n{{'accuracy': 0.9}}\n"
    )


def test_none_result_prints_nothing(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"train.py": TRAIN})
    done = run_driver(root, MODE="python", ENTRYPOINT="train.py", FUNCTION="quiet")
    assert (done.returncode, done.stdout) == (0, "quiet\n")


def test_module_found_through_python_path_and_working_dir_relative_to_code(tmp_path: Path) -> None:
    root = unpack(
        tmp_path,
        {
            "src/pkg/__init__.py": "",
            "src/pkg/train.py": "from pkg.helpers import twice\nimport os\n"
            "def run(n):\n    return f'{twice(int(n))} in {os.path.basename(os.getcwd())}'\n",
            "src/pkg/helpers.py": "def twice(n):\n    return 2 * n\n",
            "data/.keep": "",
        },
    )
    done = run_driver(
        root, "21", MODE="python", MODULE="pkg.train", FUNCTION="run", PYTHON_PATH="src", WORKING_DIR="data"
    )
    assert (done.returncode, done.stdout) == (0, "42 in data\n"), done.stderr


def test_code_dir_is_importable_and_the_drivers_modules_are_not(tmp_path: Path) -> None:
    """The job's own ``args.py`` is the one imported, and the driver's modules (``notebook``,
    ``runner``, ...) never shadow installed packages of the same name."""
    train = (
        "import args, importlib.util\n"
        "def main():\n"
        "    return args.WHO, importlib.util.find_spec('runner'), importlib.util.find_spec('oci_clients')\n"
    )
    root = unpack(tmp_path, {"args.py": "WHO = 'user'\n", "train.py": train})
    done = run_driver(root, MODE="python", ENTRYPOINT="train.py", FUNCTION="main")
    assert (done.returncode, done.stdout) == (0, "('user', None, None)\n"), done.stderr


def test_exception_prints_the_traceback_and_exits_1(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"train.py": TRAIN})
    done = run_driver(root, MODE="python", ENTRYPOINT="train.py", FUNCTION="broken")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "ValueError: bad input" in done.stderr


def test_system_exit_code_is_the_runs(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"train.py": TRAIN})
    done = run_driver(root, MODE="python", ENTRYPOINT="train.py", FUNCTION="leave")
    assert done.returncode == 5


def test_missing_function_names_the_variable(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"train.py": TRAIN})
    done = run_driver(root, MODE="python", ENTRYPOINT="train.py", FUNCTION="fit")
    assert done.returncode == 1
    assert "OCIDS_DRIVER_FUNCTION 'fit' is not a function of" in done.stderr


def test_without_a_function_the_file_runs_as_main_with_the_arguments(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"train.py": "import sys\nif __name__ == '__main__':\n    print(sys.argv[1:])\n"})
    done = run_driver(root, "--lr", "1", MODE="python", ENTRYPOINT="train.py")
    assert (done.returncode, done.stdout) == (0, "['--lr', '1']\n"), done.stderr


def test_sigterm_ends_the_function_and_the_outputs_are_still_uploaded(tmp_path: Path) -> None:
    """A cancel during an in-process run: the run ends with 143 (as a shell reports SIGTERM) after
    the driver has tried to upload the outputs (here it cannot: no OCI, which it says)."""
    train = (
        "import os, pathlib, time\n"
        "def main():\n"
        "    pathlib.Path(os.environ['OCIDS_DRIVER_OUTPUT_DIR'], 'checkpoint').touch()\n"
        "    pathlib.Path('ready').touch()\n"
        "    time.sleep(60)\n"
    )
    root = unpack(tmp_path, {"train.py": train})
    env = driver_env(MODE="python", ENTRYPOINT="train.py", FUNCTION="main", OUTPUT_URI="oci://b@ns/p/")
    driver = subprocess.Popen(command(root), cwd=root, env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(
            lambda: (root / "code" / "ready").exists(), timeout=20, interval=0.05, message="function start"
        )
        driver.send_signal(signal.SIGTERM)
        _, err = driver.communicate(timeout=20)
    finally:
        driver.kill()
    assert driver.returncode == 143
    assert "uploading the outputs to oci://b@ns/p/ failed" in err
