"""IAM policies in OCI's own statement syntax: parsing, dynamic-group rules and evaluation.

Only ``Allow`` statements exist in OCI's default-deny model, so a request is authorized when any
statement names its principal, grants a verb at least as strong as the one the operation needs on
a resource type that covers it, in the target's compartment (or the tenancy), and its ``where``
condition holds. See emulator/README.md "Policies" for the grammar supported here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ocids_emulator.security.session_tokens import TokenPrincipal
from ocids_emulator.security.signatures import Principal

# Verbs are cumulative: each includes the permissions of the ones before it.
VERBS = ("inspect", "read", "use", "manage")
ALL_RESOURCES = "all-resources"
FAMILIES: dict[str, frozenset[str]] = {
    "data-science-family": frozenset(
        {
            "data-science-projects",
            "data-science-jobs",
            "data-science-job-runs",
            "data-science-work-requests",
            "data-science-models",
            "data-science-model-deployments",
            "data-science-notebook-sessions",
            "data-science-pipelines",
            "data-science-pipeline-runs",
            "data-science-private-endpoint",
            "data-science-compute-targets",
            "data-science-schedules",
        }
    ),
    "logging-family": frozenset({"log-groups", "log-content", "unified-configuration"}),
    "object-family": frozenset({"buckets", "objects"}),
    # Networking: a job's subnet (the caller and `service datascience` need `use` on it).
    "virtual-network-family": frozenset(
        {"vcns", "subnets", "vnics", "vnic-attachments", "network-security-groups", "private-ips"}
    ),
    # Container Registry: pulling a job's image needs `read repos`.
    "repos": frozenset({"repos"}),
    # Vault: reading a secret's content (GetSecretBundle) needs `read secret-bundles`.
    "secret-family": frozenset({"secrets", "secret-versions", "secret-bundles"}),
    # Billing: the Usage API (cost analysis) needs `read usage-report in tenancy`.
    "usage-report": frozenset({"usage-report"}),
    # Streaming: administration (pools, streams) and messages (stream-pull reads, stream-push writes).
    "stream-family": frozenset(
        {"stream-pools", "streams", "stream-push", "stream-pull", "connect-harnesses"}
    ),
    # Events: rules.
    "cloudevents-rules": frozenset({"cloudevents-rules"}),
    # Notifications: topics and their subscriptions.
    "ons-family": frozenset({"ons-topics", "ons-subscriptions"}),
}
RESOURCE_TYPES = frozenset({ALL_RESOURCES, *FAMILIES, *(t for ts in FAMILIES.values() for t in ts)})
# Variables a `where` clause may test; request.principal.* is open-ended (see principal_attributes).
CONDITION_VARIABLES = frozenset(
    {
        "request.user.id",
        "request.operation",
        "target.compartment.id",
        "target.compartment.name",
        "target.bucket.name",
        "target.loggroup.id",
        # Streaming's (its policy reference): the stream a call names, the pool a call names.
        "target.stream.id",
        "target.streampool.id",
    }
)
RULE_VARIABLES = frozenset(
    {"instance.id", "instance.compartment.id", "resource.id", "resource.type", "resource.compartment.id"}
)

_STATEMENT = re.compile(
    r"^\s*allow\s+(?P<subject>.+?)\s+to\s+(?P<verb>\S+)\s+(?P<resource>\S+)\s+in\s+"
    r"(?P<location>tenancy|compartment\s+id\s+\S+|compartment\s+\S+)"
    r"(?:\s+where\s+(?P<condition>.+?))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_GROUPED = re.compile(r"^(all|any)\s*\{(.*)\}$", re.IGNORECASE | re.DOTALL)
_COMPARISON = re.compile(r"^([A-Za-z][\w.]*)\s*(!=|=)\s*(?:'([^']*)'|([^\s',{}]+))$")


SERVICE = "service"


def service_principal(name: str, tenancy_id: str = "") -> TokenPrincipal:
    """An OCI service's own principal (``service datascience``), for what the service does itself."""
    return TokenPrincipal(SERVICE, tenancy_id, name, {})


def job_run_principal(run_id: str, compartment_id: str, tenancy_id: str = "") -> TokenPrincipal:
    """The resource principal a job run acts as (its logs, its image pull, its conda download):
    type ``datasciencejobrun``, matched by dynamic-group rules on resource.type / .id / .compartment.id."""
    claims = {"res_type": "datasciencejobrun", "res_id": run_id, "res_compartment": compartment_id}
    return TokenPrincipal("resource", tenancy_id, run_id, claims)


class PolicyError(ValueError):
    """A statement (or dynamic-group rule) this emulator cannot read; names the text."""


@dataclass(frozen=True)
class Comparison:
    variable: str
    negated: bool
    value: str

    def holds(self, attributes: Mapping[str, str]) -> bool:
        # OCI: a variable that does not apply to the request makes its comparison false.
        actual = attributes.get(self.variable)
        if actual is None:
            return False
        equal = actual.lower() == self.value.lower()
        return not equal if self.negated else equal


@dataclass(frozen=True)
class Condition:
    """``all {..}`` / ``any {..}`` of comparisons, or a single one (``require_all`` then moot)."""

    comparisons: tuple[Comparison, ...]
    require_all: bool = True

    def holds(self, attributes: Mapping[str, str]) -> bool:
        results = (c.holds(attributes) for c in self.comparisons)
        return all(results) if self.require_all else any(results)


def parse_condition(text: str, allowed: Iterable[str], open_prefix: str | None, where: str) -> Condition:
    text = text.strip()
    grouped = _GROUPED.match(text)
    require_all = True
    parts = [text]
    if grouped:
        require_all = grouped.group(1).lower() == "all"
        parts = [p.strip() for p in grouped.group(2).split(",")]
    allowed = frozenset(allowed)
    comparisons = []
    for part in parts:
        match = _COMPARISON.match(part)
        if not match:
            raise PolicyError(f"{where}: cannot read the condition {part!r}")
        variable = match.group(1).lower()
        if variable not in allowed and not (open_prefix and variable.startswith(open_prefix)):
            raise PolicyError(f"{where}: unsupported variable {match.group(1)!r}")
        value = match.group(3) if match.group(3) is not None else match.group(4)
        comparisons.append(Comparison(variable, match.group(2) == "!=", value))
    return Condition(tuple(comparisons), require_all)


@dataclass(frozen=True)
class Subject:
    kind: str  # any-user | any-group | group | dynamic-group | service
    names: tuple[str, ...] = ()
    by_id: bool = False


def parse_subject(text: str, where: str) -> Subject:
    words = text.split(None, 1)
    kind = words[0].lower()
    if kind in ("any-user", "any-group"):
        if len(words) > 1:
            raise PolicyError(f"{where}: unexpected {words[1]!r} after {kind}")
        return Subject(kind)
    if kind not in ("group", "dynamic-group", "service") or len(words) < 2:
        raise PolicyError(
            f"{where}: the subject must be any-user, any-group, group, dynamic-group or service"
        )
    rest = words[1].strip()
    by_id = rest.lower().startswith("id ")
    if by_id:
        rest = rest[3:]
    names = tuple(n.strip().strip("'") for n in rest.split(","))
    if not all(names):
        raise PolicyError(f"{where}: an empty {kind} name")
    return Subject(kind, names, by_id)


@dataclass(frozen=True)
class Statement:
    text: str
    subject: Subject
    verb: str
    resource: str
    compartment_id: str | None  # None: in tenancy
    compartment_name: str | None = None
    condition: Condition | None = None

    @classmethod
    def parse(cls, text: str) -> Statement:
        where = f"policy statement {text!r}"
        match = _STATEMENT.match(text)
        if not match:
            raise PolicyError(f"{where}: expected 'Allow <subject> to <verb> <resource-type> in <location>'")
        verb = match.group("verb").lower()
        if verb not in VERBS:
            raise PolicyError(f"{where}: the verb must be one of {', '.join(VERBS)}")
        resource = match.group("resource").lower()
        if resource not in RESOURCE_TYPES:
            raise PolicyError(f"{where}: unknown resource type {match.group('resource')!r}")
        location = match.group("location").split()
        compartment_id = name = None
        if len(location) == 3:
            compartment_id = location[2]
        elif len(location) == 2:
            name = location[1]
        condition = None
        if match.group("condition"):
            condition = parse_condition(
                match.group("condition"), CONDITION_VARIABLES, "request.principal.", where
            )
        return cls(
            text,
            parse_subject(match.group("subject"), where),
            verb,
            resource,
            compartment_id,
            name,
            condition,
        )

    def grants(self, resource_type: str, verb: str) -> bool:
        if VERBS.index(self.verb) < VERBS.index(verb):
            return False
        return self.resource in (ALL_RESOURCES, resource_type) or resource_type in FAMILIES.get(
            self.resource, ()
        )


def principal_attributes(principal: Principal | TokenPrincipal) -> dict[str, str]:
    """What ``request.principal.*`` (and dynamic-group rules) test, by kind of principal.

    A resource principal's type is its resource type (``datasciencejobrun``), as OCI documents it.
    """
    if isinstance(principal, Principal):
        return {
            "request.principal.type": "user",
            "request.principal.id": principal.user_id,
            "request.user.id": principal.user_id,
        }
    claims = principal.claims
    attrs = {
        "request.principal.type": str(claims.get("res_type") or principal.kind),
        "request.principal.id": str(claims.get("res_id") or principal.subject),
        "request.principal.compartment.id": str(claims.get("res_compartment", "")),
    }
    for claim in ("namespace", "service_account", "service_account_uid", "cluster_id"):
        if claim in claims:
            attrs[f"request.principal.{claim}"] = str(claims[claim])
    prefix = {"instance": "instance", "resource": "resource"}.get(principal.kind)
    if prefix:
        attrs[f"{prefix}.id"] = attrs["request.principal.id"]
        attrs[f"{prefix}.compartment.id"] = attrs["request.principal.compartment.id"]
        if prefix == "resource":
            attrs["resource.type"] = attrs["request.principal.type"]
    return attrs


@dataclass
class PolicySet:
    """tenancy.json's ``policies`` with its ``groups`` (name -> user OCIDs) and ``dynamicGroups``
    (name -> matching rule). ``statements is None`` means no ``policies`` key: allow everything."""

    statements: list[Statement] | None
    groups: dict[str, list[str]] = field(default_factory=dict)
    dynamic_groups: dict[str, str] = field(default_factory=dict)
    compartments: dict[str, str] = field(default_factory=dict)  # id -> name
    _rules: dict[str, Condition] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        policies: Any,
        groups: Any = None,
        dynamic_groups: Any = None,
        compartments: Mapping[str, str] | None = None,
    ) -> PolicySet:
        """Parse everything now, so a bad statement stops ``serve`` (or a PUT) with its text."""
        if policies is not None and (
            not isinstance(policies, list) or not all(isinstance(s, str) for s in policies)
        ):
            raise PolicyError("policies must be a list of statement strings")
        groups = groups or {}
        if not isinstance(groups, dict) or not all(isinstance(v, list) for v in groups.values()):
            raise PolicyError("groups must map a group name to a list of user OCIDs")
        dynamic_groups = dynamic_groups or {}
        if not isinstance(dynamic_groups, dict) or not all(
            isinstance(v, str) for v in dynamic_groups.values()
        ):
            raise PolicyError("dynamicGroups must map a dynamic-group name to a matching rule")
        rules = {
            name.lower(): parse_condition(rule, RULE_VARIABLES, None, f"dynamic group {name!r} rule {rule!r}")
            for name, rule in dynamic_groups.items()
        }
        names = {n.lower() for n in (compartments or {}).values() if n}
        statements = None if policies is None else [Statement.parse(s) for s in policies]
        for s in statements or []:
            if s.compartment_name is not None and s.compartment_name.lower() not in names:
                raise PolicyError(f"policy statement {s.text!r}: no compartment named {s.compartment_name!r}")
        return cls(statements, dict(groups), dict(dynamic_groups), dict(compartments or {}), rules)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policies": None if self.statements is None else [s.text for s in self.statements],
            "groups": self.groups,
            "dynamicGroups": self.dynamic_groups,
        }

    def allows(
        self,
        principal: Principal | TokenPrincipal,
        resource_type: str,
        verb: str,
        compartment_id: str | None,
        operation: str = "",
        target: Mapping[str, str] | None = None,
    ) -> bool:
        """Whether a statement grants ``verb`` on ``resource_type`` in ``compartment_id`` (None: the
        target is the tenancy itself or unknown, so only ``in tenancy`` statements reach it).
        ``target``: the request's ``target.*`` variables (``target.bucket.name``, ``target.loggroup.id``)."""
        if self.statements is None:
            return True
        attrs = principal_attributes(principal)
        attrs["request.operation"] = operation
        attrs.update(target or {})
        if compartment_id:
            attrs["target.compartment.id"] = compartment_id
            attrs["target.compartment.name"] = self.compartments.get(compartment_id, "")
        return any(
            s.grants(resource_type, verb)
            and self._in_location(s, compartment_id)
            and self._names(s.subject, principal, attrs)
            and (s.condition is None or s.condition.holds(attrs))
            for s in self.statements
        )

    def _in_location(self, statement: Statement, compartment_id: str | None) -> bool:
        if statement.compartment_id is None and statement.compartment_name is None:
            return True
        if compartment_id is None:
            return False
        if statement.compartment_id is not None:
            return statement.compartment_id == compartment_id
        return self.compartments.get(compartment_id, "").lower() == (statement.compartment_name or "").lower()

    def _names(self, subject: Subject, principal: Principal | TokenPrincipal, attrs: dict[str, str]) -> bool:
        # An OCI service acting for the tenancy (`service datascience` attaching a job's VNIC) is
        # named only by `service <name>`, never by any-user or a group.
        if principal.kind == SERVICE or subject.kind == "service":
            wanted = {n.lower() for n in subject.names}
            return (
                subject.kind == "service"
                and isinstance(principal, TokenPrincipal)
                and principal.kind == SERVICE
                and principal.subject in wanted
            )
        if subject.kind == "any-user":
            return True
        if subject.kind in ("any-group", "group"):
            if not isinstance(principal, Principal):
                return False
            if subject.kind == "any-group" or subject.by_id:
                # Groups have no OCIDs in tenancy.json: `group id` matches nothing.
                return subject.kind == "any-group" and any(
                    principal.user_id in m for m in self.groups.values()
                )
            wanted = {n.lower() for n in subject.names}
            return any(principal.user_id in m for g, m in self.groups.items() if g.lower() in wanted)
        # Dynamic groups gather instances and resources (resource principals), not users or workloads.
        if principal.kind not in ("instance", "resource") or subject.by_id:
            return False
        return any(
            (rule := self._rules.get(name.lower())) is not None and rule.holds(attrs)
            for name in subject.names
        )


def permission_text(
    resource_type: str, verb: str, compartment_id: str | None, target: Mapping[str, str] | None = None
) -> str:
    """What a refused call needed, in statement form after ``Allow <subject> to``: for denial records
    and the lifecycle details of runs that fail on a missing statement."""
    place = f"compartment id {compartment_id}" if compartment_id else "tenancy"
    conditions = [f"{k}='{v}'" for k, v in sorted((target or {}).items())]
    where = f" where {conditions[0]}" if len(conditions) == 1 else ""
    if len(conditions) > 1:
        where = " where all {" + ", ".join(conditions) + "}"
    return f"{verb} {resource_type} in {place}{where}"
