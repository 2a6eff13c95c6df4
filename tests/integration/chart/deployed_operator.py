"""Run the operator the way an installed release's pod would, as a local process.

There is no kubelet here, so the test plays its part: the container's environment is read back from
the live Deployment, its Secret volumes are materialized under a local root directory (what the pod
would see at /etc/oci is at <root>/etc/oci), and the process authenticates with the token of the
Deployment's ServiceAccount. Only the listening ports are replaced with free local ones, since
several tests share the machine.
"""

from __future__ import annotations

import base64
import json
import tomllib
from pathlib import Path
from typing import Any

from ocids_controlplane import Cluster
from ocids_operator.__main__ import parse_args

REPO = Path(__file__).resolve().parents[3]

PORT_VARIABLES = {"OCIDS_METRICS_PORT": "metrics", "OCIDS_HEALTH_PORT": "health"}


def operator_container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _secret_data(cluster: Cluster, namespace: str, name: str) -> dict[str, bytes]:
    secret = cluster.kubectl_json("get", "secret", name, "-n", namespace)
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


def materialize_volumes(cluster: Cluster, deployment: dict[str, Any], root: Path) -> dict[str, Path]:
    """Write each mounted Secret volume under `root`; returns mount path -> local directory."""
    pod = deployment["spec"]["template"]["spec"]
    namespace = deployment["metadata"]["namespace"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    # emptyDir scratch space is skipped: the local process has its own /tmp.
    secret_mounts = [
        (m["mountPath"].rstrip("/"), volumes[m["name"]]["secret"])
        for m in operator_container(deployment).get("volumeMounts", [])
        if "secret" in volumes[m["name"]]
    ]
    mounts = {in_pod: root / in_pod.lstrip("/") for in_pod, _ in secret_mounts}
    for in_pod, source in secret_mounts:
        data = _secret_data(cluster, namespace, source["secretName"])
        items = source.get("items") or [{"key": k, "path": k} for k in data]
        mounts[in_pod].mkdir(parents=True, exist_ok=True)
        for item in items:
            content = data[item["key"]]
            # Files may name each other by their in-pod path (the OCI config's key_file).
            for path, local in mounts.items():
                content = content.replace(f"{path}/".encode(), f"{local}/".encode())
            target = mounts[in_pod] / item["path"]
            target.write_bytes(content)
            target.chmod(item.get("mode", source.get("defaultMode", 0o644)) & 0o777)
    return mounts


# The downward API fields the chart reads, as the kubelet would fill them in for this local "pod".
LOCAL_POD_NAME = "local-operator-pod"


def _resolve(cluster: Cluster, namespace: str, item: dict[str, Any]) -> str:
    if "value" in item:
        return str(item["value"])
    ref = item["valueFrom"]
    if "fieldRef" in ref:
        fields = {"metadata.namespace": namespace, "metadata.name": LOCAL_POD_NAME}
        path = ref["fieldRef"]["fieldPath"]
        assert path in fields, f"env {item['name']}: unsupported fieldRef {path}"
        return fields[path]
    if "secretKeyRef" in ref:
        key = ref["secretKeyRef"]
        return _secret_data(cluster, namespace, key["name"])[key["key"]].decode()
    if "configMapKeyRef" in ref:
        key = ref["configMapKeyRef"]
        return str(cluster.kubectl_json("get", "configmap", key["name"], "-n", namespace)["data"][key["key"]])
    raise AssertionError(f"env {item['name']}: unsupported valueFrom {json.dumps(ref)}")


def deployment_env(cluster: Cluster, deployment: dict[str, Any], root: Path) -> dict[str, str]:
    """The operator container's environment, with mount paths mapped under `root`."""
    container = operator_container(deployment)
    namespace = deployment["metadata"]["namespace"]
    mounts = materialize_volumes(cluster, deployment, root)
    ports = {p["name"]: str(p["containerPort"]) for p in container.get("ports", [])}
    env: dict[str, str] = {}
    for item in container.get("env", []):
        value = _resolve(cluster, namespace, item)
        for in_pod, local in mounts.items():
            if value == in_pod or value.startswith(f"{in_pod}/"):
                value = str(local) + value[len(in_pod) :]
        env[item["name"]] = value
    env.update(flags_as_env(container))
    for variable, port_name in PORT_VARIABLES.items():
        # The probe and the Service target the named container ports: they must be where it listens.
        assert env.get(variable) == ports.get(port_name), (variable, env.get(variable), ports)
        del env[variable]
    return env


def flags_as_env(container: dict[str, Any]) -> dict[str, str]:
    """The container's command line, checked and turned into the OCIDS_* variables its flags set.

    The harness always starts `python -m ocids_operator`; the container's command must be the console
    script for that same entry point, and its args must parse (a flag the parser refuses would make
    the pod crash-loop). Flags win over variables, so setting the variables is equivalent.
    """
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert container["command"] == ["ocids-operator"], container["command"]
    assert scripts["ocids-operator"] == "ocids_operator.__main__:main"
    args = container.get("args", [])
    try:
        flags = parse_args(args)
    except SystemExit as exc:
        raise AssertionError(f"ocids-operator refuses the container's args {args}") from exc
    return {
        f"OCIDS_{key.upper()}": ",".join(value) if isinstance(value, list) else str(value)
        for key, value in flags.items()
    }


def harness_only_overrides(harness_env: dict[str, str], env: dict[str, str]) -> dict[str, str]:
    """Unset ("") the harness's own OCIDS_* test defaults the Deployment does not set.

    The operator must then run on the Deployment's settings plus its built-in defaults, exactly as
    in the pod; only the local bind address and the free ports stay the harness's.
    """
    keep = {"OCIDS_BIND_ADDRESS", *PORT_VARIABLES}
    return {k: "" for k in harness_env if k.startswith("OCIDS_") and k not in env and k not in keep}
