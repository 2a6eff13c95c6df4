"""`kubectl-ocids` (run as `kubectl ocids ...`): the command line.

Exit codes: `logs -f` exits with the run's own exit code (see logs.py); otherwise 0, 1 for an error
(printed as one line naming what to fix), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import inspect
import sys
from collections.abc import Sequence

from ..core.archive import archive_config_map_name, archived_runs
from . import events, logs, open_link, runs
from .errors import CliError
from .kube import Cluster, connect

PROG = "kubectl ocids"


def _common(parser: argparse.ArgumentParser, top: bool) -> None:
    # Accepted before and after the subcommand; below it they must not reset what was given above.
    default = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("cluster")
    group.add_argument(
        "--kubeconfig", default=default, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    group.add_argument("--context", default=default, help="kubeconfig context (default: the current one)")
    group.add_argument(
        "-n", "--namespace", default=default, help="namespace (default: the context's, else default)"
    )


def _operator_namespace(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--operator-namespace",
        help="the operator's namespace (default: $OCIDS_OPERATOR_NAMESPACE, "
        f"else {events.DEFAULT_NAMESPACE})",
    )


def _since(text: str) -> dt.timedelta:
    try:
        return logs.parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of lines (0 or more)")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0.1 <= value <= 600:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0.1 to 600")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Follow ocids.io TrainingJobs and TrainingJobRuns: log lines through OCI Logging, "
        "run tables, console links. OCI access uses the operator's OCIDS_* settings "
        "(OCIDS_AUTH, OCIDS_OCI_CONFIG_FILE, OCIDS_OCI_PROFILE, OCIDS_REGION, OCIDS_LOGGING_ENDPOINT, ...).",
    )
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("logs", help="print (or follow) a run's log lines from OCI Logging")
    p.add_argument(
        "name", metavar="RUN|TRAININGJOB", help="a TrainingJobRun, or a TrainingJob (its newest run)"
    )
    p.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="wait through Pending/Accepted, follow until the run ends, exit with its exit code",
    )
    p.add_argument("--since", type=_since, help="only lines newer than this (30s, 10m, 2h, 1h30m)")
    p.add_argument("--tail", type=_count, help="only the last N lines so far (then follow with -f)")
    p.add_argument(
        "--interval", type=_seconds, default=logs.POLL_SECONDS, help="seconds between polls (default 2)"
    )
    _common(p, top=False)

    p = sub.add_parser("runs", help="table of runs: phase, duration, exit code, differing hyperparameters")
    p.add_argument("job", nargs="?", metavar="TRAININGJOB", help="only this TrainingJob's runs")
    p.add_argument(
        "--archived",
        action="store_true",
        help="the TrainingJob's runs that history limits or TTL removed (its archive ConfigMap)",
    )
    _operator_namespace(p)
    _common(p, top=False)

    p = sub.add_parser("events", help="how the operator learns of run ends: events health, fallback poll")
    _operator_namespace(p)
    _common(p, top=False)

    p = sub.add_parser("open", help="print and open the OCI Console link (or the log search with --logs)")
    p.add_argument("name", metavar="RUN|TRAININGJOB")
    p.add_argument("--logs", action="store_true", help="the log search instead of the console page")
    p.add_argument("--print", dest="print_only", action="store_true", help="print the link, open nothing")
    _common(p, top=False)

    p = sub.add_parser("convert", help="convert another tool's job definition (ads JOB.yaml) to manifests")
    p.add_argument("format", choices=["ads"], help="the source format")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the converter's arguments (e.g. JOB.yaml)")
    return parser


def _convert(fmt: str, argv: list[str]) -> int:
    module = f"ocids_operator.convert.{fmt}"
    try:
        converter = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name not in (module, "ocids_operator.convert"):
            raise
        raise CliError(f"convert {fmt} is not available in this version") from None
    if "prog" in inspect.signature(converter.main).parameters:
        return int(converter.main(argv, prog=f"{PROG} convert {fmt}") or 0)
    return int(converter.main(argv) or 0)


def _archived(cluster: Cluster, job: str | None) -> int:
    if job is None:
        raise CliError("runs --archived needs a TrainingJob: kubectl ocids runs --archived TRAININGJOB", 2)
    data = cluster.get_config_map_data(archive_config_map_name(job))
    records = archived_runs(data or {})
    if not records:
        print(
            f"No archived TrainingJobRuns for TrainingJob {job} in namespace {cluster.namespace}.",
            file=sys.stderr,
        )
        return 0
    sys.stdout.write(runs.render(runs.archived_rows(records)))
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "convert":
        return _convert(args.format, list(args.args))
    cluster = connect(args.kubeconfig, args.context, args.namespace)
    if args.command == "logs":
        from .oci_access import log_search_factory

        return logs.logs_command(
            cluster,
            args.name,
            log_search_factory(),
            follow=args.follow,
            since=args.since,
            tail=args.tail,
            interval=args.interval,
        )
    if args.command == "runs":
        if args.archived:
            return _archived(cluster, args.job)
        listed = runs.select(cluster.list_runs(), args.job)
        if not listed:
            where = f"TrainingJob {args.job}" if args.job else f"namespace {cluster.namespace}"
            print(f"No TrainingJobRuns found for {where}.", file=sys.stderr)
            return 0
        sys.stdout.write(runs.render(runs.rows(listed, dt.datetime.now(dt.UTC))))
        job = cluster.get_job(args.job) if args.job else None
        spent = runs.spend_line(job) if job is not None else None
        if spent:
            sys.stdout.write(spent + "\n")
        # Below the table (scripts read it from the top); nothing when the status cannot be read.
        state = events.state_line(cluster.api.api_client, args.operator_namespace)
        if state:
            sys.stdout.write(state + "\n")
        return 0
    if args.command == "events":
        return events.events_command(cluster.api.api_client, args.operator_namespace)
    return open_link.open_command(cluster, args.name, args.logs, args.print_only)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(argv)
    except CliError as exc:
        print(f"kubectl-ocids: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `kubectl ocids logs RUN | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
