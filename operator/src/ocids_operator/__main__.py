"""`python -m ocids_operator` / `ocids-operator`: validate settings, then run kopf standalone.

Exit codes: 2 for a bad setting or flag (the message names it), 1 when Kubernetes access
cannot be set up, 3 when a leader loses its Lease (OCIDS_LEADER_ELECTION=true; see leadership.py),
otherwise whatever kopf exits with.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

import kopf
import oci

from . import handlers, leadership, metrics
from .adapters import kube_login, leader_election
from .adapters.artifact_fetch import ArtifactFetcher
from .adapters.kube import KubeClient
from .adapters.namespaces import NamespaceDirectory
from .adapters.object_storage import ObjectStore
from .adapters.oci_client import OciGateway
from .adapters.oci_identities import Identities, operator_namespace
from .adapters.oci_sdk import config_and_signer
from .core import log_records
from .core.tenancy import ALLOWED_COMPARTMENTS_ANNOTATION, CompartmentPolicy
from .handlers import wait_logging
from .handlers.diffbase import DigestedDiffBaseStorage
from .runtime import Runtime
from .settings import AuthMode, OperatorSettings, SettingsError, load_settings
from .workflows import notifications
from .workflows.pollers import make_poller

log = logging.getLogger("ocids_operator")
PREFIX = "ocids.io"
FINALIZER = f"{PREFIX}/finalizer"


class ObjectLogFormatter(logging.Formatter):
    """Names the object a kopf per-object line is about ("[ml/attrition] Handler 'reconcile' ..."),
    and writes each record as `core.log_records` says: its message on one line, a traceback's lines
    indented, at most MAX_RECORD_CHARS, without URL secrets.

    kopf keeps the object in the record's `k8s_ref`; its own prefixing formatter is private API.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        ref = getattr(record, "k8s_ref", None)
        if isinstance(ref, dict) and ref.get("name"):
            where = f"{ref['namespace']}/{ref['name']}" if ref.get("namespace") else str(ref["name"])
            message = f"[{where}] {message}"
        record = logging.makeLogRecord({**record.__dict__, "message": log_records.one_line(message)})
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        for block in (record.exc_text, record.stack_info and self.formatStack(record.stack_info)):
            if block:
                text += log_records.continuation_lines(block)
        # At DEBUG kopf logs whole objects and patches, artifact URLs included: a PAR's path token
        # and any user:password@ must never reach a log line (nor a traceback), whoever wrote it.
        return log_records.shown_record(text)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(ObjectLogFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    wait_logging.install()


def parse_args(argv: Sequence[str] | None) -> dict[str, object]:
    parser = argparse.ArgumentParser(
        prog="ocids-operator",
        description="Run OCI Data Science jobs as Kubernetes resources. Every flag also reads OCIDS_<NAME>.",
    )
    parser.add_argument(
        "--namespace", "-n", action="append", dest="namespaces", help="namespace to watch (repeat)"
    )
    parser.add_argument(
        "--auth", help="api_key | instance_principal | resource_principal | oke_workload_identity"
    )
    parser.add_argument("--oci-config-file")
    parser.add_argument("--oci-profile")
    parser.add_argument("--region")
    parser.add_argument(
        "--datascience-endpoint", help="override the Data Science endpoint (e.g. the emulator)"
    )
    parser.add_argument("--logging-endpoint", help="override the Logging endpoint")
    parser.add_argument("--poll-interval-seconds", type=float)
    parser.add_argument("--resync-interval-seconds", type=float)
    parser.add_argument("--cluster-name")
    parser.add_argument("--metrics-port", type=int)
    parser.add_argument("--health-port", type=int)
    parser.add_argument("--bind-address")
    parser.add_argument("--log-level")
    parser.add_argument(
        "--leader-election",
        action="store_const",
        const=True,
        help="run only while holding the Lease; wait as a standby otherwise",
    )
    parser.add_argument("--leader-election-namespace", help="namespace of the Lease (default: the Pod's)")
    args = parser.parse_args(argv)
    return {key: value for key, value in vars(args).items() if value is not None}


def kopf_settings(settings: OperatorSettings) -> kopf.OperatorSettings:
    """kopf settings fixed on day one: changing these later would re-handle every object."""
    ks = kopf.OperatorSettings()
    ks.persistence.finalizer = FINALIZER
    ks.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    # Inline artifact content is kept out of it (as a digest): see handlers/diffbase.py.
    ks.persistence.diffbase_storage = DigestedDiffBaseStorage(prefix=PREFIX, key="last-handled-configuration")
    # The operator posts its own Events (Created, UpdatedInPlace, Succeeded, a Warning per problem).
    # kopf 1.45 could also post its per-object log records ("Handler 'reconcile' succeeded.",
    # "... failed temporarily: ...") as Events; that stays off, and if it is ever turned on,
    # only from WARNING up (routine waits are kept out of those by handlers.wait_logging).
    ks.posting.enabled = True
    ks.posting.loggers = False
    ks.posting.level = logging.WARNING
    ks.posting.reporting_component = "ocids-operator"
    ks.peering.standalone = True
    ks.peering.clusterwide = not settings.namespaces
    ks.execution.default_backoff = settings.retry_base_seconds
    # kopf's client has no connection limit: each object's worker that patches opens its own TLS
    # connection, and Python keeps a 256 KiB buffer per connection. 1,000 runs applied at once
    # opened ~150 (38 MB of the operator's 233 MB peak, measured with memray). Bounded workers bound
    # the connections; a worker with nothing to do exits soon, so idle ones do not hold the slots.
    ks.queueing.worker_limit = 64
    ks.queueing.idle_timeout = 0.5
    ks.networking.request_timeout = 60
    ks.watching.server_timeout = 300
    return ks


def check_oci_config(settings: OperatorSettings) -> str | None:
    """With api_key the config file is read up front (no network), so a wrong path stops start-up.

    Principal signers reach the network when built, so they are checked on first use instead;
    here only what they need locally (a token file, the proxymux host, a region) is.
    """
    if settings.auth is AuthMode.OKE_WORKLOAD_IDENTITY:
        return check_workload_identity(settings)
    if settings.auth is AuthMode.RESOURCE_PRINCIPAL:
        if not os.environ.get("OCI_RESOURCE_PRINCIPAL_VERSION"):
            return (
                "OCIDS_AUTH=resource_principal needs OCI_RESOURCE_PRINCIPAL_VERSION "
                "(and _RPST, _PRIVATE_PEM, _REGION)"
            )
        return None
    if settings.auth is not AuthMode.API_KEY:
        return None
    try:
        config_and_signer(settings)
    except oci.exceptions.ConfigFileNotFound:
        return f"invalid setting OCIDS_OCI_CONFIG_FILE: no OCI config file at {settings.oci_config_file}"
    except oci.exceptions.ProfileNotFound:
        return (
            f"invalid setting OCIDS_OCI_PROFILE: profile {settings.oci_profile!r} is not in the config file"
        )
    except (
        oci.exceptions.InvalidConfig,
        oci.exceptions.InvalidPrivateKey,
        oci.exceptions.InvalidKeyFilePath,
        OSError,
    ) as exc:
        return f"invalid OCI config ({settings.oci_config_file}, profile {settings.oci_profile}): {exc}"
    return None


def check_workload_identity(settings: OperatorSettings) -> str | None:
    """OKE workload identity: the ServiceAccount token, the proxymux host and a region must be there."""
    token = os.path.expanduser(settings.service_account_token_file)
    if not os.path.isfile(token):
        return (
            f"invalid setting OCIDS_SERVICE_ACCOUNT_TOKEN_FILE: no ServiceAccount token at {token} "
            "(automountServiceAccountToken must stay on)"
        )
    if not os.environ.get("KUBERNETES_SERVICE_HOST"):
        return "OCIDS_AUTH=oke_workload_identity needs KUBERNETES_SERVICE_HOST (set by the kubelet in a Pod)"
    if not (settings.region or os.environ.get("OCI_RESOURCE_PRINCIPAL_REGION")):
        return "OCIDS_AUTH=oke_workload_identity needs OCIDS_REGION (or OCI_RESOURCE_PRINCIPAL_REGION)"
    return None


def describe_principal(settings: OperatorSettings, runtime: Runtime) -> str:
    """Who the operator is to OCI, for the start-up line (no network: principals are built on first use)."""
    auth = getattr(runtime.oci, "auth", None)
    return str(auth.principal().description) if auth is not None else settings.auth.value


def open_policy_warning(settings: OperatorSettings) -> str | None:
    """Said once at start: with the open policy, namespaces are not isolated from each other in OCI."""
    if settings.compartment_policy is not CompartmentPolicy.OPEN or settings.default_allowed_compartments:
        return None
    return (
        f"OCIDS_COMPARTMENT_POLICY=open: a namespace without the {ALLOWED_COMPARTMENTS_ANNOTATION} "
        "annotation may use any compartment, project, log group and subnet the operator's OCI principal "
        "can reach; set the policy to `annotated` and annotate the namespaces to isolate them"
    )


def build_runtime(settings: OperatorSettings) -> Runtime:
    gateway = OciGateway(settings)
    client = KubeClient(kube_login.login())
    fetcher = ArtifactFetcher(settings)
    # One spool, one byte budget, for https:// and oci:// artifacts alike.
    objects = ObjectStore(settings, auth=gateway.auth, spool=fetcher.spool)
    namespaces = NamespaceDirectory(client, ttl=settings.poll_interval_seconds)
    identities = Identities(settings, client, namespaces, gateway, objects, operator_namespace())
    return Runtime(
        settings=settings,
        oci=gateway,
        kube=client,
        poller=make_poller(settings, gateway, client, identities),
        objects=objects,
        artifacts=fetcher,
        namespaces=namespaces,
        identities=identities,
    )


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["iam-policy"]:  # a subcommand that needs no cluster and no OCI access
        from . import iam_policy

        return iam_policy.main(given[1:])
    if given[:1] == ["convert"]:  # offline too: an ADS job YAML -> TrainingJob manifests
        if given[1:2] != ["ads"]:
            print("usage: ocids-operator convert ads JOB.yaml [--name N] [--namespace NS]", file=sys.stderr)
            return 2
        from .convert import ads

        return ads.main(given[2:])
    if given[:2] == ["events", "setup"]:  # the operator's OCI settings, a one-off: no kopf, no cluster
        from .cli import events_setup

        return events_setup.main(given[2:])
    if given[:1] == ["orphans"]:  # the operator's settings, but a one-off report, not kopf
        from .cli import orphans

        return orphans.main(given[1:])
    try:
        settings = load_settings(**parse_args(argv))
    except SettingsError as exc:
        print(f"ocids-operator: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    problem = (
        check_oci_config(settings)
        or (leader_election.timing_problem(settings) if settings.leader_election else None)
        or notifications.startup_problem(settings)
    )
    if problem:
        print(f"ocids-operator: {problem}", file=sys.stderr)
        return 2
    try:
        runtime = build_runtime(settings)
    except Exception as exc:
        print(f"ocids-operator: cannot reach Kubernetes: {exc}", file=sys.stderr)
        return 1
    registry = kopf.OperatorRegistry()
    handlers.register(registry, settings)
    metrics.serve(settings.metrics_port, settings.bind_address)
    liveness = (
        f"http://{settings.bind_address}:{settings.health_port}/healthz" if settings.health_port else None
    )
    log.info(
        "starting: namespaces=%s auth=%s principal=%s datascience_endpoint=%s",
        ",".join(settings.namespaces) or "(all)",
        settings.auth.value,
        describe_principal(settings, runtime),
        settings.datascience_endpoint or "(SDK default)",
    )
    warning = open_policy_warning(settings)
    if warning:
        log.warning("%s", warning)

    def run_operator() -> None:
        kopf.run(
            registry=registry,
            settings=kopf_settings(settings),
            standalone=True,
            clusterwide=not settings.namespaces,
            namespaces=settings.namespaces,
            liveness_endpoint=liveness,
            memo=kopf.Memo(runtime=runtime),
        )

    if settings.leader_election:
        return leadership.run_elected(settings, run_operator)
    metrics.LEADER.set(1)
    run_operator()
    return 0


if __name__ == "__main__":
    sys.exit(main())
