"""Jobs that run through the driver (issue 16), reconciled against fake_oci.py: the packed artifact,
its env, Git commits as revisions, Vault variables, outputs and logTail in run status."""

from __future__ import annotations

import asyncio
import copy
import datetime
import io
import json
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kopf
import oci
import pytest
from fake_oci import FakeDataScience
from git_repos import HAVE_GIT, Repository, git
from oci.data_science import models as ds
from ocids_operator.adapters.artifact_fetch import ArtifactFetcher
from ocids_operator.adapters.oci_mapping import run_view
from ocids_operator.api import TrainingJobRunSpec, TrainingJobSpec
from ocids_operator.core.kinds import TRAINING_JOB_KIND
from ocids_operator.core.model import SpooledContent, content_digest
from ocids_operator.core.run_overrides import override_problem
from ocids_operator.core.run_status import log_tail
from ocids_operator.driver import DRIVER_VERSION
from ocids_operator.handlers.outcome import execute
from ocids_operator.runtime import Runtime
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows import training_job, training_job_run
from ocids_operator.workflows.run_poller import RunPoller, TrackedRun

UID = "uid-1"
COMPARTMENT = "ocid1.compartment.oc1..comp"
BASE: dict[str, Any] = {
    "compartmentId": COMPARTMENT,
    "projectId": "ocid1.datascienceproject.oc1..proj",
    "infrastructure": {"shape": "VM.Standard.E4.Flex", "ocpus": 2, "memoryInGBs": 32},
}
INLINE = {"inline": {"fileName": "train.py", "content": "print('hello')"}}
VAULT_ID = "ocid1.vaultsecret.oc1..secret"


class Kube:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    async def list_training_job_runs(self, namespace: str) -> list[dict[str, Any]]:
        return []

    async def post_event(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


def runtime(tmp_path: Path, fake: FakeDataScience | None = None, **overrides: Any) -> Runtime:
    values = {
        "cluster_name": "test",
        "git_allow_file_urls": True,
        "artifact_spool_dir": str(tmp_path / "spool"),
    }
    settings = OperatorSettings(**{**values, **overrides})
    rt = Runtime(settings, fake or FakeDataScience(), Kube(), None)  # type: ignore[arg-type]
    rt.artifacts = ArtifactFetcher(settings)
    return rt


def body(spec: dict[str, Any], status: dict[str, Any] | None = None, generation: int = 1) -> Any:
    return {
        "apiVersion": "ocids.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"namespace": "ml", "name": "attrition", "uid": UID, "generation": generation},
        "spec": copy.deepcopy(spec),
        "status": copy.deepcopy(status or {}),
    }


def reconcile(rt: Runtime, obj: Any) -> tuple[dict[str, Any], BaseException | None]:
    """The status kopf's patch would leave, and the error the handler raised (if any)."""
    patch = kopf.Patch()
    error: BaseException | None = None
    try:
        asyncio.run(execute(TRAINING_JOB_KIND, rt, obj, patch, 0, lambda: training_job.reconcile(rt, obj)))
    except (kopf.TemporaryError, kopf.PermanentError) as exc:
        error = exc
    return {**(obj.get("status") or {}), **(patch.get("status") or {})}, error


def job_env(fake: FakeDataScience, index: int = -1) -> dict[str, str]:
    details = fake.requests["create_job"][index]
    return dict(details["jobConfigurationDetails"].get("environmentVariables") or {})


def members(fake: FakeDataScience, job_id: str) -> dict[str, bytes]:
    artifact = fake.jobs[job_id].artifact
    assert artifact is not None
    with zipfile.ZipFile(io.BytesIO(artifact)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# Git sources -------------------------------------------------------------------------------------
@pytest.mark.skipif(not HAVE_GIT, reason="needs the git CLI to make repositories")
def test_a_git_job_uploads_the_commit_with_the_driver_and_a_moved_branch_makes_a_revision(
    tmp_path: Path,
) -> None:
    repo = Repository(tmp_path / "git")
    first = repo.commit({"train.py": "print('one')\n", "lib/util.py": "X = 1\n"})
    repo.publish()
    fake = FakeDataScience()
    rt = runtime(tmp_path, fake)
    spec = {**BASE, "artifact": {"git": {"url": repo.url, "ref": "main"}}, "entrypoint": "train.py"}

    status, error = reconcile(rt, body(spec))
    assert error is None, error
    job_id = status["jobId"]
    assert status["artifact"] == {
        "source": "git",
        "fileName": "ocids-driver.zip",
        "digest": status["artifact"]["digest"],
        "sizeBytes": len(fake.jobs[job_id].artifact or b""),
        "url": repo.url,
        "ref": "main",
        "commit": first,
        "driverVersion": DRIVER_VERSION,
    }
    files = members(fake, job_id)
    assert files["code/train.py"] == b"print('one')\n" and files["code/lib/util.py"] == b"X = 1\n"
    assert "ocids_driver/main.py" in files and not any(".git/" in name for name in files)
    env = job_env(fake)
    assert env["JOB_RUN_ENTRYPOINT"] == "ocids_driver/main.py"
    assert env["OCIDS_DRIVER_ENTRYPOINT"] == "train.py" and env["OCIDS_DRIVER_MODE"] == "script"
    assert env["OCIDS_DRIVER_VERSION"] == DRIVER_VERSION
    # Endpoints the operator does not set are not passed on (the runs use OCI's own).
    assert "OCIDS_OBJECT_STORAGE_ENDPOINT" not in env and "OCIDS_SECRETS_ENDPOINT" not in env

    # A resync with the branch where it was: the same bytes, nothing created.
    calls = len(fake.calls)
    again, error = reconcile(rt, body(spec, status))
    assert error is None and again["jobId"] == job_id and again["revision"] == 1
    assert again["artifact"]["digest"] == status["artifact"]["digest"]
    assert "create_job" not in fake.calls[calls:]

    # The branch moves: the next resync makes revision 2 from the new commit.
    moved = repo.commit({"train.py": "print('two')\n"})
    repo.publish()
    third, error = reconcile(rt, body(spec, again))
    assert error is None, error
    assert third["revision"] == 2 and third["jobId"] != job_id
    assert third["artifact"]["commit"] == moved
    assert members(fake, third["jobId"])["code/train.py"] == b"print('two')\n"


@pytest.mark.skipif(not HAVE_GIT, reason="needs the git CLI to make repositories")
def test_the_same_commit_packs_to_the_same_bytes(tmp_path: Path) -> None:
    """A crash after CreateJob and its replay (another operator process) upload the same artifact."""
    repo = Repository(tmp_path / "git")
    commit = repo.commit({"train.py": "print('one')\n", "run.sh": "echo hi\n"})
    repo.publish()
    spec = {**BASE, "artifact": {"git": {"url": repo.url, "ref": commit}}, "entrypoint": "train.py"}
    digests = []
    for attempt in range(2):
        fake = FakeDataScience()
        status, error = reconcile(runtime(tmp_path / str(attempt), fake), body(spec))
        assert error is None, error
        digests.append(status["artifact"]["digest"])
        assert status["artifact"]["commit"] == commit
    assert digests[0] == digests[1]


@pytest.mark.skipif(not HAVE_GIT, reason="needs the git CLI to make repositories")
def test_a_branch_moved_to_a_commit_with_the_same_files_makes_a_revision(tmp_path: Path) -> None:
    """status.artifact.commit and the job's bytes name the same commit: the zip says which it is."""
    repo = Repository(tmp_path / "git")
    first = repo.commit({"train.py": "print('one')\n"})
    repo.publish()
    fake = FakeDataScience()
    rt = runtime(tmp_path, fake)
    spec = {**BASE, "artifact": {"git": {"url": repo.url, "ref": "main"}}, "entrypoint": "train.py"}
    status, error = reconcile(rt, body(spec))
    assert error is None, error
    described = json.loads(members(fake, status["jobId"])["ocids_driver/source.json"])
    assert described == {"url": repo.url, "ref": "main", "commit": first}

    git(repo.work, "commit", "-q", "--allow-empty", "-m", "same files")
    repo.publish()
    moved, error = reconcile(rt, body(spec, status))
    assert error is None, error
    assert moved["artifact"]["commit"] != first and moved["revision"] == 2
    assert moved["artifact"]["digest"] != status["artifact"]["digest"]
    files = members(fake, moved["jobId"])
    assert json.loads(files["ocids_driver/source.json"])["commit"] == moved["artifact"]["commit"]


def test_jobs_from_other_sources_carry_no_git_source_file(tmp_path: Path) -> None:
    fake = FakeDataScience()
    status, error = reconcile(runtime(tmp_path, fake), body({**BASE, "artifact": INLINE, "runtime": {}}))
    assert error is None, error
    assert not any(name.endswith("source.json") for name in members(fake, status["jobId"]))


@pytest.mark.skipif(not HAVE_GIT, reason="needs the git CLI to make repositories")
def test_an_unknown_ref_stalls_naming_the_field(tmp_path: Path) -> None:
    repo = Repository(tmp_path / "git")
    repo.commit({"train.py": "print('one')\n"})
    repo.publish()
    fake = FakeDataScience()
    spec = {**BASE, "artifact": {"git": {"url": repo.url, "ref": "no-such-branch"}}, "entrypoint": "train.py"}
    status, error = reconcile(runtime(tmp_path, fake), body(spec))
    assert error is not None
    stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True"
    assert "spec.artifact.git.ref no-such-branch" in stalled["message"]
    assert "create_job" not in fake.calls


@pytest.mark.skipif(not HAVE_GIT, reason="needs the git CLI to make repositories")
def test_file_urls_are_refused_unless_allowed(tmp_path: Path) -> None:
    repo = Repository(tmp_path / "git")
    repo.commit({"train.py": "print('one')\n"})
    repo.publish()
    fake = FakeDataScience()
    rt = runtime(tmp_path, fake, git_allow_file_urls=False)
    spec = {**BASE, "artifact": {"git": {"url": repo.url, "ref": "main"}}, "entrypoint": "train.py"}
    status, error = reconcile(rt, body(spec))
    assert error is not None
    message = next(c for c in status["conditions"] if c["type"] == "Stalled")["message"]
    assert "spec.artifact.git.url" in message and "OCIDS_GIT_ALLOW_FILE_URLS=true" in message
    assert "create_job" not in fake.calls


# Other sources with the driver, and jobs without it ---------------------------------------------
def test_a_job_without_driver_features_is_sent_as_before(tmp_path: Path) -> None:
    fake = FakeDataScience()
    status, error = reconcile(runtime(tmp_path, fake), body({**BASE, "artifact": INLINE}))
    assert error is None
    assert status["artifact"]["fileName"] == "train.py" and "driverVersion" not in status["artifact"]
    assert fake.jobs[status["jobId"]].artifact == b"print('hello')"
    assert not any(name.startswith("OCIDS_DRIVER") for name in job_env(fake))


def test_vault_variables_reach_the_driver_by_name_only(tmp_path: Path) -> None:
    fake = FakeDataScience()
    rt = runtime(
        tmp_path,
        fake,
        object_storage_endpoint="http://127.0.0.1:12000",
        secrets_endpoint="http://127.0.0.1:12000",
    )
    env = [
        {"name": "DB_PASSWORD", "valueFrom": {"vaultSecretRef": {"secretId": VAULT_ID}}},
        {"name": "EPOCHS", "value": "3"},
    ]
    status, error = reconcile(rt, body({**BASE, "artifact": INLINE, "env": env}))
    assert error is None, error
    sent = job_env(fake)
    assert "DB_PASSWORD" not in sent and sent["EPOCHS"] == "3"
    assert json.loads(sent["OCIDS_DRIVER_VAULT_SECRETS"]) == {"DB_PASSWORD": VAULT_ID}
    assert sent["OCIDS_DRIVER_ENTRYPOINT"] == "train.py"
    # The operator's endpoints go to the runs when set (the emulator, a private realm).
    assert sent["OCIDS_OBJECT_STORAGE_ENDPOINT"] == "http://127.0.0.1:12000"
    assert sent["OCIDS_SECRETS_ENDPOINT"] == "http://127.0.0.1:12000"
    files = members(fake, status["jobId"])
    assert files["code/train.py"] == b"print('hello')"
    assert status["artifact"]["source"] == "inline" and status["artifact"]["driverVersion"] == DRIVER_VERSION


def test_a_runs_vault_variable_is_refused_where_no_driver_runs() -> None:
    run = TrainingJobRunSpec.model_validate(
        {
            "jobRef": {"name": "attrition"},
            "env": [{"name": "TOKEN", "valueFrom": {"vaultSecretRef": {"secretId": VAULT_ID}}}],
        }
    )
    container = TrainingJobSpec.model_validate(
        {**BASE, "container": {"image": "iad.ocir.io/ns/trainer:1"}, "jobType": "EMPTY"}
    )
    problem = override_problem(run, container, "attrition")
    assert problem is not None and "spec.env[TOKEN].valueFrom.vaultSecretRef" in problem
    assert "container" in problem
    plain = TrainingJobSpec.model_validate({**BASE, "artifact": INLINE})
    assert "driver" in (override_problem(run, plain, "attrition") or "")
    with_runtime = TrainingJobSpec.model_validate({**BASE, "artifact": INLINE, "runtime": {}})
    assert override_problem(run, with_runtime, "attrition") is None


# Runs: logTail ------------------------------------------------------------------------------------
class LogOci:
    region = "us-ashburn-1"

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.searches = 0
        self.run = ds.JobRun(
            id="ocid1.datasciencejobrun.oc1..r",
            job_id="ocid1.datasciencejob.oc1..j",
            compartment_id=COMPARTMENT,
            lifecycle_state="IN_PROGRESS",
            time_accepted=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
            log_details=ds.JobRunLogDetails(log_group_id="ocid1.loggroup.oc1..g", log_id="ocid1.log.oc1..l"),
        )

    async def get_job_run(self, run_id: str) -> Any:
        return run_view(self.run)

    async def search_run_log_tail(
        self, compartment_id: str, log_group_id: str, log_id: str, job_run_id: str, lines: int
    ) -> list[str]:
        self.searches += 1
        assert (compartment_id, log_id, job_run_id) == (COMPARTMENT, "ocid1.log.oc1..l", self.run.id)
        return self.lines[-lines:]


class StatusKube:
    def __init__(self) -> None:
        self.status: dict[str, Any] = {}

    async def patch_run_status(
        self, namespace: str, name: str, uid: str, status: dict[str, Any], **_: Any
    ) -> Any:
        self.status = {**self.status, **status}
        return {"status": self.status}

    async def post_event(self, *args: Any) -> None:
        pass


def follow_to_the_end(lines: int, log: list[str]) -> tuple[dict[str, Any], int]:
    async def scenario() -> tuple[dict[str, Any], int]:
        oci, kube = LogOci(log), StatusKube()
        settings = OperatorSettings(log_tail_lines=lines, log_tail_bytes=64)
        clock = [1000.0]
        poller = RunPoller(settings, oci, kube, clock=lambda: clock[0])  # type: ignore[arg-type]
        tracked = TrackedRun(
            oci.run.id,
            COMPARTMENT,
            "ml",
            "attrition-lr",
            "uid-run",
            1,
            {},
            0.0,
            lifecycle_state="IN_PROGRESS",
        )
        poller.track(tracked)
        try:
            clock[0] += 5
            await poller._fetch_and_apply(oci.run.id, None)  # IN_PROGRESS again: no news
            oci.run.lifecycle_state, oci.run.lifecycle_details = "FAILED", "Job run failed, exit code 3"
            await poller._fetch_and_apply(oci.run.id, None)
            await poller._fetch_and_apply(oci.run.id, None)  # no longer tracked: nothing more
        finally:
            await poller.stop()
        return kube.status, oci.searches

    return asyncio.run(scenario())


def test_log_tail_keeps_the_last_lines_of_a_finished_run_once() -> None:
    log = [f"epoch {i}" for i in range(10)] + ["Traceback: https://user:pw@example.com/x?sig=abc boom"]
    status, searches = follow_to_the_end(5, log)
    assert searches == 1
    assert status["phase"] == "Failed"
    tail = status["logTail"]
    # Newest kept within 64 bytes, redacted (no credentials, no query string).
    assert len(tail.encode()) <= 64 and tail.endswith("boom\n")
    assert "pw@" not in tail and "sig=abc" not in tail


def test_log_tail_is_off_by_default_and_costs_no_call() -> None:
    status, searches = follow_to_the_end(0, ["line"])
    assert searches == 0 and status["phase"] == "Failed" and "logTail" not in status


def test_log_tail_text_keeps_newest_whole_lines_within_the_bound() -> None:
    assert log_tail(["a" * 10, "b" * 10, "c" * 10], 23) == "b" * 10 + "\n" + "c" * 10 + "\n"
    assert log_tail(["one\ntwo"], 100) == "one\\ntwo\n"  # one record, one line
    assert log_tail([], 100) == ""


def test_log_tail_cuts_a_newest_line_longer_than_the_bound_instead_of_dropping_it() -> None:
    text = log_tail(["ValueError: boom", "a b " * 1024], 4096)
    assert text == ("a b " * 1024)[:4095] + "\n"
    accents = log_tail(["é" * 3000], 4096)  # 2 bytes each: never half a character
    assert accents == "é" * 2047 + "\n" and len(accents.encode("utf-8")) == 4095


# Runs: where the outputs go ------------------------------------------------------------------------
def test_a_run_of_a_job_with_outputs_says_where_they_go_when_it_is_created() -> None:
    import test_op_run_workflow as runs

    class OutputsKube(runs.Kube):
        async def get_training_job(self, namespace: str, name: str) -> dict[str, Any] | None:
            job = copy.deepcopy(runs.TRAINING_JOB)
            job["spec"]["outputs"] = {"uri": "oci://results@ns1/experiments/attrition"}
            return job

    async def scenario() -> dict[str, Any]:
        oci, kube = runs.Oci(), OutputsKube()
        rt = runs.runtime(oci, kube)
        try:
            await training_job_run.reconcile(rt, copy.deepcopy(runs.RUN))
        finally:
            await rt.poller.stop()
        return kube.status

    status = asyncio.run(scenario())
    # <prefix>/<run OCID>/ whether or not the prefix ends in "/", as the driver names the objects.
    assert status["outputs"] == {"uri": f"oci://results@ns1/experiments/attrition/{runs.RUN_ID}/"}
    assert status["jobRunId"] == runs.RUN_ID


def test_a_runs_vault_variables_are_merged_with_the_jobs_for_the_driver() -> None:
    import test_op_run_workflow as runs
    from ocids_operator.adapters.oci_mapping import create_job_run_details

    class DriverKube(runs.Kube):
        async def get_training_job(self, namespace: str, name: str) -> dict[str, Any] | None:
            job = copy.deepcopy(runs.TRAINING_JOB)
            job["spec"]["env"] = [{"name": "DB", "valueFrom": {"vaultSecretRef": {"secretId": VAULT_ID}}}]
            return job

    class RecordingOci(runs.Oci):
        sent: Any = None

        async def create_job_run(self, request: Any) -> Any:
            self.sent = create_job_run_details(request)
            return await super().create_job_run(request)

    run = copy.deepcopy(runs.RUN)
    other = "ocid1.vaultsecret.oc1..other"
    run["spec"]["env"] = [{"name": "API_KEY", "valueFrom": {"vaultSecretRef": {"secretId": other}}}]

    async def scenario() -> Any:
        oci, kube = RecordingOci(), DriverKube()
        rt = runs.runtime(oci, kube)
        try:
            await training_job_run.reconcile(rt, run)
        finally:
            await rt.poller.stop()
        return oci.sent

    sent = asyncio.run(scenario())
    env = sent.job_configuration_override_details.environment_variables
    assert json.loads(env["OCIDS_DRIVER_VAULT_SECRETS"]) == {"DB": VAULT_ID, "API_KEY": other}
    assert "API_KEY" not in env and "DB" not in env
    assert env["JOB_RUN_ENTRYPOINT"] == "ocids_driver/main.py"


# A urlFrom source that went away -----------------------------------------------------------------
class UrlFromKube(Kube):
    async def read_secret_key(self, namespace: str, name: str, key: str, optional: bool = False) -> str:
        return "oci://models@ns/job.sh"


class Bucket:
    """Object Storage holding (or, once `content` is None, no longer holding) the artifact."""

    def __init__(self, spool: Path) -> None:
        self.content: bytes | None = b"echo hi\n"
        self.spool = spool

    async def fetch(self, namespace: str, bucket: str, name: str, max_bytes: int) -> Any:
        if self.content is None:
            raise oci.exceptions.ServiceError(404, "ObjectNotFound", {}, "The object was not found")
        self.spool.write_bytes(self.content)
        spooled = SpooledContent(str(self.spool), content_digest(self.content), len(self.content))
        return SimpleNamespace(content=spooled, etag="e1")


def test_a_url_from_driver_job_keeps_its_entrypoint_and_job_while_the_source_is_gone(tmp_path: Path) -> None:
    """Without an entrypoint the driver runs the URL's file; a gone source must not drop that name
    (which would change the template and ask for a revision that needs the bytes)."""
    fake = FakeDataScience()
    rt = runtime(tmp_path, fake)
    rt.kube = UrlFromKube()  # type: ignore[assignment]
    bucket = Bucket(tmp_path / "object")
    rt.objects = bucket
    spec = {**BASE, "artifact": {"urlFrom": {"secretKeyRef": {"name": "par", "key": "url"}}}, "runtime": {}}
    status, error = reconcile(rt, body(spec))
    assert error is None, error
    assert job_env(fake)["OCIDS_DRIVER_ENTRYPOINT"] == "job.sh"

    bucket.content = None  # a lifecycle rule removed the object
    calls = len(fake.calls)
    after, error = reconcile(rt, body(spec, status))
    assert error is None, error
    assert after["jobId"] == status["jobId"] and after["revision"] == 1 and after["phase"] == "Active"
    assert "create_job" not in fake.calls[calls:]
