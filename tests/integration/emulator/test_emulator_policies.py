"""IAM policies through the real SDK: API-key users, OKE workloads, resource and instance principals
are allowed only by a matching statement; anything else is OCI's 404 NotAuthorizedOrNotFound."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

import oci
import pytest
from emulator_support import job_details
from identity_support import ds_client
from ocids_emulator.config import TENANCY_FILE, init_data_dir
from ocids_emulator.testing import PROXYMUX_PORT, RunningEmulator, free_loopback_host, running_emulator

ADMIN = "Allow group Administrators to manage all-resources in tenancy"
DENIED = (404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found.")


def denied(call: Callable[[], Any]) -> None:
    with pytest.raises(oci.exceptions.ServiceError) as exc:
        call()
    assert (exc.value.status, exc.value.code, exc.value.message) == DENIED


def test_api_key_user_is_allowed_by_the_admin_statement_init_writes(emu: RunningEmulator) -> None:
    assert ADMIN in emu.admin.policies()["policies"]
    client = emu.datascience_client(retries=False)
    job = client.create_job(job_details(emu.ids)).data
    assert client.get_job(job.id).data.id == job.id
    storage = emu.object_storage_client(retries=False)
    assert (
        storage.list_objects(emu.ids["OBJECT_STORAGE_NAMESPACE"], emu.ids["OBJECT_STORAGE_BUCKET"]).status
        == 200
    )
    assert emu.admin.stats()["policyDenials"] == {}


def test_api_key_user_in_no_group_is_denied(emu: RunningEmulator) -> None:
    client = emu.datascience_client(retries=False)
    job = client.create_job(job_details(emu.ids)).data
    emu.admin.set_policies([ADMIN], groups={"Administrators": []})
    denied(lambda: client.list_jobs(compartment_id=emu.ids["COMPARTMENT_ID"]))
    denied(lambda: client.get_job(job.id))
    denied(lambda: client.create_job(job_details(emu.ids)))
    denied(
        lambda: emu.log_search_client(retries=False).search_logs(
            oci.loggingsearch.models.SearchLogsDetails(
                time_start="2026-01-01T00:00:00Z",
                time_end="2026-01-02T00:00:00Z",
                search_query=f'search "{emu.ids["COMPARTMENT_ID"]}"',
            )
        )
    )
    assert emu.admin.stats()["policyDenials"] == {"user": 4}
    # A statement scoped to the compartment (by name) lets the user read there, and no more.
    emu.admin.set_policies(
        [
            "Allow any-user to read data-science-jobs in compartment emulator "
            "where request.principal.type='user'"
        ]
    )
    assert client.get_job(job.id).data.id == job.id
    denied(lambda: client.create_job(job_details(emu.ids)))
    emu.admin.set_policies(None)  # no policies at all: allow everything, as a data folder without the key
    assert client.create_job(job_details(emu.ids)).status == 200


def test_malformed_statement_is_refused_live_and_at_start(emu: RunningEmulator, tmp_path: Path) -> None:
    bad = "Allow group Administrators to own all-resources in tenancy"
    with pytest.raises(urllib.error.HTTPError) as exc:
        emu.admin.set_policies([bad])
    assert exc.value.code == 400 and bad in exc.value.read().decode()
    assert emu.admin.policies()["policies"] is not None and bad not in emu.admin.policies()["policies"]

    data_dir = tmp_path / "bad"
    init_data_dir(data_dir)
    tenancy = json.loads((data_dir / TENANCY_FILE).read_text())
    tenancy["policies"] = [ADMIN, bad]
    (data_dir / TENANCY_FILE).write_text(json.dumps(tenancy))
    command = [
        sys.executable,
        "-m",
        "ocids_emulator.cli",
        "serve",
        "--data-dir",
        str(data_dir),
        "--port",
        "0",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and bad in done.stderr


def test_data_folder_without_policies_allows_everything(tmp_path: Path) -> None:
    data_dir = tmp_path / "legacy"
    init_data_dir(data_dir)
    tenancy = json.loads((data_dir / TENANCY_FILE).read_text())
    for key in ("policies", "groups", "dynamicGroups"):
        tenancy.pop(key)
    (data_dir / TENANCY_FILE).write_text(json.dumps(tenancy))
    with running_emulator(data_dir, policies=None) as emu:
        assert emu.admin.policies()["policies"] is None
        assert emu.datascience_client(retries=False).create_job(job_details(emu.ids)).status == 200


def test_resource_principal_by_type_condition_and_dynamic_group(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ns, bucket = emu.ids["OBJECT_STORAGE_NAMESPACE"], emu.ids["OBJECT_STORAGE_BUCKET"]
    emu.object_storage_client(retries=False).put_object(ns, bucket, "input.txt", b"hello")
    emu.admin.set_policies(
        [
            ADMIN,
            "Allow any-user to read objects in compartment emulator "
            "where request.principal.type='datasciencejobrun'",
            "Allow dynamic-group job-runs to use data-science-family in tenancy",
        ],
        dynamic_groups={
            "job-runs": f"ALL {{resource.type = 'datasciencejobrun', "
            f"resource.compartment.id = '{emu.ids['COMPARTMENT_ID']}'}}"
        },
    )
    for key, value in emu.resource_principal(out_dir=tmp_path / "rp").items():
        monkeypatch.setenv(key, value)
    signer = oci.auth.signers.get_resource_principals_signer()
    storage = oci.object_storage.ObjectStorageClient(
        {"region": emu.ids["REGION"]}, signer=signer, service_endpoint=emu.endpoint
    )
    assert storage.get_object(ns, bucket, "input.txt").data.content == b"hello"
    denied(lambda: storage.delete_object(ns, bucket, "input.txt"))
    client = ds_client(emu, signer)
    assert client.list_jobs(compartment_id=emu.ids["COMPARTMENT_ID"]).status == 200
    denied(lambda: client.create_job(job_details(emu.ids)))  # create needs manage
    assert emu.admin.stats()["policyDenials"] == {"resource": 2}


def test_instance_principal_via_dynamic_group(emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    job = emu.datascience_client(retries=False).create_job(job_details(emu.ids)).data
    rule = f"ANY {{instance.compartment.id = '{emu.ids['COMPARTMENT_ID']}'}}"
    statements = [ADMIN, "Allow dynamic-group ocids-nodes to use data-science-family in compartment emulator"]
    emu.admin.set_policies(statements, dynamic_groups={"ocids-nodes": rule})
    monkeypatch.setenv("OCI_METADATA_BASE_URL", f"{emu.endpoint}/opc/v2")
    signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner(
        federation_endpoint=f"{emu.endpoint}/v1/x509"
    )
    client = ds_client(emu, signer)
    assert client.get_job(job.id).data.id == job.id
    denied(lambda: client.delete_job(job.id))
    emu.admin.set_policies(statements, dynamic_groups={"ocids-nodes": "ANY {instance.compartment.id = 'x'}"})
    denied(lambda: client.get_job(job.id))
    assert emu.admin.stats()["policyDenials"] == {"instance": 2}


def test_workload_allowed_by_namespace_condition_then_denied_when_removed(
    tmp_path: Path, cluster: Any, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster.kubectl("create", "serviceaccount", "ocids-operator", "-n", namespace)
    sa_token = str(cluster.kubectl("create", "token", "ocids-operator", "-n", namespace).stdout.strip())
    host = free_loopback_host()
    with running_emulator(
        tmp_path / "emu", proxymux=f"{host}:{PROXYMUX_PORT}", kubeconfig=cluster.kubeconfig
    ) as emu:
        for key, value in emu.workload_identity_env.items():
            monkeypatch.setenv(key, value)
        where = (
            f"in compartment id {emu.ids['COMPARTMENT_ID']} where all {{request.principal.type='workload', "
            f"request.principal.namespace='{namespace}', request.principal.service_account='ocids-operator'}}"
        )
        # The job names a subnet and a log group: the caller needs rights on them too, as in OCI.
        needs = ("manage data-science-family", "use virtual-network-family", "manage logging-family")
        emu.admin.set_policies([ADMIN, *(f"Allow any-user to {need} {where}" for need in needs)])
        signer = oci.auth.signers.get_oke_workload_identity_resource_principal_signer(
            service_account_token=sa_token
        )
        client = ds_client(emu, signer)
        job = client.create_job(job_details(emu.ids)).data
        assert client.get_job(job.id).data.id == job.id
        emu.admin.set_policies([ADMIN])
        denied(lambda: client.get_job(job.id))
        denied(lambda: client.list_jobs(compartment_id=emu.ids["COMPARTMENT_ID"]))
        assert emu.admin.stats()["policyDenials"] == {"workload": 2}
