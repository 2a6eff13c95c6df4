"""The events' settings: each bad value stops start-up naming its variable."""

from __future__ import annotations

import pytest
from ocids_operator.settings import SettingsError, load_settings

STREAM = "ocid1.stream.oc1.iad.s"
TOPIC = "ocid1.onstopic.oc1.iad.t"


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"events_stream_id": "my-stream"}, "OCIDS_EVENTS_STREAM_ID"),
        ({"streaming_endpoint": "ftp://x"}, "OCIDS_STREAMING_ENDPOINT"),
        ({"streaming_endpoint": "http://streaming.example.com"}, "OCIDS_STREAMING_ENDPOINT"),
        ({"notifications_endpoint": "http://10.0.0.5"}, "OCIDS_NOTIFICATIONS_ENDPOINT"),
        ({"events_poll_interval_seconds": 0}, "OCIDS_EVENTS_POLL_INTERVAL_SECONDS"),
        ({"events_read_interval_seconds": 0}, "OCIDS_EVENTS_READ_INTERVAL_SECONDS"),
        ({"events_silence_seconds": -1}, "OCIDS_EVENTS_SILENCE_SECONDS"),
        ({"notifications_port": 8443}, "OCIDS_NOTIFICATIONS_CREDENTIALS_FILE"),
        (
            {
                "notifications_port": 8443,
                "notifications_credentials_file": "/c",
                "notifications_topic_ids": TOPIC,
                "notifications_tls_cert_file": "/t",
            },
            "OCIDS_NOTIFICATIONS_TLS_KEY_FILE",
        ),
        (
            {"notifications_port": 8443, "notifications_credentials_file": "/c"},
            "OCIDS_NOTIFICATIONS_TOPIC_IDS",
        ),
        (
            {
                "notifications_port": 9090,
                "notifications_credentials_file": "/c",
                "notifications_topic_ids": TOPIC,
            },
            "OCIDS_NOTIFICATIONS_PORT must differ from OCIDS_METRICS_PORT",
        ),
        (
            {
                "notifications_port": 8080,
                "notifications_credentials_file": "/c",
                "notifications_topic_ids": TOPIC,
            },
            "OCIDS_NOTIFICATIONS_PORT must differ from OCIDS_HEALTH_PORT",
        ),
        (
            {"events_stream_id": STREAM, "events_poll_interval_seconds": 5, "poll_interval_seconds": 10},
            "OCIDS_EVENTS_POLL_INTERVAL_SECONDS",
        ),
    ],
)
def test_bad_events_settings_name_their_variable(given: dict[str, object], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(**given)


def test_events_defaults_and_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIDS_EVENTS_STREAM_ID", STREAM)
    monkeypatch.setenv("OCIDS_NOTIFICATIONS_TOPIC_IDS", "ocid1.onstopic.oc1..a, ocid1.onstopic.oc1..b")
    settings = load_settings()
    assert settings.events_stream_id == STREAM
    assert settings.notifications_topic_ids == ["ocid1.onstopic.oc1..a", "ocid1.onstopic.oc1..b"]
    assert (settings.events_poll_interval_seconds, settings.events_silence_seconds) == (120.0, 60.0)
    assert settings.events_read_interval_seconds == 1.0 and settings.notifications_port == 0
    monkeypatch.setenv("OCIDS_EVENTS_STREAM_ID", "")
    assert load_settings().events_stream_id is None
