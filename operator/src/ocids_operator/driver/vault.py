"""OCI Vault secrets -> environment variables, read at run time so no value sits in the job."""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import MutableMapping

from . import DriverError
from .oci_clients import resource_principal_client

SECRETS_VARIABLE = "OCIDS_DRIVER_VAULT_SECRETS"
ENDPOINT_VARIABLE = "OCIDS_SECRETS_ENDPOINT"


def requested_secrets(environ: MutableMapping[str, str]) -> dict[str, str]:
    """``{"ENV_NAME": "ocid1.vaultsecret..."}`` from OCIDS_DRIVER_VAULT_SECRETS (empty when unset)."""
    raw = environ.get(SECRETS_VARIABLE, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise DriverError(f"{SECRETS_VARIABLE} is not valid JSON ({exc})") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
    ):
        raise DriverError(f'{SECRETS_VARIABLE} must be a JSON object {{"ENV_NAME": "<secret OCID>"}}')
    return value


def load_secrets(environ: MutableMapping[str, str]) -> list[str]:
    """Set each requested variable from its secret's current version; the names set, in order.

    A failure names the variable and the secret OCID, never a value."""
    wanted = requested_secrets(environ)
    if not wanted:
        return []
    try:
        client = resource_principal_client("secrets.SecretsClient", ENDPOINT_VARIABLE)
    except DriverError as exc:
        requested = ", ".join(f"{name} ({secret_id})" for name, secret_id in sorted(wanted.items()))
        raise DriverError(f"cannot read the Vault secrets for {requested}: {exc}") from exc
    for name, secret_id in sorted(wanted.items()):
        try:
            bundle = client.get_secret_bundle(secret_id).data
            content = bundle.secret_bundle_content.content or ""
            value = base64.b64decode(content, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise DriverError(
                f"the Vault secret {secret_id} for {name} is not UTF-8 text, so it cannot be an "
                f"environment variable ({type(exc).__name__})"
            ) from exc
        except Exception as exc:  # the SDK's ServiceError and transport errors alike
            raise DriverError(f"cannot read the Vault secret {secret_id} for {name}: {_reason(exc)}") from exc
        if "\x00" in value:
            raise DriverError(f"the Vault secret {secret_id} for {name} contains a NUL character")
        environ[name] = value
    return sorted(wanted)


def _reason(exc: Exception) -> str:
    status, code, message = (getattr(exc, attr, None) for attr in ("status", "code", "message"))
    if status is not None:
        return f"{status} {code}: {message}"
    return f"{type(exc).__name__}: {exc}"


def apply_to_environment() -> list[str]:
    return load_secrets(os.environ)
