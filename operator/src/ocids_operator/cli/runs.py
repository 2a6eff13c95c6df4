"""`kubectl ocids runs [JOB]`: a table of runs, and the hyperparameters that set them apart.
`kubectl ocids runs --archived JOB`: the same for the runs history limits and TTL removed, from
the TrainingJob's archive ConfigMap (with their metrics' last values).

Columns NAME, JOB, PHASE, DURATION, EXIT, then COST when any run has one (status.cost: OCI's
actual cost marked `*` (final, or above the estimate), else the price table's estimate; a running
run's cost so far, its price per hour times the time it has run, marked `~`) with a TOTAL line,
then one per hyperparameter whose value differs between the runs listed: ARGS (the run's args
joined; `-` where the run keeps its TrainingJob's) and each env var of the run specs by name (`-`
where a run does not set it). A value every run shares says nothing about why they differ, so it
is left out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from ..core.cost import billed_seconds_of, cost_of, recorded_cost, running_amount
from ..core.phases import TERMINAL_RUN_PHASES
from ..core.run_status import human_duration
from ..core.times import parse_time
from .kube import Obj, created

FIXED = ("NAME", "JOB", "PHASE", "DURATION", "EXIT")
ARCHIVED_FIXED = ("NAME", "PHASE", "FINISHED", "DURATION", "EXIT")
UNSET = "-"
GAP = "   "


def _env_value(var: dict[str, Any]) -> str:
    """An env var as a run spec shows it; a reference by what it names, never a resolved value."""
    if "value" in var:
        return str(var["value"])
    source = var.get("valueFrom") or {}
    for kind, label in (("secretKeyRef", "secret"), ("configMapKeyRef", "configmap")):
        ref = source.get(kind)
        if isinstance(ref, dict):
            return f"<{label} {ref.get('name')}/{ref.get('key')}>"
    vault = source.get("vaultSecretRef")
    if isinstance(vault, dict):
        return f"<vault {vault.get('secretId')}>"
    return UNSET


def hyperparameters(run: Obj) -> dict[str, str]:
    """The run's own choices: ARGS and its env vars by name (column header -> value)."""
    spec = run.get("spec") or {}
    args = spec.get("args")
    params = {"ARGS": " ".join(str(a) for a in args) if args is not None else UNSET}
    for var in spec.get("env") or []:
        name = str(var.get("name"))
        params[_column(name)] = _env_value(var)
    return params


def differing(runs: Sequence[Obj]) -> list[str]:
    """Hyperparameter columns whose value is not the same in every run, in first-seen order."""
    return _differing([hyperparameters(run) for run in runs])


def _differing(params: Sequence[dict[str, str]]) -> list[str]:
    names: list[str] = []
    for p in params:
        names += [name for name in p if name not in names]
    return [name for name in names if len({p.get(name, UNSET) for p in params}) > 1]


def _column(name: str) -> str:
    return name if name not in FIXED and name != "ARGS" else f"env:{name}"


def archived_parameters(record: Obj) -> dict[str, str]:
    """An archive record's parameters as `hyperparameters` shows a run's."""
    params = record.get("parameters") or {}
    args = params.get("args")
    shown = {"ARGS": " ".join(str(a) for a in args) if args is not None else UNSET}
    for name, value in (params.get("env") or {}).items():
        shown[_column(str(name))] = str(value)
    return shown


def archived_rows(records: Sequence[Obj]) -> list[list[str]]:
    """The archive as a table, header first, oldest first: the fixed columns, one per metric (its
    last value), then the hyperparameters that differ."""
    metrics: list[str] = []
    for record in records:
        metrics += [name for name in record.get("metrics") or {} if name not in metrics]
    params = [archived_parameters(record) for record in records]
    extra = _differing(params)
    table = [[*ARCHIVED_FIXED, *metrics, *extra]]
    for record, shown in zip(records, params, strict=True):
        values = record.get("metrics") or {}
        table.append(
            [
                str(record.get("name") or UNSET),
                str(record.get("phase") or UNSET),
                str(record.get("timeFinished") or UNSET),
                str(record.get("duration") or UNSET),
                UNSET if record.get("exitCode") is None else str(record["exitCode"]),
                *(_metric(values.get(name)) for name in metrics),
                *(shown.get(name, UNSET) for name in extra),
            ]
        )
    return table


def _metric(value: object) -> str:
    if value is None:
        return UNSET
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _duration(status: Obj, now: dt.datetime) -> str:
    if status.get("duration"):
        return str(status["duration"])
    started = parse_time(status.get("timeStarted"))
    if started is not None and status.get("phase") not in TERMINAL_RUN_PHASES:
        return human_duration(max(0.0, (now - started).total_seconds()))  # still running
    return UNSET


def run_cost(status: Obj, now: dt.datetime) -> tuple[float, str | None, str] | None:
    """(amount, currency, mark) of a run: `*` OCI's actual cost, `~` a run not ended yet's cost so
    far (its ended attempts' and its current one's price per hour times the time it has run), ""
    the price table's estimate of an ended run; None when it has no price."""
    found = recorded_cost(status)
    if found is not None:
        return found[0], found[1], "*" if found[2] else ""
    estimate = (status.get("cost") or {}).get("estimate") or {}
    price = (estimate.get("basis") or {}).get("pricePerHour")
    if status.get("phase") in TERMINAL_RUN_PHASES or price is None:
        return None
    attempts = status.get("attempts") or []
    so_far = running_amount(estimate, parse_time(status.get("timeStarted")), now)
    if so_far is None and not attempts:
        return None
    earlier = cost_of(float(price), billed_seconds_of({"attempts": attempts})) if attempts else 0.0
    return (so_far or 0.0) + earlier, estimate.get("currency"), "~"


def _money(amount: float) -> str:
    return f"{amount:.2f}"


def _shown(cost: tuple[float, str | None, str] | None) -> str:
    if cost is None:
        return UNSET
    amount, _, mark = cost
    return f"~{_money(amount)}" if mark == "~" else f"{_money(amount)}{mark}"


def rows(runs: Sequence[Obj], now: dt.datetime) -> list[list[str]]:
    """The table, header first; runs oldest first; a TOTAL line last when runs have a cost."""
    ordered = sorted(runs, key=created)
    extra = differing(ordered)
    costs = [run_cost(run.get("status") or {}, now) for run in ordered]
    currencies = sorted({c[1] for c in costs if c is not None and c[1]})
    shows_cost = any(c is not None for c in costs)
    cost_header = [f"COST({'/'.join(currencies)})" if currencies else "COST"] if shows_cost else []
    table = [[*FIXED, *cost_header, *extra]]
    for run, cost in zip(ordered, costs, strict=True):
        status = run.get("status") or {}
        params = hyperparameters(run)
        exit_code = status.get("exitCode")
        table.append(
            [
                str((run.get("metadata") or {}).get("name")),
                str(((run.get("spec") or {}).get("jobRef") or {}).get("name", UNSET)),
                str(status.get("phase") or UNSET),
                _duration(status, now),
                UNSET if exit_code is None else str(exit_code),
                *([_shown(cost)] if shows_cost else []),
                *(params.get(name, UNSET) for name in extra),
            ]
        )
    if shows_cost:
        table.append(
            ["TOTAL", "", "", "", "", _total([c for c in costs if c is not None]), *("" for _ in extra)]
        )
    return table


def _total(costs: Sequence[tuple[float, str | None, str]]) -> str:
    """The sum of the runs' costs; one sum per currency when they differ (never added together)."""
    mark = "~" if any(c[2] == "~" for c in costs) else ""
    currencies = list(dict.fromkeys(c[1] or "" for c in costs))
    if len(currencies) == 1:
        return mark + _money(sum(c[0] for c in costs))
    sums = [f"{_money(sum(c[0] for c in costs if (c[1] or '') == cur))} {cur or '?'}" for cur in currencies]
    return mark + " + ".join(sums)


def spend_line(job: Obj) -> str | None:
    """The TrainingJob's status.spend in words, or None when it has none yet."""
    spend = (job.get("status") or {}).get("spend") or {}
    if spend.get("total") is None:
        return None
    currency = spend.get("currency") or ""
    name = (job.get("metadata") or {}).get("name")
    total, month = _money(float(spend["total"])), _money(float(spend.get("month") or 0))
    return (
        f"TrainingJob {name} spent {total} {currency} on {spend.get('runs', 0)} ended runs, "
        f"{month} {currency} of it in {str(spend.get('monthStart') or '')[:7]} "
        "(OCI's actual cost where known, else the price table's estimate; archived runs included)"
    )


def render(table: list[list[str]]) -> str:
    """kubectl's plain columns: left-aligned, three spaces apart."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = [GAP.join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    return "\n".join(lines) + "\n"


def select(runs: Sequence[Obj], job: str | None) -> list[Obj]:
    if job is None:
        return list(runs)
    return [run for run in runs if ((run.get("spec") or {}).get("jobRef") or {}).get("name") == job]
