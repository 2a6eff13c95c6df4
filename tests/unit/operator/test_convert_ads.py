"""`ocids-operator convert ads`: ADS job YAML -> TrainingJob + TrainingJobRun, and what is not converted."""

from __future__ import annotations

import copy
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ocids_operator.convert.ads import (
    ConversionError,
    LocalFile,
    NotAnAdsJob,
    convert,
    file_reader,
    kube_name,
    main,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "ads"
IDS = {
    "COMPARTMENT_ID": "ocid1.compartment.oc1..aaaa",
    "PROJECT_ID": "ocid1.datascienceproject.oc1.iad.pppp",
    "LOG_GROUP_ID": "ocid1.loggroup.oc1.iad.llll",
    "SUBNET_ID": "ocid1.subnet.oc1.iad.ssss",
    "OBJECT_STORAGE_NAMESPACE": "ns",
    "OBJECT_STORAGE_BUCKET": "bkt",
    "GIT_URL": "https://git.example.com/team/tutorials.git",
}
INFRA = {
    "kind": "infrastructure",
    "type": "dataScienceJob",
    "spec": {
        "compartmentId": IDS["COMPARTMENT_ID"],
        "projectId": IDS["PROJECT_ID"],
        "shapeName": "VM.Standard2.1",
    },
}


def doc(runtime_type: str, runtime: dict[str, Any], infra: dict[str, Any] | None = None) -> dict[str, Any]:
    infrastructure = copy.deepcopy(INFRA)
    infrastructure["spec"].update(infra or {})
    return {
        "kind": "job",
        "spec": {
            "name": "My Job",
            "infrastructure": infrastructure,
            "runtime": {"kind": "runtime", "type": runtime_type, "spec": runtime},
        },
    }


def load(name: str) -> dict[str, Any]:
    text = string.Template((DATA / name).read_text()).safe_substitute(IDS)
    return dict(yaml.safe_load(text))


SCRIPT = {"scriptPathURI": "oci://bkt@ns/code/train.py"}

# (ADS document, expected TrainingJob spec parts, expected "not converted" paths)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], list[str]]] = {
    "script-zip-with-entrypoint-conda-env-args": (
        doc(
            "script",
            {
                "scriptPathURI": "oci://bkt@ns/code/code_dir.zip",
                "entrypoint": "my_package/my_script.sh",
                "args": ['100 linux "hi there"', 7],
                "env": [{"name": "NAME", "value": "Welcome"}, {"name": "N", "value": 3}],
                "conda": {"type": "service", "slug": "pytorch110_p38_cpu_v1"},
                "maximumRuntimeInMinutes": 30,
            },
        ),
        {
            "artifact": {"url": "oci://bkt@ns/code/code_dir.zip"},
            "entrypoint": "my_package/my_script.sh",
            "args": ['100 linux "hi there"', "7"],
            "env": [{"name": "NAME", "value": "Welcome"}, {"name": "N", "value": "3"}],
            "conda": {"type": "service", "slug": "pytorch110_p38_cpu_v1"},
            "maximumRuntimeInMinutes": 30,
            "displayName": "My Job",
        },
        [],
    ),
    "infrastructure-flex-subnet-logs-mounts-tags": (
        doc(
            "script",
            {**SCRIPT, "freeformTags": {"team": "ml"}},
            {
                "shapeName": "VM.Standard.E3.Flex",
                "shapeConfigDetails": {"ocpus": 2, "memoryInGBs": "32"},
                "blockStorageSize": 100,
                "subnetId": IDS["SUBNET_ID"],
                "jobInfrastructureType": "STANDALONE",
                "logGroupId": IDS["LOG_GROUP_ID"],
                "logId": "ocid1.log.oc1.iad.gggg",
                "displayName": "nightly",
                "definedTags": {"Ops": {"CostCenter": "42"}},
                "storageMount": [
                    {"src": "oci://data@ns/prefix/x", "dest": "/mnt/data"},
                    {"src": "ocid1.mounttarget.oc1..m:ocid1.export.oc1..e", "dest": "shared"},
                    {"src": "10.0.0.1:/export", "dest": "fs"},
                ],
            },
        ),
        {
            "displayName": "nightly",
            "infrastructure": {
                "shape": "VM.Standard.E3.Flex",
                "ocpus": 2,
                "memoryInGBs": 32,
                "blockStorageSizeInGBs": 100,
                "subnetId": IDS["SUBNET_ID"],
            },
            "logging": {
                "enabled": True,
                "logGroupId": IDS["LOG_GROUP_ID"],
                "logId": "ocid1.log.oc1.iad.gggg",
            },
            "storageMounts": [
                {
                    "destinationDirectoryName": "data",
                    "destinationPath": "/mnt",
                    "storageType": "OBJECT_STORAGE",
                    "bucket": "data",
                    "namespace": "ns",
                    "prefix": "prefix/x",
                },
                {
                    "destinationDirectoryName": "shared",
                    "storageType": "FILE_STORAGE",
                    "mountTargetId": "ocid1.mounttarget.oc1..m",
                    "exportId": "ocid1.export.oc1..e",
                },
            ],
            "freeformTags": {"team": "ml"},
            "definedTags": {"Ops": {"CostCenter": "42"}},
        },
        ["spec.infrastructure.spec.storageMount[2]"],
    ),
    "log-group-only-auto-creates-and-unknown-keys-are-named": (
        doc(
            "script",
            {**SCRIPT, "someFutureKey": 1},
            {"logGroupId": IDS["LOG_GROUP_ID"], "jobInfrastructureType": "STANDALONE", "id": "x"},
        ),
        {"logging": {"enabled": True, "logGroupId": IDS["LOG_GROUP_ID"], "autoCreateLog": True}},
        [
            "spec.infrastructure.spec.jobInfrastructureType",
            "spec.infrastructure.spec.id",
            "spec.runtime.spec.someFutureKey",
        ],
    ),
    "python-entry-function-paths-joined-with-working-dir": (
        doc(
            "python",
            {
                "scriptPathURI": "oci://bkt@ns/code/code.zip",
                "workingDir": "code_dir",
                "entrypoint": "my_package/my_script.py",
                "entryFunction": "train",
                "pythonPath": ["other_packages"],
                "outputDir": "output",
                "outputUri": "oci://bkt@ns/out/",
                "conda": {
                    "type": "published",
                    "uri": "oci://envs@ns/conda/env.tar.gz",
                    "region": "us-phoenix-1",
                },
            },
        ),
        {
            "artifact": {"url": "oci://bkt@ns/code/code.zip"},
            "entrypoint": "code_dir/my_package/my_script.py",
            "runtime": {
                "python": {
                    "function": "train",
                    "pythonPath": ["code_dir/other_packages"],
                    "workingDir": "code_dir",
                }
            },
            "outputs": {"uri": "oci://bkt@ns/out/", "directory": "output"},
            "conda": {"type": "published", "uri": "oci://envs@ns/conda/env.tar.gz", "region": "us-phoenix-1"},
        },
        [],
    ),
    "python-single-file-function-defaults-entrypoint": (
        doc("python", {"scriptPathURI": "https://example.com/train.py", "entryFunction": "main"}),
        {
            "artifact": {"url": "https://example.com/train.py"},
            "entrypoint": "train.py",
            "runtime": {"python": {"function": "main"}},
        },
        [],
    ),
    "python-without-function-runs-as-script": (
        doc("python", {**SCRIPT, "pythonPath": ["lib"], "workingDir": "src", "outputDir": "out"}),
        {"artifact": {"url": SCRIPT["scriptPathURI"]}},
        ["spec.runtime.spec.pythonPath", "spec.runtime.spec.workingDir", "spec.runtime.spec.outputDir"],
    ),
    "git-commit-pins-and-vault-key-is-named": (
        doc(
            "gitPython",
            {
                "url": "https://github.com/pytorch/tutorials.git",
                "branch": "main",
                "commit": "a" * 40,
                "entrypoint": "beginner_source/examples_nn/polynomial_nn.py",
                "entryFunction": "run",
                "gitSecretId": "ocid1.vaultsecret.oc1..k",
                "skipMetadataUpdate": True,
            },
        ),
        {
            "artifact": {"git": {"url": "https://github.com/pytorch/tutorials.git", "ref": "a" * 40}},
            "entrypoint": "beginner_source/examples_nn/polynomial_nn.py",
            "runtime": {"python": {"function": "run"}},
        },
        ["spec.runtime.spec.branch", "spec.runtime.spec.gitSecretId", "spec.runtime.spec.skipMetadataUpdate"],
    ),
    "git-default-branch-is-head": (
        doc("gitPython", {"url": "https://h/r.git", "entrypoint": "main.py", "outputUri": "oci://b@n/p"}),
        {
            "artifact": {"git": {"url": "https://h/r.git", "ref": "HEAD"}},
            "entrypoint": "main.py",
            "outputs": {"uri": "oci://b@n/p"},
        },
        [],
    ),
    "notebook-url-tags-encoding-output-uri-alias": (
        doc(
            "notebook",
            {
                "notebookPathURI": "https://raw.example.com/tutorials/basics.ipynb",
                "excludeTags": ["ignore", "remove"],
                "notebookEncoding": "latin-1",
                "outputURI": "oci://bkt@ns/nb",
            },
        ),
        {
            "artifact": {"url": "https://raw.example.com/tutorials/basics.ipynb"},
            "runtime": {
                "notebook": {
                    "path": "basics.ipynb",
                    "excludeTags": ["ignore", "remove"],
                    "encoding": "latin-1",
                }
            },
            "outputs": {"uri": "oci://bkt@ns/nb"},
        },
        [],
    ),
    "notebook-in-a-source-archive": (
        doc("notebook", {"source": "oci://bkt@ns/code/nb.zip", "entrypoint": "nbs/train.ipynb"}),
        {
            "artifact": {"url": "oci://bkt@ns/code/nb.zip"},
            "runtime": {"notebook": {"path": "nbs/train.ipynb"}},
        },
        [],
    ),
    "container-comma-strings-split-as-ads-does": (
        doc(
            "container",
            {
                "image": "iad.ocir.io/ns/trainer:1.0",
                "entrypoint": "/bin/sh,-c",
                "cmd": "sleep 5 && echo $GREETINGS",
                "imageDigest": "sha256:" + "b" * 64,
                "replicas": 2,
                "scriptPathURI": "path/to/artifact",
            },
            {"jobType": "DEFAULT"},
        ),
        {
            "container": {
                "image": "iad.ocir.io/ns/trainer:1.0",
                "command": ["/bin/sh", "-c"],
                "args": ["sleep 5 && echo $GREETINGS"],
                "imageDigest": "sha256:" + "b" * 64,
            },
        },
        ["spec.runtime.spec.replicas", "spec.runtime.spec.scriptPathURI"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ads_document_converts_to_the_expected_spec_and_names_what_it_left_out(case: str) -> None:
    source, expected, skipped = CASES[case]
    result = convert(source, None, "ml")
    job, run = result.manifests
    assert job["kind"] == "TrainingJob" and run["kind"] == "TrainingJobRun"
    assert job["metadata"] == {"name": "my-job", "namespace": "ml"}
    assert run["metadata"] == {"name": "my-job-1", "namespace": "ml"}
    assert run["spec"] == {"jobRef": {"name": "my-job"}}
    spec = job["spec"]
    assert spec["compartmentId"] == IDS["COMPARTMENT_ID"] and spec["projectId"] == IDS["PROJECT_ID"]
    for key, value in expected.items():
        assert spec.get(key) == value, (key, spec)
    assert [line.split(" (")[0] for line in result.skipped] == skipped, result.skipped
    assert all(line.endswith(")") and " (" in line for line in result.skipped)


@pytest.mark.parametrize(
    "name", ["script.yaml", "python.yaml", "git_python.yaml", "notebook.yaml", "container.yaml"]
)
def test_each_documented_example_converts_without_loss(name: str) -> None:
    result = convert(load(name), None, None)
    assert result.skipped == [], result.skipped
    assert "namespace" not in result.manifests[0]["metadata"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"kind": "pipeline", "spec": {}}, "kind is 'pipeline'"),
        ("just text", "not a mapping"),
        (
            {
                "kind": "job",
                "spec": {"infrastructure": {"type": "dataFlow", "spec": {}}, "runtime": {"type": "dataFlow"}},
            },
            "spec.infrastructure.type is 'dataFlow'",
        ),
        (doc("pyTorchDistributed", {}), "spec.runtime.type is 'pyTorchDistributed'"),
    ],
)
def test_documents_that_are_not_ads_data_science_jobs_are_refused(document: Any, message: str) -> None:
    with pytest.raises(NotAnAdsJob, match=message):
        convert(document, None, None)


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (doc("script", {}), "spec.runtime.spec.scriptPathURI is required"),
        (
            doc("script", SCRIPT, {"compartmentId": None}),
            "spec.infrastructure.spec.compartmentId is required",
        ),
        (doc("script", {"scriptPathURI": "s3://b/k.py"}), "only oci:// and https://"),
        (doc("script", {"scriptPathURI": "local/code_dir"}), "scriptPathURI cannot be converted"),
        (doc("gitPython", {"url": "ssh://git@h/r.git", "entrypoint": "m.py"}), "artifact.git.url"),
        (doc("script", SCRIPT, {"shapeName": "VM.Standard.E4.Flex"}), "spec.infrastructure"),
        (doc("script", {**SCRIPT, "env": [{"name": "1BAD", "value": "x"}]}), "spec.env.0.name"),
        (
            doc("script", SCRIPT, {"blockStorageSize": "big"}),
            "spec.infrastructure.spec.blockStorageSize must be",
        ),
        (
            doc("script", {**SCRIPT, "maximumRuntimeInMinutes": 1.5}),
            "maximumRuntimeInMinutes must be a whole",
        ),
        (
            doc("notebook", {"notebookPathURI": "oci://b@n/x.ipynb", "outputUri": "s3://x"}),
            "spec.outputs.uri",
        ),
    ],
)
def test_a_document_that_cannot_make_a_valid_training_job_is_an_error_naming_the_field(
    document: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConversionError, match=field.replace(".", r"\.").replace("/", ".")):
        convert(document, None, None)


def test_local_files_are_inlined_when_small_text_else_named(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / "code_dir").mkdir()
    (tmp_path / "big.py").write_text("#" * (300 * 1024))
    read = file_reader(tmp_path)
    result = convert(doc("script", {"scriptPathURI": "train.py"}), None, None, read_local=read)
    assert result.manifests[0]["spec"]["artifact"] == {
        "inline": {"fileName": "train.py", "content": "print('hi')\n"}
    }
    assert read("code_dir").problem == "a local directory: zip it"
    assert "more than" in (read("big.py").problem or "")
    assert read("nope.py") == LocalFile("nope.py", problem="no such local file")


def test_names_are_sanitized_or_given() -> None:
    assert kube_name("My Job") == "my-job"
    assert kube_name("__Train v2!!") == "train-v2"
    assert kube_name("???") == "ads-job"
    assert len(kube_name("x" * 300)) == 61
    result = convert(doc("script", SCRIPT), "nightly", None)
    assert [m["metadata"]["name"] for m in result.manifests] == ["nightly", "nightly-1"]


def test_main_prints_a_yaml_stream_and_lists_what_was_not_converted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "job.yaml"
    source.write_text(yaml.safe_dump(doc("script", {**SCRIPT, "someFutureKey": 1})))
    assert main([str(source), "--namespace", "ml"]) == 0
    out, err = capsys.readouterr()
    job, run = list(yaml.safe_load_all(out))
    assert job["metadata"] == {"name": "my-job", "namespace": "ml"} and run["metadata"]["name"] == "my-job-1"
    assert err == "ocids: not converted: spec.runtime.spec.someFutureKey (no TrainingJob field for it)\n"


def test_main_exits_2_for_what_is_not_an_ads_job_or_a_bad_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "deploy.yaml"
    source.write_text("kind: Deployment\napiVersion: apps/v1\n")
    assert main([str(source)]) == 2
    assert "not an ADS Data Science job: kind is 'Deployment'" in capsys.readouterr().err
    good = tmp_path / "job.yaml"
    good.write_text(yaml.safe_dump(doc("script", SCRIPT)))
    assert main([str(good), "--name", "Not_A_Name"]) == 2
    assert "--name 'Not_A_Name' is not a Kubernetes name" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.yaml")]) == 2


def test_the_operator_command_has_the_convert_subcommand(tmp_path: Path) -> None:
    source = tmp_path / "job.yaml"
    source.write_text(yaml.safe_dump(doc("script", SCRIPT)))
    done = subprocess.run(
        [sys.executable, "-m", "ocids_operator", "convert", "ads", str(source), "--name", "from-ads"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert [m["metadata"]["name"] for m in yaml.safe_load_all(done.stdout)] == ["from-ads", "from-ads-1"]
    wrong = subprocess.run(
        [sys.executable, "-m", "ocids_operator", "convert", "argo", str(source)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 2 and "usage: ocids-operator convert ads" in wrong.stderr


def test_env_references_are_substituted_as_ads_does_before_it_creates_the_job() -> None:
    env = {
        "HOST": "10.0.0.1",
        "PORT": "443",
        "URL": "http://${HOST}:${PORT}/path/",
        "ESCAPED_URL": "http://$${HOST}:$${PORT}/path/",
        "MISSING_VAR": "This is ${UNDEFINED}",
        "VAR_WITH_DOLLAR": "$10",
        "DOUBLE_DOLLAR": "$$10",
    }
    result = convert(doc("script", {**SCRIPT, "env": env}), None, None)
    # The values ADS's own docstring (Runtime.with_environment_variable) shows.
    assert {e["name"]: e["value"] for e in result.manifests[0]["spec"]["env"]} == {
        "HOST": "10.0.0.1",
        "PORT": "443",
        "URL": "http://10.0.0.1:443/path/",
        "ESCAPED_URL": "http://${HOST}:${PORT}/path/",
        "MISSING_VAR": "This is ${UNDEFINED}",
        "VAR_WITH_DOLLAR": "$10",
        "DOUBLE_DOLLAR": "$10",
    }


def test_snake_case_infrastructure_keys_are_read_as_ads_reads_them() -> None:
    source = doc(
        "script",
        SCRIPT,
        {
            "shapeName": None,
            "shape_name": "VM.Standard.E4.Flex",
            "job_shape_config_details": {"memory_in_gbs": 8, "ocpus": 1},
            "block_storage_size_in_gbs": 60,
            "log_group_id": IDS["LOG_GROUP_ID"],
            "freeform_tags": {"log_id": "kept as written"},
        },
    )
    spec = convert(source, None, None).manifests[0]["spec"]
    assert spec["infrastructure"] == {
        "shape": "VM.Standard.E4.Flex",
        "ocpus": 1,
        "memoryInGBs": 8,
        "blockStorageSizeInGBs": 60,
    }
    assert spec["logging"]["logGroupId"] == IDS["LOG_GROUP_ID"]
    assert spec["freeformTags"] == {"log_id": "kept as written"}


def test_keys_that_conflict_or_cannot_convert_are_named_not_dropped_silently() -> None:
    runtime = {
        **SCRIPT,
        "outputUri": "oci://a@ns/out",
        "outputURI": "oci://b@ns/out",
        "freeformTags": {"team": "runtime", "same": "1"},
        "definedTags": "not-a-mapping",
    }
    infra = {"shape_name": "VM.Standard2.2", "freeformTags": {"team": "infra", "same": "1"}}
    result = convert(doc("python", runtime, infra), None, None)
    spec = result.manifests[0]["spec"]
    assert spec["infrastructure"]["shape"] == "VM.Standard2.2"
    assert spec["outputs"] == {"uri": "oci://a@ns/out"}
    assert spec["freeformTags"] == {"team": "runtime", "same": "1"}
    assert "definedTags" not in spec
    assert [line.split(" (")[0] for line in result.skipped] == [
        "spec.infrastructure.spec.shapeName",
        "spec.infrastructure.spec.freeformTags.team",
        "spec.runtime.spec.definedTags",
        "spec.runtime.spec.outputURI",
    ], result.skipped
