"""URL artifacts: streamed to disk (never held in memory), fetched again only when changed, at most
N at a time, never through a redirect to plain http or to a metadata / link-local address, and
a pre-authenticated request's path token never shown.

A local https server (self-signed CA, trusted by this process only) on 127.0.0.1 stands in for
the artifact host; nothing leaves the loopback interface.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import ssl
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp.connector
import pytest
from aiohttp import web
from ocids_controlplane import pki
from ocids_operator.adapters.artifact_fetch import (
    ArtifactFetcher,
    CheckedResolver,
    UrlRefused,
    address_refusal,
)
from ocids_operator.api import Artifact
from ocids_operator.core.errors import OutcomeKind, ReconcileError
from ocids_operator.core.links import shown_url, without_url_secrets
from ocids_operator.settings import OperatorSettings
from ocids_operator.workflows.inputs import resolve_artifact

TOKEN = "Zq3vXk9-PARtoken_" + "x" * 40
PAR_PATH = f"/p/{TOKEN}/n/ns1/b/bucket/o/train.zip"


def _tls(tmp: Path) -> ssl.SSLContext:
    """A serving context for 127.0.0.1 / localhost whose throwaway CA aiohttp's verifying context trusts."""
    ca, cert, key = pki.write_serving_pair(tmp)
    aiohttp.connector._SSL_CONTEXT_VERIFIED.load_verify_locations(cafile=str(ca))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(str(cert), str(key))
    return server


class Origin:
    """An artifact host: counts full downloads, honours If-None-Match / If-Modified-Since."""

    def __init__(self, body: bytes, *, etag: str | None = '"v1"', last_modified: str | None = None) -> None:
        self.body = body
        self.etag = etag
        self.last_modified = last_modified
        self.downloads = 0
        self.requests: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.gate: asyncio.Event | None = None
        self.gate_at = 0
        self.key_pem_reads = 0
        self.http_base = ""

    async def artifact(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                if self.in_flight >= self.gate_at:
                    self.gate.set()
                await asyncio.wait_for(self.gate.wait(), 10)
            headers = {}
            if self.etag:
                headers["ETag"] = self.etag
            if self.last_modified:
                headers["Last-Modified"] = self.last_modified
            if self.etag and request.headers.get("If-None-Match") == self.etag:
                return web.Response(status=304, headers=headers)
            if (
                not self.etag
                and self.last_modified
                and request.headers.get("If-Modified-Since") == self.last_modified
            ):
                return web.Response(status=304, headers=headers)
            self.downloads += 1
            response = web.StreamResponse(headers={**headers, "Content-Length": str(len(self.body))})
            await response.prepare(request)
            for start in range(0, len(self.body), 1 << 16):
                await response.write(self.body[start : start + (1 << 16)])
            await response.write_eof()
            return response
        finally:
            self.in_flight -= 1

    async def key_pem(self, request: web.Request) -> web.Response:
        self.key_pem_reads += 1
        return web.Response(body=b"-----BEGIN PRIVATE KEY----- instance secret")

    def app(self, redirects: dict[str, str]) -> web.Application:
        app = web.Application()

        def redirect(target: str) -> Callable[[web.Request], Awaitable[web.Response]]:
            async def handler(request: web.Request) -> web.Response:
                raise web.HTTPFound(target.format(http=self.http_base))

            return handler

        for path, target in redirects.items():
            app.router.add_get(path, redirect(target))
        app.router.add_get("/opc/v1/identity/key.pem", self.key_pem)
        app.router.add_get("/{tail:.*}", self.artifact)
        return app


async def _serve(app: web.Application, ssl_context: ssl.SSLContext | None) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)  # the test server's own log is not the operator's
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


def _settings(tmp: Path, **overrides: Any) -> OperatorSettings:
    values: dict[str, Any] = {
        "artifact_url_allow_loopback": True,
        "artifact_spool_dir": str(tmp / "spool"),
        **overrides,
    }
    return OperatorSettings(**values)


async def _resolve(url: str, fetcher: ArtifactFetcher | None, max_bytes: int = 64 << 20) -> Any:
    artifact = Artifact.model_validate({"url": url})
    return await resolve_artifact(
        None,  # type: ignore[arg-type]
        "ml",
        artifact,
        max_bytes=max_bytes,
        timeout_seconds=10,
        object_storage=None,
        fetcher=fetcher,
    )


def _run(
    tmp: Path,
    origin: Origin,
    scenario: Callable[[str, str], Awaitable[Any]],
    redirects: dict[str, str] | None = None,
) -> Any:
    """Serve `origin` over https and plain http on 127.0.0.1; run `scenario(https_base, http_base)`."""

    async def main() -> Any:
        tls = _tls(tmp)
        runner, port = await _serve(origin.app(redirects or {}), tls)
        plain, plain_port = await _serve(origin.app({}), None)
        origin.http_base = f"http://127.0.0.1:{plain_port}"
        try:
            return await scenario(f"https://127.0.0.1:{port}", f"http://127.0.0.1:{plain_port}")
        finally:
            await runner.cleanup()
            await plain.cleanup()

    return asyncio.run(main())


def test_a_url_artifact_is_hashed_while_streaming_not_held_in_memory(tmp_path: Path) -> None:
    body = os.urandom(8 << 20)
    origin = Origin(body)

    async def scenario(https: str, _: str) -> tuple[Any, int]:
        fetcher = ArtifactFetcher(_settings(tmp_path))
        tracemalloc.start()
        try:
            resolved = await _resolve(f"{https}/train.zip", fetcher)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return resolved, peak

    resolved, peak = _run(tmp_path, origin, scenario)
    assert resolved.digest == "sha256:" + hashlib.sha256(body).hexdigest()
    assert resolved.size_bytes == len(body) and resolved.file_name == "train.zip"
    # The 8 MiB never sit in memory at once (the old code held them twice: chunks, then the join).
    assert peak < len(body) // 4, f"peak traced memory {peak} bytes for an {len(body)}-byte artifact"


def test_an_unchanged_url_is_not_downloaded_again_and_keeps_its_digest(tmp_path: Path) -> None:
    body = b"PK\x03\x04" + os.urandom(4096)
    origin = Origin(body)

    async def scenario(https: str, _: str) -> list[Any]:
        fetcher = ArtifactFetcher(_settings(tmp_path))
        first = await _resolve(f"{https}/train.zip", fetcher)
        second = await _resolve(f"{https}/train.zip", fetcher)
        origin.body, origin.etag = b"changed", '"v2"'
        third = await _resolve(f"{https}/train.zip", fetcher)
        return [first, second, third]

    first, second, third = _run(tmp_path, origin, scenario)
    assert first.digest == second.digest == "sha256:" + hashlib.sha256(body).hexdigest()
    assert third.digest == "sha256:" + hashlib.sha256(b"changed").hexdigest()
    assert origin.downloads == 2  # the resync in between got a 304


def test_last_modified_is_used_when_there_is_no_etag(tmp_path: Path) -> None:
    origin = Origin(b"print(1)\n", etag=None, last_modified="Wed, 21 Oct 2026 07:28:00 GMT")

    async def scenario(https: str, _: str) -> list[Any]:
        fetcher = ArtifactFetcher(_settings(tmp_path))
        return [await _resolve(f"{https}/train.py", fetcher) for _ in range(3)]

    results = _run(tmp_path, origin, scenario)
    assert {r.digest for r in results} == {"sha256:" + hashlib.sha256(b"print(1)\n").hexdigest()}
    assert origin.downloads == 1 and len(origin.requests) == 3


def test_concurrent_fetches_are_bounded_by_the_setting(tmp_path: Path) -> None:
    origin = Origin(b"x" * 1000)

    async def scenario(https: str, _: str) -> None:
        origin.gate, origin.gate_at = asyncio.Event(), 2
        fetcher = ArtifactFetcher(_settings(tmp_path, artifact_fetch_concurrency=2))
        await asyncio.gather(*(_resolve(f"{https}/job-{i}.zip", fetcher) for i in range(5)))

    _run(tmp_path, origin, scenario)
    assert len(origin.requests) == 5 and origin.max_in_flight == 2


def test_a_redirect_from_https_to_plain_http_is_refused(tmp_path: Path) -> None:
    origin = Origin(b"artifact")

    async def scenario(https: str, _: str) -> Any:
        return await _resolve(f"{https}/train.zip", ArtifactFetcher(_settings(tmp_path)))

    with pytest.raises(ReconcileError) as info:
        _run(tmp_path, origin, scenario, {"/train.zip": "{http}/opc/v1/identity/key.pem"})
    assert origin.key_pem_reads == 0
    assert info.value.outcome.kind is OutcomeKind.STALLED
    assert info.value.outcome.reason == "ArtifactURLRefused", info.value.outcome
    assert "http://" in info.value.outcome.message and "redirect" in info.value.outcome.message


def test_a_redirect_to_a_metadata_address_is_refused_before_connecting(tmp_path: Path) -> None:
    origin = Origin(b"artifact")
    redirects = {
        "/meta.zip": "https://169.254.169.254/opc/v2/instance/",
        "/meta6.zip": "https://[fd00:ec2::254]/latest/",
    }

    async def scenario(https: str, _: str) -> list[ReconcileError]:
        fetcher = ArtifactFetcher(_settings(tmp_path))
        errors = []
        for path in redirects:
            try:
                await _resolve(f"{https}{path}", fetcher)
            except ReconcileError as exc:
                errors.append(exc)
        return errors

    errors = _run(tmp_path, origin, scenario, redirects)
    assert [e.outcome.reason for e in errors] == ["ArtifactURLRefused"] * 2
    assert "169.254.169.254" in errors[0].outcome.message and "metadata" in errors[0].outcome.message


def test_loopback_is_refused_unless_allowed(tmp_path: Path) -> None:
    origin = Origin(b"artifact")

    async def scenario(https: str, _: str) -> ReconcileError:
        strict = ArtifactFetcher(_settings(tmp_path, artifact_url_allow_loopback=False))
        with pytest.raises(ReconcileError) as info:
            await _resolve(f"{https}/a.zip", strict)
        await _resolve(f"{https}/a.zip", ArtifactFetcher(_settings(tmp_path)))
        return info.value

    error = _run(tmp_path, origin, scenario)
    assert error.outcome.reason == "ArtifactURLRefused" and "loopback" in error.outcome.message
    assert origin.downloads == 1


def test_a_name_resolving_to_a_link_local_address_is_refused() -> None:
    class Inner:
        async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[dict[str, Any]]:
            return [
                {"hostname": host, "host": "169.254.10.1", "port": port, "family": 2, "proto": 0, "flags": 0}
            ]

        async def close(self) -> None:
            return None

    resolver = CheckedResolver(allow_loopback=True, inner=Inner())  # type: ignore[arg-type]
    with pytest.raises(UrlRefused) as info:
        asyncio.run(resolver.resolve("artifacts.example.com", 443))
    assert "169.254.10.1" in str(info.value) and "link-local" in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        f"https://objectstorage.us-ashburn-1.oraclecloud.com{PAR_PATH}",
        f"https://ns1.objectstorage.us-ashburn-1.oci.customer-oci.com{PAR_PATH}?x=1",
    ],
)
def test_a_par_token_in_the_path_is_never_shown(url: str) -> None:
    assert TOKEN not in shown_url(url)
    assert "/p/***/n/ns1/b/bucket/o/train.zip" in shown_url(url)
    text = f"ClientResponseError: 404, message='Not Found', url='{url}'"
    assert TOKEN not in without_url_secrets(text) and "/p/***/n/ns1/" in without_url_secrets(text)


def test_a_par_url_that_fails_never_shows_its_token_in_the_error_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Gone(Origin):
        async def artifact(self, request: web.Request) -> web.StreamResponse:
            return web.Response(status=404 if "/o/missing" in request.path else 503)

    gone = Gone(b"")
    caplog.set_level(logging.DEBUG)

    async def scenario(https: str, _: str) -> list[ReconcileError]:
        fetcher = ArtifactFetcher(_settings(tmp_path))
        errors = []
        for path in (f"/p/{TOKEN}/n/ns1/b/bucket/o/missing.zip", PAR_PATH):
            try:
                await _resolve(f"{https}{path}", fetcher)
            except ReconcileError as exc:
                errors.append(exc)
        return errors

    errors = _run(tmp_path, gone, scenario)
    assert [e.outcome.kind for e in errors] == [OutcomeKind.STALLED, OutcomeKind.RETRY]
    for error in errors:
        assert TOKEN not in error.outcome.message and "/p/***/n/ns1/b/bucket/o/" in error.outcome.message
    assert TOKEN not in caplog.text


def test_operators_sharing_a_spool_root_keep_their_files_and_a_dead_ones_are_removed(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    first = ArtifactFetcher(_settings(tmp_path)).spool
    with first.writer(100) as writer:
        writer.write(b"kept")
    kept = writer.done().path
    abandoned = root / "spool-from-a-process-that-is-gone"
    abandoned.mkdir()
    (abandoned / ".lock").touch()
    (abandoned / "artifact-old").write_bytes(b"x" * 100)

    ArtifactFetcher(_settings(tmp_path))  # a second operator on the same machine starts

    assert Path(kept).read_bytes() == b"kept"
    assert not abandoned.exists()


@pytest.mark.parametrize(
    ("address", "refusal"),
    [
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("::ffff:169.254.169.254", "a cloud metadata address"),
        ("64:ff9b::a9fe:a9fe", "a cloud metadata address"),  # NAT64 of 169.254.169.254
        ("2002:a9fe:a9fe::1", "a cloud metadata address"),  # 6to4 of 169.254.169.254
        ("169.254.1.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("0.0.0.0", "not a unicast address"),
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.8", None),  # private ranges: in-cluster artifact servers (https, valid certificate)
        ("192.0.2.10", None),
    ],
)
def test_addresses_artifacts_are_never_read_from(address: str, refusal: str | None) -> None:
    assert address_refusal(address, allow_loopback=False) == refusal
