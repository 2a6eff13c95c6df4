"""The scale benchmark's JSON document and its table: ours against the naive baseline."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scale_stats import ratio

# The keys issue 10 asks for, at the top level and again under "baseline".
REQUIRED_KEYS = (
    "n",
    "create_all_s",
    "succeeded_all_s",
    "status_lag_p50_s",
    "status_lag_p95_s",
    "oci_calls_per_run",
    "kube_writes_per_run",
    "peak_rss_mb",
    "cpu_s",
    "poll_interval_s",
)

# (key, label, target as text, check) for the rows of the table.
ROWS: tuple[tuple[str, str], ...] = (
    ("apply_s", "apply of all runs, s"),
    ("create_all_s", "apply -> last OCI run created, s"),
    ("create_after_apply_s", "apply done -> last OCI run created, s"),
    ("succeeded_all_s", "apply -> last status Succeeded, s"),
    ("status_lag_p50_s", "status lag p50, s"),
    ("status_lag_p95_s", "status lag p95, s"),
    ("status_lag_max_s", "status lag max, s"),
    ("start_delay_p50_s", "start delay p50 (-> attempted), s"),
    ("start_delay_p95_s", "start delay p95, s"),
    ("oci_calls_per_run", "OCI calls per run (emulator)"),
    ("operator_oci_calls_per_run", "OCI calls per run (operator)"),
    ("kube_writes_per_run", "Kubernetes writes per run"),
    ("kube_events_per_run", "Events posted per run"),
    ("log_searches_per_cycle", "Logging searches per poll cycle"),
    ("trials_per_minute", "sweep trials created per minute"),
    ("peak_rss_mb", "operator peak RSS, MB"),
    ("cpu_s", "operator CPU, s"),
)


def targets(result: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Issue 10's targets, each with whether this result meets it."""
    poll = float(result["poll_interval_s"])
    checks = {
        "status_lag_p95_s": ("<= 1.5 poll intervals", 1.5 * poll),
        "oci_calls_per_run": ("<= 2", 2.0),
        "kube_writes_per_run": ("<= 6 (Events apart)", 6.0),
        "peak_rss_mb": ("<= 150", 150.0),
        "create_all_s": ("<= 20", 20.0),
    }
    out = {}
    for key, (text, limit) in checks.items():
        value = result.get(key)
        out[key] = {"target": text, "limit": limit, "met": value is not None and value <= limit}
    return out


def document(
    ours: Mapping[str, Any], baseline: Mapping[str, Any] | None, meta: Mapping[str, Any]
) -> dict[str, Any]:
    doc: dict[str, Any] = {**ours, "baseline": dict(baseline) if baseline is not None else None}
    doc["targets"] = targets(ours)
    doc["ratios"] = (
        {key: ratio(ours.get(key), baseline.get(key)) for key, _ in ROWS} if baseline is not None else None
    )
    doc.update(meta)
    return doc


def write(doc: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def table(doc: Mapping[str, Any]) -> str:
    baseline = doc.get("baseline")
    checks = doc["targets"]
    lines = [
        f"Scale benchmark: N={doc['n']} TrainingJobRuns over {doc['jobs']} TrainingJobs "
        + (f"(the trials of {doc['sweeps']} TrainingJobSweeps) " if doc.get("sweeps") else "")
        + f"(logging {doc.get('logging', 'disabled')}), "
        f"simulated runs of {doc['run_seconds']:g} s, poll interval {doc['poll_interval_s']:g} s",
        f"load average (1/5/15 min) before: {doc['load_before']}, after: {doc['load_after']}; "
        f"{doc['cpus']} CPUs shared with the API server, etcd, the emulator and this script",
        "",
        f"{'':36} {'ours':>10} {'baseline':>10} {'ratio':>7}   target",
    ]
    for key, text in ROWS:
        base = baseline.get(key) if baseline else None
        r = (doc.get("ratios") or {}).get(key)
        check = checks.get(key)
        target = f"{check['target']} {'met' if check['met'] else 'MISSED'}" if check else ""
        lines.append(
            f"{text:36} {_fmt(doc.get(key)):>10} {_fmt(base):>10} "
            f"{(f'{r:.1f}x' if r is not None else '-'):>7}   {target}"
        )
    lines.append("")
    for name, result in (("ours", doc), ("baseline", baseline)):
        if result and result.get("other_cpu_s"):
            detail = ", ".join(f"{k}={v:g}" for k, v in result["other_cpu_s"].items())
            lines.append(f"CPU seconds of the other processes over the same time ({name}): {detail}")
    lines.append("OCI calls per run by operation (emulator's count):")
    for name, result in (("ours", doc), ("baseline", baseline)):
        if result:
            detail = ", ".join(f"{k}={v:.2f}" for k, v in result["oci_calls_by_operation"].items())
            lines.append(f"  {name:9} {detail}")
    lines.append("Kubernetes writes per run by verb, resource and code (apiserver_request_total):")
    for name, result in (("ours", doc), ("baseline", baseline)):
        if result:
            detail = ", ".join(f"{k}={v:.2f}" for k, v in result["kube_writes_by_verb_resource"].items())
            lines.append(f"  {name:9} {detail}")
            events = ", ".join(f"{k}={v:.2f}" for k, v in result["kube_events_by_verb"].items())
            lines.append(f"  {'':9} Events: {events or 'none'}")
    return "\n".join(lines)
