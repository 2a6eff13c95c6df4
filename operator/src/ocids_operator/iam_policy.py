"""`ocids-operator iam-policy`: print the OCI IAM statements for these settings (core/iam.py).

Needs no cluster and no OCI access: it reads flags and the OCIDS_* environment only.
Exit 2 for a bad flag (the message names it).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from typing import Any

from .core.iam import (
    FEATURE_HELP,
    MODES,
    PolicyRequest,
    _operator_subject,
    _where,
    markdown_doc,
    parse_features,
    policy_set,
)


def _parser() -> argparse.ArgumentParser:
    features = "; ".join(f"{f.value}: {h}" for f, h in FEATURE_HELP.items())
    parser = argparse.ArgumentParser(
        prog="ocids-operator iam-policy",
        description="Print the OCI IAM dynamic groups and policy statements the operator, its job runs "
        "and the Data Science service need (see docs/iam.md).",
    )
    parser.add_argument(
        "--auth", choices=MODES, help="the operator's auth mode (default: OCIDS_AUTH, api_key)"
    )
    parser.add_argument(
        "--compartment",
        action="append",
        dest="compartments",
        help="compartment OCID the jobs use (repeat; default: OCIDS_DEFAULT_ALLOWED_COMPARTMENTS)",
    )
    parser.add_argument(
        "--feature",
        action="append",
        dest="features",
        default=[],
        help=f"comma-separated features, or all (default). {features}",
    )
    parser.add_argument("--group", help="api_key: the IAM group of the config file's user")
    parser.add_argument("--namespace", help="oke_workload_identity: the namespace of the ServiceAccount")
    parser.add_argument("--service-account", help="oke_workload_identity: the ServiceAccount's name")
    parser.add_argument(
        "--cluster-id", help="oke_workload_identity: the cluster's OCID (default: OCIDS_CLUSTER_ID)"
    )
    parser.add_argument("--node-compartment", help="instance_principal: the worker nodes' compartment OCID")
    parser.add_argument("--resource-type", help="resource_principal: the resource's type")
    parser.add_argument("--resource-id", help="resource_principal: the resource's OCID")
    parser.add_argument("--artifact-bucket", help="oci-artifact: the bucket of oci:// artifacts")
    parser.add_argument("--conda-bucket", help="published-conda: the bucket of published conda packs")
    parser.add_argument("--outputs-bucket", help="outputs: the bucket of spec.outputs.uri")
    parser.add_argument(
        "--repository-compartment", help="container: the OCIR repositories' compartment (default: tenancy)"
    )
    parser.add_argument(
        "--stream-compartment",
        help="events: the compartment OCID of the OCIDS_EVENTS_STREAM_ID stream (its statements are "
        "printed when that is set, or with --events)",
    )
    parser.add_argument("--events", action="store_true", help="print the events stream statements")
    parser.add_argument(
        "--markdown-doc", action="store_true", help="print docs/iam.md (every mode, with placeholders)"
    )
    return parser


def build_request(args: argparse.Namespace, env: dict[str, str]) -> PolicyRequest:
    compartments = args.compartments or [
        c.strip() for c in env.get("OCIDS_DEFAULT_ALLOWED_COMPARTMENTS", "").split(",") if c.strip()
    ]
    given = {
        "group": args.group,
        "namespace": args.namespace,
        "service_account": args.service_account,
        "cluster_id": args.cluster_id or env.get("OCIDS_CLUSTER_ID"),
        "node_compartment": args.node_compartment,
        "resource_type": args.resource_type,
        "resource_id": args.resource_id,
        "artifact_bucket": args.artifact_bucket,
        "conda_bucket": args.conda_bucket,
        "outputs_bucket": args.outputs_bucket,
        "repository_compartment": args.repository_compartment,
    }
    auth = args.auth or env.get("OCIDS_AUTH") or "api_key"
    optional: dict[str, Any] = {key: value for key, value in given.items() if value}
    if compartments:
        optional["compartments"] = tuple(compartments)
    base = PolicyRequest(mode=auth, features=parse_features(args.features))
    return dataclasses.replace(base, **optional)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.markdown_doc:
        sys.stdout.write(markdown_doc())
        return 0
    try:
        request = build_request(args, dict(os.environ))
    except ValueError as exc:
        print(f"ocids-operator iam-policy: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(policy_set(request).text())
    if args.events or os.environ.get("OCIDS_EVENTS_STREAM_ID"):
        sys.stdout.write(events_statements(request, args.stream_compartment))
    return 0


def events_statements(request: PolicyRequest, stream_compartment: str | None) -> str:
    """The operator's reads of the Events stream (OCIDS_EVENTS_STREAM_ID; `events setup` prints the
    Events service's own statements with the stream's)."""
    subject, condition = _operator_subject(request)
    where = _where(condition)
    compartment = stream_compartment or "<the stream's compartment OCID>"
    place = "tenancy" if compartment.startswith("ocid1.tenancy.") else f"compartment id {compartment}"
    return (
        "# --- events: OCIDS_EVENTS_STREAM_ID: the operator reads job-run events from the stream\n"
        "#   GetStream (to learn the stream's messages endpoint) [ocids-operator events setup]\n"
        f"Allow {subject} to read streams in {place}{where}\n"
        "#   CreateCursor and GetMessages on the stream [ocids-operator events setup]\n"
        f"Allow {subject} to use stream-pull in {place}{where}\n"
    )
