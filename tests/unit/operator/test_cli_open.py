"""`kubectl ocids open`: which link a name means, printed always, a browser only where one can show."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from ocids_operator.cli import open_link
from ocids_operator.cli.errors import CliError

RUN = {
    "metadata": {"name": "r1", "creationTimestamp": "2026-12-07T12:00:00Z"},
    "spec": {"jobRef": {"name": "j1"}},
    "status": {
        "phase": "InProgress",
        "consoleUrl": "https://console/run",
        "logs": {"url": "https://logs/run"},
    },
}
JOB = {"metadata": {"name": "j1"}, "status": {"consoleUrl": "https://console/job"}}


@dataclass
class FakeCluster:
    runs: dict[str, Any] = field(default_factory=lambda: {"r1": RUN})
    jobs: dict[str, Any] = field(default_factory=lambda: {"j1": JOB})
    namespace: str = "ml"

    def get_run(self, name: str) -> Any:
        return self.runs.get(name)

    def get_job(self, name: str) -> Any:
        return self.jobs.get(name)

    def list_runs(self) -> list[Any]:
        return list(self.runs.values())


@pytest.mark.parametrize(
    ("name", "logs", "url"),
    [
        ("r1", False, "https://console/run"),
        ("r1", True, "https://logs/run"),
        ("j1", False, "https://console/job"),  # the TrainingJob's own page
        ("j1", True, "https://logs/run"),  # its newest run's log search
    ],
)
def test_which_link(name: str, logs: bool, url: str) -> None:
    assert open_link.link(FakeCluster(), name, logs) == url  # type: ignore[arg-type]


def test_a_run_without_a_link_yet_says_why() -> None:
    pending = {**RUN, "status": {"phase": "Pending", "message": "TrainingJob j1 does not exist"}}
    with pytest.raises(
        CliError, match=r"r1 has no status.logs.url yet \(Pending: TrainingJob j1 does not exist"
    ):
        open_link.link(FakeCluster(runs={"r1": pending}), "r1", True)  # type: ignore[arg-type]
    with pytest.raises(CliError, match="no TrainingJobRun or TrainingJob named nope in namespace ml"):
        open_link.link(FakeCluster(), "nope", False)  # type: ignore[arg-type]


def test_headless_prints_and_starts_no_browser(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(open_link.sys, "platform", "linux")
    opened: list[str] = []
    monkeypatch.setattr(open_link.webbrowser, "open", opened.append)
    assert open_link.open_command(FakeCluster(), "r1", False, print_only=False) == 0  # type: ignore[arg-type]
    assert capsys.readouterr().out == "https://console/run\n" and opened == []
    monkeypatch.setenv("DISPLAY", ":0")
    open_link.open_command(FakeCluster(), "r1", False, print_only=False)  # type: ignore[arg-type]
    assert opened == ["https://console/run"]
    open_link.open_command(FakeCluster(), "r1", False, print_only=True)  # type: ignore[arg-type]
    assert opened == ["https://console/run"]
