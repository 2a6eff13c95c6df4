"""Settings that harden inputs: plain-http endpoints only on loopback, the artifact host allow-list,
the spool budget. A bad one stops start-up (exit 2) naming the variable."""

from __future__ import annotations

import pytest
from ocids_operator import __main__ as entry
from ocids_operator.settings import SettingsError, load_settings

ENDPOINTS = [
    "OCIDS_DATASCIENCE_ENDPOINT",
    "OCIDS_LOGGING_ENDPOINT",
    "OCIDS_OBJECT_STORAGE_ENDPOINT",
    "OCIDS_FEDERATION_ENDPOINT",
]


@pytest.mark.parametrize("variable", ENDPOINTS)
def test_plain_http_to_another_host_stops_start_up_naming_both_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str
) -> None:
    monkeypatch.setenv(variable, "http://emulator.ocids.svc:12000")
    assert entry.main([]) == 2
    err = capsys.readouterr().err
    assert variable in err and "OCIDS_ALLOW_INSECURE_ENDPOINTS" in err


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:12000", "http://localhost:12000/", "http://[::1]:1", "https://ds.example.com"]
)
def test_https_and_loopback_endpoints_need_no_opt_in(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("OCIDS_DATASCIENCE_ENDPOINT", url)
    assert load_settings().datascience_endpoint == url.rstrip("/")


def test_the_insecure_opt_in_admits_plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIDS_DATASCIENCE_ENDPOINT", "http://emulator:12000")
    monkeypatch.setenv("OCIDS_ALLOW_INSECURE_ENDPOINTS", "true")
    assert load_settings().datascience_endpoint == "http://emulator:12000"


def test_the_allow_list_is_split_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "OCIDS_ARTIFACT_URL_ALLOWED_HOSTS", " artifacts.example.com, *.corp.example,10.0.0.0/8 ,"
    )
    assert load_settings().artifact_url_allowed_hosts == [
        "artifacts.example.com",
        "*.corp.example",
        "10.0.0.0/8",
    ]
    for bad in ("10.0.0.0/99", "https://artifacts.example.com", "a b"):
        monkeypatch.setenv("OCIDS_ARTIFACT_URL_ALLOWED_HOSTS", bad)
        with pytest.raises(SettingsError, match="OCIDS_ARTIFACT_URL_ALLOWED_HOSTS"):
            load_settings()


def test_the_spool_budget_holds_at_least_one_artifact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIDS_ARTIFACT_MAX_BYTES", "1000")
    monkeypatch.setenv("OCIDS_ARTIFACT_SPOOL_MAX_BYTES", "999")
    with pytest.raises(SettingsError, match="OCIDS_ARTIFACT_SPOOL_MAX_BYTES"):
        load_settings()
