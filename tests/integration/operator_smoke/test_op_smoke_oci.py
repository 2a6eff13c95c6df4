"""The operator's workflows against the real emulator through the real `oci` SDK (signed requests).

Kubernetes is replaced by a small in-memory stand-in (this test is about the OCI side); the
end-to-end tests with a real API server live in tests/integration/operator/.
"""

from __future__ import annotations

import asyncio
import copy
import time
from pathlib import Path
from typing import Any

import pytest
from ocids_operator.adapters.kube import MissingReference
from ocids_operator.adapters.oci_client import OciGateway
from ocids_operator.runtime import Runtime
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows import training_job as job_workflow
from ocids_operator.workflows import training_job_run as run_workflow
from ocids_operator.workflows.run_poller import RunPoller

pytestmark = pytest.mark.integration
SECRET = "s3cret-token-value"


class MemoryKube:
    """Secrets, ConfigMaps and TrainingJobs by name; records status patches and events."""

    def __init__(self) -> None:
        self.secrets: dict[str, dict[str, str]] = {"wandb": {"token": SECRET}}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.run_status: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[str, str, str]] = []

    async def read_secret_key(
        self, namespace: str, name: str, key: str, optional: bool = False
    ) -> str | None:
        if key not in self.secrets.get(name, {}):
            raise MissingReference(f"Secret {namespace}/{name} has no key {key!r}")
        return self.secrets[name][key]

    async def read_config_map_key(self, namespace: str, name: str, key: str, optional: bool = False) -> bytes:
        raise MissingReference(f"ConfigMap {namespace}/{name} does not exist")

    async def get_training_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.jobs.get(name))

    async def list_training_job_runs(self, namespace: str) -> list[dict[str, Any]]:
        return []  # the scenario's runs are driven by hand: no TrainingJobRun objects hold a policy

    async def patch_run_status(
        self, namespace: str, name: str, uid: str, status: dict[str, Any], *, empty_at: str | None = None
    ) -> dict[str, Any]:
        self.run_status[name] = {**self.run_status.get(name, {}), **status}
        return {"status": self.run_status[name]}

    async def post_event(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


@pytest.fixture
def world(tmp_path: Path) -> Any:
    from ocids_emulator.testing import running_emulator

    with running_emulator(tmp_path / "emulator", simulated="1:0") as emu:
        settings = OperatorSettings(
            oci_config_file=emu.config_file,
            region=emu.ids["REGION"],
            datascience_endpoint=emu.endpoint,
            cluster_name="smoke",
            poll_interval_seconds=0.5,
            # No namespace directory here: the compartment is allowed operator-wide.
            default_allowed_compartments=[emu.ids["COMPARTMENT_ID"]],
        )
        gateway = OciGateway(settings)
        kube = MemoryKube()
        rt = Runtime(settings, gateway, kube, RunPoller(settings, gateway, kube))  # type: ignore[arg-type]
        yield rt, kube, emu


def training_job(ids: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ocids.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": "attrition", "namespace": "ml", "uid": "uid-job-1", "generation": 1},
        "spec": {
            "compartmentId": ids["COMPARTMENT_ID"],
            "projectId": ids["PROJECT_ID"],
            "artifact": {"inline": {"fileName": "train.py", "content": "print('hello')\n"}},
            "infrastructure": {"shape": "VM.Standard.E4.Flex", "ocpus": 1, "memoryInGBs": 16},
            "env": [
                {"name": "EPOCHS", "value": "1"},
                {"name": "WANDB_KEY", "valueFrom": {"secretKeyRef": {"name": "wandb", "key": "token"}}},
            ],
            **spec,
        },
    }


async def converge(rt: Runtime, body: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Run the TrainingJob reconcile until it stops asking to be requeued, as kopf would."""
    events: list[tuple[str, str, str]] = []
    for _ in range(40):
        outcome = await job_workflow.reconcile(rt, body)
        body["status"] = {**(body.get("status") or {}), **outcome.status}
        events += outcome.events
        if outcome.requeue_after is None:
            return events
        await asyncio.sleep(0.2)
    raise AssertionError(f"did not converge: {body['status']}")


def test_job_lifecycle_and_a_run_against_the_emulator(world: Any) -> None:
    rt, kube, emu = world
    ids = emu.ids
    client = emu.datascience_client()

    async def scenario() -> None:
        body = training_job(ids)
        events = await converge(rt, body)
        status = body["status"]
        assert status["phase"] == "Active" and status["revision"] == 1, status
        job = client.get_job(status["jobId"]).data
        assert job.freeform_tags["ocids.io/uid"] == "uid-job-1"
        assert job.job_configuration_details.environment_variables["WANDB_KEY"] == SECRET
        assert SECRET not in repr((status, events))
        assert [e[1] for e in events] == ["Created"]

        # Nothing changed: no OCI writes.
        before = dict(rt.oci.calls)
        assert await converge(rt, body) == []
        writes = {
            k: v - before.get(k, 0) for k, v in rt.oci.calls.items() if k.startswith(("create", "update"))
        }
        assert not any(writes.values()), writes

        # Shape: in place, same job.
        body["spec"]["infrastructure"] = {"shape": "VM.Standard.E4.Flex", "ocpus": 2, "memoryInGBs": 32}
        body["metadata"]["generation"] = 2
        events = await converge(rt, body)
        assert [e[1] for e in events] == ["UpdatedInPlace"]
        job = client.get_job(status["jobId"]).data
        assert job.job_infrastructure_configuration_details.job_shape_config_details.ocpus == 2

        # Secret value: new revision, the old job (no runs) retired and deleted.
        old_job_id = status["jobId"]
        kube.secrets["wandb"]["token"] = "rotated-value"
        events = await converge(rt, body)
        status = body["status"]
        assert status["revision"] == 2 and status["jobId"] != old_job_id
        assert [e[1] for e in events] == ["NewRevision", "RetiredJobDeleted"]
        assert client.get_job(old_job_id).data.lifecycle_state in ("DELETING", "DELETED")
        assert "rotated-value" not in repr((status, events))

        # A run of revision 2, followed by the poller to the end.
        kube.jobs["attrition"] = body
        run_body = {
            "apiVersion": "ocids.io/v1alpha1",
            "kind": "TrainingJobRun",
            "metadata": {"name": "r1", "namespace": "ml", "uid": "uid-run-1", "generation": 1},
            "spec": {"jobRef": {"name": "attrition"}, "env": [{"name": "EPOCHS", "value": "2"}]},
        }
        # The handler writes the run's status itself, before the poller follows it (not via kopf's patch).
        outcome, owners = await run_workflow.reconcile(rt, run_body)
        assert owners and owners[0]["uid"] == "uid-job-1" and not outcome.status
        assert kube.run_status["r1"]["jobRevision"] == 2 and kube.run_status["r1"]["phase"] == "Accepted"
        run_id = kube.run_status["r1"]["jobRunId"]

        # A crash right after CreateJobRun, before its status write: the object then shows only the
        # attempt, recorded before the request. The next attempt finds the run instead of making another.
        attempted = kube.run_status["r1"]["createAttemptedAt"]
        assert attempted
        again, _ = await run_workflow.reconcile(rt, {**run_body, "status": {"createAttemptedAt": attempted}})
        assert kube.run_status["r1"]["jobRunId"] == run_id and again.events[0][1] == "Found"
        assert len(client.list_job_runs(ids["COMPARTMENT_ID"], job_id=status["jobId"]).data) == 1

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and kube.run_status["r1"].get("phase") != "Succeeded":
            await asyncio.sleep(0.5)
            await rt.poller.cycle(ids["COMPARTMENT_ID"])
        assert kube.run_status["r1"]["phase"] == "Succeeded", kube.run_status["r1"]
        assert kube.run_status["r1"]["exitCode"] == 0
        await rt.poller.stop()

        # The OCI job deleted behind the operator's back: re-created as the next revision, and said so.
        client.delete_job(status["jobId"], delete_related_job_runs=True)
        events = await converge(rt, body)
        status = body["status"]
        assert [e[1] for e in events] == ["JobRecreated"] and status["revision"] == 3, status
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True" and ready["reason"] == "JobRecreated"

        # Delete: the job and its runs go.
        final = await job_workflow.finalize(rt, body)
        assert [e[1] for e in final.events] == ["Deleted"]

    asyncio.run(scenario())
