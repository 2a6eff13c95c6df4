"""The gates benchmark's JSON document and table: each mode's figures per run and its difference
from the mode with no gate. Pure (tests/unit/test_bench_gates.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BASE = "none"
# (key, label) of the figures compared across modes.
ROWS: tuple[tuple[str, str], ...] = (
    ("oci_calls_per_run", "OCI calls per run (emulator)"),
    ("kube_writes_per_run", "Kubernetes writes per run"),
    ("kube_events_per_run", "Events posted per run"),
    ("start_delay_p50_s", "start delay p50, s"),
    ("start_delay_p95_s", "start delay p95, s"),
    ("create_delay_p50_s", "create delay p50 (-> OCI accepted), s"),
    ("create_delay_p95_s", "create delay p95, s"),
    ("create_all_s", "apply -> last OCI run created, s"),
    ("cpu_s", "operator CPU, s"),
)
# Where the Kueue mode's start delay goes (whole-second Kubernetes times: each +-1 s).
STEPS: tuple[tuple[str, str], ...] = (
    ("kueue_gate", "run created -> Workload created (operator)"),
    ("kueue_admission", "Workload created -> Admitted (Kueue)"),
    ("kueue_wakeup", "Admitted -> createAttemptedAt (operator)"),
)
# Per-operation and per-resource breakdowns, compared the same way.
BREAKDOWNS = (
    ("oci_calls_by_operation", "OCI calls per run by operation"),
    ("kube_writes_by_verb_resource", "Kubernetes writes per run by verb, resource and code"),
    ("kube_events_by_verb", "Events per run"),
    ("kube_events_by_reason", "Events per run by component and reason (the namespace's, after)"),
)


def difference(mode: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """mode minus base, figure by figure (None where either lacks it), breakdowns key by key."""
    out: dict[str, Any] = {}
    for key, _ in ROWS:
        ours, theirs = mode.get(key), base.get(key)
        out[key] = ours - theirs if ours is not None and theirs is not None else None
    for key, _ in BREAKDOWNS:
        ours_map, theirs_map = mode.get(key) or {}, base.get(key) or {}
        changed = {
            name: ours_map.get(name, 0.0) - theirs_map.get(name, 0.0)
            for name in sorted(ours_map.keys() | theirs_map.keys())
        }
        out[key] = {name: value for name, value in changed.items() if abs(value) >= 0.005}
    return out


def document(results: Mapping[str, Mapping[str, Any]], meta: Mapping[str, Any]) -> dict[str, Any]:
    base = results[BASE]
    return {
        "modes": {name: dict(result) for name, result in results.items()},
        "added": {name: difference(result, base) for name, result in results.items() if name != BASE},
        "n": base["n"],
        "poll_interval_s": base["poll_interval_s"],
        **meta,
    }


def _fmt(value: Any, signed: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, float | int):
        return f"{value:+.2f}" if signed else f"{value:.2f}"
    return str(value)


def table(doc: Mapping[str, Any]) -> str:
    modes, added = doc["modes"], doc["added"]
    names = list(modes)
    lines = [
        f"Gates benchmark: N={doc['n']} TrainingJobRuns per mode over {doc['jobs']} TrainingJobs, "
        f"simulated runs of {doc['run_seconds']:g} s, poll interval {doc['poll_interval_s']:g} s; "
        f"Kueue: {doc['kueue']}",
        "start delay: creationTimestamp (whole seconds, floored: up to +1 s) -> status.createAttemptedAt",
        "",
        f"{'':38}" + "".join(f"{name:>10}" for name in names) + "".join(f"{'+' + n:>10}" for n in added),
    ]
    for key, text in ROWS:
        row = "".join(f"{_fmt(modes[name].get(key)):>10}" for name in names)
        row += "".join(f"{_fmt(added[name].get(key), signed=True):>10}" for name in added)
        lines.append(f"{text:38}{row}")
    for name in names:
        mode = modes[name]
        found = [(text, mode.get(f"{key}_p50_s"), mode.get(f"{key}_p95_s")) for key, text in STEPS]
        if any(p50 is not None for _, p50, _ in found):
            lines.append(f"Start delay of the {name} mode by step, p50 / p95 s:")
            lines.extend(f"  {text:44} {_fmt(p50)} / {_fmt(p95)}" for text, p50, p95 in found)
    for key, text in BREAKDOWNS:
        lines.append(f"{text}:")
        for name in names:
            detail = ", ".join(f"{k}={v:.2f}" for k, v in (modes[name].get(key) or {}).items())
            lines.append(f"  {name:9} {detail or 'none'}")
        for name, diff in added.items():
            detail = ", ".join(f"{k}={v:+.2f}" for k, v in (diff.get(key) or {}).items())
            lines.append(f"  {'+' + name:9} {detail or 'no difference'}")
    return "\n".join(lines)
