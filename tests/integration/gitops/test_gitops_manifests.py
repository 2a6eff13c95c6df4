"""`kubectl apply -k manifests/` installs what `helm install` of the chart with default values would."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from gitops_health import REPO
from ocids_codegen import crdgen, manifestgen
from ocids_controlplane.cluster import _tool

pytestmark = pytest.mark.integration

Key = tuple[str, str, str]


def _docs(text: str) -> dict[Key, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(text) if d]
    return {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d for d in docs}


def kustomize(folder: Path) -> dict[Key, dict[str, Any]]:
    out = subprocess.run([_tool("kubectl"), "kustomize", str(folder)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return _docs(out.stdout)


def helm_install_equivalent() -> dict[Key, dict[str, Any]]:
    """What `helm install ocids-operator -n ocids-system --create-namespace` creates: CRDs, chart, ns."""
    chart = manifestgen.helm_template(REPO, _tool("helm"))
    crds = "---\n".join(path.read_text() for path in sorted((REPO / "crds").glob("*.yaml")))
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": manifestgen.NAMESPACE}}
    return {**_docs(chart), **_docs(crds), **_docs(yaml.safe_dump(namespace))}


def _differences(want: Any, got: Any, path: str = "") -> list[str]:
    """Fields of `want` that `got` lacks or holds differently (the server may add defaults)."""
    if isinstance(want, dict) and isinstance(got, dict):
        return [d for k, v in want.items() for d in _differences(v, got.get(k), f"{path}.{k}")]
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [
            d
            for i, (w, g) in enumerate(zip(want, got, strict=True))
            for d in _differences(w, g, f"{path}[{i}]")
        ]
    return [] if want == got else [f"{path}: want {want!r}, got {got!r}"]


def test_committed_manifests_are_the_current_helm_render() -> None:
    assert crdgen.main(["check", "--manifests", "--root", str(REPO)]) == 0, "run `make crds`"


def test_kustomize_build_equals_the_helm_render_field_by_field() -> None:
    built, helm = kustomize(REPO / "manifests"), helm_install_equivalent()
    assert sorted(built) == sorted(helm)
    for key, doc in helm.items():
        if key[0] == "Namespace":
            # The plain install labels its Namespace; helm's --create-namespace makes a bare one.
            assert built[key]["metadata"]["name"] == doc["metadata"]["name"]
            continue
        assert built[key] == doc, key


def test_apply_k_creates_exactly_those_objects(cluster: Any) -> None:
    built = kustomize(REPO / "manifests")
    out = cluster.kubectl("apply", "-k", str(REPO / "manifests")).stdout
    try:
        for kind, namespace, name in built:
            assert f"{kind.lower()}" in out.lower() and f"/{name} " in out, (kind, name, out)
            args = ["get", kind, name, "-o", "yaml"] + (["-n", namespace] if namespace else [])
            live = yaml.safe_load(cluster.kubectl(*args).stdout)
            assert _differences(built[(kind, namespace, name)], live) == [], (kind, name)
    finally:
        # CRDs stay (every operator test on this worker shares them); so does the empty Namespace.
        for kind, namespace, name in built:
            if kind not in ("CustomResourceDefinition", "Namespace"):
                args = ["delete", kind, name, "--ignore-not-found", "--wait=false"]
                cluster.kubectl(*args, *(["-n", namespace] if namespace else []))


def _copy_install(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    shutil.copytree(REPO / "crds", tmp_path / "crds")
    return tmp_path / "manifests"


def _mounted_secret(built: dict[Key, dict[str, Any]]) -> tuple[str, set[str], str, str]:
    """(Secret name, keys, config path, key_file path) the operator's Deployment expects."""
    (deployment,) = [d for k, d in built.items() if k[0] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if "secret" in v]
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    paths = {i["key"]: f"{mount['mountPath']}/{i['path']}" for i in volume["secret"]["items"]}
    (key_path,) = [p for p in paths.values() if p != env["OCIDS_OCI_CONFIG_FILE"]]
    assert env["OCIDS_OCI_CONFIG_FILE"] in paths.values()
    return volume["secret"]["secretName"], set(paths), env["OCIDS_OCI_CONFIG_FILE"], key_path


def test_example_secret_enabled_as_documented_is_what_the_deployment_mounts(tmp_path: Path) -> None:
    folder = _copy_install(tmp_path)
    kustomization = folder / "kustomization.yaml"
    text = kustomization.read_text()
    documented = "  # - oci-config-secret.example.yaml\n"
    assert documented in text
    kustomization.write_text(text.replace(documented, "  - oci-config-secret.example.yaml\n"))
    built = kustomize(folder)
    name, keys, _, key_path = _mounted_secret(built)
    secret = built[("Secret", manifestgen.NAMESPACE, name)]
    assert set(secret["stringData"]) == keys
    config = next(v for v in secret["stringData"].values() if v.startswith("["))
    assert f"key_file={key_path}\n" in config, config


def test_documented_secret_generator_overlay_rewires_the_deployment(tmp_path: Path) -> None:
    """The secretGenerator block, uncommented into an overlay, as kustomization.yaml tells users to."""
    base = _copy_install(tmp_path)
    lines = (base / "kustomization.yaml").read_text().splitlines()
    start = lines.index("# secretGenerator:")
    block = []
    for line in lines[start:]:
        if not line.startswith("#") or line == "#":
            break
        block.append(line[2:])
    generator = yaml.safe_load("\n".join(block))["secretGenerator"]
    overlay = tmp_path / "overlay"
    for entry in generator[0]["files"]:
        path = overlay / entry.split("=", 1)[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"contents of {path.name}\n")
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": ["../manifests"], "secretGenerator": generator})
    )
    built = kustomize(overlay)
    name, keys, _, _ = _mounted_secret(built)
    original, _, _, _ = _mounted_secret(kustomize(base))
    secret = built[("Secret", manifestgen.NAMESPACE, name)]
    # The hash suffix is what rolls the operator when the key is rotated.
    assert name.startswith(f"{original}-") and name != original, name
    assert set(secret["data"]) == keys
