"""Outputs and Vault secrets without OCI: where files go, and failures that must be loud."""

from __future__ import annotations

from pathlib import Path

import pytest
from driver_support import run_driver, unpack
from ocids_operator.driver import DriverError
from ocids_operator.driver.outputs import OutputLocation, files_under, parse_output_uri

RUN = "ocid1.datasciencejobrun.oc1.iad.r1"
WRITE_OUTPUT = (
    "import os, pathlib, sys\npathlib.Path(os.environ['OCIDS_DRIVER_OUTPUT_DIR'], 'm.txt').write_text('x')\n"
)


@pytest.mark.parametrize(
    ("uri", "location", "object_name", "run_uri"),
    [
        (
            "oci://b@ns/prefix/",
            OutputLocation("b", "ns", "prefix"),
            f"prefix/{RUN}/m/a.txt",
            f"oci://b@ns/prefix/{RUN}/",
        ),
        ("oci://b@ns/a/b", OutputLocation("b", "ns", "a/b"), f"a/b/{RUN}/m/a.txt", f"oci://b@ns/a/b/{RUN}/"),
        ("oci://b@ns", OutputLocation("b", "ns", ""), f"{RUN}/m/a.txt", f"oci://b@ns/{RUN}/"),
        ("oci://b@ns/", OutputLocation("b", "ns", ""), f"{RUN}/m/a.txt", f"oci://b@ns/{RUN}/"),
    ],
)
def test_outputs_go_under_the_prefix_and_the_run(
    uri: str, location: OutputLocation, object_name: str, run_uri: str
) -> None:
    assert parse_output_uri(uri) == location
    assert location.object_name(RUN, "m/a.txt") == object_name
    assert location.run_uri(RUN) == run_uri


@pytest.mark.parametrize("uri", ["s3://b@ns/p", "oci://bucket/p", "oci://@ns/p", "oci://b@/p", "b@ns/p"])
def test_bad_output_uri_is_refused(uri: str) -> None:
    with pytest.raises(
        DriverError, match=r"OCIDS_DRIVER_OUTPUT_URI .* is not of the form oci://bucket@namespace"
    ):
        parse_output_uri(uri)


def test_files_under_walks_nested_folders_in_order(tmp_path: Path) -> None:
    for name in ("b.txt", "a/z.bin", "a/c/d.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    assert [rel for _, rel in files_under(tmp_path)] == ["b.txt", "a/z.bin", "a/c/d.txt"]


def test_a_failed_upload_turns_success_into_exit_1_and_says_why(tmp_path: Path) -> None:
    root = unpack(
        tmp_path,
        {"run.py": WRITE_OUTPUT},
    )
    done = run_driver(root, MODE="script", ENTRYPOINT="run.py", OUTPUT_URI="oci://b@ns/p/")
    assert done.returncode == 1
    assert "uploading the outputs to oci://b@ns/p/ failed" in done.stderr
    # The default output folder is "outputs" under the working dir, created for the user's code.
    assert (root / "code" / "outputs" / "m.txt").read_text() == "x"


def test_a_failed_upload_keeps_the_users_nonzero_exit_code(tmp_path: Path) -> None:
    root = unpack(
        tmp_path,
        {"run.py": WRITE_OUTPUT + "sys.exit(3)\n"},
    )
    done = run_driver(root, MODE="script", ENTRYPOINT="run.py", OUTPUT_URI="oci://b@ns/p/")
    assert done.returncode == 3
    assert "failed" in done.stderr


def test_an_empty_output_dir_uploads_nothing_and_needs_no_oci(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"run.py": "pass\n"})
    done = run_driver(
        root,
        MODE="script",
        ENTRYPOINT="run.py",
        OUTPUT_URI="oci://b@ns/p/",
        OUTPUT_DIR=str(tmp_path / "empty"),
    )
    assert done.returncode == 0, done.stderr
    assert "uploaded 0 output file(s)" in done.stderr


def test_a_bad_output_uri_fails_before_the_users_code_runs(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"run.py": "open('ran', 'w').close()\n"})
    done = run_driver(root, MODE="script", ENTRYPOINT="run.py", OUTPUT_URI="s3://bucket/p")
    assert done.returncode == 1
    assert "OCIDS_DRIVER_OUTPUT_URI 's3://bucket/p' is not of the form" in done.stderr
    assert not (root / "code" / "ran").exists()


def test_an_unreadable_vault_secret_stops_the_run_naming_variable_and_secret(tmp_path: Path) -> None:
    root = unpack(tmp_path, {"run.py": "open('ran', 'w').close()\n"})
    secret = "ocid1.vaultsecret.oc1.iad.s1"
    done = run_driver(
        root, MODE="script", ENTRYPOINT="run.py", VAULT_SECRETS=f'{{"DB_PASSWORD": "{secret}"}}'
    )
    assert done.returncode == 1
    assert f"cannot read the Vault secrets for DB_PASSWORD ({secret})" in done.stderr
    # No resource principal here (or, in an environment without it, no oci package): said so.
    assert "no resource principal" in done.stderr or "is not installed" in done.stderr
    assert not (root / "code" / "ran").exists()


@pytest.mark.parametrize("value", ["not json", '["A"]', '{"A": ""}', '{"": "ocid1.vaultsecret.x"}'])
def test_malformed_vault_secrets_name_the_variable(tmp_path: Path, value: str) -> None:
    root = unpack(tmp_path, {"run.py": "pass\n"})
    done = run_driver(root, MODE="script", ENTRYPOINT="run.py", VAULT_SECRETS=value)
    assert done.returncode == 1
    assert "OCIDS_DRIVER_VAULT_SECRETS" in done.stderr
