"""A real, throwaway Kubernetes control plane: etcd + kube-apiserver + kube-controller-manager.

No scheduler and no kubelet, so Pods stay Pending; everything the operator relies on (CRD schema
validation, status subresource, watches, finalizers, RBAC, garbage collection, namespace deletion,
service-account tokens) behaves as in production. Each instance lives in its own directory with its
own PKI and free loopback ports, so several run side by side.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import binaries, kubeconfig, pki
from .cluster import Cluster
from .ports import free_ports
from .processes import ManagedProcess

SERVICE_CIDR = "10.0.0.0/24"
MARKER = ".ocids-controlplane"  # marks a directory `ocids-controlplane up` may wipe and reuse
START_ATTEMPTS = 3  # a free port can be taken between picking and binding it: retry on that


class ControlPlaneStartError(RuntimeError):
    pass


class _PortTaken(Exception):
    pass


class ControlPlane(Cluster):
    def __init__(self, workdir: Path, pki_files: pki.PKIFiles, detached: bool) -> None:
        super().__init__(workdir / "kubeconfig", workdir)
        self.pki = pki_files
        self.detached = detached
        self.processes: list[ManagedProcess] = []
        self.etcd_url = ""
        self.controller_manager_port = 0

    @classmethod
    def start(cls, workdir: Path | str, *, detached: bool = False, timeout: float = 120.0) -> ControlPlane:
        """Start etcd, kube-apiserver and kube-controller-manager and wait until all are healthy.

        `detached=True` leaves the processes running after this interpreter exits (for
        `ocids-controlplane up`); otherwise they are stopped at exit or on SIGTERM at the latest.
        Raises ControlPlaneStartError with the failing component's log tail.
        """
        workdir = Path(workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / MARKER).touch()
        bins = {
            name: str(binaries.binary(name)) for name in ("etcd", "kube-apiserver", "kube-controller-manager")
        }
        plane = cls(workdir, pki.generate(workdir / "pki"), detached)
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                plane._start(bins, timeout)
                return plane
            except _PortTaken:
                plane.stop()
                if attempt == START_ATTEMPTS:
                    raise ControlPlaneStartError("ports kept being taken by other processes") from None
            except BaseException:
                plane.stop()
                raise
        raise AssertionError("unreachable")

    # -- lifecycle -------------------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str]) -> ManagedProcess:
        proc = ManagedProcess.start(
            name, args, self.workdir / "logs" / f"{name}.log", cwd=self.workdir, detached=self.detached
        )
        self.processes.append(proc)
        return proc

    def _wait(self, proc: ManagedProcess, probe: Callable[[], bool], deadline: float, what: str) -> None:
        while time.monotonic() < deadline:
            if not proc.alive():
                tail = proc.log_tail()
                if "address already in use" in tail:
                    raise _PortTaken(proc.name)
                raise ControlPlaneStartError(
                    f"{proc.name} exited with {proc.popen.returncode} before {what}; "
                    f"last lines of {proc.log_path}:\n{tail}"
                )
            with contextlib.suppress(OSError, ValueError):
                if probe():
                    return
            time.sleep(0.1)
        raise ControlPlaneStartError(
            f"{proc.name} not ready ({what}) in time; last lines of {proc.log_path}:\n{proc.log_tail()}"
        )

    def _start(self, bins: dict[str, str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        etcd_port, api_port, kcm_port = free_ports(3)
        p = self.pki
        self.etcd_url = f"http://127.0.0.1:{etcd_port}"
        data_dir = self.workdir / "etcd"
        data_dir.mkdir(mode=0o700, exist_ok=True)
        etcd = self._spawn(
            "etcd",
            [
                bins["etcd"],
                "--name=ocids",
                f"--data-dir={data_dir}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                # Port 0: no peers, and no second fixed port to collide on.
                "--listen-peer-urls=http://localhost:0",
                # Throwaway data: durability is not worth the fsync latency.
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        self._wait(
            etcd, lambda: _http_json(f"{self.etcd_url}/health").get("health") == "true", deadline, "/health"
        )

        server = f"https://127.0.0.1:{api_port}"
        apiserver = self._spawn(
            "kube-apiserver",
            [
                bins["kube-apiserver"],
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # 1.37 refuses a loopback advertise address for the endpoint reconciler of the
                # in-cluster "kubernetes" Service; nothing here runs in-cluster, so skip it.
                "--endpoint-reconciler-type=none",
                f"--secure-port={api_port}",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={p.serving_cert}",
                f"--tls-private-key-file={p.serving_key}",
                f"--client-ca-file={p.ca_cert}",
                f"--service-account-issuer={server}",
                f"--service-account-key-file={p.sa_pub}",
                f"--service-account-signing-key-file={p.sa_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                # Without a kubelet no Pod runs anyway; this admission plugin would only reject Pods
                # created before the controller manager made the namespace's default ServiceAccount.
                "--disable-admission-plugins=ServiceAccount",
                "--profiling=false",
            ],
        )
        kubeconfig.write(
            self.kubeconfig, kubeconfig.for_client_cert(server, p.ca_cert, p.admin_cert, p.admin_key)
        )
        admin_tls = ssl.create_default_context(cafile=str(p.ca_cert))
        admin_tls.load_cert_chain(str(p.admin_cert), str(p.admin_key))
        self._wait(
            apiserver, lambda: _http_text(f"{server}/readyz", admin_tls) == "ok", deadline, "/readyz ok"
        )

        self.controller_manager_port = kcm_port
        kcm = self._spawn(
            "kube-controller-manager",
            [
                bins["kube-controller-manager"],
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                # No front proxy: do not look up (and log errors about) the requestheader CA.
                "--authentication-skip-lookup=true",
                f"--service-account-private-key-file={p.sa_key}",
                f"--root-ca-file={p.ca_cert}",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm_port}",
                f"--cert-dir={self.workdir / 'kcm-certs'}",
                "--profiling=false",
            ],
        )
        # The controller manager serves a self-signed certificate of its own making.
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        self._wait(
            kcm,
            lambda: _http_text(f"https://127.0.0.1:{kcm_port}/healthz", insecure) == "ok",
            deadline,
            "/healthz ok",
        )

    def restart_apiserver(self, *, hard: bool = False, timeout: float = 60.0) -> float:
        """Stop kube-apiserver and start it again on the same port with the same etcd data, as in a
        control-plane upgrade or crash: clients keep their kubeconfig, their watches break. `hard`
        sends SIGKILL instead of SIGTERM. Returns the seconds until /readyz answered ok again."""
        index, old = next((i, p) for i, p in enumerate(self.processes) if p.name == "kube-apiserver")
        began = time.monotonic()
        if hard:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(old.pid, signal.SIGKILL)
            old.popen.wait(timeout=10)
        old.stop()
        new = ManagedProcess.start(old.name, old.args, old.log_path, cwd=self.workdir, detached=self.detached)
        self.processes[index] = new
        p = self.pki
        admin_tls = ssl.create_default_context(cafile=str(p.ca_cert))
        admin_tls.load_cert_chain(str(p.admin_cert), str(p.admin_key))
        try:
            self._wait(
                new,
                lambda: _http_text(f"{self.server}/readyz", admin_tls) == "ok",
                time.monotonic() + timeout,
                "/readyz ok after a restart",
            )
        except _PortTaken:
            raise ControlPlaneStartError(
                f"the API server's port of {self.server} was taken meanwhile"
            ) from None
        return time.monotonic() - began

    def stop(self) -> None:
        """Stop every process this control plane started (controller manager first); idempotent."""
        for proc in reversed(self.processes):
            proc.stop()
        self.processes.clear()

    def __enter__(self) -> ControlPlane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def state(self) -> dict[str, Any]:
        """Enough for another interpreter (`ocids-controlplane down/status`) to find and stop it."""
        return {
            "workdir": str(self.workdir),
            "kubeconfig": str(self.kubeconfig),
            "server": self.server,
            "processes": [proc.state() for proc in self.processes],
        }


def _http_text(url: str, context: ssl.SSLContext | None = None, timeout: float = 2.0) -> str:
    try:
        with urllib.request.urlopen(url, context=context, timeout=timeout) as response:
            return str(response.read().decode())
    except urllib.error.HTTPError:
        return ""


def _http_json(url: str) -> dict[str, Any]:
    text = _http_text(url)
    return json.loads(text) if text else {}
