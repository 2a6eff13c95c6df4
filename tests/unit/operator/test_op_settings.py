"""Settings are checked before kopf starts; a bad one stops start-up naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from ocids_operator import __main__ as entry
from ocids_operator.settings import AuthMode, SettingsError, load_settings


def test_defaults_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIDS_NAMESPACES", "ml, team-a ,")
    monkeypatch.setenv("OCIDS_AUTH", "instance_principal")
    monkeypatch.setenv("OCIDS_DATASCIENCE_ENDPOINT", "http://127.0.0.1:12000/")
    settings = load_settings()
    assert settings.namespaces == ["ml", "team-a"]
    assert settings.auth is AuthMode.INSTANCE_PRINCIPAL
    assert settings.datascience_endpoint == "http://127.0.0.1:12000"
    assert settings.debug_crash_after is None


def test_flags_win_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIDS_POLL_INTERVAL_SECONDS", "7")
    args = entry.parse_args(["--poll-interval-seconds", "3", "-n", "a", "-n", "b"])
    settings = load_settings(**args)
    assert settings.poll_interval_seconds == 3
    assert settings.namespaces == ["a", "b"]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OCIDS_AUTH": "password"}, "OCIDS_AUTH"),
        ({"OCIDS_POLL_INTERVAL_SECONDS": "0"}, "OCIDS_POLL_INTERVAL_SECONDS"),
        ({"OCIDS_METRICS_PORT": "70000"}, "OCIDS_METRICS_PORT"),
        ({"OCIDS_DATASCIENCE_ENDPOINT": "localhost:1"}, "OCIDS_DATASCIENCE_ENDPOINT"),
        ({"OCIDS_DEBUG_CRASH_AFTER": "everything"}, "OCIDS_DEBUG_CRASH_AFTER"),
    ],
)
def test_a_bad_setting_is_named(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError, match=named):
        load_settings()


def test_a_bad_value_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIDS_METRICS_PORT", "hunter2-secret")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "hunter2-secret" not in str(info.value)


def test_start_up_stops_with_exit_code_2_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OCIDS_RESYNC_INTERVAL_SECONDS", "-1")
    assert entry.main([]) == 2
    assert "OCIDS_RESYNC_INTERVAL_SECONDS" in capsys.readouterr().err


def test_a_bad_flag_is_named_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert entry.main(["--health-port", "-5"]) == 2
    assert "OCIDS_HEALTH_PORT" in capsys.readouterr().err


def test_missing_oci_config_file_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OCIDS_OCI_CONFIG_FILE", "/nonexistent/oci-config")
    assert entry.main([]) == 2
    assert "OCIDS_OCI_CONFIG_FILE" in capsys.readouterr().err


def test_a_config_whose_key_file_is_missing_stops_start_up_with_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The likeliest chart mistake: key_file names a path the Secret's items do not mount.
    config = tmp_path / "config"
    config.write_text(
        "[DEFAULT]\nuser=ocid1.user.oc1..u\nfingerprint=aa:bb\ntenancy=ocid1.tenancy.oc1..t\n"
        "region=us-ashburn-1\nkey_file=/etc/oci/missing.pem\n"
    )
    monkeypatch.setenv("OCIDS_OCI_CONFIG_FILE", str(config))
    assert entry.main([]) == 2
    err = capsys.readouterr().err
    assert "invalid OCI config" in err and "/etc/oci/missing.pem" in err
