"""The bundled control plane behaves like a real cluster in the ways the operator relies on."""

from __future__ import annotations

import json
import secrets
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from ocids_controlplane import Cluster, ControlPlane, binaries
from ocids_controlplane.waiting import wait_until

pytestmark = pytest.mark.integration

K8S_VERSION = binaries.module_version("kubernetes")


def _gone(cluster: Cluster, *args: str) -> bool:
    result = cluster.kubectl("get", *args, check=False)
    if result.returncode == 0:
        return False
    assert "NotFound" in result.stderr, result.stderr
    return True


def test_readyz_answers_ok(cluster: Cluster) -> None:
    assert cluster.kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"


def test_client_and_server_report_the_built_version(bundled_cluster: ControlPlane) -> None:
    versions = json.loads(bundled_cluster.kubectl("version", "-o", "json").stdout)
    assert versions["clientVersion"]["gitVersion"] == K8S_VERSION
    assert versions["serverVersion"]["gitVersion"] == K8S_VERSION
    assert versions["serverVersion"]["gitTreeState"] == "clean"


@pytest.fixture
def widget_crd(cluster: Cluster) -> Iterator[str]:
    """A namespaced CRD in a group unique to this test (CRDs are cluster-wide)."""
    group = f"t{secrets.token_hex(4)}.ocids.test"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "replicas": {"type": "integer", "minimum": 1},
                                        "minSize": {"type": "integer"},
                                        "maxSize": {"type": "integer"},
                                    },
                                    "x-kubernetes-validations": [
                                        {
                                            "rule": "self.minSize <= self.maxSize",
                                            "message": "minSize > maxSize",
                                        }
                                    ],
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(crd))
    cluster.kubectl("wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=60s")
    yield group
    cluster.kubectl("delete", "crd", f"widgets.{group}", "--wait=false", check=False)


def _widget(group: str, name: str, spec: dict[str, object]) -> str:
    return json.dumps(
        {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}
    )


def test_crd_becomes_established_and_serves_objects(
    cluster: Cluster, widget_crd: str, namespace: str
) -> None:
    conditions = cluster.kubectl_json("get", "crd", f"widgets.{widget_crd}")["status"]["conditions"]
    assert {"type": "Established", "status": "True"}.items() <= next(
        c for c in conditions if c["type"] == "Established"
    ).items()
    ok = _widget(widget_crd, "good", {"replicas": 2, "minSize": 1, "maxSize": 3})
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=ok)
    got = cluster.kubectl_json("get", f"widgets.{widget_crd}", "good", "-n", namespace)
    assert got["spec"]["replicas"] == 2


def test_server_rejects_objects_violating_the_schema(
    cluster: Cluster, widget_crd: str, namespace: str
) -> None:
    # --validate=false: no client-side check, so the rejection below comes from the API server.
    bad_type = _widget(widget_crd, "bad", {"replicas": "three", "minSize": 1, "maxSize": 2})
    result = cluster.kubectl(
        "create", "--validate=false", "-n", namespace, "-f", "-", input=bad_type, check=False
    )
    assert result.returncode != 0
    assert "spec.replicas" in result.stderr and "Invalid value" in result.stderr, result.stderr

    too_small = _widget(widget_crd, "bad", {"replicas": 0, "minSize": 1, "maxSize": 2})
    result = cluster.kubectl(
        "create", "--validate=false", "-n", namespace, "-f", "-", input=too_small, check=False
    )
    assert result.returncode != 0
    assert "spec.replicas" in result.stderr and "greater than or equal to 1" in result.stderr, result.stderr

    # CEL rules (x-kubernetes-validations) are enforced too.
    crossed = _widget(widget_crd, "bad", {"replicas": 1, "minSize": 5, "maxSize": 2})
    result = cluster.kubectl(
        "create", "--validate=false", "-n", namespace, "-f", "-", input=crossed, check=False
    )
    assert result.returncode != 0
    assert "minSize > maxSize" in result.stderr, result.stderr
    assert _gone(cluster, f"widgets.{widget_crd}", "bad", "-n", namespace)


def test_deleting_an_owner_garbage_collects_its_dependents(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "configmap", "owner", "-n", namespace)
    uid = cluster.kubectl_json("get", "configmap", "owner", "-n", namespace)["metadata"]["uid"]
    child = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "child",
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}],
        },
    }
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(child))
    cluster.kubectl("delete", "configmap", "owner", "-n", namespace)
    wait_until(
        lambda: _gone(cluster, "configmap", "child", "-n", namespace),
        timeout=60,
        message="the garbage collector to delete the owned ConfigMap",
    )


def test_deleting_a_namespace_completes(cluster: Cluster) -> None:
    name = f"doomed-{secrets.token_hex(3)}"
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("create", "configmap", "content", "-n", name, "--from-literal=k=v")
    cluster.kubectl("delete", "namespace", name, "--wait=false")
    wait_until(
        lambda: _gone(cluster, "namespace", name), timeout=90, message=f"namespace {name} to be deleted"
    )


def test_rbac_refuses_a_bare_service_account_and_allows_a_granted_one(
    cluster: Cluster, namespace: str
) -> None:
    for sa in ("nobody", "reader"):
        cluster.kubectl("create", "serviceaccount", sa, "-n", namespace)
    cluster.kubectl("create", "configmap", "visible", "-n", namespace)
    cluster.kubectl("create", "role", "read-cm", "--verb=get,list", "--resource=configmaps", "-n", namespace)
    cluster.kubectl(
        "create", "rolebinding", "reader-read-cm", "--role=read-cm", f"--serviceaccount={namespace}:reader",
        "-n", namespace,
    )  # fmt: skip
    nobody = cluster.kubeconfig_for_service_account(namespace, "nobody")
    reader = cluster.kubeconfig_for_service_account(namespace, "reader")

    refused = cluster.kubectl("--kubeconfig", str(nobody), "get", "configmaps", "-n", namespace, check=False)
    assert refused.returncode != 0
    assert "Forbidden" in refused.stderr
    assert f"system:serviceaccount:{namespace}:nobody" in refused.stderr

    allowed = cluster.kubectl("--kubeconfig", str(reader), "get", "configmap", "visible", "-n", namespace)
    assert "visible" in allowed.stdout
    # The grant is exactly get/list: writing is still refused.
    write = cluster.kubectl(
        "--kubeconfig", str(reader), "create", "configmap", "x", "-n", namespace, check=False
    )
    assert write.returncode != 0 and "configmaps is forbidden" in write.stderr, write.stderr


def _tiny_chart(root: Path) -> Path:
    chart = root / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("greeting: hello\n")
    (chart / "templates" / "configmap.yaml").write_text(
        textwrap.dedent(
            """\
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: {{ .Release.Name }}-greeting
            data:
              greeting: {{ .Values.greeting | quote }}
              kube: {{ .Capabilities.KubeVersion.Version | quote }}
            """
        )
    )
    return chart


def test_helm_renders_and_installs_a_chart(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    assert cluster.helm("version", "--short").stdout.startswith("v3.")
    chart = _tiny_chart(tmp_path)
    rendered = cluster.helm("template", "demo", str(chart), "--set", "greeting=bonjour").stdout
    assert "name: demo-greeting" in rendered
    assert 'greeting: "bonjour"' in rendered

    cluster.helm("install", "demo", str(chart), "-n", namespace, "--wait", "--timeout=60s")
    data = cluster.kubectl_json("get", "configmap", "demo-greeting", "-n", namespace)["data"]
    assert data["greeting"] == "hello"
    # Installed against the live server, helm sees its real version.
    if isinstance(cluster, ControlPlane):
        assert data["kube"] == K8S_VERSION
    cluster.helm("uninstall", "demo", "-n", namespace, "--wait")
    assert _gone(cluster, "configmap", "demo-greeting", "-n", namespace)
