"""The resource principal OCI gives every job run: v2.2 token and key files, named by env vars.

In OCI a job run calls other services as itself (``oci.auth.signers.get_resource_principals_signer()``)
with what the service injects: ``OCI_RESOURCE_PRINCIPAL_VERSION=2.2``, ``OCI_RESOURCE_PRINCIPAL_RPST``,
``OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM`` and ``OCI_RESOURCE_PRINCIPAL_REGION``. Here the token is one
the emulator mints and verifies, so requests signed with it are checked against policies as the run
(``request.principal.type = 'datasciencejobrun'``, dynamic groups on ``resource.id`` /
``resource.compartment.id``), exactly as the run's own log push and image pull are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ocids_emulator.api.identity.resource_principal import (
    DEFAULT_RESOURCE_TYPE,
    issue_resource_principal,
    resource_claims,
)
from ocids_emulator.core.emulator import Emulator
from ocids_emulator.security.session_tokens import SessionTokens
from ocids_emulator.store.sqlite import Record

RUN_PRINCIPAL_DIR = "resource-principal"
# A run without a runtime limit: a day (the emulator does not renew a run's token).
UNLIMITED_RUN_TOKEN_S = 24 * 3600
# Room after the limit for the run's last calls (uploading outputs as it ends).
AFTER_LIMIT_S = 600


def run_principal_environment(emu: Emulator, run: Record, run_folder: Path) -> dict[str, str]:
    """Mint the run's token (bound to a fresh key), write ``rpst`` and ``private.pem`` (0600) into
    ``run_folder/resource-principal`` and return the v2.2 environment (absolute paths: the SDK
    rereads them on a 401)."""
    claims = resource_claims(run.id, DEFAULT_RESOURCE_TYPE, emu.tenancy.tenancy_id, run.doc["compartmentId"])
    tokens = SessionTokens.for_data_dir(emu.settings.data_dir)
    return issue_resource_principal(
        tokens, run_folder / RUN_PRINCIPAL_DIR, claims, token_seconds(emu, run), emu.tenancy.region
    )


def token_seconds(emu: Emulator, run: Record) -> int:
    """Long enough for the whole run: its runtime limit (scaled like the limit itself) plus a margin,
    at least the usual token lifetime; a day when the run has no limit."""
    minutes = max_runtime_minutes(run.meta.get("effective") or {})
    if minutes is None:
        return max(UNLIMITED_RUN_TOKEN_S, emu.settings.session_token_seconds)
    limit = int(minutes * emu.settings.minute_seconds) + AFTER_LIMIT_S
    return max(limit, emu.settings.session_token_seconds)


def max_runtime_minutes(effective: dict[str, Any]) -> float | None:
    """An upper bound of the run's runtime limit: the largest ``maximumRuntimeInMinutes`` given in its
    configuration, its node configuration or a node group (a multi-node run stops at the smallest;
    None: no limit anywhere)."""
    node = effective.get("jobNodeConfigurationDetails") or {}
    configs = [effective.get("jobConfigurationDetails") or {}, node]
    configs += [
        g.get("jobConfigurationDetails") or {} for g in node.get("jobNodeGroupConfigurationDetailsList") or []
    ]
    given = [float(c["maximumRuntimeInMinutes"]) for c in configs if c.get("maximumRuntimeInMinutes")]
    return max(given) if given else None
