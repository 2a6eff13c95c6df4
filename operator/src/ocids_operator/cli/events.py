"""`kubectl ocids events`: how the operator learns of run ends now (the ConfigMap its leader writes,
workflows/events_status.py), and the `events: <state>` line `kubectl ocids runs` prints."""

from __future__ import annotations

import os
from typing import Any

from .errors import CliError

DEFAULT_NAMESPACE = "ocids-system"  # where the chart's README installs the operator
DEFAULT_LEASE = "ocids-operator"
FIELDS = (
    ("state", "state"),
    ("since", "since"),
    ("reason", "reason"),
    ("source", "source"),
    ("fallbackPollSeconds", "fallback poll (s)"),
    ("streamId", "stream"),
)


def operator_namespace(given: str | None) -> str:
    return given or os.environ.get("OCIDS_OPERATOR_NAMESPACE") or DEFAULT_NAMESPACE


def config_map_name() -> str:
    return f"{os.environ.get('OCIDS_LEADER_ELECTION_LEASE_NAME') or DEFAULT_LEASE}-events"


def read(api_client: Any, namespace: str) -> dict[str, str] | None:
    """The ConfigMap's data; None when there is none. Raises CliError when it cannot be read."""
    from kubernetes.client import CoreV1Api
    from kubernetes.client.rest import ApiException

    name = config_map_name()
    try:
        found = CoreV1Api(api_client).read_namespaced_config_map(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise CliError(
            f"cannot read ConfigMap {namespace}/{name}: {exc.status} {exc.reason or ''}".strip(),
            retryable=exc.status == 429 or (exc.status or 0) >= 500,
        ) from None
    except OSError as exc:
        raise CliError(f"cannot reach the Kubernetes API server: {exc}", retryable=True) from None
    return dict(found.data or {})


def render(data: dict[str, str]) -> str:
    width = max(len(label) for _, label in FIELDS)
    return "".join(f"{label + ':':<{width + 2}}{data[key]}\n" for key, label in FIELDS if data.get(key))


def events_command(api_client: Any, namespace: str | None) -> int:
    where = operator_namespace(namespace)
    data = read(api_client, where)
    if data is None:
        print(
            f"No events status in namespace {where} (ConfigMap {config_map_name()}): the operator has not "
            "started with events (OCIDS_EVENTS_STREAM_ID or OCIDS_NOTIFICATIONS_PORT), or runs in another "
            "namespace (--operator-namespace, OCIDS_OPERATOR_NAMESPACE). Runs are polled."
        )
        return 0
    print(render(data), end="")
    return 0


def state_line(api_client: Any, namespace: str | None) -> str | None:
    """`events: healthy` when the status is readable; None (say nothing) otherwise."""
    try:
        data = read(api_client, operator_namespace(namespace))
    except CliError:
        return None
    state = (data or {}).get("state")
    return f"events: {state.lower()}" if state else None
