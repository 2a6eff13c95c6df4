"""`artifact.url` over https, end to end: a PAR token never shown, redirects to plain http refused,
and a resync of an unchanged artifact answered by a 304 (no second download).

The artifact host is a local https server on 127.0.0.1 (a throwaway CA the operator trusts through
SSL_CERT_FILE); the operator allows loopback artifact hosts only because the test says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import json
import secrets
import ssl
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ocids_controlplane import pki
from operator_harness import OperatorProcess, Scenario, condition, wait_for

pytestmark = pytest.mark.integration


def _zip(message: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.py", f"print({message!r}, flush=True)\n")
    return buffer.getvalue()


@dataclass
class ArtifactHost:
    """Paths -> bodies (with an ETag each) or redirects; counts what it served."""

    files: dict[str, bytes | Path] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    downloads: dict[str, int] = field(default_factory=dict)
    not_modified: dict[str, int] = field(default_factory=dict)
    secret_reads: int = 0
    base: str = ""
    ca_file: Path | None = None

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # the test server's own log is not the operator's
                return None

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/opc/v1/identity/key.pem":
                    host.secret_reads += 1
                    self._send(200, b"-----BEGIN PRIVATE KEY----- the instance's own")
                elif path in host.redirects:
                    self.send_response(302)
                    self.send_header("Location", host.redirects[path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif path in host.files:
                    body = host.files[path]
                    size = body.stat().st_size if isinstance(body, Path) else len(body)
                    etag = f'"{size}-{hashlib.sha256(str(body).encode()).hexdigest()[:12]}"'
                    if self.headers.get("If-None-Match") == etag:
                        host.not_modified[path] = host.not_modified.get(path, 0) + 1
                        self.send_response(304)
                        self.send_header("ETag", etag)
                        self.end_headers()
                        return
                    host.downloads[path] = host.downloads.get(path, 0) + 1
                    self.send_response(200)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", str(size))
                    self.end_headers()
                    if isinstance(body, Path):
                        with open(body, "rb") as fh:
                            while chunk := fh.read(1 << 20):
                                self.wfile.write(chunk)
                    else:
                        self.wfile.write(body)
                else:
                    self._send(404, b"not found")

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


@contextlib.contextmanager
def serve(host: ArtifactHost, work: Path) -> Iterator[tuple[str, str]]:
    """Run `host` over https and plain http on 127.0.0.1: yields (https base, http base)."""
    ca, cert, key = pki.write_serving_pair(work)
    host.ca_file = ca
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    secure = http.server.ThreadingHTTPServer(("127.0.0.1", 0), host.handler())
    secure.socket = context.wrap_socket(secure.socket, server_side=True)
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), host.handler())
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (secure, plain)]
    for thread in threads:
        thread.start()
    try:
        host.base = f"https://127.0.0.1:{secure.server_address[1]}"
        yield host.base, f"http://127.0.0.1:{plain.server_address[1]}"
    finally:
        for server in (secure, plain):
            server.shutdown()
            server.server_close()


def operator_env(host: ArtifactHost) -> dict[str, str]:
    assert host.ca_file is not None
    return {"SSL_CERT_FILE": str(host.ca_file), "OCIDS_ARTIFACT_URL_ALLOW_LOOPBACK": "true"}


@pytest.fixture
def artifact_host(tmp_path: Path) -> Iterator[tuple[ArtifactHost, str, str]]:
    host = ArtifactHost()
    with serve(host, tmp_path) as (https, plain):
        yield host, https, plain


def _url_job(world: Scenario, name: str, url: str) -> dict[str, Any]:
    job = world.job(name, "unused", entrypoint="main.py")
    job["spec"]["artifact"] = {"url": url}
    return job


def _stalled(world: Scenario, name: str) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        stall = condition(world.get_job(name), "Stalled")
        return stall if stall and stall.get("status") == "True" else None

    return check


def test_a_par_url_artifact_is_used_but_its_token_is_never_shown_and_a_resync_costs_a_304(
    world: Scenario, start_operator: Callable[..., OperatorProcess], artifact_host: Any
) -> None:
    host, https, _ = artifact_host
    token = "pA9" + secrets.token_urlsafe(40)
    par = f"/p/{token}/n/ns1/b/bucket/o/jobs/train.zip"
    body = _zip("hello from a PAR")
    host.files[par] = body
    op = start_operator(env=operator_env(host))
    world.operator = op

    world.apply(_url_job(world, "par-job", f"{https}{par}"))
    job = world.wait_job_active("par-job")
    artifact = job["status"]["artifact"]
    assert artifact["url"] == f"{https}/p/***/n/ns1/b/bucket/o/jobs/train.zip", artifact
    assert artifact["digest"] == "sha256:" + hashlib.sha256(body).hexdigest()
    assert artifact["fileName"] == "train.zip" and artifact["sizeBytes"] == len(body)

    # Resyncs (every 3 s here) ask with If-None-Match; the 304 keeps the digest and revision 1.
    wait_for(lambda: host.not_modified.get(par, 0) >= 2, timeout=60, message="two conditional resyncs")
    assert host.downloads[par] == 1, host.downloads
    assert world.get_job("par-job")["status"]["revision"] == 1  # type: ignore[index]

    # A PAR that no longer exists (expired, deleted): stalled, naming the URL without its token.
    gone = f"/p/{token}/n/ns1/b/bucket/o/jobs/gone.zip"
    world.apply(_url_job(world, "par-gone", f"{https}{gone}"))
    stall = wait_for(_stalled(world, "par-gone"), timeout=60, message="Stalled for the expired PAR")
    assert "/p/***/n/ns1/b/bucket/o/jobs/gone.zip" in stall["message"] and "404" in stall["message"], stall

    # The spec holds the URL as the user wrote it; what the operator writes must not.
    statuses = [(world.get_job(name) or {}).get("status") for name in ("par-job", "par-gone")]
    shown = json.dumps([statuses, world.kube.events(world.namespace)])
    assert "/p/***/n/" in shown
    assert token not in shown, "the PAR token reached status, conditions or Events"
    assert token not in op.log_text(), "the PAR token reached the operator log"


def test_a_redirect_to_plain_http_is_refused(
    world: Scenario, start_operator: Callable[..., OperatorProcess], artifact_host: Any
) -> None:
    host, https, plain = artifact_host
    host.redirects["/train.zip"] = f"{plain}/opc/v1/identity/key.pem"
    world.operator = start_operator(env=operator_env(host))

    world.apply(_url_job(world, "downgrade", f"{https}/train.zip"))
    stall = wait_for(_stalled(world, "downgrade"), timeout=60, message="Stalled for the http redirect")
    assert stall["reason"] == "ArtifactURLRefused", stall
    assert f"a redirect to {plain}/opc/v1/identity/key.pem" in stall["message"], stall
    assert host.secret_reads == 0 and world.oci_jobs() == []


def test_a_redirect_to_the_metadata_address_is_refused_without_connecting(
    world: Scenario, start_operator: Callable[..., OperatorProcess], artifact_host: Any
) -> None:
    host, https, _ = artifact_host
    host.redirects["/meta.zip"] = "https://169.254.169.254/opc/v2/instance/"
    world.operator = start_operator(env=operator_env(host))

    world.apply(_url_job(world, "metadata", f"{https}/meta.zip"))
    stall = wait_for(_stalled(world, "metadata"), timeout=60, message="Stalled for the metadata redirect")
    assert stall["reason"] == "ArtifactURLRefused", stall
    assert "169.254.169.254 is a cloud metadata address" in stall["message"], stall
    assert world.oci_jobs() == []
