"""OCID minting, shaped like the real ones so clients that parse OCIDs keep working."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits
_REGION_KEYS = {
    "us-ashburn-1": "iad",
    "us-phoenix-1": "phx",
    "eu-frankfurt-1": "fra",
    "uk-london-1": "lhr",
    "ap-tokyo-1": "nrt",
}


def region_key(region: str) -> str:
    return _REGION_KEYS.get(region, region)


def new_ocid(resource_type: str, region: str = "") -> str:
    unique = "amaaaaaa" + "".join(secrets.choice(_ALPHABET) for _ in range(52))
    realm_region = f"oc1.{region_key(region)}" if region else "oc1."
    return f"ocid1.{resource_type}.{realm_region}.{unique}"
