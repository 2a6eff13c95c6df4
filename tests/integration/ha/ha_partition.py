"""A network partition between one operator process and the API server: a TCP relay it reaches the
API server through (its kubeconfig names the relay), which the test can cut."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

import yaml


class Relay:
    """127.0.0.1:<port> -> the API server; TLS passes through, so the certificate (127.0.0.1) holds."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                if self._cut:
                    return
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._cut:
                    client.close()
                    upstream.close()
                    continue
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        """Every open connection dropped and new ones refused, as when the node loses the network."""
        with self._lock:
            self._cut = True
            self._server.close()
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def kubeconfig(self, original: Path, path: Path) -> Path:
        """`original` with its cluster's server replaced by this relay."""
        doc = yaml.safe_load(original.read_text())
        for cluster in doc["clusters"]:
            cluster["cluster"]["server"] = f"https://127.0.0.1:{self.port}"
        path.write_text(yaml.safe_dump(doc))
        return path


def api_server(kubeconfig: Path) -> tuple[str, int]:
    """(host, port) of the kubeconfig's (only) cluster."""
    server = str(yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"])
    host, _, port = server.removeprefix("https://").rpartition(":")
    return host.strip("[]"), int(port)
