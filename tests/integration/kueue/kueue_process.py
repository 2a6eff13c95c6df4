"""A real Kueue manager (built by tools/kueue/build.sh) run as a local process against the test
API server, with its admission and conversion webhooks served over TLS on 127.0.0.1.

Kueue normally runs in-cluster behind a Service with certificates it rotates itself; here the
configurations point at `https://127.0.0.1:<port>` (url-based clientConfig) with our own CA in
caBundle, internal certificate management is off, and only Kueue's own API group is hooked (no Pod,
Job or other framework webhooks: nothing else in the shared test cluster is touched). On stop every
Kueue object is deleted while Kueue still runs (it removes its own finalizers; any left are
stripped), then the webhook configurations and the CRDs are removed and their deletion waited
for, so later tests on the same API server see a cluster without Kueue. The metrics certificate
pair Kueue insists on reading from /etc/kueue/metrics/certs is removed again if it was written here.
"""

from __future__ import annotations

import contextlib
import copy
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ocids_controlplane.pki import write_serving_pair
from ocids_controlplane.ports import free_ports
from ocids_controlplane.processes import ManagedProcess
from ocids_controlplane.waiting import wait_until

REPO = Path(__file__).resolve().parents[3]
BUILD = REPO / "tools" / "kueue" / "build.sh"
GROUP = "kueue.x-k8s.io"
NAMESPACE = "kueue-system"
# CRDs upstream serves through its conversion webhook (config/components/crd/patches/webhook_in_*).
CONVERTED = ("localqueues", "clusterqueues", "cohorts", "workloads", "multikueueclusters")
WEBHOOK_CONFIGS = ("ocids-test-kueue-mutating", "ocids-test-kueue-validating")
# Kueue reads its metrics server's certificate from this fixed path whenever its own certificate
# management is off (cmd/kueue/main.go); there is no flag for it.
METRICS_CERTS = Path("/etc/kueue/metrics/certs")


def built_binary() -> Path:
    proc = subprocess.run(["bash", str(BUILD), "--print"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"Kueue is not built: {proc.stderr.strip()} (`make kueue` builds it)")
    return Path(proc.stdout.strip())


def config_dir() -> Path:
    proc = subprocess.run(["bash", str(BUILD), "--config-dir"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"tools/kueue/build.sh --config-dir failed: {proc.stderr.strip()}")
    return Path(proc.stdout.strip())


def _b64(path: Path) -> str:
    import base64

    return base64.b64encode(path.read_bytes()).decode()


def crds(components: Path, url: str, ca_bundle: str) -> list[dict[str, Any]]:
    out = []
    for path in sorted((components / "crd" / "bases").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["plural"] in CONVERTED:
            crd["spec"]["conversion"] = {
                "strategy": "Webhook",
                "webhook": {
                    "clientConfig": {"url": f"{url}/convert", "caBundle": ca_bundle},
                    "conversionReviewVersions": ["v1"],
                },
            }
        out.append(crd)
    return out


def webhook_configurations(components: Path, url: str, ca_bundle: str) -> list[dict[str, Any]]:
    """Upstream's manifests, cut to Kueue's own API group and pointed at the local process."""
    out = []
    docs = [d for d in yaml.safe_load_all((components / "webhook" / "manifests.yaml").read_text()) if d]
    for doc, name in zip(docs, WEBHOOK_CONFIGS, strict=True):
        doc = copy.deepcopy(doc)
        doc["metadata"] = {"name": name}
        hooks = []
        for hook in doc["webhooks"]:
            if not all(GROUP in rule.get("apiGroups", []) for rule in hook["rules"]):
                continue
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {"url": f"{url}{path}", "caBundle": ca_bundle}
            hooks.append(hook)
        doc["webhooks"] = hooks
        out.append(doc)
    return out


def manager_config(webhook_port: int, health_port: int, metrics_port: int, cert_dir: Path) -> dict[str, Any]:
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "namespace": NAMESPACE,
        "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"},
        "metrics": {"bindAddress": f"127.0.0.1:{metrics_port}"},
        "webhook": {"port": webhook_port, "host": "127.0.0.1", "certDir": str(cert_dir)},
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "manageJobsWithoutQueueName": False,
        # Workloads the operator makes belong to no framework Kueue knows; Kueue still needs one.
        "integrations": {"frameworks": ["batch/job"]},
        # Fair sharing between the teams' ClusterQueues (Cohort weights); see examples/kueue/.
        "fairSharing": {"preemptionStrategies": ["LessThanOrEqualToFinalShare", "LessThanInitialShare"]},
        "clientConnection": {"qps": 50, "burst": 100},
    }


@dataclass
class KueueProcess:
    kubectl: Any  # harness Kube
    work_dir: Path
    proc: ManagedProcess | None = None
    components: Path = field(default_factory=Path)
    # What _metrics_certs wrote (files, then directories it made), removed on stop.
    written: list[Path] = field(default_factory=list)

    @property
    def log_path(self) -> Path:
        return self.work_dir / "kueue.log"

    def start(self, timeout: float = 120) -> None:
        binary = built_binary()
        self.components = config_dir()
        certs = self.work_dir / "certs"
        ca, cert, key = write_serving_pair(certs, ips=("127.0.0.1",), dns_names=("localhost",))
        # controller-runtime's webhook server reads tls.crt / tls.key from certDir.
        (certs / "tls.crt").write_bytes(cert.read_bytes())
        (certs / "tls.key").write_bytes(key.read_bytes())
        self._metrics_certs(cert, key)
        webhook_port, health_port, metrics_port, visibility_port = free_ports(4)
        url = f"https://127.0.0.1:{webhook_port}"
        bundle = _b64(ca)
        self.kubectl.kubectl("create", "namespace", NAMESPACE, check=False)
        definitions = crds(self.components, url, bundle)
        self._apply_server_side(definitions)
        self._wait_established([d["metadata"]["name"] for d in definitions], timeout)
        config = self.work_dir / "kueue-config.yaml"
        config.write_text(yaml.safe_dump(manager_config(webhook_port, health_port, metrics_port, certs)))
        self.proc = ManagedProcess.start(
            "kueue",
            [
                str(binary),
                f"--config={config}",
                f"--kubeconfig={self.kubectl.kubeconfig}",
                # The on-demand visibility API is an aggregated API server of its own (certificates
                # at /visibility, an APIService): not what these tests are about.
                "--feature-gates=VisibilityOnDemand=false",
                f"--visibility-server-port={visibility_port}",
                "--zap-log-level=2",
            ],
            self.log_path,
        )
        self._apply_server_side(webhook_configurations(self.components, url, bundle))
        self.wait_ready(health_port, timeout)

    def _wait_established(self, names: list[str], timeout: float) -> None:
        def established() -> bool:
            listed = json.loads(self.kubectl.kubectl("get", "crd", *names, "-o", "json").stdout)["items"]
            return len(listed) == len(names) and all(
                any(
                    c.get("type") == "Established" and c.get("status") == "True"
                    for c in (crd.get("status") or {}).get("conditions") or []
                )
                for crd in listed
            )

        wait_until(established, timeout=timeout, message="Kueue's CRDs Established")

    def _metrics_certs(self, cert: Path, key: Path) -> None:
        if (METRICS_CERTS / "tls.crt").is_file() and (METRICS_CERTS / "tls.key").is_file():
            return  # someone else's (another session's Kueue, or the machine's): left as it is
        try:
            made = [
                d for d in (METRICS_CERTS.parents[1], METRICS_CERTS.parent, METRICS_CERTS) if not d.exists()
            ]
            METRICS_CERTS.mkdir(parents=True, exist_ok=True)
            self.written += [METRICS_CERTS / "tls.crt", METRICS_CERTS / "tls.key", *reversed(made)]
            (METRICS_CERTS / "tls.crt").write_bytes(cert.read_bytes())
            (METRICS_CERTS / "tls.key").write_bytes(key.read_bytes())
        except OSError as exc:
            raise AssertionError(
                f"Kueue needs a certificate pair in {METRICS_CERTS} (a fixed path when its own "
                f"certificate management is off) and this user cannot write it: {exc}"
            ) from exc

    def _apply_server_side(self, docs: list[dict[str, Any]]) -> None:
        text = yaml.safe_dump_all(docs)
        self.kubectl.kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", "-", input=text, timeout=120
        )

    def wait_ready(self, health_port: int, timeout: float) -> None:
        import urllib.request

        def ready() -> bool:
            assert self.proc is not None
            if not self.proc.alive():
                return True  # said below, at once
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/readyz", timeout=2) as r:
                    if r.status != 200:
                        return False
            except OSError:
                return False
            # Served through the webhook: a dry-run create proves the API server reaches it.
            probe = {
                "apiVersion": f"{GROUP}/v1beta2",
                "kind": "ResourceFlavor",
                "metadata": {"name": "ocids-kueue-probe"},
            }
            done = self.kubectl.kubectl(
                "create", "--dry-run=server", "-f", "-", input=json.dumps(probe), check=False
            )
            return done.returncode == 0

        wait_until(ready, timeout=timeout, interval=0.5, message=lambda: f"Kueue ready:\n{self.log_tail()}")
        assert self.proc is not None
        if not self.proc.alive():
            raise AssertionError(f"kueue exited:\n{self.log_tail()}")

    def log_tail(self, lines: int = 80) -> str:
        return self.proc.log_tail(lines) if self.proc else ""

    def stop(self) -> None:
        names = [
            str(yaml.safe_load(p.read_text())["metadata"]["name"])
            for p in (self.components / "crd" / "bases").glob("*.yaml")
        ]
        if self.proc is not None and self.proc.alive() and names:
            # Deleted while Kueue runs: it removes its own finalizers (resource-in-use...), and its
            # conversion webhook still answers for the objects' versions.
            self.kubectl.kubectl(
                "delete",
                ",".join(names),
                "--all",
                "-A",
                "--ignore-not-found",
                "--wait=false",
                check=False,
                timeout=120,
            )
            with contextlib.suppress(Exception):  # what is left is stripped below
                wait_until(
                    lambda: not self._left(names), timeout=30, interval=0.5, message="Kueue objects gone"
                )
        for kind, namespace, name in self._left(names):  # whatever still carries a finalizer
            where = ["-n", namespace] if namespace else []
            self.kubectl.kubectl(
                "patch",
                kind,
                name,
                *where,
                "--type=merge",
                "-p",
                '{"metadata":{"finalizers":null}}',
                check=False,
            )
        if self.proc is not None:
            self.proc.stop()
        for name in WEBHOOK_CONFIGS:
            kind = "mutatingwebhookconfiguration" if "mutating" in name else "validatingwebhookconfiguration"
            self.kubectl.kubectl("delete", kind, name, "--ignore-not-found", check=False)
        # Left behind, the CRDs would answer every conversion through a stopped webhook; waited for,
        # so none is left Terminating for the next session.
        if names:
            self.kubectl.kubectl(
                "delete", "crd", *names, "--ignore-not-found", "--timeout=60s", check=False, timeout=90
            )
        for path in self.written:
            with contextlib.suppress(OSError):  # a directory someone else put files in meanwhile stays
                path.rmdir() if path.is_dir() else path.unlink(missing_ok=True)
        self.written.clear()

    def _left(self, names: list[str]) -> list[tuple[str, str, str]]:
        """(kind, namespace, name) of every Kueue object still there."""
        done = self.kubectl.kubectl("get", ",".join(names), "-A", "-o", "json", check=False, timeout=60)
        if done.returncode != 0:
            return []
        items = json.loads(done.stdout or "{}").get("items") or []
        return [
            (
                f"{str(i['kind']).lower()}.{GROUP}",
                str(i["metadata"].get("namespace") or ""),
                str(i["metadata"]["name"]),
            )
            for i in items
        ]
