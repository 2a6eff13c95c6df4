"""The chart's values: a typo or a wrong type fails `helm template` naming the key, and every value is
described in values.schema.json, commented in values.yaml and listed in the chart README."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_helm import CHART, by_kind, helm, render

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
DIGEST = "sha256:" + "ab" * 32

REFUSED = [
    pytest.param(["--set", "pollIntervalSecond=5"], "pollIntervalSecond", id="typo-top-level"),
    pytest.param(["--set", "oci.endpoint.dataScience=http://x:1"], "endpoint", id="typo-nested"),
    pytest.param(["--set", "metrics.service.typ=NodePort"], "typ", id="typo-deep"),
    pytest.param(["--set", "pollIntervalSeconds=abc"], "pollIntervalSeconds", id="string-for-number"),
    pytest.param(["--set", "pollIntervalSeconds=0"], "pollIntervalSeconds", id="zero-interval"),
    pytest.param(["--set", "resyncIntervalSeconds=100000"], "resyncIntervalSeconds", id="too-long"),
    pytest.param(["--set", "watchNamespaces=ml"], "watchNamespaces", id="string-for-list"),
    pytest.param(["--set", "watchNamespaces={ML_Team}"], "watchNamespaces", id="bad-namespace"),
    pytest.param(["--set", "oci.auth=password"], "auth", id="unknown-auth-mode"),
    pytest.param(["--set", "oci.endpoints.dataScience=emulator:12000"], "dataScience", id="no-scheme"),
    pytest.param(["--set", "serviceAccount.create=yes please"], "create", id="string-for-bool"),
    pytest.param(["--set", "image.pullPolicy=Sometimes"], "pullPolicy", id="unknown-pull-policy"),
    pytest.param(["--set", "image.digest=latest"], "digest", id="bad-digest"),
    pytest.param(["--set", "metrics.port=70000"], "port", id="port-out-of-range"),
    pytest.param(["--set", "health.port=9090"], "health.port", id="port-clash"),
    pytest.param(["--set", "oci.configSecret.name="], "oci.configSecret.name", id="api-key-without-secret"),
    pytest.param(["--set", "leaderElection.enabled=false", "--set", "replicaCount=2"], "replicaCount",
                 id="replicas-without-leader-election"),
    pytest.param(["--set", "replicaCount=-1"], "replicaCount", id="negative-replicas"),
    pytest.param(["--set", "leaderElection.retryPeriodSeconds=0"], "retryPeriodSeconds", id="zero-retry"),
    pytest.param(["--set", "leaderElection.renewDeadlineSeconds=15"], "renewDeadlineSeconds",
                 id="renew-deadline-not-below-lease"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "key"), REFUSED)
def test_bad_values_are_refused_naming_the_key(tmp_path: Path, args: list[str], key: str) -> None:
    result = helm(tmp_path, "template", "x", str(CHART), *args, check=False)
    assert result.returncode != 0, result.stdout[:500]
    assert key in result.stderr, result.stderr


def test_a_typo_in_a_values_file_is_refused(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("oci:\n  configSecret:\n    mountpath: /secrets/oci\n")
    result = helm(tmp_path, "template", "x", str(CHART), "-f", str(values), check=False)
    assert result.returncode != 0 and "mountpath" in result.stderr, result.stderr


def test_free_form_kubernetes_maps_are_accepted(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "podAnnotations": {"example.com/team": "ml"},
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                "securityContext": {"runAsNonRoot": True},
                "extraEnv": [{"name": "OCIDS_POLL_SLOW_INTERVAL_SECONDS", "value": "120"}],
                "extraArgs": ["--log-level", "DEBUG"],
                "imagePullSecrets": [{"name": "regcred"}],
            }
        )
    )
    (deploy,) = by_kind(render(tmp_path, "-f", str(values)), "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["containers"][0]["args"] == ["--log-level", "DEBUG"]
    assert deploy["spec"]["template"]["metadata"]["annotations"]["example.com/team"] == "ml"


def test_a_digest_pins_the_image(tmp_path: Path) -> None:
    docs = render(tmp_path, "--set", f"image.digest={DIGEST}", "--set", "image.tag=ignored")
    (deploy,) = by_kind(docs, "Deployment")
    image = deploy["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"ghcr.io/ocids/ocids-operator@{DIGEST}"


def _leaves(values: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dotted paths of the chart's own values; free-form Kubernetes maps count as one value."""
    for key, value in values.items():
        node = schema.get("properties", {}).get(key)
        path = f"{prefix}{key}"
        yield path, node
        if node and node.get("additionalProperties") is False and isinstance(value, dict):
            yield from _leaves(value, node, f"{path}.")


LEAVES = list(_leaves(VALUES, SCHEMA))


def test_every_value_is_in_the_schema_with_a_description() -> None:
    undescribed = [path for path, node in LEAVES if not node or not node.get("description")]
    assert not undescribed, f"values without a described schema entry: {undescribed}"

    def schema_paths(node: dict[str, Any], prefix: str = "") -> Iterator[str]:
        for key, child in node.get("properties", {}).items():
            yield f"{prefix}{key}"
            if child.get("additionalProperties") is False:
                yield from schema_paths(child, f"{prefix}{key}.")

    assert set(schema_paths(SCHEMA)) == {path for path, _ in LEAVES}, "schema and values.yaml disagree"


def test_every_value_has_a_comment_in_values_yaml() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    stack: list[tuple[int, str]] = []
    commented: dict[str, bool] = {}
    for number, line in enumerate(lines):
        match = re.match(r"^( *)([A-Za-z][\w.-]*):", line)
        if not match:
            continue
        indent = len(match.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([*(key for _, key in stack), match.group(2)])
        stack.append((indent, match.group(2)))
        commented[path] = number > 0 and lines[number - 1].lstrip().startswith("#")
    # An object's own keys carry the comments; the object line itself may stand bare.
    leaves = [path for path, node in LEAVES if (node or {}).get("additionalProperties") is not False]
    assert [path for path in leaves if not commented.get(path)] == []


def test_the_readme_lists_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    leaves = [path for path, node in LEAVES if (node or {}).get("additionalProperties") is not False]
    assert [path for path in leaves if f"`{path}`" not in readme] == []
