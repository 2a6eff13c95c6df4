"""Git artifact sources against a real bare repository made with the git CLI (file:// URLs)."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from git_repos import HAVE_GIT, Repository, git, git_daemon
from ocids_operator.adapters.git_source import (
    GitCredentials,
    GitRefNotFound,
    GitRefused,
    GitRepositoryMissing,
    GitSource,
    GitTooLarge,
)
from ocids_operator.settings import OperatorSettings

pytestmark = pytest.mark.skipif(not HAVE_GIT, reason="needs the git CLI to make repositories")


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    return Repository(tmp_path)


def source(tmp_path: Path, **overrides: object) -> GitSource:
    values: dict[str, object] = {"git_allow_file_urls": True, "artifact_spool_dir": str(tmp_path / "spool")}
    values.update(overrides)
    return GitSource(OperatorSettings(**values))  # type: ignore[arg-type]


def test_branch_tag_and_commit_refs_resolve_and_fetch(repo: Repository, tmp_path: Path) -> None:
    first = repo.commit({"train.py": "print('one')\n", "pkg/util.py": "X = 1\n"})
    git(repo.work, "tag", "v1")
    git(repo.work, "tag", "-a", "v1-annotated", "-m", "release")
    second = repo.commit({"train.py": "print('two')\n"})
    repo.publish()
    git_source = source(tmp_path)

    async def scenario() -> None:
        assert await git_source.resolve(repo.url, "main") == second
        assert await git_source.resolve(repo.url, "refs/heads/main") == second
        assert await git_source.resolve(repo.url, "v1") == first
        # An annotated tag's files are its commit's, and the tree names that commit (not the tag
        # object, which a server that does not peel refs may advertise).
        tagged = await git_source.tree(repo.url, await git_source.resolve(repo.url, "v1-annotated"))
        assert tagged.commit == first
        assert await git_source.resolve(repo.url, first.upper()) == first
        tree = await git_source.tree(repo.url, first)
        files = {item.path: item.data for item in tree.files}
        assert files == {"pkg/util.py": b"X = 1\n", "train.py": b"print('one')\n"}
        assert tree.commit == first

    asyncio.run(scenario())
    # The scratch repository is gone: only the files stayed, in memory.
    assert not any((tmp_path / "spool").glob("git-*"))


def test_a_moved_branch_resolves_to_the_new_commit(repo: Repository, tmp_path: Path) -> None:
    first = repo.commit({"train.py": "print('one')\n"})
    repo.publish()
    git_source = source(tmp_path)
    assert asyncio.run(git_source.resolve(repo.url, "main")) == first
    moved = repo.commit({"train.py": "print('moved')\n"})
    repo.publish()
    assert asyncio.run(git_source.resolve(repo.url, "main")) == moved
    tree = asyncio.run(git_source.tree(repo.url, moved))
    assert {item.path: item.data for item in tree.files} == {"train.py": b"print('moved')\n"}


def test_an_unchanged_commit_is_not_fetched_again(repo: Repository, tmp_path: Path) -> None:
    commit = repo.commit({"train.py": "print('one')\n"})
    repo.publish()
    git_source = source(tmp_path)
    first = asyncio.run(git_source.tree(repo.url, commit))
    shutil.rmtree(repo.bare)  # a fetch now would fail
    assert asyncio.run(git_source.tree(repo.url, commit)) is first


def test_the_cache_never_serves_a_tree_to_other_credentials(repo: Repository, tmp_path: Path) -> None:
    commit = repo.commit({"train.py": "print('private')\n"})
    repo.publish()
    git_source, team_a = source(tmp_path), GitCredentials("team-a", "token-a")
    asyncio.run(git_source.tree(repo.url, commit, team_a))
    shutil.rmtree(repo.bare)  # only a cache hit could answer now
    with pytest.raises(GitRepositoryMissing):
        asyncio.run(git_source.tree(repo.url, commit))  # another namespace, without the token
    assert (
        asyncio.run(git_source.tree(repo.url, commit, GitCredentials("team-a", "token-a"))).commit == commit
    )


def test_an_unknown_ref_is_named(repo: Repository, tmp_path: Path) -> None:
    repo.commit({"train.py": "print('one')\n"})
    repo.publish()
    with pytest.raises(GitRefNotFound, match="no branch or tag nope"):
        asyncio.run(source(tmp_path).resolve(repo.url, "nope"))


def test_a_missing_repository_is_named(tmp_path: Path) -> None:
    with pytest.raises(GitRepositoryMissing, match="no Git repository there"):
        asyncio.run(source(tmp_path).resolve(f"file://{tmp_path}/absent.git", "main"))


def test_file_urls_are_refused_by_default(repo: Repository, tmp_path: Path) -> None:
    repo.commit({"train.py": "print('one')\n"})
    repo.publish()
    with pytest.raises(GitRefused, match="OCIDS_GIT_ALLOW_FILE_URLS=true"):
        asyncio.run(source(tmp_path, git_allow_file_urls=False).resolve(repo.url, "main"))


@pytest.mark.parametrize(
    "url",
    ["ssh://git@example.com/repo.git", "git@example.com:repo.git", "https://169.254.169.254/repo.git"],
)
def test_urls_the_operator_does_not_fetch_from(url: str, tmp_path: Path) -> None:
    with pytest.raises(GitRefused):
        source(tmp_path).check_url(url)


def test_a_host_name_is_judged_by_the_addresses_it_resolves_to(tmp_path: Path) -> None:
    """As for https:// artifact URLs: a name is no way around the address checks (localhost here;
    a name pointing at the metadata address is refused the same way), checked before connecting."""
    url = "git://localhost:9/team/repo.git"
    with pytest.raises(GitRefused, match=r"host localhost resolves to \S+, a loopback address"):
        asyncio.run(source(tmp_path).resolve(url, "main"))
    with pytest.raises(GitRefused, match="a loopback address"):
        asyncio.run(source(tmp_path).tree(url, "0" * 40))


def test_the_artifact_host_allow_list_applies_to_git_hosts(tmp_path: Path) -> None:
    git_source = source(tmp_path, artifact_url_allowed_hosts="git.example.com,10.0.0.0/8")
    git_source.check_url("https://git.example.com/team/repo.git")
    git_source.check_url("https://10.1.2.3/team/repo.git")
    with pytest.raises(GitRefused, match="OCIDS_ARTIFACT_URL_ALLOWED_HOSTS"):
        git_source.check_url("https://github.com/team/repo.git")


def test_a_tree_over_the_size_limit_is_refused(repo: Repository, tmp_path: Path) -> None:
    commit = repo.commit({"big.bin": "x" * 5000})
    repo.publish()
    git_source = source(tmp_path, artifact_max_bytes=4096, artifact_spool_max_bytes=4096)
    with pytest.raises(GitTooLarge, match="4096-byte limit"):
        asyncio.run(git_source.tree(repo.url, commit))


def test_git_daemon_urls_resolve_and_fetch_and_a_tree_over_the_limit_is_refused(
    repo: Repository, tmp_path: Path
) -> None:
    """git:// against a real git daemon on loopback (the network transport, its shallow fetch)."""
    repo.commit({"train.py": "print('old')\n", "big.txt": "y" * 6000})
    latest = repo.commit({"train.py": "print('new')\n", "big.txt": "small\n"})
    repo.publish()
    with git_daemon(tmp_path) as base:
        url = f"{base}/repo.git"
        git_source = source(tmp_path, artifact_url_allow_loopback=True)
        assert asyncio.run(git_source.resolve(url, "main")) == latest
        tree = asyncio.run(git_source.tree(url, latest))
        assert {item.path: item.data for item in tree.files} == {
            "big.txt": b"small\n",
            "train.py": b"print('new')\n",
        }
        noise = repo.commit({"noise.txt": os.urandom(3000).hex()})
        repo.publish()
        tight = source(
            tmp_path, artifact_url_allow_loopback=True, artifact_max_bytes=1024, artifact_spool_max_bytes=1024
        )
        with pytest.raises(GitTooLarge, match="1024-byte limit"):
            asyncio.run(tight.tree(url, noise))
    assert not any((tmp_path / "spool").glob("git-*"))


def test_token_credentials_never_show_in_repr() -> None:
    credentials = GitCredentials.from_secret({"token": "s3cr3t-token"})
    assert credentials.username == "x-access-token"
    assert credentials.password == "s3cr3t-token"
    assert "s3cr3t" not in repr(credentials)
    assert GitCredentials.from_secret({"username": "me", "password": "pw"}).username == "me"


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254?/opc/v2.git",
        "https://127.0.0.1#/r.git",
        "git://127.0.0.1?/r.git",
        "https://169.254.169.254\\x/opc.git",
    ],
)
def test_a_host_part_parsers_split_differently_is_refused(url: str, tmp_path: Path) -> None:
    """urllib3 ends the host at '?', '#' or '\\': such URLs would connect to the refused address."""
    with pytest.raises(GitRefused, match="host part contains"):
        source(tmp_path).check_url(url)
    with pytest.raises(GitRefused):
        asyncio.run(source(tmp_path).resolve(url, "main"))


def test_the_host_judged_is_the_host_connected_to(tmp_path: Path) -> None:
    git_source = source(tmp_path, artifact_url_allowed_hosts="*.allowed.com")
    with pytest.raises(GitRefused):
        git_source.check_url("https://evil.example?.allowed.com/r.git")
    with pytest.raises(GitRefused, match=r"169\.254\.169\.254 is"):
        source(tmp_path).check_url("https://user@169.254.169.254:443/r.git")
    git_source.check_url("https://git.allowed.com:8443/team/r.git?x=1#y")


class _Answers(http.server.BaseHTTPRequestHandler):
    paths: list[str]
    body = b""

    def do_GET(self) -> None:
        self.paths.append(self.path)
        if self.path.startswith("/moved/"):
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/target/r.git")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-git-upload-pack-advertisement")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _http_server(body: bytes = b"") -> Iterator[tuple[str, list[str]]]:
    paths: list[str] = []
    handler = type("Handler", (_Answers,), {"paths": paths, "body": body})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", paths
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_redirect_is_refused_and_its_target_never_requested(tmp_path: Path) -> None:
    with _http_server() as (base, paths):
        git_source = source(tmp_path, artifact_url_allow_loopback=True)
        with pytest.raises(GitRefused, match=r"redirected .*give the final URL"):
            asyncio.run(git_source.resolve(f"{base}/moved/r.git", "main"))
        with pytest.raises(GitRefused, match="redirected"):
            asyncio.run(git_source.tree(f"{base}/moved/r.git", "0" * 40))
    assert paths and all(path.startswith("/moved/") for path in paths)


def test_a_ref_listing_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    payload = b"1" * 40 + b" refs/heads/branch-name\n"
    line = b"%04x" % (len(payload) + 4) + payload
    body = b"001e# service=git-upload-pack\n0000" + line * 200 + b"0000"
    with _http_server(body) as (base, _):
        git_source = source(tmp_path, artifact_url_allow_loopback=True, artifact_max_bytes=4096)
        with pytest.raises(GitTooLarge):
            asyncio.run(git_source.resolve(f"{base}/big/r.git", "main"))
