"""Which poller follows the runs: the compartment poller, or the benchmark's naive baseline."""

from __future__ import annotations

from ..adapters.kube import KubeClient
from ..adapters.oci_client import DataScience
from ..adapters.oci_identities import Identities
from ..settings import OperatorSettings
from .per_run_poller import PerRunPoller
from .run_poller import RunPoller


def make_poller(
    settings: OperatorSettings, gateway: DataScience, kube: KubeClient, identities: Identities | None = None
) -> RunPoller:
    """`identities`: the OCI identity of each run lists and reads it (None: the operator's for all)."""
    if settings.poll_mode == "per_run":
        return PerRunPoller(settings, gateway, kube, identities=identities)
    return RunPoller(settings, gateway, kube, identities=identities)
