"""The driver's env contract (`core/driver_env`) and how it lands in the job and run requests: which
jobs run through the driver, the OCIDS_DRIVER_* variables each gets, Vault secrets by OCID only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ocids_operator.adapters import oci_mapping as mapping
from ocids_operator.api import TrainingJobRunSpec, TrainingJobSpec
from ocids_operator.core import model
from ocids_operator.core.driver_env import (
    DriverContext,
    driver_env,
    needs_driver,
    run_outputs_uri,
    run_vault_problem,
    vault_refs,
)

REF = model.ObjectRef("ml", "train", "uid-1", "test")
SECRET = "ocid1.vaultsecret.oc1..token"
OTHER_SECRET = "ocid1.vaultsecret.oc1..other"
STORAGE = "http://127.0.0.1:9000"
DRIVER = DriverContext.of("7", {"OCIDS_OBJECT_STORAGE_ENDPOINT": STORAGE, "OCIDS_SECRETS_ENDPOINT": None})
BASE: dict[str, Any] = {
    "compartmentId": "ocid1.compartment.oc1..comp",
    "projectId": "ocid1.datascienceproject.oc1..proj",
    "artifact": {"inline": {"fileName": "train.py", "content": "def main(): pass"}},
    "infrastructure": {"shape": "VM.Standard2.1"},
}
GIT = {"git": {"url": "https://git.example.com/o/r.git", "ref": "main"}}
VAULT = {"name": "TOKEN", "valueFrom": {"vaultSecretRef": {"secretId": SECRET}}}


def spec(**fields: Any) -> TrainingJobSpec:
    return TrainingJobSpec.model_validate({**BASE, **fields})


def run(**fields: Any) -> TrainingJobRunSpec:
    return TrainingJobRunSpec.model_validate({"jobRef": {"name": "train"}, **fields})


# (id, spec fields, needs the driver)
NEEDS = [
    ("plain-script", {}, False),
    (
        "secret-key-env",
        {"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
        False,
    ),
    ("container", {"artifact": None, "container": {"image": "iad.ocir.io/ns/t:1"}}, False),
    ("git", {"artifact": GIT, "entrypoint": "main.py"}, True),
    ("python", {"entrypoint": "train.py", "runtime": {"python": {"function": "main"}}}, True),
    ("notebook", {"runtime": {"notebook": {"path": "n.ipynb"}}}, True),
    ("empty-runtime", {"runtime": {}}, True),
    ("outputs", {"outputs": {"uri": "oci://b@ns/out/"}}, True),
    ("vault-env", {"env": [VAULT]}, True),
]


@pytest.mark.parametrize(("fields", "expected"), [c[1:] for c in NEEDS], ids=[c[0] for c in NEEDS])
def test_which_jobs_run_through_the_driver(fields: dict[str, Any], expected: bool) -> None:
    assert needs_driver(spec(**fields)) is expected


ALWAYS = {"JOB_RUN_ENTRYPOINT": "ocids_driver/main.py", "OCIDS_DRIVER_VERSION": "7"}
# (id, spec fields, the whole driver env besides ALWAYS)
CONTRACT: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    (
        "script-inline-file",
        {"runtime": {}},
        {"OCIDS_DRIVER_MODE": "script", "OCIDS_DRIVER_ENTRYPOINT": "train.py"},
    ),
    (
        "script-configmap-key",
        {"artifact": {"configMapRef": {"name": "code", "key": "run.sh"}}, "outputs": {"uri": "oci://b@ns/"}},
        {
            "OCIDS_DRIVER_MODE": "script",
            "OCIDS_DRIVER_ENTRYPOINT": "run.sh",
            "OCIDS_DRIVER_OUTPUT_URI": "oci://b@ns/",
        },
    ),
    (
        "script-url-file",
        {"artifact": {"url": "https://h/dl/train.py?sig=x"}, "runtime": {}},
        {"OCIDS_DRIVER_MODE": "script", "OCIDS_DRIVER_ENTRYPOINT": "train.py"},
    ),
    # An archive has no default entry: the driver says OCIDS_DRIVER_ENTRYPOINT is not set.
    (
        "script-url-archive",
        {"artifact": {"url": "https://h/code.zip"}, "runtime": {}},
        {"OCIDS_DRIVER_MODE": "script"},
    ),
    (
        "script-git",
        {"artifact": GIT, "entrypoint": "src/train.py"},
        {"OCIDS_DRIVER_MODE": "script", "OCIDS_DRIVER_ENTRYPOINT": "src/train.py"},
    ),
    (
        "python-file",
        {
            "entrypoint": "train.py",
            "runtime": {"python": {"function": "main", "pythonPath": ["lib", "vendor"], "workingDir": "src"}},
        },
        {
            "OCIDS_DRIVER_MODE": "python",
            "OCIDS_DRIVER_ENTRYPOINT": "train.py",
            "OCIDS_DRIVER_FUNCTION": "main",
            "OCIDS_DRIVER_PYTHON_PATH": "lib:vendor",
            "OCIDS_DRIVER_WORKING_DIR": "src",
        },
    ),
    (
        "python-module",
        {"artifact": GIT, "runtime": {"python": {"module": "pkg.train", "function": "run"}}},
        {"OCIDS_DRIVER_MODE": "python", "OCIDS_DRIVER_MODULE": "pkg.train", "OCIDS_DRIVER_FUNCTION": "run"},
    ),
    (
        "notebook",
        {
            "artifact": GIT,
            "runtime": {
                "notebook": {"path": "nb/train.ipynb", "excludeTags": ["skip", "slow"], "encoding": "latin-1"}
            },
            "outputs": {"directory": "/home/datascience/out", "uri": "oci://b@ns/runs/"},
        },
        {
            "OCIDS_DRIVER_MODE": "notebook",
            "OCIDS_DRIVER_NOTEBOOK": "nb/train.ipynb",
            "OCIDS_DRIVER_EXCLUDE_TAGS": "skip,slow",
            "OCIDS_DRIVER_NOTEBOOK_ENCODING": "latin-1",
            "OCIDS_DRIVER_OUTPUT_DIR": "/home/datascience/out",
            "OCIDS_DRIVER_OUTPUT_URI": "oci://b@ns/runs/",
        },
    ),
    (
        "vault",
        {"env": [VAULT, {"name": "B", "valueFrom": {"vaultSecretRef": {"secretId": OTHER_SECRET}}}]},
        {
            "OCIDS_DRIVER_MODE": "script",
            "OCIDS_DRIVER_ENTRYPOINT": "train.py",
            "OCIDS_DRIVER_VAULT_SECRETS": json.dumps(
                {"B": OTHER_SECRET, "TOKEN": SECRET}, separators=(",", ":")
            ),
        },
    ),
]


@pytest.mark.parametrize(("fields", "expected"), [c[1:] for c in CONTRACT], ids=[c[0] for c in CONTRACT])
def test_driver_env_contract(fields: dict[str, Any], expected: dict[str, str]) -> None:
    assert driver_env(spec(**fields), version="7") == {**ALWAYS, **expected}


def test_endpoints_are_passed_on_only_when_set() -> None:
    env = driver_env(
        spec(runtime={}),
        version="7",
        endpoints={"OCIDS_OBJECT_STORAGE_ENDPOINT": STORAGE, "OCIDS_SECRETS_ENDPOINT": None, "OTHER": "x"},
    )
    assert env["OCIDS_OBJECT_STORAGE_ENDPOINT"] == STORAGE
    assert "OCIDS_SECRETS_ENDPOINT" not in env and "OTHER" not in env


def test_a_resolved_file_name_names_the_entry_of_a_url_from_artifact() -> None:
    url_from = spec(artifact={"urlFrom": {"secretKeyRef": {"name": "par", "key": "url"}}}, runtime={})
    assert "OCIDS_DRIVER_ENTRYPOINT" not in driver_env(url_from, version="1")
    assert driver_env(url_from, version="1", code_file="job.sh")["OCIDS_DRIVER_ENTRYPOINT"] == "job.sh"


def test_vault_refs_name_only_vault_variables() -> None:
    job = spec(env=[VAULT, {"name": "A", "value": "1"}])
    assert vault_refs(job.env) == {"TOKEN": SECRET}


def test_a_run_merges_its_vault_secrets_over_the_jobs() -> None:
    job = spec(env=[VAULT, {"name": "KEEP", "valueFrom": {"vaultSecretRef": {"secretId": OTHER_SECRET}}}])
    # The run reads TOKEN from another secret, and adds NEW.
    merged = driver_env(
        job,
        run(
            env=[
                {
                    "name": "TOKEN",
                    "valueFrom": {"vaultSecretRef": {"secretId": "ocid1.vaultsecret.oc1..run"}},
                },
                {"name": "NEW", "valueFrom": {"vaultSecretRef": {"secretId": "ocid1.vaultsecret.oc1..new"}}},
            ]
        ),
        version="1",
    )
    assert json.loads(merged["OCIDS_DRIVER_VAULT_SECRETS"]) == {
        "KEEP": OTHER_SECRET,
        "NEW": "ocid1.vaultsecret.oc1..new",
        "TOKEN": "ocid1.vaultsecret.oc1..run",
    }


def test_a_job_without_vault_variables_has_no_vault_entry() -> None:
    assert "OCIDS_DRIVER_VAULT_SECRETS" not in driver_env(spec(runtime={}), version="1")


def test_outputs_uri_of_a_run() -> None:
    run_id = "ocid1.datasciencejobrun.oc1..r"
    assert run_outputs_uri(spec(outputs={"uri": "oci://b@ns/runs/"}), run_id) == f"oci://b@ns/runs/{run_id}/"
    assert run_outputs_uri(spec(outputs={"uri": "oci://b@ns/a/b"}), run_id) == f"oci://b@ns/a/b/{run_id}/"
    assert run_outputs_uri(spec(outputs={"uri": "oci://b@ns"}), run_id) == f"oci://b@ns/{run_id}/"
    assert run_outputs_uri(spec(), run_id) is None


def test_run_vault_refused_where_no_driver_runs() -> None:
    vault_run = run(env=[VAULT])
    container = spec(artifact=None, container={"image": "iad.ocir.io/ns/t:1"})
    problem = run_vault_problem(vault_run, container, "train")
    assert problem is not None and problem.startswith("spec.env[TOKEN].valueFrom.vaultSecretRef")
    assert "runs a container" in problem
    plain = run_vault_problem(vault_run, spec(), "train")
    assert plain is not None and "runtime: {}" in plain
    assert run_vault_problem(vault_run, spec(runtime={}), "train") is None
    assert run_vault_problem(run(env=[{"name": "A", "value": "1"}]), container, "train") is None


# The requests as OCI gets them --------------------------------------------------------------------
def job_env_sent(job: TrainingJobSpec, user_env: dict[str, str]) -> dict[str, str]:
    request = model.JobRequest(job, REF, user_env, 1, "hash", DRIVER if needs_driver(job) else None)
    details = mapping.create_job_details(request)
    return details.job_configuration_details.environment_variables or {}


def test_a_driver_job_sends_the_contract_and_no_secret_value() -> None:
    job = spec(
        entrypoint="train.py",
        runtime={"python": {"function": "main"}},
        env=[VAULT, {"name": "A", "value": "1"}],
    )
    env = job_env_sent(job, {"A": "1"})  # resolve_env leaves Vault variables out
    assert env["JOB_RUN_ENTRYPOINT"] == "ocids_driver/main.py"
    assert env["OCIDS_DRIVER_ENTRYPOINT"] == "train.py"
    assert env["OCIDS_OBJECT_STORAGE_ENDPOINT"] == STORAGE
    assert json.loads(env["OCIDS_DRIVER_VAULT_SECRETS"]) == {"TOKEN": SECRET}
    assert "TOKEN" not in env and env["A"] == "1"


def test_the_driver_contract_wins_over_a_users_variable_of_the_same_name() -> None:
    env = job_env_sent(
        spec(runtime={}, env=[{"name": "OCIDS_DRIVER_MODE", "value": "x"}]), {"OCIDS_DRIVER_MODE": "x"}
    )
    assert env["OCIDS_DRIVER_MODE"] == "script"


def test_a_plain_job_is_sent_and_hashed_as_before() -> None:
    job = spec(entrypoint="train.py")
    env = job_env_sent(job, {})
    assert env == {"JOB_RUN_ENTRYPOINT": "train.py"}
    assert model.desired_template(job, {}, DRIVER) == model.desired_template(job, {})


def test_the_driver_version_is_part_of_the_template() -> None:
    job = spec(runtime={})
    one = model.template_hash(model.desired_template(job, {}, DriverContext.of("1")), "sha256:a")
    two = model.template_hash(model.desired_template(job, {}, DriverContext.of("2")), "sha256:a")
    assert one != two
    assert ("OCIDS_DRIVER_VERSION", "1") in model.desired_template(job, {}, DriverContext.of("1")).env


def test_a_driver_job_without_its_context_is_refused_loudly() -> None:
    with pytest.raises(ValueError, match="DriverContext"):
        model.desired_template(spec(runtime={}), {})


def run_env_sent(
    job: TrainingJobSpec, the_run: TrainingJobRunSpec, run_user_env: dict[str, str]
) -> dict[str, str]:
    request = model.RunRequest(
        the_run, job, REF, "ocid1.datasciencejob.oc1..j", {}, run_user_env, driver=DRIVER
    )
    details = mapping.create_job_run_details(request)
    return details.job_configuration_override_details.environment_variables or {}


def test_a_run_override_keeps_the_contract_and_merges_vault() -> None:
    job = spec(runtime={}, env=[VAULT])
    the_run = run(env=[{"name": "NEW", "valueFrom": {"vaultSecretRef": {"secretId": OTHER_SECRET}}}])
    env = run_env_sent(job, the_run, {})
    assert env["JOB_RUN_ENTRYPOINT"] == "ocids_driver/main.py"
    assert json.loads(env["OCIDS_DRIVER_VAULT_SECRETS"]) == {"NEW": OTHER_SECRET, "TOKEN": SECRET}


def test_a_runs_plain_value_replaces_a_jobs_vault_variable() -> None:
    job = spec(runtime={}, env=[VAULT])
    env = run_env_sent(job, run(env=[{"name": "TOKEN", "value": "plain"}]), {"TOKEN": "plain"})
    assert env["TOKEN"] == "plain"
    # Sent empty, not left out: OCI merges a run's variables over the job's, whose map names TOKEN.
    assert json.loads(env["OCIDS_DRIVER_VAULT_SECRETS"]) == {}


def test_a_multi_node_run_merges_vault_in_every_group() -> None:
    nodes = {"groups": [{"name": "main", "replicas": 1}, {"name": "workers", "replicas": 2}]}
    job = spec(runtime={}, env=[VAULT], nodes=nodes)
    the_run = run(env=[{"name": "NEW", "valueFrom": {"vaultSecretRef": {"secretId": OTHER_SECRET}}}])
    config = model.node_config(job, {}, the_run, {}, DRIVER)
    assert config is not None
    for group in config.groups:
        env = dict(group.env)
        assert env["JOB_RUN_ENTRYPOINT"] == "ocids_driver/main.py"
        assert json.loads(env["OCIDS_DRIVER_VAULT_SECRETS"]) == {"NEW": OTHER_SECRET, "TOKEN": SECRET}
    job_config = model.node_config(job, {}, driver=DRIVER)
    assert job_config is not None
    assert json.loads(dict(job_config.groups[0].env)["OCIDS_DRIVER_VAULT_SECRETS"]) == {"TOKEN": SECRET}


def group_vault(config: model.NodeConfig | None) -> dict[str, Any]:
    assert config is not None
    return {
        group.name: json.loads(env[VAULT_KEY]) if VAULT_KEY in (env := dict(group.env)) else None
        for group in config.groups
    }


VAULT_KEY = "OCIDS_DRIVER_VAULT_SECRETS"
TOKEN_LITERAL = [{"name": "TOKEN", "value": "plain"}]


def test_a_groups_literal_takes_the_jobs_vault_variable_out_of_that_group() -> None:
    nodes = {
        "groups": [{"name": "main", "replicas": 1, "env": TOKEN_LITERAL}, {"name": "workers", "replicas": 2}]
    }
    job = spec(runtime={}, env=[VAULT], nodes=nodes)
    config = model.node_config(job, {}, driver=DRIVER)
    assert group_vault(config) == {"main": None, "workers": {"TOKEN": SECRET}}
    assert config is not None and dict(config.groups[0].env)["TOKEN"] == "plain"
    # A run of it sends the emptied map for that group (OCI merges a run's env over the job group's).
    assert group_vault(model.node_config(job, {}, run(), {}, DRIVER)) == {
        "main": {},
        "workers": {"TOKEN": SECRET},
    }


def test_a_runs_group_override_literal_takes_vault_variables_out_of_that_group() -> None:
    nodes = {"groups": [{"name": "main", "replicas": 1}, {"name": "workers", "replicas": 2}]}
    job = spec(runtime={}, env=[VAULT], nodes=nodes)
    run_vault = {"name": "TOKEN", "valueFrom": {"vaultSecretRef": {"secretId": OTHER_SECRET}}}
    the_run = run(env=[run_vault], nodeGroups=[{"name": "workers", "env": TOKEN_LITERAL}])
    config = model.node_config(job, {}, the_run, {}, DRIVER)
    assert group_vault(config) == {"main": {"TOKEN": OTHER_SECRET}, "workers": {}}
    assert config is not None and dict(config.groups[1].env)["TOKEN"] == "plain"


def test_a_runs_vault_variable_wins_over_a_job_groups_literal() -> None:
    nodes = {"groups": [{"name": "main", "replicas": 1, "env": TOKEN_LITERAL}]}
    job = spec(runtime={}, env=[VAULT], nodes=nodes)
    the_run = run(env=[{"name": "TOKEN", "valueFrom": {"vaultSecretRef": {"secretId": OTHER_SECRET}}}])
    assert group_vault(model.node_config(job, {}, the_run, {}, DRIVER)) == {"main": {"TOKEN": OTHER_SECRET}}
