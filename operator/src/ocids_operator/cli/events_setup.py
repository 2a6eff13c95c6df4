"""`ocids-operator events setup --compartment C [--compartment C2 ...] [--stream-pool P] [--topic T]
[--create]`: what OCI needs so job-run events reach the operator, printed, or created with `--create`.

The plan: one stream (in the first compartment, or in the named stream pool), one Events rule per
compartment (a rule sees its compartment and those below it) whose condition takes the Data Science
job-run event types and whose actions put each event on the stream (and, with `--topic`, on that
Notifications topic), the IAM statements those need, and the operator's env. `--create` uses the
operator's OCI settings (OCIDS_AUTH, OCIDS_OCI_CONFIG_FILE, OCIDS_REGION, OCIDS_STREAMING_ENDPOINT,
...). It is idempotent: a stream, pool or rule of the same name in the same compartment is reused.

Exit codes: 0 done, 1 an OCI call failed (the line says which), 2 a bad flag or setting.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ..core.iam import PolicyRequest
from ..core.iam import _operator_subject as operator_subject
from ..core.iam import _where as where_clause
from ..settings import OperatorSettings, SettingsError, load_settings

STREAM_NAME = "ocids-operator-events"
RULE_NAME = "ocids-operator-job-runs"
PREFIX = "com.oraclecloud.datascience."
JOB_RUN_EVENT_TYPES = tuple(
    PREFIX + name
    for name in (
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
GONE = ("DELETING", "DELETED", "FAILED")


@dataclasses.dataclass(frozen=True)
class Plan:
    compartments: tuple[str, ...]
    stream_name: str
    rule_name: str
    stream_pool: str | None
    topic: str | None
    partitions: int
    retention_hours: int
    event_types: tuple[str, ...]
    subject: str
    # The operator's principal condition (workload identity: namespace, service account, cluster).
    subject_condition: str = ""
    topic_compartment: str | None = None

    @property
    def stream_compartment(self) -> str:
        return self.compartments[0]

    def condition(self) -> str:
        return json.dumps({"eventType": list(self.event_types)}, separators=(",", ":"))

    def iam_statements(self) -> list[str]:
        """Statements to paste as they are (no trailing comments); `<...>` only for what is unknown."""
        stream_at = _place(self.stream_compartment)
        where = where_clause(self.subject_condition)
        lines = [
            # GetStream (the messages endpoint) needs read streams; CreateCursor/GetMessages stream-pull.
            f"Allow {self.subject} to use stream-pull in {stream_at}{where}",
            f"Allow {self.subject} to read streams in {stream_at}{where}",
            f"Allow service cloudEvents to use stream-push in {stream_at}",
        ]
        if self.topic:
            topic_at = _place(self.topic_compartment or "<the topic's compartment OCID>")
            lines.append(f"Allow service cloudEvents to use ons-topics in {topic_at}")
        return lines

    def warnings(self) -> list[str]:
        tenancy = [c for c in self.compartments if c.startswith("ocid1.tenancy.")]
        notes = []
        if tenancy and len(self.compartments) > 1:
            notes.append(
                f"the rule in the tenancy ({tenancy[0]}) sees every compartment: the rules in the other "
                "compartments would send each of their events twice; pass the tenancy alone, or only the "
                "child compartments"
            )
        if self.topic and not self.topic_compartment:
            notes.append(
                "pass --topic-compartment to fill in the topic's compartment in the ons-topics statement"
            )
        return notes


def _place(compartment: str) -> str:
    """`tenancy` for the root compartment (a tenancy OCID), else `compartment id <ocid>`."""
    return "tenancy" if compartment.startswith("ocid1.tenancy.") else f"compartment id {compartment}"


def event_types(settings: OperatorSettings) -> tuple[str, ...]:
    """Every job-run type, and any end type the operator was told of (OCIDS_EVENTS_RUN_END_TYPES)."""
    extra = [t for t in settings.events_run_end_types if t not in JOB_RUN_EVENT_TYPES]
    return JOB_RUN_EVENT_TYPES + tuple(extra)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ocids-operator events setup",
        description="Print (or create with --create) the OCI stream, Events rules and IAM statements that "
        "push job-run events to the operator; print the env to set.",
    )
    parser.add_argument(
        "--compartment",
        action="append",
        dest="compartments",
        required=True,
        help="compartment OCID whose job runs the operator follows (repeat); the stream goes in the first",
    )
    parser.add_argument("--stream-pool", help="put the stream in this stream pool (by name; made if missing)")
    parser.add_argument("--topic", help="also send the events to this Notifications topic OCID")
    parser.add_argument("--stream-name", default=STREAM_NAME)
    parser.add_argument("--rule-name", default=RULE_NAME)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--retention-hours", type=int, default=24)
    parser.add_argument("--topic-compartment", help="the --topic's compartment OCID (for its IAM statement)")
    parser.add_argument(
        "--subject",
        help="the operator's principal in IAM statements (e.g. 'group ocids-operators'); default: the one "
        "`ocids-operator iam-policy` names for OCIDS_AUTH (with --group for api_key)",
    )
    parser.add_argument("--group", help="api_key: the IAM group of the operator's user")
    parser.add_argument("--events-endpoint", help="override the Events endpoint (e.g. the emulator)")
    parser.add_argument("--create", action="store_true", help="create what is missing (default: print)")
    return parser


def _check(args: argparse.Namespace) -> str | None:
    for compartment in args.compartments:
        if not compartment.startswith("ocid1."):
            return f"--compartment {compartment!r} is not an OCID"
    if args.topic and not args.topic.startswith("ocid1."):
        return f"--topic {args.topic!r} is not a topic OCID"
    if args.topic_compartment and not args.topic_compartment.startswith("ocid1."):
        return f"--topic-compartment {args.topic_compartment!r} is not an OCID"
    if not 1 <= args.partitions <= 50:
        return "--partitions must be from 1 to 50"
    if not 24 <= args.retention_hours <= 168:
        return "--retention-hours must be from 24 to 168 (what OCI Streaming accepts)"
    return None


def print_plan(plan: Plan, out: TextIO, stream_id: str | None = None) -> None:
    pool = f" in stream pool {plan.stream_pool}" if plan.stream_pool else ""
    out.write(
        f"Stream: {plan.stream_name} ({plan.partitions} partition(s), {plan.retention_hours} h retention) "
        f"in compartment {plan.stream_compartment}{pool}\n"
    )
    out.write(f"Events rule {plan.rule_name}, in each compartment:\n")
    for compartment in plan.compartments:
        out.write(f"  {compartment}\n")
    out.write(f"  condition: {plan.condition()}\n")
    out.write(f"  actions:   OSS -> stream {stream_id or plan.stream_name}\n")
    if plan.topic:
        out.write(f"             ONS -> topic {plan.topic}\n")
    out.write("IAM statements (one a line, as they are):\n")
    for line in plan.iam_statements():
        out.write(f"  {line}\n")
    for note in plan.warnings():
        out.write(f"Warning: {note}\n")
    out.write("Operator env (chart: events.streamId, events.streamingEndpoint):\n")
    out.write(f"  OCIDS_EVENTS_STREAM_ID={stream_id or '<the stream OCID (made with --create)>'}\n")
    if plan.topic:
        out.write(f"  OCIDS_NOTIFICATIONS_TOPIC_IDS={plan.topic}\n")


class Creator:
    """Finds or makes each piece through the SDK; says for each whether it was there or made."""

    def __init__(self, plan: Plan, events: Any, streams: Any, out: TextIO) -> None:
        self._plan, self._events, self._streams, self._out = plan, events, streams, out

    def _say(self, made: bool, what: str, ocid: str) -> None:
        self._out.write(f"{'created' if made else 'exists '} {what}: {ocid}\n")

    def pool(self) -> str | None:
        import oci

        plan = self._plan
        if not plan.stream_pool:
            return None
        found = [
            p
            for p in oci.pagination.list_call_get_all_results(
                self._streams.list_stream_pools, plan.stream_compartment, name=plan.stream_pool
            ).data
            if p.name == plan.stream_pool and p.lifecycle_state not in GONE
        ]
        if found:
            self._say(False, f"stream pool {plan.stream_pool}", found[0].id)
            return str(found[0].id)
        made = self._streams.create_stream_pool(
            oci.streaming.models.CreateStreamPoolDetails(
                compartment_id=plan.stream_compartment, name=plan.stream_pool
            )
        ).data
        self._say(True, f"stream pool {plan.stream_pool}", made.id)
        return str(made.id)

    def stream(self, pool_id: str | None) -> str:
        import oci

        plan = self._plan
        where: dict[str, Any] = (
            {"stream_pool_id": pool_id} if pool_id else {"compartment_id": plan.stream_compartment}
        )
        found = [
            s
            for s in oci.pagination.list_call_get_all_results(
                self._streams.list_streams, name=plan.stream_name, **where
            ).data
            if s.name == plan.stream_name and s.lifecycle_state not in GONE
        ]
        if found:
            self._say(False, f"stream {plan.stream_name}", found[0].id)
            return str(found[0].id)
        details = oci.streaming.models.CreateStreamDetails(
            name=plan.stream_name,
            partitions=plan.partitions,
            retention_in_hours=plan.retention_hours,
            **where,
        )
        made = self._streams.create_stream(details).data
        if made.lifecycle_state != "ACTIVE":
            oci.wait_until(
                self._streams,
                self._streams.get_stream(made.id),
                "lifecycle_state",
                "ACTIVE",
                max_wait_seconds=300,
            )
        self._say(True, f"stream {plan.stream_name}", made.id)
        return str(made.id)

    def rule(self, compartment: str, stream_id: str) -> str:
        import oci

        plan = self._plan
        found = [
            r
            for r in oci.pagination.list_call_get_all_results(
                self._events.list_rules, compartment, display_name=plan.rule_name
            ).data
            if r.display_name == plan.rule_name and r.lifecycle_state not in GONE
        ]
        models = oci.events.models
        actions: list[Any] = [
            models.CreateStreamingServiceActionDetails(is_enabled=True, stream_id=stream_id)
        ]
        if plan.topic:
            actions.append(
                models.CreateNotificationServiceActionDetails(is_enabled=True, topic_id=plan.topic)
            )
        if found:
            rule_id = str(found[0].id)
            changes = rule_changes(self._events.get_rule(rule_id).data, plan.condition(), actions)
            if not changes:
                self._say(False, f"rule {plan.rule_name} in {compartment}", rule_id)
                return rule_id
            update = models.UpdateRuleDetails(
                condition=plan.condition(), is_enabled=True, actions=models.ActionDetailsList(actions=actions)
            )
            self._events.update_rule(rule_id, update)
            self._out.write(
                f"updated rule {plan.rule_name} in {compartment}: {rule_id} ({'; '.join(changes)})\n"
            )
            return rule_id
        details = models.CreateRuleDetails(
            display_name=plan.rule_name,
            description="Data Science job-run events for ocids-operator (ocids-operator events setup)",
            is_enabled=True,
            condition=plan.condition(),
            compartment_id=compartment,
            actions=models.ActionDetailsList(actions=actions),
        )
        made = self._events.create_rule(details).data
        self._say(True, f"rule {plan.rule_name} in {compartment}", made.id)
        return str(made.id)

    def run(self) -> str:
        stream_id = self.stream(self.pool())
        for compartment in self._plan.compartments:
            self.rule(compartment, stream_id)
        return stream_id


def _action_keys(actions: Any) -> set[tuple[str, str, bool]]:
    return {
        (
            str(a.action_type),
            str(
                getattr(a, "stream_id", None) or getattr(a, "topic_id", None) or getattr(a, "function_id", "")
            ),
            bool(a.is_enabled),
        )
        for a in actions or []
    }


def rule_changes(rule: Any, condition: str, actions: list[Any]) -> list[str]:
    """What an existing rule of the plan's name lacks, in words; [] when it is as planned."""
    changes = []
    try:
        same = json.loads(rule.condition or "null") == json.loads(condition)
    except ValueError:
        same = False
    if not same:
        changes.append("condition")
    have = _action_keys(rule.actions.actions if rule.actions else [])
    want = _action_keys(actions)
    for key in sorted(want - have):
        changes.append(f"+{key[0]} action {key[1]}")
    for key in sorted(have - want):
        changes.append(f"-{key[0]} action {key[1]}" + ("" if key[2] else " (disabled)"))
    if not rule.is_enabled:
        changes.append("enabled")
    return changes


def clients(settings: OperatorSettings, events_endpoint: str | None) -> tuple[Any, Any]:
    import oci

    from ..adapters.oci_sdk import config_and_signer

    config, signer = config_and_signer(settings)
    kwargs: dict[str, Any] = {"signer": signer, "timeout": settings.oci_timeout_seconds}
    events = oci.events.EventsClient(
        config, **kwargs, **({"service_endpoint": events_endpoint} if events_endpoint else {})
    )
    streams = oci.streaming.StreamAdminClient(
        config,
        **kwargs,
        **({"service_endpoint": settings.streaming_endpoint} if settings.streaming_endpoint else {}),
    )
    return events, streams


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = _parser().parse_args(argv)
    problem = _check(args)
    if problem:
        print(f"ocids-operator events setup: {problem}", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"ocids-operator events setup: {exc}", file=sys.stderr)
        return 2
    subject, condition = args.subject, ""
    if not subject:  # the same principal `ocids-operator iam-policy` derives from the settings
        request = PolicyRequest(
            mode=settings.auth.value,
            group=args.group or PolicyRequest.group,
            namespace=os.environ.get("OCIDS_OPERATOR_NAMESPACE", PolicyRequest.namespace),
            cluster_id=os.environ.get("OCIDS_CLUSTER_ID") or PolicyRequest.cluster_id,
        )
        subject, condition = operator_subject(request)
    plan = Plan(
        compartments=tuple(dict.fromkeys(args.compartments)),
        stream_name=args.stream_name,
        rule_name=args.rule_name,
        stream_pool=args.stream_pool,
        topic=args.topic,
        partitions=args.partitions,
        retention_hours=args.retention_hours,
        event_types=event_types(settings),
        subject=subject,
        subject_condition=condition,
        topic_compartment=args.topic_compartment,
    )
    if not args.create:
        print_plan(plan, out)
        return 0
    import oci

    try:
        events, streams = clients(settings, args.events_endpoint)
        stream_id = Creator(plan, events, streams, out).run()
    except oci.exceptions.ServiceError as exc:
        print(
            f"ocids-operator events setup: {exc.operation_name or 'OCI call'} failed: "
            f"{exc.status} {exc.code}: {exc.message}",
            file=sys.stderr,
        )
        return 1
    except (oci.exceptions.ClientError, OSError) as exc:
        print(f"ocids-operator events setup: {exc}", file=sys.stderr)
        return 1
    print_plan(plan, out, stream_id)
    return 0
