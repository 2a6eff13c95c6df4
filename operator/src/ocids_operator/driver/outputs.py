"""Uploading the run's output directory to Object Storage when the user code has finished."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from . import DriverError
from .oci_clients import resource_principal_client

URI_VARIABLE = "OCIDS_DRIVER_OUTPUT_URI"
ENDPOINT_VARIABLE = "OCIDS_OBJECT_STORAGE_ENDPOINT"


class OutputLocation(NamedTuple):
    bucket: str
    namespace: str
    prefix: str  # without leading or trailing "/", may be empty

    def object_name(self, run_id: str, relative: str) -> str:
        return "/".join(part for part in (self.prefix, run_id, relative) if part)

    def run_uri(self, run_id: str) -> str:
        return f"oci://{self.bucket}@{self.namespace}/{self.object_name(run_id, '')}/"


def parse_output_uri(uri: str) -> OutputLocation:
    """``oci://bucket@namespace/prefix/`` -> its parts; anything else names the variable."""
    scheme, sep, rest = uri.partition("://")
    authority, _, path = rest.partition("/")
    bucket, at, namespace = authority.partition("@")
    if scheme != "oci" or not sep or not at or not bucket or not namespace:
        raise DriverError(f"{URI_VARIABLE} {uri!r} is not of the form oci://bucket@namespace/prefix/")
    return OutputLocation(bucket, namespace, path.strip("/"))


def files_under(directory: Path) -> list[tuple[Path, str]]:
    """Every regular file under ``directory`` (symlinks to files included), with its path
    relative to it in "/" form, sorted so uploads (and their log lines) come in a stable order."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = Path(root, name)
            if path.is_file():
                found.append((path, path.relative_to(directory).as_posix()))
    return found


def upload_outputs(directory: Path, uri: str, run_id: str) -> list[str]:
    """Put every file under ``directory`` at ``<prefix>/<run_id>/<relative path>``; the names."""
    location = parse_output_uri(uri)
    if not run_id:
        raise DriverError("JOB_RUN_OCID is not set, so the outputs have no run folder to go to")
    files = files_under(directory) if directory.is_dir() else []
    if not files:
        return []
    client = resource_principal_client("object_storage.ObjectStorageClient", ENDPOINT_VARIABLE)
    names = []
    for path, relative in files:
        name = location.object_name(run_id, relative)
        with path.open("rb") as body:
            client.put_object(location.namespace, location.bucket, name, body)
        names.append(name)
    return names
