"""What `make demo` shows at the end: `kubectl get tj,tjr -o wide`, the links from status, each
run's log lines as read back through the OCI Logging search API (the real `oci` SDK against the
emulator), and how to look around."""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ocids_controlplane import Cluster, binary, wait_until
from ocids_controlplane.waiting import WaitTimeout

from . import quickstart, state
from .cli import RULE, shown

SHOW_HEAD, SHOW_TAIL = 4, 6  # lines shown of a long log; the rest is summarised


def log_query(run: dict[str, Any]) -> str | None:
    """The search query the run's status.logs.url carries: what the OCI Console would run."""
    url = ((run.get("status") or {}).get("logs") or {}).get("url")
    if not url:
        return None
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["searchQuery"][0]


def search_logs(endpoint: str, config_file: Path, query: str) -> list[str]:
    import oci

    config = oci.config.from_file(str(config_file), "DEFAULT")
    client = oci.loggingsearch.LogSearchClient(config, service_endpoint=endpoint)
    now = datetime.now(UTC)
    details = oci.loggingsearch.models.SearchLogsDetails(
        time_start=now - timedelta(days=1), time_end=now + timedelta(minutes=5), search_query=query
    )
    messages = []
    for response in oci.pagination.list_call_get_all_results_generator(
        client.search_logs, "response", details, limit=1000
    ):
        for item in response.data.results or []:
            message = (((item.data or {}).get("logContent") or {}).get("data") or {}).get("message")
            if message is not None:
                messages.append(str(message))
    return messages


def run_log_lines(endpoint: str, config_file: Path, run: dict[str, Any], timeout: float = 20) -> list[str]:
    """All lines of a finished run; waits briefly in case the last ones are still being ingested."""
    query = log_query(run)
    if query is None:
        return []
    try:
        return list(
            wait_until(
                lambda: (lines := search_logs(endpoint, config_file, query)) and lines,
                timeout=timeout,
                interval=0.5,
                message=f"log lines for {query!r}",
            )
        )
    except WaitTimeout:
        return []


def abbreviated(lines: list[str]) -> list[str]:
    if len(lines) <= SHOW_HEAD + SHOW_TAIL + 1:
        return lines
    skipped = len(lines) - SHOW_HEAD - SHOW_TAIL
    return [*lines[:SHOW_HEAD], f"... {skipped} more lines ...", *lines[-SHOW_TAIL:]]


def links(job: dict[str, Any] | None, runs: list[dict[str, Any]]) -> list[str]:
    out = []
    if job:
        out.append(f"  TrainingJob {job['metadata']['name']}: {(job.get('status') or {}).get('consoleUrl')}")
    for run in runs:
        status = run.get("status") or {}
        out.append(f"  {run['metadata']['name']}")
        out.append(f"      console: {status.get('consoleUrl')}")
        out.append(f"      logs:    {(status.get('logs') or {}).get('url')}")
    return out


def show(directory: Path, cluster: Cluster, emulator: dict[str, Any], elapsed: float) -> int:
    job, runs = quickstart.objects(cluster)
    ns = state.NAMESPACE
    print(f"\n$ kubectl get tj,tjr -n {ns} -o wide")
    print(cluster.kubectl("get", "tj,tjr", "-n", ns, "-o", "wide").stdout.rstrip())
    print("\nLinks from status (OCI Console; against the emulator they show where a real run would be):")
    print("\n".join(links(job, runs)))

    data_dir = Path(emulator["data_dir"])
    print(
        "\nLog lines of each run, read back through the OCI Logging search API"
        f" (oci.loggingsearch.LogSearchClient.search_logs at {emulator['endpoint']}):"
    )
    failed = []
    for run in runs:
        name, status = run["metadata"]["name"], run.get("status") or {}
        lines = run_log_lines(emulator["endpoint"], data_dir / "config", run)
        print(RULE)
        print(f"{name} ({quickstart.phase(run)}, exit code {status.get('exitCode')}): {len(lines)} lines for")
        print(f"  {log_query(run)}")
        for line in abbreviated(lines):
            print(f"  | {line}")
        if quickstart.phase(run) != "Succeeded":
            failed.append(run)
    print(RULE)
    if note := quickstart.staleness(job, runs):
        print(f"note: {note}")
    _next_steps(directory, cluster, emulator)
    if failed:
        for run in failed:
            status = run.get("status") or {}
            detail = status.get("message") or status.get("lifecycleDetails")
            print(
                f"\nerror: TrainingJobRun {run['metadata']['name']} ended {quickstart.phase(run)}: {detail}"
            )
        print(f"(its log lines are above; operator log: {shown(directory / 'logs' / 'operator.log')})")
        return 1
    print(f"\nmake demo finished in {elapsed:.0f}s: both runs Succeeded.")
    return 0


def _next_steps(directory: Path, cluster: Cluster, emulator: dict[str, Any]) -> None:
    ns = state.NAMESPACE
    print(f"""
Look around (everything keeps running until `make demo-down`):
  eval "$(tools/demo/demo.py env)"      # this shell: KUBECONFIG={cluster.kubeconfig}
                                        #   and kubectl v1.37.2 ({shown(binary("kubectl"))}) first on PATH
  kubectl get tj,tjr -n {ns} -o wide
  kubectl describe tjr logreg-lr-0.5 -n {ns}
  kubectl get events -n {ns}
  kubectl explain trainingjob.spec      # the API, field by field
  tools/demo/demo.py logs logreg-lr-0.5   # a run's log lines through OCI Logging search
  emulator data: {shown(emulator["data_dir"])}/ (runs/<jobRunId>/work/model.json, runs/<jobRunId>/output.log)
  operator log:  {shown(directory / "logs" / "operator.log")}
  emulator log:  {shown(directory / "logs" / "emulator.log")}
New hyperparameters = a new TrainingJobRun (the TrainingJob stays as it is):
  kubectl apply -n {ns} -f - <<'EOF'
  apiVersion: ocids.io/v1alpha1
  kind: TrainingJobRun
  metadata: {{name: logreg-lr-1}}
  spec: {{jobRef: {{name: logreg}}, env: [{{name: LEARNING_RATE, value: "1.0"}}], args: [--epochs, "60"]}}
  EOF
  kubectl get tjr -n {ns} -w
Stop everything: make demo-down""")
