"""The scale benchmark's OCI Events wiring (--events): a stream and an Events rule that sends the
bench compartments' job-run events to it, made in the emulator the way a tenancy admin would, and
the operator's settings that read it.

One rule in the tenancy root covers every bench compartment (OCI: a rule matches its compartment's
events and its subcompartments'), its condition naming the compartments. Made with the oci SDK
directly: `ocids-operator events setup --create` (which makes the same with the operator's
settings) can take its place here once it exists.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from ocids_controlplane.waiting import wait_until

PREFIX = "com.oraclecloud.datascience."
# Every job-run event type: the ends get a confirming read, the others show the stream flows.
RUN_EVENT_TYPES = tuple(
    PREFIX + t
    for t in (
        "createjobrun.begin",
        "createjobrun.end",
        "updatejobrun",
        "canceljobrun.begin",
        "canceljobrun.end",
        "succeededjobrun",
        "failedjobrun",
        "deletejobrun.begin",
        "deletejobrun.end",
    )
)
# One partition: the fewest reads (the consumer reads each partition on its own). N=1000 runs make
# a few thousand events, well within one partition's 1 MB/s.
PARTITIONS = 1
STATUS_CONFIG_MAP = "ocids-operator-events"


def rule_condition(compartments: Sequence[str]) -> str:
    """The rule's condition: the job-run event types, in these compartments."""
    return json.dumps({"eventType": list(RUN_EVENT_TYPES), "data": {"compartmentId": list(compartments)}})


def create_stream_and_rule(emu: Any, compartments: Sequence[str], tenancy_id: str) -> str:
    """The stream (in the first compartment) and the rule (in the tenancy root); the stream's id."""
    from oci.events import models as events
    from oci.streaming import models as streaming

    admin = emu.stream_admin_client()
    stream = admin.create_stream(
        streaming.CreateStreamDetails(
            name="ocids-run-events", partitions=PARTITIONS, compartment_id=compartments[0]
        )
    ).data
    wait_until(
        lambda: admin.get_stream(stream.id).data.lifecycle_state == "ACTIVE",
        timeout=60,
        message="events stream ACTIVE",
    )
    action = events.CreateStreamingServiceActionDetails(is_enabled=True, stream_id=stream.id)
    emu.events_client().create_rule(
        events.CreateRuleDetails(
            display_name="ocids-job-runs",
            description="job-run events of the bench compartments, for ocids-operator",
            is_enabled=True,
            condition=rule_condition(compartments),
            compartment_id=tenancy_id,
            actions=events.ActionDetailsList(actions=[action]),
        )
    )
    return str(stream.id)


def operator_env(stream_id: str, endpoint: str, fallback_poll_s: float, namespace: str) -> dict[str, str]:
    """What the operator is started with to read the stream. The events status ConfigMap goes to
    the bench namespace (no Lease here, only where it is written)."""
    return {
        "OCIDS_EVENTS_STREAM_ID": stream_id,
        "OCIDS_STREAMING_ENDPOINT": endpoint,
        "OCIDS_EVENTS_POLL_INTERVAL_SECONDS": f"{fallback_poll_s:g}",
        "OCIDS_LEADER_ELECTION_NAMESPACE": namespace,
    }


def wait_healthy(kube: Any, namespace: str, timeout: float = 60) -> float:
    """Until the operator reports its events Healthy (its status ConfigMap); the seconds it took.
    The runs are applied after it, so the bench measures events that flow, not their start."""
    started = time.time()

    def state() -> str | None:
        cm = kube.get("configmap", STATUS_CONFIG_MAP, namespace)
        return None if cm is None else str((cm.get("data") or {}).get("state"))

    wait_until(lambda: state() == "Healthy", timeout=timeout, interval=0.5, message="events Healthy")
    return time.time() - started
