"""Git repositories for tests, made with the git CLI: a work tree and a bare repository to fetch from.

Shared by the unit tests of Git sources and the operator's end-to-end ones (tests/conftest.py puts
this folder on sys.path)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

from ocids_controlplane.waiting import wait_until

HAVE_GIT = shutil.which("git") is not None
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True)
    return done.stdout.strip()


class Repository:
    """`commit` changes the work tree; `publish` pushes main and the tags to the bare repository."""

    def __init__(self, root: Path) -> None:
        self.work = root / "work"
        self.bare = root / "repo.git"
        self.work.mkdir(parents=True)
        git(self.work, "init", "-q", "-b", "main")
        self.url = f"file://{self.bare}"

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        return git(self.work, "rev-parse", "HEAD")

    def publish(self) -> None:
        if not self.bare.exists():
            git(self.work, "clone", "-q", "--bare", str(self.work), str(self.bare))
            git(self.work, "remote", "add", "origin", str(self.bare))
        git(self.work, "push", "-q", "--force", "--tags", "origin", "main")


@contextlib.contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    """`git daemon` on loopback serving the repositories under `base`: yields git://127.0.0.1:<port>."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--listen=127.0.0.1",
            f"--port={port}",
            f"--base-path={base}",
            "--export-all",
            "--reuseaddr",
            str(base),
        ],
        env=GIT_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def listening() -> bool:
            with socket.socket() as client:
                return client.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, timeout=10, interval=0.05, message="git daemon listening")
        yield f"git://127.0.0.1:{port}"
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)
