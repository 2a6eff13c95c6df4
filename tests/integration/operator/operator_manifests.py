"""TrainingJob / TrainingJobRun manifests as plain dicts, exactly what a user would `kubectl apply`."""

from __future__ import annotations

from typing import Any

API_VERSION = "ocids.io/v1alpha1"


def env_list(env: dict[str, str] | None) -> list[dict[str, Any]]:
    return [{"name": k, "value": v} for k, v in (env or {}).items()]


def training_job(
    name: str,
    namespace: str,
    *,
    compartment_id: str,
    project_id: str,
    script: str,
    file_name: str = "train.py",
    env: dict[str, str] | None = None,
    extra_env: list[dict[str, Any]] | None = None,
    shape: str = "VM.Standard.E4.Flex",
    ocpus: float | None = 1,
    memory_in_gbs: float | None = 16,
    logging: dict[str, Any] | None = None,
    deletion_policy: str | None = None,
    adopt_job_id: str | None = None,
    **spec_extra: Any,
) -> dict[str, Any]:
    infrastructure: dict[str, Any] = {"shape": shape}
    if ocpus is not None:
        infrastructure["ocpus"] = ocpus
    if memory_in_gbs is not None:
        infrastructure["memoryInGBs"] = memory_in_gbs
    spec: dict[str, Any] = {
        "compartmentId": compartment_id,
        "projectId": project_id,
        "artifact": {"inline": {"fileName": file_name, "content": script}},
        "infrastructure": infrastructure,
        "env": env_list(env) + list(extra_env or []),
        "logging": logging if logging is not None else {"enabled": True, "autoCreateLog": True},
    }
    if deletion_policy:
        spec["deletionPolicy"] = deletion_policy
    if adopt_job_id:
        spec["adoptJobId"] = adopt_job_id
    spec.update(spec_extra)
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def training_job_run(
    name: str,
    namespace: str,
    job: str,
    *,
    env: dict[str, str] | None = None,
    deletion_policy: str | None = None,
    **spec_extra: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"jobRef": {"name": job}}
    if env:
        spec["env"] = env_list(env)
    if deletion_policy:
        spec["deletionPolicy"] = deletion_policy
    spec.update(spec_extra)
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJobRun",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
