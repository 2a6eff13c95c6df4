"""What the secrets test hides and where it looks for it.

`Secrets` holds every distinctive value the operator is handed (Secret values behind secretKeyRef,
the pass phrase of its API key and a piece of that key, a PAR token); `exposures` collects the
places the operator writes to (its whole log, every Event in the namespace, every resource's status)
and `leaks` says which of those contain which value.
"""

from __future__ import annotations

import configparser
import json
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from operator_harness import JOBS, RUNS, OciTarget, Scenario


@dataclass(frozen=True)
class Secrets:
    job_token: str
    run_token: str
    pass_phrase: str
    key_piece: str
    par_token: str

    @classmethod
    def fresh(cls) -> Secrets:
        return cls(
            job_token="s3cr3t-job-" + secrets.token_hex(12),
            run_token="s3cr3t-run-" + secrets.token_hex(12),
            pass_phrase="s3cr3t-pass-" + secrets.token_hex(12),
            key_piece="",
            par_token="s3cr3tPAR" + secrets.token_urlsafe(30),
        )

    def values(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


def encrypted_key_target(target: OciTarget, work: Path, hidden: Secrets) -> tuple[OciTarget, Secrets]:
    """The same API key, re-encrypted under `hidden.pass_phrase` (set as the config's pass_phrase)."""
    parser = configparser.ConfigParser()
    parser.read(target.config_file)
    section = parser[target.profile]
    key = serialization.load_pem_private_key(Path(section["key_file"]).read_bytes(), password=None)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(hidden.pass_phrase.encode()),
    )
    key_path = work / "encrypted_key.pem"
    key_path.write_bytes(pem)
    key_path.chmod(0o600)
    section["key_file"] = str(key_path)
    section["pass_phrase"] = hidden.pass_phrase
    config_path = work / "config_with_pass_phrase"
    with open(config_path, "w") as fh:
        parser.write(fh)
    config_path.chmod(0o600)
    # A line from the middle of the key file: text that exists nowhere but in the key.
    lines = pem.decode().splitlines()
    return replace(target, config_file=config_path), replace(hidden, key_piece=lines[len(lines) // 2])


def exposures(world: Scenario, log_text: str) -> dict[str, list[str]]:
    """Every line of text the operator wrote that a user (or a log shipper) can read."""
    statuses = [
        json.dumps({"name": obj["metadata"]["name"], "status": obj.get("status")})
        for kind in (JOBS, RUNS)
        for obj in world.kube.list_objects(kind, world.namespace)
    ]
    return {
        "log lines": log_text.splitlines(),
        "events": [json.dumps(ev) for ev in world.kube.events(world.namespace)],
        "statuses": statuses,
    }


def leaks(places: dict[str, list[str]], hidden: Secrets) -> list[str]:
    return [
        f"{what} in {where}: {line[:300]}"
        for where, lines in places.items()
        for line in lines
        for what, value in hidden.values().items()
        if value in line
    ]
