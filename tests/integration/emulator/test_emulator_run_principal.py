"""A job run calls OCI as itself: its resource principal (v2.2 env the emulator injects) reads a Vault
secret through the Secrets API and writes an object, all checked against policies as the run."""

from __future__ import annotations

import base64
import textwrap
from typing import Any

import oci
import pytest
from cryptography.hazmat.primitives import serialization
from emulator_support import make_job, messages, run_details, wait_for, wait_run
from ocids_emulator.testing import RunningEmulator
from test_emulator_multinode import group, make_multi_node_job

RUNS_GROUP = "job-runs"
ADMINS = "Allow group Administrators to manage all-resources in tenancy"
SERVICE_NETWORK = "Allow service datascience to use virtual-network-family in tenancy"

# What a driver does: sign with the run's resource principal, read the secret, upload an output.
SCRIPT = textwrap.dedent(
    """
    import base64, os, shutil, stat, sys
    import oci

    rpst, pem = os.environ["OCI_RESOURCE_PRINCIPAL_RPST"], os.environ["OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM"]
    print("modes", *(oct(stat.S_IMODE(os.stat(p).st_mode)) for p in (rpst, pem)))
    # Kept in the work folder so the test can try the token once the run has ended.
    shutil.copytree(os.path.dirname(rpst), "principal-copy")
    signer = oci.auth.signers.get_resource_principals_signer()
    endpoint = os.environ["OCIDS_SECRETS_ENDPOINT"]
    secrets = oci.secrets.SecretsClient({}, signer=signer, service_endpoint=endpoint,
                                        retry_strategy=oci.retry.NoneRetryStrategy())
    try:
        bundle = secrets.get_secret_bundle(os.environ["SECRET_ID"]).data
    except oci.exceptions.ServiceError as exc:
        print("secret refused", exc.status, exc.code)
        sys.exit(3)
    value = base64.b64decode(bundle.secret_bundle_content.content).decode()
    print("secret length", len(value), "version", bundle.version_number)
    storage = oci.object_storage.ObjectStorageClient(
        {}, signer=signer, service_endpoint=os.environ["OCIDS_OBJECT_STORAGE_ENDPOINT"]
    )
    name = "outputs/" + os.environ["JOB_RUN_OCID"] + "/result.txt"
    storage.put_object(os.environ["NAMESPACE"], os.environ["BUCKET"], name, b"trained")
    print("uploaded", name)
    """
)


def _run_policies(emu: RunningEmulator, *statements: str) -> None:
    compartment = emu.ids["COMPARTMENT_ID"]
    rule = f"ALL {{resource.type = 'datasciencejobrun', resource.compartment.id = '{compartment}'}}"
    emu.admin.set_policies([ADMINS, SERVICE_NETWORK, *statements], dynamic_groups={RUNS_GROUP: rule})


def _run_script(emu: RunningEmulator, **job_overrides: Any) -> tuple[Any, str]:
    ids = emu.ids
    client = emu.datascience_client(retries=False)
    env = {
        "OCIDS_SECRETS_ENDPOINT": emu.endpoint,
        "OCIDS_OBJECT_STORAGE_ENDPOINT": emu.endpoint,
        "SECRET_ID": ids["VAULT_SECRET_ID"],
        "NAMESPACE": ids["OBJECT_STORAGE_NAMESPACE"],
        "BUCKET": ids["OBJECT_STORAGE_BUCKET"],
    }
    job = make_job(
        client,
        ids,
        SCRIPT.encode(),
        logging=False,
        job_configuration_details=oci.data_science.models.DefaultJobConfigurationDetails(
            environment_variables=env, maximum_runtime_in_minutes=10
        ),
        **job_overrides,
    )
    run = client.create_job_run(run_details(ids, job.id)).data
    done = wait_run(client, run.id, timeout=60)
    return done, (emu.data_dir / "runs" / run.id / "output.log").read_text()


def test_a_run_reads_a_vault_secret_and_writes_outputs_as_itself(emu: RunningEmulator) -> None:
    compartment = emu.ids["COMPARTMENT_ID"]
    _run_policies(
        emu,
        f"Allow dynamic-group {RUNS_GROUP} to read secret-bundles in compartment id {compartment}",
        f"Allow dynamic-group {RUNS_GROUP} to manage objects in compartment id {compartment}",
    )
    run, output = _run_script(emu)
    assert run.lifecycle_state == "SUCCEEDED", output
    assert "secret length 17 version 1" in output  # len("s3cr3t-from-vault")
    assert "s3cr3t-from-vault" not in output
    stored = emu.object_storage_client().get_object(
        emu.ids["OBJECT_STORAGE_NAMESPACE"],
        emu.ids["OBJECT_STORAGE_BUCKET"],
        f"outputs/{run.id}/result.txt",
    )
    assert stored.data.content == b"trained"
    assert emu.admin.denials() == []
    assert emu.admin.stats()["principals"]["resource"] == 2  # the secret and the upload, as the run

    # The token and key sat in the run's folder, private to it, and went with the run.
    assert "modes 0o600 0o600" in output
    folder = emu.data_dir / "runs" / run.id
    assert not (folder / "resource-principal").exists()
    # The identity ended with the run: its token, still unexpired, is refused.
    copy = folder / "work" / "principal-copy"
    key = serialization.load_pem_private_key((copy / "private.pem").read_bytes(), password=None)
    signer = oci.auth.signers.SecurityTokenSigner((copy / "rpst").read_text(), key)
    secrets = oci.secrets.SecretsClient(
        {"region": emu.ids["REGION"]},
        signer=signer,
        service_endpoint=emu.endpoint,
        retry_strategy=oci.retry.NoneRetryStrategy(),
    )
    with pytest.raises(oci.exceptions.ServiceError) as refused:
        secrets.get_secret_bundle(emu.ids["VAULT_SECRET_ID"])
    assert (refused.value.status, refused.value.code) == (401, "NotAuthenticated")


def test_a_run_without_read_secret_bundles_gets_404_and_the_denial_names_it(emu: RunningEmulator) -> None:
    compartment = emu.ids["COMPARTMENT_ID"]
    # Objects yes, secrets no: the run's read of the secret is refused as OCI refuses it.
    _run_policies(emu, f"Allow dynamic-group {RUNS_GROUP} to manage objects in compartment id {compartment}")
    run, output = _run_script(emu)
    assert run.lifecycle_state == "FAILED"
    assert "secret refused 404 NotAuthorizedOrNotFound" in output
    [denial] = emu.admin.denials()
    assert denial["operation"] == "get_secret_bundle"
    assert denial["principalType"] == "datasciencejobrun"
    assert denial["principalId"] == run.id
    assert denial["needs"] == f"read secret-bundles in compartment id {compartment}"


def test_secrets_api_through_the_sdk(emu: RunningEmulator) -> None:
    secrets = emu.secrets_client(retries=False)
    secret_id = emu.ids["VAULT_SECRET_ID"]
    bundle = secrets.get_secret_bundle(secret_id).data
    assert (bundle.secret_id, bundle.version_number, bundle.stages) == (secret_id, 1, ["CURRENT", "LATEST"])
    assert bundle.secret_bundle_content.content_type == "BASE64"
    assert base64.b64decode(bundle.secret_bundle_content.content) == b"s3cr3t-from-vault"
    assert secrets.get_secret_bundle(secret_id, stage="CURRENT", version_number=1).data.version_number == 1

    emu.admin.set_vault_secret(secret_id, "rotated")
    bundle = secrets.get_secret_bundle(secret_id).data
    assert (bundle.version_number, base64.b64decode(bundle.secret_bundle_content.content)) == (2, b"rotated")

    for kwargs in ({"version_number": 1}, {"stage": "PREVIOUS"}, {"secret_version_name": "v1"}):
        with pytest.raises(oci.exceptions.ServiceError) as err:
            secrets.get_secret_bundle(secret_id, **kwargs)
        assert (err.value.status, err.value.code) == (404, "NotAuthorizedOrNotFound")
    with pytest.raises(oci.exceptions.ServiceError) as err:
        secrets.get_secret_bundle("ocid1.vaultsecret.oc1.iad.nosuch")
    assert (err.value.status, err.value.code) == (404, "NotAuthorizedOrNotFound")


NODE_SCRIPT = b"""\
import base64, os
import oci

signer = oci.auth.signers.get_resource_principals_signer()
secrets = oci.secrets.SecretsClient({}, signer=signer, service_endpoint=os.environ["OCIDS_SECRETS_ENDPOINT"])
bundle = secrets.get_secret_bundle(os.environ["SECRET_ID"]).data
value = base64.b64decode(bundle.secret_bundle_content.content)
print("rank", os.environ["NODE_RANK"], "secret length", len(value))
"""


def test_every_node_of_a_multi_node_run_gets_its_resource_principal(emu: RunningEmulator) -> None:
    ids = emu.ids
    client = emu.datascience_client(retries=False)
    env = {"OCIDS_SECRETS_ENDPOINT": emu.endpoint, "SECRET_ID": ids["VAULT_SECRET_ID"]}
    job = make_multi_node_job(client, ids, NODE_SCRIPT, group("workers", 2, env=env))
    run = client.create_job_run(run_details(ids, job.id)).data
    assert wait_run(client, run.id, timeout=60).lifecycle_state == "SUCCEEDED"
    lines = wait_for(lambda: sorted(m for m in messages(emu, ids, run) if "secret length" in m) or None)
    assert lines == ["rank 0 secret length 17", "rank 1 secret length 17"]
    assert emu.admin.stats()["principals"]["resource"] == 2
