"""`ocids-operator orphans [--compartment OCID ...] [--delete] [--output table|json]`: the OCI jobs and
runs this cluster tagged that no TrainingJob or TrainingJobRun owns any more, with their cost so far.

Run it with the operator's own settings (the OCIDS_* environment, its kubeconfig or in-cluster
login): it judges what that operator would (OCIDS_CLUSTER_NAME, OCIDS_NAMESPACES). It only reads,
unless `--delete` is given: then it cancels the active orphan runs, waits for them to end, and
deletes the orphan runs and jobs, a line for each. Retained and kept resources are never touched.

The cluster name is the only thing that tells this cluster's OCI resources from another's: two
clusters left at the default name (`default`) in one tenancy see each other's jobs and runs as
orphans. So `--delete` is refused while the name is `default`, unless `--cluster NAME` names it
on purpose; the report always says which name it judged by.

Exit codes: 0 done (orphans or not), 1 a deletion failed, a compartment could not be listed (the
report covers the others) or Kubernetes could not be read, 2 a bad flag or setting.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ..core.orphans import Finding, ResourceKind, Standing
from ..settings import OperatorSettings, SettingsError, load_settings

DEFAULT_CLUSTER = "default"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ocids-operator orphans",
        description="List the OCI jobs and job runs tagged by this cluster (OCIDS_CLUSTER_NAME) that no "
        "TrainingJob or TrainingJobRun owns, with their cost so far. Nothing is deleted without --delete.",
    )
    parser.add_argument(
        "--compartment",
        action="append",
        dest="compartments",
        help="compartment OCID to look in (repeat; default: the TrainingJobs' compartments, the watched "
        "namespaces' allowed compartments and OCIDS_DEFAULT_ALLOWED_COMPARTMENTS)",
    )
    parser.add_argument(
        "--delete",
        action="store_true",
        help="cancel the active orphan runs, then delete the orphan runs and jobs (never a retained or "
        "kept one)",
    )
    parser.add_argument(
        "--cluster",
        metavar="NAME",
        help="judge by this ocids.io/cluster tag instead of OCIDS_CLUSTER_NAME (needed for --delete "
        "while OCIDS_CLUSTER_NAME is 'default': another cluster left at the default shares the name)",
    )
    parser.add_argument(
        "--include-failed",
        action="store_true",
        help="also count FAILED jobs nothing owns as orphans (kept by default: OCI takes no tag on a "
        "FAILED job, so a deletionPolicy Retain could not be recorded on it)",
    )
    parser.add_argument("--output", "-o", choices=("table", "json"), default="table")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"ocids-operator orphans: {exc}", file=sys.stderr)
        return 2
    if args.delete and not args.cluster and settings.cluster_name == DEFAULT_CLUSTER:
        print(
            f"ocids-operator orphans: --delete refused: OCIDS_CLUSTER_NAME is '{DEFAULT_CLUSTER}', and any "
            "other cluster left at the default in this tenancy tags its jobs and runs the same: they "
            "would be deleted as orphans. Give every cluster its own OCIDS_CLUSTER_NAME, or pass "
            f"--cluster {DEFAULT_CLUSTER} if this is the only one.",
            file=sys.stderr,
        )
        return 2
    from ..__main__ import check_oci_config

    problem = check_oci_config(settings)
    if problem:
        print(f"ocids-operator orphans: {problem}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(settings, args, out))
    except _Unreadable as exc:
        print(f"ocids-operator orphans: {exc}", file=sys.stderr)
        return 1


class _Unreadable(Exception):
    pass


async def _run(settings: OperatorSettings, args: argparse.Namespace, out: TextIO) -> int:
    import aiohttp
    import oci

    from ..__main__ import build_runtime
    from ..adapters.kube import KubeError
    from ..workflows import orphans, run_pricing

    cluster = args.cluster or settings.cluster_name

    try:
        rt = build_runtime(settings)
    except Exception as exc:
        raise _Unreadable(f"cannot reach Kubernetes: {exc}") from None
    try:
        try:
            table = await run_pricing.load_price_table(rt)
            scope = orphans.scope_of(rt, cluster, args.include_failed)
            found = await orphans.scan(rt, args.compartments, table=table, scope=scope)
        except oci.exceptions.ServiceError as exc:
            raise _Unreadable(f"OCI answered {exc.status} {exc.code}: {exc.message}") from None
        except (KubeError, aiohttp.ClientError, OSError) as exc:
            raise _Unreadable(f"cannot list TrainingJobs and TrainingJobRuns: {exc}") from None
        if args.output == "json":
            json.dump(_as_json(cluster, found), out, indent=2)
            out.write("\n")
        else:
            _table(cluster, found, out, args.delete)
        complete = 0 if not found.unreadable else 1  # a compartment left out: say so by the exit code
        if not args.delete or not (found.report.orphan_runs or found.report.orphan_jobs):
            return complete

        def say(line: str) -> None:
            print(line, file=out if args.output == "table" else sys.stderr, flush=True)

        failed = await orphans.delete(rt, found, say, settings.run_cancel_timeout_seconds)
        return 1 if failed else complete
    finally:
        await rt.kube.close()


COLUMNS = ("STANDING", "KIND", "OCID", "MADE FOR", "STATE", "STARTED", "COST")


def _table(cluster: str, found: Any, out: TextIO, deleting: bool) -> None:
    report = found.report
    where = ", ".join(found.compartments) or "(none: no TrainingJob names one; pass --compartment)"
    print(
        f"cluster {cluster} (judged by its tag ocids.io/cluster={cluster}); compartments: {where}", file=out
    )
    if cluster == DEFAULT_CLUSTER:
        print(
            f"note: '{DEFAULT_CLUSTER}' is the default cluster name: another cluster left at it in this "
            "tenancy tags the same, and its jobs and runs show here as orphans",
            file=out,
        )
    if not report.findings:
        print("no orphans: every OCI job and run this cluster tagged has its owner", file=out)
        _notes(found, out)
        return
    rows = [COLUMNS] + [_row(found, f) for f in report.findings]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out
        )
    for finding in report.findings:
        print(f"  {finding.id}: {finding.why}", file=out)
    runs, jobs = report.orphan_runs, report.orphan_jobs
    currency = found.currency or ""
    cost = f"; cost so far {_money(found.orphan_cost())} {currency} (list prices)" if found.table else ""
    print(f"{len(jobs)} orphan job(s), {len(runs)} orphan run(s){cost}", file=out)
    kept = [f for f in report.findings if f.standing is not Standing.ORPHAN]
    if kept:
        print(f"{len(kept)} retained or kept: reported only, never deleted", file=out)
    _notes(found, out)
    if (runs or jobs) and not deleting:
        print("nothing deleted: run again with --delete to remove the orphans", file=out)


def _notes(found: Any, out: TextIO) -> None:
    for line in found.unreadable_lines():
        print(line, file=out)
    if found.price_note:
        print(found.price_note, file=out)
    if found.truncated:
        print(f"listing cut short in {', '.join(found.truncated)}", file=out)


def _row(found: Any, finding: Finding) -> tuple[str, ...]:
    cost = found.cost(finding)
    shown = "-" if cost is None else f"{_money(cost)} {found.currency}"
    started = _time(finding.time_started) if finding.kind is ResourceKind.RUN else ""
    return (
        finding.standing.value,
        finding.kind.value,
        finding.id,
        finding.owner,
        finding.state,
        started,
        shown if finding.standing is Standing.ORPHAN or finding.kind is ResourceKind.RUN else "-",
    )


def _money(amount: float) -> str:
    """Cents; a run of a few seconds costs a fraction of one, which is not nothing."""
    return "<0.01" if 0 < amount < 0.005 else f"{amount:.2f}"


def _time(value: datetime.datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else "-"


def _as_json(cluster: str, found: Any) -> dict[str, Any]:
    report = found.report
    return {
        "cluster": cluster,
        "compartments": found.compartments,
        "currency": found.currency,
        "orphanJobs": len(report.orphan_jobs),
        "orphanRuns": len(report.orphan_runs),
        "orphanCost": round(found.orphan_cost(), 4) if found.table else None,
        "priceNote": found.price_note,
        "truncated": found.truncated,
        "unreadable": found.unreadable_lines(),
        "items": [
            {
                "kind": f.kind.value,
                "id": f.id,
                "standing": f.standing.value,
                "state": f.state,
                "compartmentId": f.compartment_id,
                "namespace": f.namespace,
                "name": f.name,
                "uid": f.uid,
                "jobId": f.job_id,
                "timeStarted": _time(f.time_started) if f.time_started else None,
                "timeFinished": _time(f.time_finished) if f.time_finished else None,
                "pricePerHour": found.prices.get(f.id),
                "cost": found.cost(f),
                "why": f.why,
            }
            for f in report.findings
        ],
    }
