"""Bad input: every manifest of the corpus in bad_input/ is refused by the API server itself, with an
error naming the field, while a running operator watches the namespace and makes no OCI call.

Each file says in a `# field:` comment which field the error must name. Files marked `# update: true`
hold two documents: the first is accepted, the second (a change to it) refused. Their first documents
wait for a ConfigMap or a TrainingJob that never comes, so the operator has no reason to call OCI
for them either, and the test shows it looked at them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from chaos_figures import report
from operator_harness import RUNS, OperatorProcess, Scenario

pytestmark = pytest.mark.integration
CORPUS = sorted((Path(__file__).parent / "bad_input").glob("*.yaml"))


def _header(path: Path) -> dict[str, str]:
    fields = {}
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        key, sep, value = line[1:].strip().partition(": ")
        if sep and key in ("field", "update"):
            fields[key] = value.strip()
    return fields


def test_corpus_is_complete() -> None:
    kinds = {next(yaml.safe_load_all(p.read_text()))["kind"] for p in CORPUS}
    assert len(CORPUS) >= 40 and kinds == {"TrainingJob", "TrainingJobRun"}, (len(CORPUS), kinds)
    assert all(_header(p).get("field") for p in CORPUS), "every file names the field its error names"


def _refusal_problem(world: Scenario, path: Path) -> str | None:
    """None if the server refused the file's (last) manifest naming its field, else what went wrong."""
    header = _header(path)
    docs = list(yaml.safe_load_all(path.read_text()))
    if header.get("update") == "true":
        accepted = world.kube.apply(
            {**docs[0], "metadata": {**docs[0]["metadata"], "namespace": world.namespace}}
        )
        assert accepted.returncode == 0, f"{path.name}: base not accepted: {accepted.stderr}"
    proc = world.kube.kubectl(
        "apply", "-n", world.namespace, "-f", "-", input=yaml.safe_dump(docs[-1]), check=False
    )
    if proc.returncode == 0:
        return f"{path.name}: accepted ({proc.stdout.strip()})"
    # `FIELD: Invalid value ...` (schema and CEL errors), or `unknown field "FIELD..."` (strict decoding).
    if f"{header['field']}:" not in proc.stderr and f'unknown field "{header["field"]}' not in proc.stderr:
        return f"{path.name}: error does not name {header['field']}: {proc.stderr.strip()}"
    return None


def test_every_invalid_manifest_is_refused_naming_the_field_and_reaches_no_oci_call(
    world: Scenario, start_operator: Callable[..., OperatorProcess]
) -> None:
    world.operator = start_operator()
    world.admin.reset_stats()
    started = time.monotonic()

    problems = [p for p in (_refusal_problem(world, path) for path in CORPUS) if p]
    assert not problems, "\n".join(problems)
    stored = world.kube.kubectl(
        "get", "trainingjobs,trainingjobruns", "-n", world.namespace, "-o", "name"
    ).stdout
    updates = [p for p in CORPUS if _header(p).get("update") == "true"]
    assert len(stored.split()) == len(updates), f"only the update cases' first documents exist: {stored}"

    # The operator saw the namespace: the accepted first documents are Pending, each waiting for what
    # it references. Only then does "no OCI call" mean something.
    for path in updates:
        doc = next(yaml.safe_load_all(path.read_text()))
        kind = "trainingjobs" if doc["kind"] == "TrainingJob" else RUNS
        world.kube.wait_phase(kind, doc["metadata"]["name"], world.namespace, "Pending", timeout=60)
    calls = world.admin.stats()
    assert calls["total"] == 0, calls["operations"]
    assert world.operator.running, world.operator.log_text()[-3000:]
    report(
        "bad-input",
        manifests=len(CORPUS),
        refused=len(CORPUS),
        updates_refused=len(updates),
        oci_calls=calls["total"],
        seconds=round(time.monotonic() - started, 1),
    )
