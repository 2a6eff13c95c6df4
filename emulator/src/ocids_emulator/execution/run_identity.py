"""What a job run does with its own identity, checked against IAM as OCI does.

In OCI a job run is a resource principal (``resource.type = 'datasciencejobrun'``): it pushes its
logs, pulls its container image and downloads a published conda environment as itself, and the
Data Science service attaches its VNIC to the job's subnet as ``service datascience``. None of this
is the caller's permission, so a tenancy whose policies only cover the caller gets runs that fail
(image, conda, subnet) or succeed with empty logs. The messages name the missing permission.
"""

from __future__ import annotations

from ocids_emulator.api.object_storage.buckets import BUCKET
from ocids_emulator.core.emulator import LOG, Emulator
from ocids_emulator.security.policies import job_run_principal, permission_text, service_principal
from ocids_emulator.security.session_tokens import TokenPrincipal
from ocids_emulator.store.sqlite import Record

DATA_SCIENCE_SERVICE = "datascience"


def run_principal(emu: Emulator, run: Record) -> TokenPrincipal:
    return job_run_principal(run.id, run.doc["compartmentId"], emu.tenancy.tenancy_id)


def _allowed(
    emu: Emulator,
    principal: TokenPrincipal,
    operation: str,
    resource_type: str,
    verb: str,
    compartment: str | None,
    target: dict[str, str] | None = None,
) -> str | None:
    """None when allowed, else the missing permission (also recorded as a denial)."""
    if emu.policies.allows(principal, resource_type, verb, compartment, operation, target):
        return None
    needs = permission_text(resource_type, verb, compartment, target)
    emu.record_denial(principal, operation, needs)
    return needs


def provisioning_refusal(emu: Emulator, run: Record) -> str | None:
    """Why the service cannot place the run in its subnet (``service datascience`` needs ``use``
    on the subnet and its VNICs where the subnet lives), or None."""
    infra = run.doc.get("jobInfrastructureConfigurationDetails") or {}
    # A multi-node run's subnet is its node configuration's CUSTOM_NETWORK.
    node = (run.meta.get("effective") or {}).get("jobNodeConfigurationDetails") or {}
    subnet = infra.get("subnetId") or (node.get("jobNetworkConfiguration") or {}).get("subnetId")
    if not subnet:
        return None
    compartment = emu.tenancy.subnets.get(subnet)
    service = service_principal(DATA_SCIENCE_SERVICE, emu.tenancy.tenancy_id)
    for resource_type in ("subnets", "vnics"):
        needs = _allowed(emu, service, "attach_vnic", resource_type, "use", compartment)
        if needs:
            return (
                f"Infrastructure provisioning failed: the Data Science service is not authorized to use "
                f"subnet {subnet}. A policy must allow it: "
                f"'Allow service {DATA_SCIENCE_SERVICE} to {needs}' (virtual-network-family covers it)."
            )
    return None


def bootstrap_refusal(emu: Emulator, run: Record) -> str | None:
    """Why the run's own principal cannot fetch what it starts from (its container image, its
    published conda environment), or None."""
    principal = run_principal(emu, run)
    effective = run.meta.get("effective") or {}
    environments = [effective.get("jobEnvironmentConfigurationDetails") or {}]
    # A multi-node run pulls each node group's image.
    node = effective.get("jobNodeConfigurationDetails") or {}
    groups = node.get("jobNodeGroupConfigurationDetailsList") or []
    environments += [g.get("jobEnvironmentConfigurationDetails") or {} for g in groups]
    for image in dict.fromkeys(e["image"] for e in environments if e.get("image")):
        needs = _allowed(emu, principal, "pull_image", "repos", "read", repository_compartment(emu, image))
        if needs:
            return (
                f"Job run bootstrap failed: could not pull the container image {image}: the job run's "
                f"resource principal (resource.type 'datasciencejobrun') is not authorized; it needs "
                f"'{needs}'."
            )
    env = (effective.get("jobConfigurationDetails") or {}).get("environmentVariables") or {}
    if env.get("CONDA_ENV_TYPE") == "published":
        bucket = env.get("CONDA_ENV_BUCKET", "")
        found = next((b for b in emu.store.all(BUCKET) if b.doc.get("name") == bucket), None)
        compartment = found.doc.get("compartmentId") if found else None
        target = {"target.bucket.name": bucket}
        needs = _allowed(emu, principal, "get_object", "objects", "read", compartment, target)
        if needs:
            where = (
                f"oci://{bucket}@{env.get('CONDA_ENV_NAMESPACE', '')}/{env.get('CONDA_ENV_OBJECT_NAME', '')}"
            )
            return (
                f"Job run bootstrap failed: could not download the published conda environment {where}: "
                f"the job run's resource principal (resource.type 'datasciencejobrun') is not "
                f"authorized; it needs '{needs}'."
            )
    return None


def may_push_logs(emu: Emulator, run: Record, log_id: str) -> bool:
    """Whether the run's principal may write to its log (``use log-content`` where the log is, with
    ``target.loggroup.id``). Without it OCI still runs the artifact; its output never reaches the log."""
    log = emu.store.get(LOG, log_id)
    if log is None:
        return False
    target = {"target.loggroup.id": str(log.doc["logGroupId"])}
    compartment = log.doc.get("compartmentId")
    return (
        _allowed(emu, run_principal(emu, run), "put_logs", "log-content", "use", compartment, target) is None
    )


def repository_compartment(emu: Emulator, image: str) -> str | None:
    """The compartment of an OCIR image's repository (``<region>.ocir.io/<namespace>/<repo>:<tag>``):
    tenancy.json's ``containerRepositories``, else the root compartment (None: only ``in tenancy``
    statements reach it), where OCIR creates a repository on first push."""
    return emu.tenancy.repositories.get(repository_name(image))


def repository_name(image: str) -> str:
    path = image.split("@", 1)[0]
    parts = path.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0]):
        parts = parts[1:]
    name = "/".join(parts)
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: name.rfind(":")]
    return name
