"""Hardened `https://` artifact fetches: one deadline per fetch, bounded and fair slots, a spool budget,
refused address forms, the host allow-list, uniform messages for private addresses, byte-exact bodies.

The artifact host is a local https server on 127.0.0.1 (see test_op_artifact_fetch).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from ocids_operator.adapters.artifact_fetch import ArtifactFetcher
from ocids_operator.adapters.fetch_slots import FairSlots, SlotWaitTimeout
from ocids_operator.adapters.url_guard import HostAllowList, address_refusal, legacy_ipv4
from ocids_operator.api import Artifact
from ocids_operator.core.errors import OutcomeKind, ReconcileError
from ocids_operator.workflows.inputs import resolve_artifact
from test_op_artifact_fetch import Origin, _resolve, _run, _settings


async def _failure(url: str, fetcher: ArtifactFetcher, max_bytes: int = 64 << 20) -> ReconcileError:
    try:
        await _resolve(url, fetcher, max_bytes)
    except ReconcileError as exc:
        return exc
    raise AssertionError(f"{url} was fetched")


def test_one_deadline_covers_every_redirect_hop_and_the_body(tmp_path: Path) -> None:
    """Each hop answers within the timeout; the chain as a whole does not (the old per-hop timeout
    let a slow chain hold its slot for hops x timeout)."""

    class Slow(Origin):
        async def artifact(self, request: web.Request) -> web.StreamResponse:
            await asyncio.sleep(0.4)  # the origin is slow on purpose: what the deadline is about
            hop = int(request.path.rsplit("-", 1)[1])
            if hop < 4:
                raise web.HTTPFound(f"/hop-{hop + 1}")
            return web.Response(body=b"print('late')\n")

    async def scenario(https: str, _: str) -> tuple[ReconcileError, float]:
        fetcher = ArtifactFetcher(_settings(tmp_path))
        started = time.monotonic()
        try:
            await resolve_artifact(
                None,  # type: ignore[arg-type]
                "ml",
                Artifact.model_validate({"url": f"{https}/hop-0"}),
                max_bytes=1 << 20,
                timeout_seconds=1.0,
                object_storage=None,
                fetcher=fetcher,
            )
        except ReconcileError as exc:
            return exc, time.monotonic() - started
        raise AssertionError("a 2-second chain was fetched under a 1-second deadline")

    error, elapsed = _run(tmp_path, Slow(b""), scenario)
    assert error.outcome.kind is OutcomeKind.RETRY and error.outcome.reason == "ArtifactFetchFailed"
    assert "OCIDS_ARTIFACT_URL_TIMEOUT_SECONDS" in error.outcome.message, error.outcome.message
    assert elapsed < 1.8, f"gave up after {elapsed:.2f} s, not at the 1 s deadline"


def test_waiting_for_a_slot_is_bounded_and_retried_naming_the_setting(tmp_path: Path) -> None:
    origin = Origin(b"x" * 100)

    async def scenario(https: str, _: str) -> ReconcileError:
        origin.gate, origin.gate_at = asyncio.Event(), 99  # the first download holds the one slot
        fetcher = ArtifactFetcher(
            _settings(tmp_path, artifact_fetch_concurrency=1, artifact_fetch_wait_seconds=0.3)
        )
        holder = asyncio.create_task(_resolve(f"{https}/slow.zip", fetcher))
        while origin.in_flight == 0:
            await asyncio.sleep(0.01)
        error = await _failure(f"{https}/queued.zip", fetcher)
        origin.gate.set()
        await holder
        return error

    error = _run(tmp_path, origin, scenario)
    assert error.outcome.kind is OutcomeKind.RETRY and error.outcome.reason == "ArtifactFetchSlotsBusy"
    assert "OCIDS_ARTIFACT_FETCH_CONCURRENCY" in error.outcome.message
    assert "OCIDS_ARTIFACT_FETCH_WAIT_SECONDS" in error.outcome.message
    assert "/queued.zip" not in origin.requests


def test_a_freed_slot_goes_to_the_namespace_holding_the_fewest() -> None:
    """Namespace a queues six downloads on two slots; b's one download starts at the first release,
    ahead of a's four still waiting."""

    async def main() -> list[str]:
        slots = FairSlots(2)
        started: list[str] = []
        release: dict[str, asyncio.Event] = {}

        async def download(namespace: str, name: str) -> None:
            async with slots.slot(namespace, 5):
                started.append(name)
                release[name] = asyncio.Event()
                await release[name].wait()

        tasks = [asyncio.create_task(download("a", f"a{i}")) for i in range(6)]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(download("b", "b0")))
        for _ in range(5):
            await asyncio.sleep(0)
        assert started == ["a0", "a1"]
        for name in ["a0", "b0", "a1", "a2", "a3", "a4", "a5"]:
            while name not in release:
                await asyncio.sleep(0)
            release[name].set()
        await asyncio.gather(*tasks)
        return started

    assert asyncio.run(main())[:3] == ["a0", "a1", "b0"]


def test_a_wait_that_times_out_leaves_no_slot_taken() -> None:
    async def main() -> int:
        slots = FairSlots(1)
        async with slots.slot("a", 1):
            with pytest.raises(SlotWaitTimeout):
                async with slots.slot("b", 0.05):
                    pass
        async with slots.slot("b", 0.05):
            return sum(slots.held.values())

    assert asyncio.run(main()) == 1


def test_the_spool_budget_evicts_the_least_recently_used_and_refuses_what_cannot_fit(
    tmp_path: Path,
) -> None:
    bodies = {name: os.urandom(2000) for name in ("a", "b", "c")}

    class Files(Origin):
        async def artifact(self, request: web.Request) -> web.StreamResponse:
            name = request.path.strip("/").split(".")[0]
            self.requests.append(name)
            if request.headers.get("If-None-Match") == f'"{name}"':
                return web.Response(status=304)
            if name.startswith("held"):
                response = web.StreamResponse()
                await response.prepare(request)
                await response.write(b"h" * 2000)  # counts against the budget while in flight
                self.in_flight += 1
                assert self.gate is not None
                await self.gate.wait()
                await response.write_eof()
                return response
            return web.Response(body=bodies[name], headers={"ETag": f'"{name}"'})

    files = Files(b"")

    async def scenario(https: str, _: str) -> tuple[list[Any], ReconcileError, int]:
        fetcher = ArtifactFetcher(
            _settings(
                tmp_path,
                artifact_max_bytes=2500,
                artifact_spool_max_bytes=4500,
                artifact_fetch_concurrency=3,
            )
        )
        a = await _resolve(f"{https}/a.zip", fetcher, 2500)
        b = await _resolve(f"{https}/b.zip", fetcher, 2500)
        await _resolve(f"{https}/a.zip", fetcher, 2500)  # 304: a is now the most recently used
        c = await _resolve(f"{https}/c.zip", fetcher, 2500)  # room is made by evicting b, not a
        assert os.path.exists(a.spooled.path) and not os.path.exists(b.spooled.path)
        assert fetcher.spool.used_bytes == 4000
        # Two downloads in flight take the room of every cached file; a third finds nothing left
        # to evict and is refused, to be retried.
        files.gate = asyncio.Event()
        held = [asyncio.create_task(_resolve(f"{https}/{n}.zip", fetcher, 2500)) for n in ("held", "held2")]
        # Both in flight, with their bytes accounted: every cached file was evicted for them.
        while files.in_flight < 2 or os.path.exists(a.spooled.path) or os.path.exists(c.spooled.path):
            await asyncio.sleep(0.01)
        used_while_held = fetcher.spool.used_bytes
        error = await _failure(f"{https}/a.zip", fetcher, 2500)
        files.gate.set()
        await asyncio.gather(*held)
        return [a, c], error, used_while_held

    (a, c), error, used = _run(tmp_path, files, scenario)
    assert [r.digest for r in (a, c)] == ["sha256:" + hashlib.sha256(bodies[n]).hexdigest() for n in "ac"]
    assert used == 4000  # never above the 4500-byte budget
    assert error.outcome.kind is OutcomeKind.RETRY and error.outcome.reason == "ArtifactSpoolFull"
    assert "OCIDS_ARTIFACT_SPOOL_MAX_BYTES" in error.outcome.message


@pytest.mark.parametrize("address", ["fd00:c1::a9fe:a9fe", "fd00:c1::1", "fd00:c1::ffff:ffff:ffff:ffff"])
def test_oci_ipv6_metadata_addresses_are_refused(address: str) -> None:
    assert address_refusal(address, allow_loopback=True) == "a cloud metadata address"


@pytest.mark.parametrize("host", ["0x7f.1", "2130706433", "017700000001", "127.1", "0x7f000001"])
def test_numeric_ipv4_forms_other_than_dotted_quads_are_refused(tmp_path: Path, host: str) -> None:
    assert legacy_ipv4(host) and not legacy_ipv4("127.0.0.1") and not legacy_ipv4("example.com")
    origin = Origin(b"artifact")

    async def scenario(https: str, _: str) -> list[ReconcileError]:
        port = https.rsplit(":", 1)[1]
        fetcher = ArtifactFetcher(_settings(tmp_path))  # loopback allowed: the form alone is refused
        direct = await _failure(f"https://{host}:{port}/a.zip", fetcher)
        redirected = await _failure(f"{https}/jump.zip", fetcher)
        return [direct, redirected]

    errors = _run(tmp_path, origin, scenario, {"/jump.zip": f"https://{host}/a.zip"})
    for error in errors:
        assert error.outcome.kind is OutcomeKind.STALLED and error.outcome.reason == "ArtifactURLRefused"
        assert "numeric IPv4 form" in error.outcome.message
    assert origin.downloads == 0


def test_the_allow_list_admits_listed_names_suffixes_and_cidrs_only(tmp_path: Path) -> None:
    allowed = HostAllowList.parse(["artifacts.example.com", "*.corp.example", "10.0.0.0/8"])
    assert allowed.allows_name("ARTIFACTS.example.com.") and allowed.allows_name("a.b.corp.example")
    assert not allowed.allows_name("corp.example") and not allowed.allows_name("evil.example.com")
    assert allowed.allows_address("10.1.2.3") and not allowed.allows_address("192.168.0.1")
    origin = Origin(b"artifact")

    async def scenario(https: str, _: str) -> tuple[list[ReconcileError], Any]:
        port = https.rsplit(":", 1)[1]
        names_only = ArtifactFetcher(_settings(tmp_path, artifact_url_allowed_hosts="*.example.com"))
        cidr = ArtifactFetcher(_settings(tmp_path, artifact_url_allowed_hosts="10.0.0.0/8"))
        errors = [
            await _failure(f"{https}/a.zip", names_only),  # an IP literal no CIDR admits
            await _failure(f"https://localhost:{port}/a.zip", names_only),  # a name not listed
            await _failure(f"https://localhost:{port}/a.zip", cidr),  # resolves outside the CIDR
        ]
        admitted = await _resolve(
            f"https://localhost:{port}/a.zip",
            ArtifactFetcher(_settings(tmp_path, artifact_url_allowed_hosts="localhost,10.0.0.0/8")),
        )
        return errors, admitted

    errors, admitted = _run(tmp_path, origin, scenario)
    for error in errors:
        assert error.outcome.reason == "ArtifactURLRefused", error.outcome
        assert "OCIDS_ARTIFACT_URL_ALLOWED_HOSTS" in error.outcome.message
    assert admitted.size_bytes == len(b"artifact") and origin.downloads == 1


def test_a_private_address_reads_the_same_whether_refused_silent_or_not_tls(tmp_path: Path) -> None:
    """A closed port, a port that never answers and a port that speaks no TLS: three states of
    private ports that an artifact URL must not tell apart."""

    async def scenario(https: str, http: str) -> list[str]:
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts, never answers the TLS hello
        ports = [closed.getsockname()[1], silent.getsockname()[1], int(http.rsplit(":", 1)[1])]
        fetcher = ArtifactFetcher(_settings(tmp_path))
        try:
            messages = []
            for port in ports:
                try:
                    await resolve_artifact(
                        None,  # type: ignore[arg-type]
                        "ml",
                        Artifact.model_validate({"url": f"https://127.0.0.1:{port}/a.zip"}),
                        max_bytes=100,
                        timeout_seconds=0.5,
                        object_storage=None,
                        fetcher=fetcher,
                    )
                except ReconcileError as exc:
                    assert exc.outcome.kind is OutcomeKind.RETRY
                    messages.append(exc.outcome.message.replace(str(port), "PORT"))
            return messages
        finally:
            closed.close()
            silent.close()

    messages = _run(tmp_path, Origin(b""), scenario)
    assert len(messages) == 3 and len(set(messages)) == 1, messages
    assert "withheld" in messages[0]


def test_a_gzip_encoded_body_is_stored_as_served(tmp_path: Path) -> None:
    payload = gzip.compress(b"print('trained')\n" * 100)
    seen: list[str] = []

    class Gzipped(Origin):
        async def artifact(self, request: web.Request) -> web.StreamResponse:
            seen.append(request.headers.get("Accept-Encoding", ""))
            return web.Response(body=payload, headers={"Content-Encoding": "gzip"})

    async def scenario(https: str, _: str) -> Any:
        return await _resolve(f"{https}/train.py.gz", ArtifactFetcher(_settings(tmp_path)))

    resolved = _run(tmp_path, Gzipped(b""), scenario)
    assert resolved.digest == "sha256:" + hashlib.sha256(payload).hexdigest()
    assert Path(resolved.spooled.path).read_bytes() == payload
    assert seen == ["identity"]


def test_fetches_share_one_slot_between_namespaces_in_turn(tmp_path: Path) -> None:
    """Through the fetcher: namespace a queues three downloads behind its first, b one; b's goes next."""

    class Held(Origin):
        async def artifact(self, request: web.Request) -> web.StreamResponse:
            self.requests.append(request.path)
            assert self.gate is not None
            await self.gate.wait()
            self.gate.clear()
            return web.Response(body=b"x")

    held = Held(b"")

    async def scenario(https: str, _: str) -> None:
        held.gate = asyncio.Event()
        fetcher = ArtifactFetcher(_settings(tmp_path, artifact_fetch_concurrency=1))

        async def fetch(namespace: str, name: str) -> None:
            await resolve_artifact(
                None,  # type: ignore[arg-type]
                namespace,
                Artifact.model_validate({"url": f"{https}/{name}"}),
                max_bytes=100,
                timeout_seconds=10,
                object_storage=None,
                fetcher=fetcher,
            )

        tasks = [asyncio.create_task(fetch("a", f"a{i}")) for i in range(4)]
        while not held.requests:
            await asyncio.sleep(0.01)
        tasks.append(asyncio.create_task(fetch("b", "b0")))
        await asyncio.sleep(0.05)
        while len(held.requests) < 5:
            held.gate.set()
            await asyncio.sleep(0.02)
        held.gate.set()
        await asyncio.gather(*tasks)

    _run(tmp_path, held, scenario)
    assert held.requests[:2] == ["/a0", "/b0"], held.requests


def test_a_304_for_a_copy_evicted_meanwhile_downloads_the_bytes_again(tmp_path: Path) -> None:
    body = os.urandom(2000)
    fetchers: list[ArtifactFetcher] = []

    class Evicting(Origin):
        async def artifact(self, request: web.Request) -> web.StreamResponse:
            if request.headers.get("If-None-Match") == '"v1"':
                spool = fetchers[0].spool
                with spool.writer(2500) as other:  # another download takes the room meanwhile
                    other.write(b"o" * 2000)
                spool.release(other.path)
                return web.Response(status=304, headers={"ETag": '"v1"'})
            self.downloads += 1
            return web.Response(body=body, headers={"ETag": '"v1"'})

    origin = Evicting(b"")

    async def scenario(https: str, _: str) -> list[Any]:
        fetchers.append(
            ArtifactFetcher(_settings(tmp_path, artifact_max_bytes=2500, artifact_spool_max_bytes=2500))
        )
        first = await _resolve(f"{https}/a.zip", fetchers[0], 2500)
        second = await _resolve(f"{https}/a.zip", fetchers[0], 2500)
        return [first, second]

    first, second = _run(tmp_path, origin, scenario)
    assert not os.path.exists(first.spooled.path)
    assert Path(second.spooled.path).read_bytes() == body and origin.downloads == 2
