"""The chart's events values: the env, Secret mounts and the Notifications Service they render, and
what is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chart_helm import CHART, by_kind, env_of, helm, render

STREAM = "ocid1.stream.oc1.phx.s1"
TOPIC = "ocid1.onstopic.oc1.phx.t1"


def pod_spec(docs: list[Any]) -> Any:
    return by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]


def test_by_default_no_stream_no_endpoint(tmp_path: Path) -> None:
    docs = render(tmp_path)
    env = env_of(by_kind(docs, "Deployment")[0])
    assert "OCIDS_EVENTS_STREAM_ID" not in env and "OCIDS_NOTIFICATIONS_PORT" not in env
    assert env["OCIDS_EVENTS_POLL_INTERVAL_SECONDS"] == "120"
    assert not [s for s in by_kind(docs, "Service") if s["metadata"]["name"].endswith("-notifications")]


def test_stream_and_notifications_render_env_mounts_and_service(tmp_path: Path) -> None:
    docs = render(
        tmp_path,
        *("--set", f"events.streamId={STREAM}"),
        *("--set", "events.streamingEndpoint=https://cell-1.streaming.us-phoenix-1.oci.oraclecloud.com"),
        *("--set", "events.pollIntervalSeconds=300"),
        *("--set", "events.notifications.enabled=true"),
        *("--set", "events.notifications.credentialsSecret=ons-basic"),
        *("--set", "events.notifications.tlsSecret=ons-tls"),
        *("--set", f"events.notifications.topicIds={{{TOPIC}}}"),
        *("--set", "replicaCount=1"),
    )
    env = env_of(by_kind(docs, "Deployment")[0])
    assert env["OCIDS_EVENTS_STREAM_ID"] == STREAM
    assert env["OCIDS_STREAMING_ENDPOINT"].startswith("https://cell-1.streaming")
    assert env["OCIDS_EVENTS_POLL_INTERVAL_SECONDS"] == "300"
    assert env["OCIDS_NOTIFICATIONS_PORT"] == "8443"
    assert env["OCIDS_NOTIFICATIONS_TOPIC_IDS"] == TOPIC
    spec = pod_spec(docs)
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["notifications-credentials"]["secret"]["secretName"] == "ons-basic"
    assert volumes["notifications-tls"]["secret"]["secretName"] == "ons-tls"
    mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert env["OCIDS_NOTIFICATIONS_CREDENTIALS_FILE"] == mounts["notifications-credentials"] + "/credentials"
    assert env["OCIDS_NOTIFICATIONS_TLS_CERT_FILE"] == mounts["notifications-tls"] + "/tls.crt"
    assert env["OCIDS_NOTIFICATIONS_TLS_KEY_FILE"] == mounts["notifications-tls"] + "/tls.key"
    ports = {p["name"]: p["containerPort"] for p in spec["containers"][0]["ports"]}
    assert ports["notifications"] == 8443
    service = next(s for s in by_kind(docs, "Service") if s["metadata"]["name"].endswith("-notifications"))
    assert service["spec"]["ports"] == [
        {"name": "notifications", "port": 8443, "targetPort": "notifications", "protocol": "TCP"}
    ]


def test_without_tls_secret_the_endpoint_is_plain_http(tmp_path: Path) -> None:
    docs = render(
        tmp_path,
        *("--set", "events.notifications.enabled=true"),
        *("--set", "events.notifications.credentialsSecret=ons-basic"),
        *("--set", f"events.notifications.topicIds={{{TOPIC}}}"),
        *("--set", "events.notifications.acceptStandbyReplicas=true"),
    )
    env = env_of(by_kind(docs, "Deployment")[0])
    assert "OCIDS_NOTIFICATIONS_TLS_CERT_FILE" not in env and "OCIDS_NOTIFICATIONS_PORT" in env


def test_bad_events_values_are_refused_naming_the_key(tmp_path: Path) -> None:
    cases = [
        (
            [
                "--set",
                "events.notifications.enabled=true",
                "--set",
                f"events.notifications.topicIds={{{TOPIC}}}",
                "--set",
                "replicaCount=1",
            ],
            "credentialsSecret",
        ),
        (
            [
                "--set",
                "events.notifications.enabled=true",
                "--set",
                "events.notifications.credentialsSecret=c",
            ],
            "topicIds",
        ),
        (
            [
                *("--set", "events.notifications.enabled=true"),
                *("--set", "events.notifications.credentialsSecret=c"),
                *("--set", f"events.notifications.topicIds={{{TOPIC}}}"),
            ],
            "acceptStandbyReplicas",
        ),
        (["--set", "events.streamId=my-stream"], "streamId"),
        (["--set", "events.notifications.topicIds={t1}"], "topicIds"),
        (["--set", "events.notifications.port=0"], "port"),
        (["--set", "events.pollIntervalSecond=5"], "pollIntervalSecond"),
    ]
    for args, key in cases:
        result = helm(tmp_path, "template", "x", str(CHART), *args, check=False)
        assert result.returncode != 0 and key in result.stderr, (args, result.stderr)
