"""Git artifact sources (`artifact.git`): a ref resolved to a commit, and that commit's files.

The operator fetches, not the job: the credentials never leave the cluster, the job needs no route to
the Git host, and the uploaded artifact's digest pins what ran. dulwich is pure Python (no git binary
in the image) and blocking, so every call runs in a worker thread, inside one of the download slots
the URL artifacts use and under their deadline (OCIDS_ARTIFACT_URL_TIMEOUT_SECONDS).

A resync only lists the remote's refs (one small request); the commit's files are fetched again only
when the ref points elsewhere, and kept in memory per (url, commit, credentials) within
OCIDS_ARTIFACT_MAX_BYTES.
A commit is fetched shallow (depth 1) into a scratch repository under the spool directory that is
removed right after its tree is read; the pack received is counted as it arrives and refused past
OCIDS_ARTIFACT_MAX_BYTES, as are the commit's files.

HTTP redirects are refused, not followed (their target would skip the host checks), and the ref
listing is refused past OCIDS_ARTIFACT_MAX_BYTES too.

Credentials go to dulwich as a username and password, never into a URL, and no message here quotes
a URL with them: `shown` URLs come from `core.links.shown_url`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import hashlib
import os
import re
import shutil
import socket
import stat
import tempfile
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

import urllib3
from dulwich import errors as git_errors
from dulwich.client import GitClient, HTTPUnauthorized, default_urllib3_manager, get_transport_and_path
from dulwich.config import ConfigDict
from dulwich.objects import Blob, Commit, Tag, Tree
from dulwich.repo import Repo

from ..settings import OperatorSettings
from .fetch_slots import FairSlots
from .url_guard import ALLOW_LIST_SETTING, HostAllowList, address_refusal, ip_literal, legacy_ipv4

ALLOW_FILE_SETTING = "OCIDS_GIT_ALLOW_FILE_URLS"
_COMMIT = re.compile(r"^[0-9a-fA-F]{40}$")
# URL parsers disagree on where such an authority ends (urllib3 ends the host at '?', '#' or '\\',
# a split at the first '/' does not): refused, so the host judged is the host connected to.
_AMBIGUOUS_AUTHORITY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*[?#\\]")
# A Secret with only a token: hosts take a token as the password of any user (GitHub, GitLab, Gitea).
TOKEN_USER = "x-access-token"
# Trees kept for resyncs of an unchanged commit: few, and within OCIDS_ARTIFACT_MAX_BYTES in total.
CACHE_ENTRIES = 16
_SUBMODULE = 0o160000
T = TypeVar("T")


class GitError(Exception):
    """A Git source failed; the message never quotes a URL's credentials."""


class GitRefused(GitError):
    """A URL the operator does not fetch from (scheme, address): permanent until the spec changes."""


class GitRedirected(GitRefused):
    """A 3xx answer: never followed, since its target would skip the host and address checks."""

    def __init__(self, status: int) -> None:
        super().__init__(
            f"the Git server redirected (HTTP {status}) to another URL; give the final URL "
            "(redirects are not followed)"
        )


class GitRefNotFound(GitError):
    """The ref is neither a branch nor a tag nor a full commit id of the repository."""


class GitCommitNotFound(GitError):
    """The server would not send the commit (unknown, or not reachable from any ref it allows)."""


class GitAuthFailed(GitError):
    """The server refused the credentials (or asked for some and got none)."""


class GitRepositoryMissing(GitError):
    """No repository at the URL (or none this principal may see: hosts answer 404 for both)."""


class GitUnreachable(GitError):
    """No answer, a broken connection, a missing repository: may work later."""


class GitTooLarge(GitError):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"the commit's files are over the {max_bytes}-byte limit (OCIDS_ARTIFACT_MAX_BYTES)")


class GitTimeout(GitError):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"not fetched within {seconds:g} s (OCIDS_ARTIFACT_URL_TIMEOUT_SECONDS)")


@dataclasses.dataclass(frozen=True)
class GitCredentials:
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)

    @property
    def fingerprint(self) -> str:
        """Tells credentials apart in the tree cache, without keeping them in its keys."""
        text = f"{self.username}\x00{self.password}".encode()
        return hashlib.sha256(text).hexdigest()

    @classmethod
    def from_secret(cls, data: dict[str, str]) -> GitCredentials:
        """`username` (optional) with `password` or `token`."""
        secret = data.get("password") or data.get("token")
        username = data.get("username") or (TOKEN_USER if secret else None)
        return cls(username, secret)


@dataclasses.dataclass(frozen=True)
class GitFile:
    path: str  # relative, "/"-separated
    data: bytes = dataclasses.field(repr=False)
    executable: bool = False


@dataclasses.dataclass(frozen=True)
class GitTree:
    commit: str  # the commit the files are of (an annotated tag peeled)
    files: tuple[GitFile, ...]

    @property
    def size(self) -> int:
        return sum(len(item.data) for item in self.files)


def _host_of(url: str) -> str:
    """The host the Git client connects to, without user info, port or IPv6 brackets: parsed as
    dulwich's transport parses it (urllib3 for http(s), urllib.parse for git://)."""
    try:
        if url.split("://", 1)[0].lower() in ("http", "https"):
            host = urllib3.util.parse_url(url).host or ""
        else:
            host = urllib.parse.urlsplit(url).hostname or ""
    except (ValueError, urllib3.exceptions.LocationParseError):
        raise GitRefused("the URL cannot be parsed") from None
    if not host:
        raise GitRefused("the URL has no host")
    return host.strip("[]").lower()


class GitSource:
    """One per operator: the fetch slots (shared with URL artifacts) and the trees fetched last."""

    def __init__(self, settings: OperatorSettings, slots: FairSlots | None = None) -> None:
        self._settings = settings
        self._slots = slots or FairSlots(settings.artifact_fetch_concurrency)
        self._allowed = HostAllowList.parse(settings.artifact_url_allowed_hosts)
        self._trees: collections.OrderedDict[tuple[str, str, str], GitTree] = collections.OrderedDict()
        self._lock = threading.Lock()

    async def resolve(
        self, url: str, ref: str, credentials: GitCredentials | None = None, *, namespace: str = ""
    ) -> str:
        """The commit `ref` names now. A full 40-hex commit id is taken as it is (no request)."""
        self.check_url(url)
        if _COMMIT.match(ref):
            return ref.lower()
        max_bytes, seconds = self._settings.artifact_max_bytes, self._settings.artifact_url_timeout_seconds
        refs = await self._blocking(
            namespace, self._guarded(url, lambda: _list_refs(url, credentials, seconds, max_bytes))
        )
        commit = _pick(refs, ref)
        if commit is None:
            raise GitRefNotFound(f"no branch or tag {ref} (nor a full 40-hex commit id)")
        return commit

    async def tree(
        self, url: str, commit: str, credentials: GitCredentials | None = None, *, namespace: str = ""
    ) -> GitTree:
        """The files of `commit`, cached per url, commit and credentials: a namespace that names
        another's private repository and commit, without its credentials, gets nothing from the cache."""
        self.check_url(url)
        key = (url, commit, credentials.fingerprint if credentials else "")
        with self._lock:
            known = self._trees.get(key)
            if known is not None:
                self._trees.move_to_end(key)
                return known
        max_bytes, seconds = self._settings.artifact_max_bytes, self._settings.artifact_url_timeout_seconds
        root = self._scratch_root()
        tree = await self._blocking(
            namespace,
            self._guarded(url, lambda: _fetch_tree(url, commit, credentials, max_bytes, root, seconds)),
        )
        self._remember(key, tree)
        return tree

    def check_url(self, url: str) -> None:
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme == "file":
            if not self._settings.git_allow_file_urls:
                raise GitRefused(f"file:// URLs are refused unless {ALLOW_FILE_SETTING}=true")
            return
        if scheme not in ("https", "http", "git"):
            raise GitRefused(
                "only https://, git:// (and file:// where allowed) are fetched; ssh:// and "
                "scp-like URLs are not (the operator has no ssh client)"
            )
        if scheme == "http" and not self._settings.artifact_url_allow_loopback:
            raise GitRefused("plain http:// sends the credentials in clear text: use https://")
        if _AMBIGUOUS_AUTHORITY.match(url):
            raise GitRefused("the URL's host part contains '?', '#' or '\\'")
        host = _host_of(url)
        if legacy_ipv4(host):
            raise GitRefused(f"host {host} is a numeric IPv4 form other than a dotted quad")
        if ip_literal(host) is not None:
            reason = address_refusal(host, allow_loopback=self._settings.artifact_url_allow_loopback)
            if reason is not None:
                raise GitRefused(f"{host} is {reason}")
            if not self._allowed.allows_address(host):
                raise GitRefused(f"{host} is not in {ALLOW_LIST_SETTING}")
        elif not self._allowed.allows_name(host):
            # Names only: the Git client resolves them itself, so a CIDR entry cannot vouch for one.
            raise GitRefused(f"host {host} is not in {ALLOW_LIST_SETTING}")

    def check_addresses(self, url: str) -> None:
        """A named host's addresses, judged as an https:// artifact URL's are: a name that resolves
        to a metadata, link-local (or, unless allowed, loopback) address is refused before the Git
        client connects. The client resolves the name again itself, so this stops a name that points
        there, not a DNS answer that changes between the two lookups."""
        if url.split("://", 1)[0].lower() == "file":
            return
        host = _host_of(url)
        if ip_literal(host) is not None:
            return  # judged by check_url
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            return  # the Git client reports the name as unreachable
        for info in infos:
            address = str(info[4][0])
            reason = address_refusal(address, allow_loopback=self._settings.artifact_url_allow_loopback)
            if reason is not None:
                raise GitRefused(f"host {host} resolves to {address}, {reason}")

    def _guarded(self, url: str, work: Callable[[], T]) -> Callable[[], T]:
        """`work`, run after the host's addresses passed (in the worker thread: resolving blocks)."""

        def run() -> T:
            self.check_addresses(url)
            return work()

        return run

    async def _blocking(self, namespace: str, work: Callable[[], T]) -> T:
        seconds = self._settings.artifact_url_timeout_seconds
        async with self._slots.slot(namespace, self._settings.artifact_fetch_wait_seconds):
            try:
                async with asyncio.timeout(seconds):
                    # The thread cannot be stopped: it ends with its transport's own timeout.
                    return await asyncio.to_thread(work)
            except TimeoutError:
                raise GitTimeout(seconds) from None

    def _scratch_root(self) -> str:
        root = self._settings.artifact_spool_dir or os.path.join(tempfile.gettempdir(), "ocids-artifacts")
        os.makedirs(root, mode=0o700, exist_ok=True)
        return root

    def _remember(self, key: tuple[str, str, str], tree: GitTree) -> None:
        with self._lock:
            self._trees[key] = tree
            self._trees.move_to_end(key)
            budget = self._settings.artifact_max_bytes
            while len(self._trees) > 1 and (
                len(self._trees) > CACHE_ENTRIES or sum(t.size for t in self._trees.values()) > budget
            ):
                self._trees.popitem(last=False)


def _client(
    url: str, credentials: GitCredentials | None, seconds: float, max_bytes: int | None = None
) -> tuple[GitClient, str]:
    username = credentials.username if credentials else None
    password = credentials.password if credentials else None
    # Our own config, never the operator user's ~/.gitconfig (credential helpers, URL rewrites); its
    # HTTP timeout ends a stuck request, so the worker thread ends soon after the deadline.
    config = ConfigDict()
    config.set((b"http",), b"timeout", str(seconds).encode("ascii"))
    extra: dict[str, Any] = {}
    if url.split("://", 1)[0].lower() in ("http", "https"):
        extra["pool_manager"] = _pool_manager(config, url, max_bytes)
    try:
        # No thin packs: a fetched pack is then written through `add_pack`, which `_bounded` counts.
        return get_transport_and_path(
            url, config=config, username=username, password=password, thin_packs=False, **extra
        )
    except ValueError:
        raise GitRefused("the URL cannot be parsed") from None


def _pool_manager(config: ConfigDict, url: str, max_bytes: int | None) -> Any:
    """dulwich's own pool manager (proxies, TLS settings, timeout), except that a 3xx is refused
    rather than followed, and, with `max_bytes`, each answer is refused past that many bytes."""
    manager: Any = default_urllib3_manager(config, base_url=url)
    urlopen = manager.urlopen

    def no_redirects(method: str, target: str, redirect: bool = True, **kw: Any) -> Any:
        response = urlopen(method, target, redirect=False, **kw)
        if response.get_redirect_location():
            response.release_conn()
            raise GitRedirected(response.status)
        if max_bytes is not None:
            _bound_response(response, max_bytes)
        return response

    manager.urlopen = no_redirects
    return manager


def _bound_response(response: Any, max_bytes: int) -> None:
    """An answer's body, refused once it passes `max_bytes` (read through `read`, as dulwich does)."""
    read, used = response.read, [0]

    def bounded_read(*args: Any, **kwargs: Any) -> bytes:
        data: bytes = read(*args, **kwargs)
        used[0] += len(data)
        if used[0] > max_bytes:
            raise GitTooLarge(max_bytes)
        return data

    response.read = bounded_read


def _list_refs(
    url: str, credentials: GitCredentials | None, seconds: float, max_bytes: int
) -> dict[bytes, bytes]:
    client, path = _client(url, credentials, seconds, max_bytes)
    with _translated():
        result: Any = client.get_refs(path.encode("utf-8") if isinstance(path, str) else path)
    return dict(getattr(result, "refs", result))


def _pick(refs: dict[bytes, bytes], ref: str) -> str | None:
    name = ref.encode("utf-8")
    candidates = [name] if name.startswith(b"refs/") or name == b"HEAD" else []
    candidates += [b"refs/heads/" + name, b"refs/tags/" + name]
    for candidate in candidates:
        # An annotated tag's commit is advertised as its peeled ref.
        for key in (candidate + b"^{}", candidate):
            if refs.get(key):
                return refs[key].decode("ascii")
    return None


def _fetch_tree(
    url: str, commit: str, credentials: GitCredentials | None, max_bytes: int, root: str, seconds: float
) -> GitTree:
    client, path = _client(url, credentials, seconds)
    scratch = tempfile.mkdtemp(prefix="git-", dir=root)
    try:
        repo = Repo.init_bare(scratch)
        _bounded(repo, max_bytes)
        try:
            wanted = commit.encode("ascii")

            def want(refs: Any, depth: int | None = None) -> list[Any]:
                return [wanted]

            with _translated():
                try:
                    client.fetch(path, repo, determine_wants=want, depth=1)
                except NotImplementedError:  # a transport without shallow fetches
                    client.fetch(path, repo, determine_wants=want)
            try:
                obj = repo[wanted]
            except KeyError:
                raise GitCommitNotFound(f"the server did not send commit {commit}") from None
            while isinstance(obj, Tag):
                obj = repo[obj.object[1]]
            if not isinstance(obj, Commit):
                raise GitCommitNotFound(f"{commit} is not a commit")
            files: list[GitFile] = []
            _walk(repo, obj.tree, "", files, [0], max_bytes)
            # The commit itself, also when `commit` named an annotated tag a server did not peel.
            return GitTree(obj.id.decode("ascii"), tuple(sorted(files, key=lambda item: item.path)))
        finally:
            repo.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class _BoundedPack:
    """A pack being received, refused once it passes the artifact size limit (a pack is compressed,
    so one larger than the limit holds more than the limit)."""

    def __init__(self, file: Any, max_bytes: int) -> None:
        self._file, self._max_bytes, self._size = file, max_bytes, 0

    def write(self, data: bytes) -> Any:
        self._size += len(data)
        if self._size > self._max_bytes:
            raise GitTooLarge(self._max_bytes)
        return self._file.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def _bounded(repo: Repo, max_bytes: int) -> None:
    """Network fetches write their pack through the scratch store's `add_pack`: count it there."""
    store: Any = repo.object_store
    add_pack = store.add_pack

    def bounded_add_pack() -> Any:
        file, commit, abort = add_pack()
        return _BoundedPack(file, max_bytes), commit, abort

    store.add_pack = bounded_add_pack


def _walk(repo: Repo, tree_id: bytes, prefix: str, files: list[GitFile], used: list[int], limit: int) -> None:
    tree = repo[tree_id]
    assert isinstance(tree, Tree)
    for entry in tree.items():
        name = entry.path.decode("utf-8", "surrogateescape")
        mode = entry.mode
        if mode == _SUBMODULE or stat.S_ISLNK(mode):
            continue  # submodules are other repositories; links could point outside the code
        if stat.S_ISDIR(mode):
            _walk(repo, entry.sha, f"{prefix}{name}/", files, used, limit)
            continue
        blob = repo[entry.sha]
        assert isinstance(blob, Blob)
        data = blob.as_raw_string()
        used[0] += len(data)
        if used[0] > limit:
            raise GitTooLarge(limit)
        files.append(GitFile(prefix + name, data, bool(mode & 0o111)))


@contextlib.contextmanager
def _translated() -> Any:
    """dulwich's errors as ours; their texts may quote the URL, so none is passed on."""
    try:
        yield
    except GitError:
        raise
    except HTTPUnauthorized:
        raise GitAuthFailed("the server refused the credentials (HTTP 401)") from None
    except git_errors.NotGitRepository:
        raise GitRepositoryMissing("no Git repository there") from None
    except git_errors.HangupException:
        raise GitUnreachable("the server hung up") from None
    except git_errors.GitProtocolError as exc:
        text = str(exc).lower()
        if "403" in text or "unauthorized" in text or "authentication" in text:
            raise GitAuthFailed("the server refused the credentials") from None
        if "404" in text or "not found" in text:
            raise GitRepositoryMissing("no Git repository there (or not readable: HTTP 404)") from None
        raise GitUnreachable(f"protocol error ({type(exc).__name__})") from None
    except (OSError, ConnectionError) as exc:
        raise GitUnreachable(f"connection failed ({type(exc).__name__})") from None
    except Exception as exc:  # urllib3 errors and the like: no text, it may hold the URL
        raise GitUnreachable(f"fetch failed ({type(exc).__name__})") from None
