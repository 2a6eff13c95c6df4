"""Git-sourced TrainingJobs end to end: a bare repository on this machine (file://, allowed with
OCIDS_GIT_ALLOW_FILE_URLS=true), the operator fetching and packing the commit with its driver, the
emulator really running it.

- a job pinned to a commit runs to Succeeded, and status.artifact names that commit;
- a job following a branch gets revision 2 when the branch moves (at the next resync), and its next
  run prints the new code, while the pinned job stays on revision 1;
- with OCIDS_LOG_TAIL_LINES set, a finished run's status.logTail holds its last lines.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from git_repos import HAVE_GIT, Repository
from ocids_operator.driver import DRIVER_VERSION
from operator_harness import OperatorProcess, Scenario

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not HAVE_GIT, reason="needs the git CLI to make a repository"),
]


def git_job(world: Scenario, name: str, url: str, ref: str) -> dict[str, object]:
    job = world.job(name, "unused", entrypoint="train.py")
    job["spec"]["artifact"] = {"git": {"url": url, "ref": ref}}
    return job


def test_a_job_pinned_to_a_commit_runs_and_a_moved_branch_makes_revision_2(
    world: Scenario, start_operator: Callable[..., OperatorProcess], tmp_path: Path
) -> None:
    repo = Repository(tmp_path)
    first = repo.commit(
        {
            "train.py": "from lib.words import WORD\nprint('git says', WORD)\n",
            "lib/words.py": "WORD = 'one'\n",
        }
    )
    repo.publish()
    url = repo.url
    world.operator = start_operator(env={"OCIDS_GIT_ALLOW_FILE_URLS": "true", "OCIDS_LOG_TAIL_LINES": "5"})
    world.apply(git_job(world, "pinned", url, first), git_job(world, "tracking", url, "main"))

    pinned = world.wait_job_active("pinned")
    artifact = pinned["status"]["artifact"]
    assert artifact["source"] == "git" and artifact["commit"] == first and artifact["ref"] == first
    assert artifact["url"] == url and artifact["driverVersion"] == DRIVER_VERSION
    assert artifact["fileName"] == "ocids-driver.zip"
    world.apply(world.run("pinned-1", "pinned"))
    run = world.wait_run("pinned-1", {"Succeeded", "Failed"})
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert any("git says one" in line for line in world.run_log(run, "git says one"))
    # The last lines, kept in status for `kubectl describe` (no OCI credentials needed to read them).
    tail = world.wait_run("pinned-1", "Succeeded")["status"].get("logTail") or ""
    assert "git says one" in tail, run["status"]

    tracking = world.wait_job_active("tracking")
    assert tracking["status"]["artifact"]["commit"] == first and tracking["status"]["revision"] == 1

    # The branch moves: the next resync (every 3 s here) sees the new commit and makes revision 2.
    moved = repo.commit({"lib/words.py": "WORD = 'two'\n"})
    repo.publish()
    world.wait_job_status(
        "tracking",
        lambda s: s.get("revision") == 2 and (s.get("artifact") or {}).get("commit") == moved,
        "revision 2 from the moved branch",
    )
    world.wait_job_active("tracking")
    world.apply(world.run("tracking-2", "tracking"))
    run = world.wait_run("tracking-2", {"Succeeded", "Failed"})
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert run["status"]["jobRevision"] == 2
    assert any("git says two" in line for line in world.run_log(run, "git says two"))

    # The job pinned to the first commit is unchanged.
    pinned = world.get_job("pinned")
    assert pinned is not None
    assert pinned["status"]["revision"] == 1 and pinned["status"]["artifact"]["commit"] == first
