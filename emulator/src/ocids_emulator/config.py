"""The emulated tenancy: files ``init`` writes and ``serve`` reads.

A data folder holds ``config`` (an OCI config file, profile DEFAULT), the API key pair beside it,
``tenancy.json`` (which tenancy, users, keys, compartments, projects, log groups, subnets and
container repositories exist, and the
IAM groups, dynamic groups and policies; edit it to add compartments or change policies) and
``ids.env`` (the ids tests and the operator need). It also says what jobs can run on: job shapes,
fast-launch configs and compute targets (``core/catalog.py``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ocids_emulator.core.catalog import (
    CatalogError,
    Shape,
    builtin_shapes_json,
    parse_compute_targets,
    parse_fast_launch,
    parse_shapes,
)
from ocids_emulator.core.ocids import new_ocid
from ocids_emulator.core.timeutil import now_rfc3339

CONFIG_FILE = "config"
TENANCY_FILE = "tenancy.json"
IDS_FILE = "ids.env"
PRIVATE_KEY_FILE = "oci_api_key.pem"
PUBLIC_KEY_FILE = "oci_api_key_public.pem"
ENDPOINT_FILE = "endpoint"
DB_FILE = "emulator.sqlite3"
DEFAULT_REGION = "us-ashburn-1"
DEFAULT_BUCKET = "ocids-artifacts"
DEFAULT_SECRET_NAME = "emulator-secret"
DEFAULT_SECRET_CONTENT = "s3cr3t-from-vault"
ADMIN_GROUP = "Administrators"
DEFAULT_POLICIES = (
    f"Allow group {ADMIN_GROUP} to manage all-resources in tenancy",
    "Allow any-user to manage all-resources in tenancy where request.principal.type != 'user'",
    # OCI's own Data Science service attaches a job run's VNIC to the job's subnet.
    "Allow service datascience to use virtual-network-family in tenancy",
    # OCI Events delivers a rule's actions as itself: to streams and to Notifications topics.
    "Allow service cloudEvents to use stream-push in tenancy",
    "Allow service cloudEvents to use ons-topics in tenancy",
)


@dataclass
class Tenancy:
    tenancy_id: str
    user_id: str
    region: str
    # fingerprint -> PEM public key
    api_keys: dict[str, str]
    compartments: dict[str, str]  # id -> name
    projects: dict[str, dict[str, Any]]  # id -> {compartmentId, displayName}
    log_groups: list[dict[str, Any]] = field(default_factory=list)
    # Object Storage: the tenancy's namespace and the buckets seeded at start ({name, compartmentId}).
    object_storage_namespace: str = ""
    buckets: list[dict[str, Any]] = field(default_factory=list)
    # IAM (security/policies.py): statements in OCI syntax; None (no key) means allow everything,
    # so data folders made before policies existed keep working.
    policies: list[str] | None = None
    groups: dict[str, list[str]] = field(default_factory=dict)  # name -> user OCIDs
    dynamic_groups: dict[str, str] = field(default_factory=dict)  # name -> matching rule
    # Networking and Container Registry, only as far as IAM needs them: where each lives.
    subnets: dict[str, str] = field(default_factory=dict)  # subnet id -> compartment id
    subnet_names: dict[str, str] = field(default_factory=dict)  # subnet id -> display name
    # OCIR repository "<namespace>/<name>" -> compartment id; others are in the root compartment.
    repositories: dict[str, str] = field(default_factory=dict)
    # OCI Vault secrets the Secrets API serves (api/secrets): id -> {id, compartmentId, name,
    # content (plain text), versionNumber, timeCreated}; the admin API may change them live.
    vault_secrets: dict[str, dict[str, Any]] = field(default_factory=dict)

    # More API-key users (tenancy.json `users`): user OCID -> {fingerprint: PEM public key}.
    users: dict[str, dict[str, str]] = field(default_factory=dict)
    # What jobs can run on (core/catalog.py): shapes by name, fast-launch configs, compute targets by id.
    job_shapes: dict[str, Shape] = field(default_factory=lambda: parse_shapes(None))
    fast_launch_configs: list[dict[str, Any]] = field(default_factory=list)
    compute_targets: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def key_ids(self) -> dict[str, str]:
        """keyId as the SDK sends it (tenancy/user/fingerprint) -> PEM public key."""
        keys = {f"{self.tenancy_id}/{self.user_id}/{fp}": pem for fp, pem in self.api_keys.items()}
        for user, api_keys in self.users.items():
            keys.update({f"{self.tenancy_id}/{user}/{fp}": pem for fp, pem in api_keys.items()})
        return keys


def fingerprint(public_pem: bytes) -> str:
    key = serialization.load_pem_public_key(public_pem)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.md5(der).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _write_key_pair(data_dir: Path) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_path = data_dir / PRIVATE_KEY_FILE
    # The key file is created private from the start: never world-readable, not even briefly.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_pem)
        # The label OCI's console adds to downloaded keys; the oci CLI warns about keys without it.
        fh.write(b"OCI_API_KEY\n")
    (data_dir / PUBLIC_KEY_FILE).write_bytes(public_pem)
    return fingerprint(public_pem), public_pem.decode()


def is_initialized(data_dir: Path) -> bool:
    return all((data_dir / name).exists() for name in (CONFIG_FILE, TENANCY_FILE, IDS_FILE, PRIVATE_KEY_FILE))


def init_data_dir(data_dir: Path, region: str = DEFAULT_REGION) -> dict[str, str]:
    """Create a fresh tenancy in ``data_dir`` and return the ids written to ids.env."""
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir = data_dir.resolve()
    fp, _ = _write_key_pair(data_dir)
    tenancy_id = new_ocid("tenancy")
    user_id = new_ocid("user")
    compartment_id = new_ocid("compartment")
    project_id = new_ocid("datascienceproject", region)
    log_group_id = new_ocid("loggroup", region)
    subnet_id = new_ocid("subnet", region)
    compute_target_id = new_ocid("datasciencecomputetarget", region)
    secret_id = new_ocid("vaultsecret", region)
    namespace = new_namespace()
    tenancy = {
        "tenancyId": tenancy_id,
        "userId": user_id,
        "region": region,
        "apiKeys": [{"fingerprint": fp, "publicKeyFile": PUBLIC_KEY_FILE}],
        "compartments": [{"id": compartment_id, "name": "emulator"}],
        "projects": [{"id": project_id, "compartmentId": compartment_id, "displayName": "emulator-project"}],
        "logGroups": [{"id": log_group_id, "compartmentId": compartment_id, "displayName": "emulator-logs"}],
        "subnets": [{"id": subnet_id, "compartmentId": compartment_id, "displayName": "emulator-subnet"}],
        "containerRepositories": [],
        # OCI Vault secrets, served by the Secrets API (content is plain text here, base64 on the wire).
        "vaultSecrets": [
            {
                "id": secret_id,
                "compartmentId": compartment_id,
                "name": DEFAULT_SECRET_NAME,
                "content": DEFAULT_SECRET_CONTENT,
            }
        ],
        # What jobs run on (edit before serve, or PUT /_emulator/tenancy/<key> while it runs).
        "jobShapes": builtin_shapes_json(),
        "fastLaunchJobConfigs": parse_fast_launch(None, parse_shapes(None)),
        "computeTargets": [
            {
                "id": compute_target_id,
                "compartmentId": compartment_id,
                "displayName": "emulator-compute-target",
                "lifecycleState": "ACTIVE",
                "instanceShape": "VM.Standard.E4.Flex",
                "ocpus": 16,
                "memoryInGBs": 256,
                "instanceCount": 1,
            }
        ],
        "objectStorage": {
            "namespace": namespace,
            "buckets": [{"name": DEFAULT_BUCKET, "compartmentId": compartment_id}],
        },
        # Users need policies as in OCI: the config user is an administrator. The keyless
        # principals this emulator issues (workloads, resource and instance principals) are
        # trusted too, so they work out of the box; drop that statement to test real policies.
        "groups": {ADMIN_GROUP: [user_id]},
        "dynamicGroups": {},
        "policies": list(DEFAULT_POLICIES),
    }
    (data_dir / TENANCY_FILE).write_text(json.dumps(tenancy, indent=2) + "\n")
    (data_dir / CONFIG_FILE).write_text(
        "[DEFAULT]\n"
        f"user={user_id}\n"
        f"fingerprint={fp}\n"
        f"tenancy={tenancy_id}\n"
        f"region={region}\n"
        f"key_file={data_dir / PRIVATE_KEY_FILE}\n"
    )
    os.chmod(data_dir / CONFIG_FILE, 0o600)
    ids = {
        "TENANCY_ID": tenancy_id,
        "USER_ID": user_id,
        "COMPARTMENT_ID": compartment_id,
        "PROJECT_ID": project_id,
        "REGION": region,
        "LOG_GROUP_ID": log_group_id,
        "SUBNET_ID": subnet_id,
        "FINGERPRINT": fp,
        "OCI_CONFIG_FILE": str(data_dir / CONFIG_FILE),
        "OCI_CONFIG_PROFILE": "DEFAULT",
        "OBJECT_STORAGE_NAMESPACE": namespace,
        "OBJECT_STORAGE_BUCKET": DEFAULT_BUCKET,
        "COMPUTE_TARGET_ID": compute_target_id,
        "VAULT_SECRET_ID": secret_id,
    }
    (data_dir / IDS_FILE).write_text("".join(f"{k}={v}\n" for k, v in ids.items()))
    return ids


def read_ids(data_dir: Path) -> dict[str, str]:
    ids: dict[str, str] = {}
    for line in (data_dir / IDS_FILE).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            ids[key.strip()] = value.strip()
    return ids


def new_namespace() -> str:
    """An Object Storage namespace shaped like OCI's (short, lowercase letters and digits)."""
    return "emu" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(9))


def _namespace_of(raw: dict[str, Any]) -> str:
    configured = raw.get("objectStorage", {}).get("namespace")
    if configured:
        return str(configured)
    # Data folders made before Object Storage existed: a stable namespace derived from the tenancy.
    return "emu" + hashlib.sha256(raw["tenancyId"].encode()).hexdigest()[:9]


def load_tenancy(data_dir: Path) -> Tenancy:
    """tenancy.json as the emulator uses it; a malformed catalog entry raises CatalogError naming it."""
    raw = json.loads((data_dir / TENANCY_FILE).read_text())
    keys: dict[str, str] = {}
    for entry in raw.get("apiKeys", []):
        pem = entry.get("publicKey") or (data_dir / entry["publicKeyFile"]).read_text()
        keys[entry.get("fingerprint") or fingerprint(pem.encode())] = pem
    return Tenancy(
        tenancy_id=raw["tenancyId"],
        user_id=raw["userId"],
        region=raw.get("region", DEFAULT_REGION),
        api_keys=keys,
        compartments={c["id"]: c.get("name", "") for c in raw.get("compartments", [])},
        projects={p["id"]: p for p in raw.get("projects", [])},
        log_groups=list(raw.get("logGroups", [])),
        object_storage_namespace=_namespace_of(raw),
        buckets=list(raw.get("objectStorage", {}).get("buckets", [])),
        policies=raw.get("policies"),
        groups=raw.get("groups") or {},
        dynamic_groups=raw.get("dynamicGroups") or {},
        users={
            user["id"]: {
                key.get("fingerprint") or fingerprint(key["publicKey"].encode()): key["publicKey"]
                for key in user.get("apiKeys", [])
            }
            for user in raw.get("users", [])
        },
        subnets=_subnets_of(raw, data_dir),
        subnet_names={s["id"]: s.get("displayName", "subnet") for s in raw.get("subnets", [])},
        repositories={r["name"]: r["compartmentId"] for r in raw.get("containerRepositories", [])},
        vault_secrets=parse_vault_secrets(raw.get("vaultSecrets")),
        **catalog_of(raw),
    )


def catalog_of(raw: dict[str, Any]) -> dict[str, Any]:
    """The Tenancy fields of tenancy.json's jobShapes, fastLaunchJobConfigs and computeTargets
    (absent shapes or configs: the built-in ones; absent targets: none)."""
    shapes = parse_shapes(raw.get("jobShapes"))
    compartments = {c["id"]: c.get("name", "") for c in raw.get("compartments", [])}
    compartments[raw["tenancyId"]] = "tenancy"
    return {
        "job_shapes": shapes,
        "fast_launch_configs": parse_fast_launch(raw.get("fastLaunchJobConfigs"), shapes),
        "compute_targets": parse_compute_targets(raw.get("computeTargets"), compartments),
    }


def parse_vault_secrets(raw: Any) -> dict[str, dict[str, Any]]:
    """tenancy.json ``vaultSecrets: [{id, compartmentId, name?, content}]`` (absent: none), each at
    version 1; CatalogError naming a malformed entry."""
    secrets_by_id: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(raw or []):
        where = f"tenancy.json vaultSecrets[{index}]"
        if not isinstance(entry, dict):
            raise CatalogError(f"{where}: must be an object {{id, compartmentId, name, content}}")
        for key in ("id", "compartmentId", "content"):
            if not isinstance(entry.get(key), str) or (key != "content" and not entry[key]):
                raise CatalogError(f"{where}.{key}: must be a string")
        secrets_by_id[entry["id"]] = vault_secret(
            entry["id"], entry["compartmentId"], entry["content"], str(entry.get("name") or entry["id"])
        )
    return secrets_by_id


def vault_secret(
    secret_id: str, compartment_id: str, content: str, name: str, version: int = 1
) -> dict[str, Any]:
    return {
        "id": secret_id,
        "compartmentId": compartment_id,
        "name": name,
        "content": content,
        "versionNumber": version,
        "timeCreated": now_rfc3339(),
    }


def _subnets_of(raw: dict[str, Any], data_dir: Path) -> dict[str, str]:
    if "subnets" in raw:
        return {s["id"]: s["compartmentId"] for s in raw["subnets"]}
    # Data folders made before subnets existed: ids.env's SUBNET_ID, in the first compartment.
    subnet = read_ids(data_dir).get("SUBNET_ID") if (data_dir / IDS_FILE).exists() else None
    compartments = raw.get("compartments") or []
    return {subnet: compartments[0]["id"]} if subnet and compartments else {}


def content_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()
