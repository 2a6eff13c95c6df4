"""History limits, TTL and the archive: the tables in history_scenarios/, the archive record and its
bounds, and the prune workflow against an in-memory Kubernetes (archive first, then delete)."""

from __future__ import annotations

import asyncio
import datetime
import json
import pathlib
from typing import Any

import pytest
import yaml
from ocids_operator.core import archive, history
from ocids_operator.runtime import Runtime
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows import run_history

TABLE = yaml.safe_load((pathlib.Path(__file__).parent / "history_scenarios" / "history.yaml").read_text())
T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)


def _at(minute: float) -> str:
    return (T0 + datetime.timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run(row: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": row["name"], "creationTimestamp": _at(row.get("created", 0))}
    if row.get("deleting"):
        meta["deletionTimestamp"] = _at(99)
    status: dict[str, Any] = {}
    if "phase" in row:
        status["phase"] = row["phase"]
    if "finished" in row:
        status["timeFinished"] = _at(row["finished"])
    if "ended" in row:
        status["conditions"] = [{"type": "Ready", "status": "False", "lastTransitionTime": _at(row["ended"])}]
    if row.get("retry"):
        status["nextAttemptAt"] = _at(100)
    if "metricsFinal" in row:
        status["metricsFinal"] = row["metricsFinal"]
    return {"metadata": meta, "spec": {"jobRef": {"name": "j"}}, "status": status}


@pytest.mark.parametrize("case", TABLE["prune"], ids=lambda c: c["name"])
def test_history_limits(case: dict[str, Any]) -> None:
    limits = case["limits"]
    runs = [_run(row) for row in case["runs"]]
    doomed = history.runs_to_prune(runs, limits.get("successful"), limits.get("failed"))
    assert [run["metadata"]["name"] for run in doomed] == case["prune"]
    # The index of runs per TrainingJob keeps summaries: they prune the same.
    summaries = [history.run_summary(run) for run in runs]
    doomed = history.runs_to_prune(summaries, limits.get("successful"), limits.get("failed"))
    assert [run["metadata"]["name"] for run in doomed] == case["prune"]


@pytest.mark.parametrize("case", TABLE["ttl"], ids=lambda c: c["name"])
def test_ttl_due(case: dict[str, Any]) -> None:
    due = history.ttl_due(case["status"], case["ttl"])
    assert (due.isoformat() if due else None) == case["due"]


SWEEP_TRIAL = {
    "metadata": {
        "name": "lr-sweep-003",
        "creationTimestamp": "2026-01-01T10:00:00Z",
        "labels": {"ocids.io/sweep": "lr-sweep", "ocids.io/trial": "3"},
    },
    "spec": {
        "jobRef": {"name": "train"},
        "args": ["--lr", "0.1", "--data", "https://user:pw@example.com/d.csv?sig=SECRET"],
        "env": [
            {"name": "EPOCHS", "value": "3"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            {"name": "PAR", "value": "https://objectstorage.example.com/p/PARTOKEN/n/ns/b/b/o/x"},
        ],
    },
    "status": {
        "phase": "Succeeded",
        "exitCode": 0,
        "jobRunId": "ocid1.datasciencejobrun.oc1..r2",
        "jobId": "ocid1.datasciencejob.oc1..j",
        "attempt": 2,
        "attempts": [
            {"attempt": 1, "retried": True, "jobRunId": "ocid1.datasciencejobrun.oc1..r1", "exitCode": 137}
        ],
        "metrics": [{"name": "accuracy", "value": 0.91, "history": [{"step": 1, "value": 0.5}]}],
        "logs": {"url": "https://cloud.oracle.com/logging/search?searchQuery=x"},
        "consoleUrl": "https://cloud.oracle.com/data-science/job-runs/ocid1.datasciencejobrun.oc1..r2",
        "timeStarted": "2026-01-01T10:01:00Z",
        "timeFinished": "2026-01-01T10:05:00Z",
        "duration": "4m",
        "logTail": "line with a secret-ish thing",
    },
}


def test_the_record_holds_what_a_user_looks_up_and_no_secret() -> None:
    record = archive.archive_record(SWEEP_TRIAL, "2026-01-02T00:00:00Z")
    assert record == {
        "name": "lr-sweep-003",
        "job": "train",
        "phase": "Succeeded",
        "exitCode": 0,
        "parameters": {
            "env": {
                "EPOCHS": "3",
                "TOKEN": "<secret creds/token>",
                "PAR": "https://objectstorage.example.com/p/***/n/ns/b/b/o/x",
            },
            "args": ["--lr", "0.1", "--data", "https://example.com/d.csv"],
        },
        "metrics": {"accuracy": 0.91},
        "jobRunId": "ocid1.datasciencejobrun.oc1..r2",
        "jobId": "ocid1.datasciencejob.oc1..j",
        "attempts": 2,
        "jobRuns": [
            {"attempt": 1, "jobRunId": "ocid1.datasciencejobrun.oc1..r1", "exitCode": 137},
            {
                "attempt": 2,
                "jobRunId": "ocid1.datasciencejobrun.oc1..r2",
                "phase": "Succeeded",
                "exitCode": 0,
            },
        ],
        "logUrl": "https://cloud.oracle.com/logging/search?searchQuery=x",
        "consoleUrl": "https://cloud.oracle.com/data-science/job-runs/ocid1.datasciencejobrun.oc1..r2",
        "timeCreated": "2026-01-01T10:00:00Z",
        "timeStarted": "2026-01-01T10:01:00Z",
        "timeFinished": "2026-01-01T10:05:00Z",
        "duration": "4m",
        "sweep": "lr-sweep",
        "trial": "3",
        "archivedAt": "2026-01-02T00:00:00Z",
    }
    text = archive.encode(record)
    assert "SECRET" not in text and "PARTOKEN" not in text and "pw@" not in text


def _record(name: str, minute: int, pad: int = 0) -> dict[str, Any]:
    return {"name": name, "timeFinished": _at(minute), "phase": "Succeeded", "pad": "x" * pad}


def test_the_archive_is_an_upsert_by_run_name() -> None:
    once = archive.merged_records({}, [_record("a", 1)], max_records=10)
    twice = archive.merged_records(once, [_record("a", 1)], max_records=10)
    assert twice == once == {"a.json": archive.encode(_record("a", 1))}


def test_the_oldest_records_go_beyond_the_count_bound() -> None:
    data = archive.merged_records({}, [_record(f"r{i}", i) for i in (5, 1, 3)], max_records=10)
    data = archive.merged_records(data, [_record("r9", 9), _record("r0", 0)], max_records=3)
    assert sorted(data) == ["r3.json", "r5.json", "r9.json"]
    assert [r["name"] for r in archive.archived_runs(data)] == ["r3", "r5", "r9"]


def test_the_oldest_records_go_beyond_the_byte_bound() -> None:
    records = [_record(f"r{i}", i, pad=300) for i in range(10)]
    data = archive.merged_records({}, records, max_records=500, max_bytes=1200)
    assert sorted(data) == ["r7.json", "r8.json", "r9.json"]
    assert sum(len(k) + len(v) for k, v in data.items()) <= 1200


def test_a_value_someone_added_by_hand_is_not_a_record() -> None:
    data = {
        "notes.txt": "hello",
        "x.json": "not json",
        "y.json": "[1]",
        "a.json": archive.encode(_record("a", 1)),
    }
    assert [r["name"] for r in archive.archived_runs(data)] == ["a"]


def test_long_names_stay_valid_object_names_and_keys() -> None:
    long = "a" * 253
    assert len(archive.archive_config_map_name(long)) == 253
    assert len(archive.record_key(long)) == 253
    assert archive.record_key(long) != archive.record_key("a" * 252 + "b")
    assert archive.archive_config_map_name("train") == "train-runs-archive"


# The prune workflow against an in-memory Kubernetes ---------------------------------------------


class Kube:
    def __init__(self, runs: list[dict[str, Any]]) -> None:
        self.runs = {run["metadata"]["name"]: run for run in runs}
        self.config_maps: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.events: list[tuple[str, str]] = []
        self.reads: list[str] = []
        self.version = 0

    def indexed(self) -> list[dict[str, Any]]:
        """The runs as the watch-fed index holds them."""
        return [history.run_summary(run) for run in self.runs.values()]

    async def get_training_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return {"metadata": {"name": name, "namespace": namespace, "uid": "uid-job"}}

    async def get_training_job_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads.append(f"run {name}")
        found = self.runs.get(name)
        return json.loads(json.dumps(found)) if found else None

    async def get_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads.append(f"configmap {name}")
        found = self.config_maps.get(name)
        return json.loads(json.dumps(found)) if found else None

    async def write_config_map(self, namespace: str, body: dict[str, Any]) -> bool:
        name = body["metadata"]["name"]
        current = self.config_maps.get(name)
        seen_at = body["metadata"].get("resourceVersion")
        if (current or {}).get("metadata", {}).get("resourceVersion") != seen_at:
            return False
        self.version += 1
        self.config_maps[name] = {
            **body,
            "metadata": {**body["metadata"], "resourceVersion": str(self.version)},
        }
        self.calls.append(f"archive {sorted(body['data'])}")
        return True

    async def delete_training_job_run(self, namespace: str, name: str, uid: str) -> bool:
        self.calls.append(f"delete {name}")
        run = self.runs.pop(name, None)
        return run is not None

    async def post_event(self, involved: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((reason, message))


@pytest.fixture(autouse=True)
def _no_known_archives() -> None:
    run_history._known_archives.clear()


def _owned(name: str, phase: str, minute: int, **labels: str) -> dict[str, Any]:
    run = _run({"name": name, "phase": phase, "finished": minute})
    run["metadata"].update(
        namespace="ml",
        uid=f"uid-{name}",
        labels=labels,
        ownerReferences=[{"kind": "TrainingJob", "name": "j", "uid": "uid-job", "controller": True}],
    )
    return run


def _runtime(kube: Kube, **settings: Any) -> Runtime:
    return Runtime(settings=OperatorSettings(**settings), oci=None, kube=kube, poller=None)  # type: ignore[arg-type]


JOB = {
    "metadata": {"name": "j", "namespace": "ml", "uid": "uid-job"},
    "spec": {"successfulRunsHistoryLimit": 1, "failedRunsHistoryLimit": 0},
}


def test_the_job_prunes_its_own_runs_archiving_each_before_deleting_it() -> None:
    kube = Kube(
        [
            _owned("old", "Succeeded", 1),
            _owned("new", "Succeeded", 2),
            _owned("bad", "Failed", 3),
            _owned("trial", "Failed", 0, **{"ocids.io/sweep": "s"}),  # its sweep's limits, not the job's
            _owned("tick", "Failed", 0, **{"ocids.io/schedule": "nightly"}),
        ]
    )
    status = asyncio.run(run_history.prune_job_history(_runtime(kube), JOB, kube.indexed()))
    assert status is not None and status.config_map == "j-runs-archive" and status.count == 2
    assert kube.calls == ["archive ['bad.json', 'old.json']", "delete old", "delete bad"]
    assert sorted(kube.runs) == ["new", "tick", "trial"]
    cm = kube.config_maps["j-runs-archive"]
    assert cm["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "ocids.io/v1alpha1",
            "kind": "TrainingJob",
            "name": "j",
            "uid": "uid-job",
            "controller": False,
            "blockOwnerDeletion": False,
        }
    ]
    assert [reason for reason, _ in kube.events] == ["RunsPruned"]


def test_a_crash_between_archive_and_delete_leaves_one_record_once_pruned_again() -> None:
    runs = [_owned("old", "Succeeded", 1), _owned("new", "Succeeded", 2)]
    kube = Kube(runs)
    original = kube.delete_training_job_run

    async def crashed(namespace: str, name: str, uid: str) -> bool:
        raise SystemExit("crash")

    kube.delete_training_job_run = crashed  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        asyncio.run(run_history.prune_job_history(_runtime(kube), JOB, kube.indexed()))
    kube.delete_training_job_run = original  # type: ignore[method-assign]
    status = asyncio.run(run_history.prune_job_history(_runtime(kube), JOB, kube.indexed()))
    assert status is not None and status.count == 1
    assert sorted(kube.runs) == ["new"]
    assert sorted(kube.config_maps["j-runs-archive"]["data"]) == ["old.json"]


def test_without_limits_nothing_is_read_not_even_the_archive() -> None:
    kube = Kube([_owned("old", "Succeeded", 1)])
    job = {"metadata": JOB["metadata"], "spec": {}}
    assert asyncio.run(run_history.prune_job_history(_runtime(kube), job, kube.indexed())) is None
    assert kube.calls == [] and kube.reads == [] and sorted(kube.runs) == ["old"]


def test_within_the_limits_nothing_is_read() -> None:
    kube = Kube([_owned("old", "Succeeded", 1), _owned("bad", "Failed", 2)])
    job = {
        "metadata": JOB["metadata"],
        "spec": {"successfulRunsHistoryLimit": 1, "failedRunsHistoryLimit": 1},
    }
    assert asyncio.run(run_history.prune_job_history(_runtime(kube), job, kube.indexed())) is None
    assert kube.calls == [] and kube.reads == []


def test_a_run_of_an_earlier_job_of_the_same_name_is_not_this_jobs() -> None:
    stale = _owned("stale", "Succeeded", 1)
    stale["metadata"]["ownerReferences"][0]["uid"] = "uid-earlier"
    kube = Kube([stale, _owned("new", "Succeeded", 2)])
    asyncio.run(run_history.prune_job_history(_runtime(kube), JOB, kube.indexed()))
    assert sorted(kube.runs) == ["new", "stale"]


def _expire_all(kube: Kube, runs: list[dict[str, Any]]) -> list[bool]:
    """Each run's TTL daemon asks the worker at once, as kopf's daemons do when runs expire together."""
    rt = _runtime(kube)
    worker = run_history.HistoryWorker(lambda namespace, job: kube.indexed())

    async def scenario() -> list[bool]:
        return list(await asyncio.gather(*(worker.expire(rt, run) for run in runs)))

    return asyncio.run(scenario())


def test_an_expired_run_is_archived_then_deleted() -> None:
    run = _owned("done", "Failed", 1)
    kube = Kube([run])
    assert _expire_all(kube, [run]) == [True]
    assert kube.calls == ["archive ['done.json']", "delete done"]
    assert [reason for reason, _ in kube.events] == ["Expired"]


def test_runs_expiring_together_are_archived_in_one_write() -> None:
    runs = [_owned(f"r{i:03}", "Succeeded", i) for i in range(100)]
    kube = Kube(runs)
    assert _expire_all(kube, runs) == [True] * 100
    assert kube.runs == {}
    archived = [call for call in kube.calls if call.startswith("archive")]
    assert len(archived) == 1
    assert sorted(kube.config_maps["j-runs-archive"]["data"]) == [f"r{i:03}.json" for i in range(100)]
    assert kube.reads == ["configmap j-runs-archive"]
    assert [reason for reason, _ in kube.events] == ["Expired"] * 100


def _users_config_map(kube: Kube) -> dict[str, Any]:
    cm = {
        "metadata": {"name": "j-runs-archive", "namespace": "ml", "resourceVersion": "7"},
        "data": {"k": "v"},
    }
    kube.config_maps["j-runs-archive"] = cm
    return json.loads(json.dumps(cm))


def test_a_config_map_the_operator_did_not_make_is_never_taken_over_nor_are_runs_deleted() -> None:
    kube = Kube([_owned("old", "Succeeded", 1), _owned("new", "Succeeded", 2)])
    before = _users_config_map(kube)
    rt = _runtime(kube)
    outcome = asyncio.run(run_history.with_history(rt, JOB, run_history.Outcome(), kube.indexed()))
    assert outcome == run_history.Outcome()
    assert sorted(kube.runs) == ["new", "old"] and kube.config_maps["j-runs-archive"] == before
    [(reason, message)] = kube.events
    assert reason == "ArchiveRefused" and "app.kubernetes.io/managed-by: ocids-operator" in message
    # TTL alike: the run stays (its daemon tries again later).
    with pytest.raises(run_history.ArchiveRefused):
        _expire_all(kube, [kube.runs["old"]])
    assert sorted(kube.runs) == ["new", "old"] and kube.config_maps["j-runs-archive"] == before


def test_the_config_map_the_operator_makes_says_so() -> None:
    kube = Kube([_owned("old", "Succeeded", 1), _owned("new", "Succeeded", 2)])
    asyncio.run(run_history.prune_job_history(_runtime(kube), JOB, kube.indexed()))
    labels = kube.config_maps["j-runs-archive"]["metadata"]["labels"]
    assert labels == {"app.kubernetes.io/managed-by": "ocids-operator"}


def test_a_retried_run_keeps_every_attempts_oci_run_in_its_record() -> None:
    run = {
        "metadata": {"name": "r", "creationTimestamp": "2026-01-01T10:00:00Z"},
        "spec": {"jobRef": {"name": "j"}},
        "status": {
            "phase": "Failed",
            "attempt": 2,
            "attempts": [
                {
                    "attempt": 1,
                    "jobRunId": "ocid1.datasciencejobrun.oc1..a1",
                    "phase": "Failed",
                    "exitCode": 137,
                },
                {
                    "attempt": 2,
                    "jobRunId": "ocid1.datasciencejobrun.oc1..a2",
                    "phase": "Failed",
                    "exitCode": 1,
                },
            ],
            "timeFinished": "2026-01-01T10:09:00Z",
        },
    }
    record = archive.archive_record(run)
    assert record["jobRunId"] == "ocid1.datasciencejobrun.oc1..a2" and record["exitCode"] == 1
    assert record["attempts"] == 2
    assert record["jobRuns"] == [
        {"attempt": 1, "jobRunId": "ocid1.datasciencejobrun.oc1..a1", "phase": "Failed", "exitCode": 137},
        {"attempt": 2, "jobRunId": "ocid1.datasciencejobrun.oc1..a2", "phase": "Failed", "exitCode": 1},
    ]


# kubectl ocids runs --archived -------------------------------------------------------------------


def test_the_archived_table_shows_metrics_and_the_parameters_that_differ() -> None:
    from ocids_operator.cli.runs import archived_rows, render

    records = archive.archived_runs(
        archive.merged_records(
            {},
            [
                archive.archive_record(SWEEP_TRIAL),
                {
                    "name": "lr-sweep-001",
                    "phase": "Failed",
                    "exitCode": 1,
                    "timeFinished": "2026-01-01T09:00:00Z",
                    "parameters": {"env": {"EPOCHS": "3"}, "args": ["--lr", "0.5"]},
                },
            ],
            max_records=10,
        )
    )
    table = archived_rows(records)
    assert table[0] == ["NAME", "PHASE", "FINISHED", "DURATION", "EXIT", "accuracy", "ARGS", "PAR", "TOKEN"]
    assert table[1][:6] == ["lr-sweep-001", "Failed", "2026-01-01T09:00:00Z", "-", "1", "-"]
    assert table[2][:6] == ["lr-sweep-003", "Succeeded", "2026-01-01T10:05:00Z", "4m", "0", "0.91"]
    assert table[2][8] == "<secret creds/token>"
    assert render(table).splitlines()[0].startswith("NAME           PHASE")


def test_runs_archived_reads_the_jobs_archive_config_map(capsys: pytest.CaptureFixture[str]) -> None:
    from ocids_operator.cli import main

    class Cluster:
        namespace = "ml"
        asked: list[str] = []

        def get_config_map_data(self, name: str) -> dict[str, str] | None:
            self.asked.append(name)
            return {"a.json": archive.encode(_record("a", 1))} if name == "train-runs-archive" else None

    cluster = Cluster()
    assert main._archived(cluster, "train") == 0  # type: ignore[arg-type]
    assert capsys.readouterr().out.splitlines()[1].startswith("a ")
    assert main._archived(cluster, "other") == 0  # type: ignore[arg-type]
    assert "No archived TrainingJobRuns for TrainingJob other" in capsys.readouterr().err
    assert cluster.asked == ["train-runs-archive", "other-runs-archive"]
    with pytest.raises(main.CliError, match="needs a TrainingJob"):
        main._archived(cluster, None)  # type: ignore[arg-type]


def test_runs_ending_together_prune_their_job_once_and_never_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_history, "COALESCE_SECONDS", 0)
    kube = Kube([_owned("old", "Succeeded", 1), _owned("new", "Succeeded", 2)])
    job = {**JOB, "metadata": {**JOB["metadata"]}}
    looked_up: list[str] = []

    async def get_training_job(namespace: str, name: str) -> dict[str, Any]:
        looked_up.append(name)
        return job

    kube.get_training_job = get_training_job  # type: ignore[method-assign,assignment]
    rt = _runtime(kube)
    worker = run_history.HistoryWorker(lambda namespace, job: kube.indexed())

    async def scenario() -> None:
        for _ in range(5):
            worker.run_finished(rt, "ml", "j")
        await worker.idle()

    asyncio.run(scenario())
    assert looked_up == ["j"]
    assert kube.calls == ["archive ['old.json']", "delete old"]
    assert sorted(kube.runs) == ["new"]
