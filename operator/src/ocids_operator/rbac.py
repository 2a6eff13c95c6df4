"""The RBAC the operator needs: the one list the chart's roles are generated from or checked against.

    python -m ocids_operator.rbac     # {clusterRules: [...], namespacedRules: [...]} as YAML

`namespaced_rules()` go into a ClusterRole when all namespaces are watched, else into one Role per
watched namespace; `cluster_rules()` are always cluster-wide (kopf scans CRDs and namespaces);
`lease_rules()` go into a Role in the Lease's namespace only, with leader election on.
Per-namespace OCI identities (opt-in): `service_account_token_rules()` join the namespaced rules in
oke_workload_identity mode; `config_secret_rules()` go into a Role in the operator's namespace in
api_key mode.
tests/unit/operator/test_op_rbac.py derives what kopf's handlers and our Kubernetes client touch
and requires exactly these rules.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import yaml

from .api import GROUP, TRAINING_JOB_RUNS
from .core.kinds import KINDS
from .core.kueue_workload import GROUP as KUEUE_GROUP
from .core.kueue_workload import PRIORITY_CLASSES as KUEUE_PRIORITY_CLASSES
from .core.kueue_workload import WORKLOADS as KUEUE_WORKLOADS

# kopf lists and watches each handled resource and patches its annotations and finalizers;
# get/update are what its own docs ask for besides.
HANDLED_VERBS = ("get", "list", "watch", "patch", "update")
# kopf writes handler status (and the operator its own) through the status subresource.
STATUS_VERBS = ("get", "patch", "update")
FINALIZER_VERBS = ("update",)
EVENT_VERBS = ("create", "patch")
# The `kubernetes` library's LeaseLock reads, creates and replaces (PUT) its Lease; it never lists,
# watches, patches or deletes one.
LEASE_VERBS = ("get", "create", "update")


@dataclasses.dataclass(frozen=True)
class Rule:
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]

    def as_k8s(self) -> dict[str, Any]:
        return {
            "apiGroups": list(self.api_groups),
            "resources": list(self.resources),
            "verbs": list(self.verbs),
        }

    def grants(self) -> set[tuple[str, str, str]]:
        """(group, resource, verb) triples."""
        return {(g, r, v) for g in self.api_groups for r in self.resources for v in self.verbs}


def namespaced_rules() -> list[Rule]:
    plurals = tuple(kind.plural for kind in KINDS)
    return [
        Rule((GROUP,), plurals, HANDLED_VERBS),
        Rule((GROUP,), tuple(f"{plural}/status" for plural in plurals), STATUS_VERBS),
        Rule((GROUP,), tuple(f"{plural}/finalizers" for plural in plurals), FINALIZER_VERBS),
        # Sweeps and schedules create their TrainingJobRuns (and cancel them: a spec patch); their
        # finalizers and history limits delete them.
        Rule((GROUP,), (TRAINING_JOB_RUNS,), ("create", "delete")),
        # The operator's own Events, and kopf's (events.k8s.io) should its posting be turned on.
        Rule(("",), ("events",), EVENT_VERBS),
        Rule(("events.k8s.io",), ("events",), EVENT_VERBS),
        # env valueFrom and ConfigMap artifacts, read by name only (never listed).
        Rule(("",), ("secrets", "configmaps"), ("get",)),
        # The archive of pruned TrainingJobRuns: one ConfigMap per TrainingJob, created and replaced.
        Rule(("",), ("configmaps",), ("create", "update")),
        # Kueue (optional): a labelled run's Workload, made, watched, marked Finished when the run
        # ends, deleted (to queue again) when Kueue evicts it before the run started.
        Rule((KUEUE_GROUP,), (KUEUE_WORKLOADS,), ("get", "list", "watch", "create", "delete")),
        Rule((KUEUE_GROUP,), (f"{KUEUE_WORKLOADS}/status",), ("patch",)),
    ]


def cluster_rules() -> list[Rule]:
    return [
        Rule(("apiextensions.k8s.io",), ("customresourcedefinitions",), ("list", "watch")),
        # kopf lists and watches namespaces; the operator reads a namespace's annotations by name
        # (ocids.io/allowed-compartments and the per-namespace identity: adapters/namespaces.py).
        Rule(("",), ("namespaces",), ("get", "list", "watch")),
        # Kueue (optional): the value of a run's WorkloadPriorityClass, read by name.
        Rule((KUEUE_GROUP,), (KUEUE_PRIORITY_CLASSES,), ("get",)),
    ]


def service_account_token_rules() -> list[Rule]:
    """Per-namespace OCI identities in oke_workload_identity mode: tokens of the teams' ServiceAccounts
    (TokenRequest), in the watched namespaces. Opt-in (chart `namespaceIdentity.enabled`): a token
    minted so is also valid against the API server as that ServiceAccount."""
    return [Rule(("",), ("serviceaccounts/token",), ("create",))]


def config_secret_rules() -> list[Rule]:
    """Per-namespace OCI identities in api_key mode: the OCI config Secrets, in the operator's own
    namespace only (where teams cannot read them)."""
    return [Rule(("",), ("secrets",), ("get",))]


def price_table_rules() -> list[Rule]:
    """ConfigMaps in the operator's own namespace, for an operator that watches a list of namespaces
    without it (watching all, the namespaced rules cover them): the price table (OCIDS_PRICE_TABLE),
    read; the events' status `<lease name>-events` (workflows/events_status.py), made and replaced."""
    return [Rule(("",), ("configmaps",), ("get", "create", "update"))]


def lease_rules() -> list[Rule]:
    """Leader election (OCIDS_LEADER_ELECTION): the Lease, in its own namespace only."""
    return [Rule(("coordination.k8s.io",), ("leases",), LEASE_VERBS)]


def main() -> int:
    document = {
        "clusterRules": [rule.as_k8s() for rule in cluster_rules()],
        "namespacedRules": [rule.as_k8s() for rule in namespaced_rules()],
        "leaseRules": [rule.as_k8s() for rule in lease_rules()],
        "serviceAccountTokenRules": [rule.as_k8s() for rule in service_account_token_rules()],
        "configSecretRules": [rule.as_k8s() for rule in config_secret_rules()],
        "priceTableRules": [rule.as_k8s() for rule in price_table_rules()],
    }
    sys.stdout.write(yaml.safe_dump(document, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
