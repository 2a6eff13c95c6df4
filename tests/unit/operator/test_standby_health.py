"""A standby's /healthz: 200 while its election can still take over, 500 once it cannot, and the
port free again for kopf's liveness endpoint once it leads."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from ocids_operator.adapters.standby_health import StandbyHealth


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_healthz_follows_the_election_and_the_port_is_released_on_close() -> None:
    port, electing = free_port(), [True]
    health = StandbyHealth("127.0.0.1", port, lambda: electing[0]).start()
    try:
        assert status(port, "/healthz") == 200
        assert status(port, "/metrics") == 404
        electing[0] = False
        assert status(port, "/healthz") == 500
    finally:
        health.close()
    with pytest.raises(OSError):
        status(port, "/healthz")
    with socket.socket() as sock:  # what kopf does next: bind the same port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
