"""OCI SDK clients signed as the job run itself (its resource principal).

``oci`` is imported here, lazily, so the driver starts in environments without it and only the
features that need OCI (Vault secrets, outputs) require it.
"""

from __future__ import annotations

import os
from typing import Any

from . import DriverError

RESOURCE_PRINCIPAL_VERSION = "OCI_RESOURCE_PRINCIPAL_VERSION"


def resource_principal_client(client_path: str, endpoint_variable: str) -> Any:
    """A client of ``oci.<client_path>`` (e.g. ``secrets.SecretsClient``); its endpoint is
    ``endpoint_variable`` when set (a private realm, the emulator), else OCI's regional one."""
    try:
        import oci  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        raise DriverError(
            "the OCI Python SDK (package oci) is not installed in this job's environment; "
            "Vault secrets and outputs need it (use a conda environment that has it)"
        ) from exc
    if not os.environ.get(RESOURCE_PRINCIPAL_VERSION):
        raise DriverError(
            f"this environment has no resource principal ({RESOURCE_PRINCIPAL_VERSION} is not set); "
            "OCI sets it in every job run"
        )
    signer = oci.auth.signers.get_resource_principals_signer()
    module_name, class_name = client_path.split(".")
    client_class = getattr(getattr(oci, module_name), class_name)
    kwargs: dict[str, Any] = {"signer": signer}
    endpoint = os.environ.get(endpoint_variable)
    if endpoint:
        kwargs["service_endpoint"] = endpoint
    return client_class({"region": signer.region}, **kwargs)
