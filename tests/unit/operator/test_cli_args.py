"""`kubectl ocids` command line: subcommands, cluster flags on either side, bad values named."""

from __future__ import annotations

import datetime as dt
import sys
import types

import pytest
from ocids_operator.cli import main as cli


def parse(*argv: str) -> object:
    return cli.build_parser().parse_args(list(argv))


def test_logs_flags() -> None:
    args = parse("logs", "run-1", "-f", "--since", "10m", "--tail", "20", "-n", "ml")
    assert (args.command, args.name, args.follow, args.tail, args.namespace) == (
        "logs",
        "run-1",
        True,
        20,
        "ml",
    )
    assert args.since == dt.timedelta(minutes=10)
    assert args.interval == 2.0


def test_cluster_flags_before_the_subcommand_are_kept() -> None:
    args = parse("-n", "ml", "--context", "prod", "--kubeconfig", "/k", "runs")
    assert (args.namespace, args.context, args.kubeconfig, args.job) == ("ml", "prod", "/k", None)
    args = parse("runs", "logreg", "--namespace", "team")
    assert (args.namespace, args.job) == ("team", "logreg")


def test_open_flags() -> None:
    args = parse("open", "logreg", "--logs", "--print")
    assert (args.command, args.name, args.logs, args.print_only) == ("open", "logreg", True, True)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["logs", "r", "--since", "ten"], "--since"),
        (["logs", "r", "--tail", "-3"], "--tail"),
        (["logs", "r", "--interval", "0"], "--interval"),
        (["logs"], "RUN|TRAININGJOB"),
        (["frobnicate"], "COMMAND"),
    ],
)
def test_bad_usage_exits_2_naming_the_flag(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert named in capsys.readouterr().err


def test_convert_hands_its_arguments_to_the_converter(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    fake = types.ModuleType("ocids_operator.convert.ads")
    fake.main = lambda argv, prog="": seen.append((argv, prog)) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ocids_operator.convert.ads", fake)
    assert cli.main(["convert", "ads", "job.yaml", "--name", "x"]) == 0
    assert seen == [(["job.yaml", "--name", "x"], "kubectl ocids convert ads")]


def test_errors_are_one_line_with_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    assert cli.main(["runs", "--kubeconfig", "/nonexistent/kubeconfig"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kubectl-ocids: cannot load the kubeconfig") and err.count("\n") == 1
