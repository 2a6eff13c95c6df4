"""sha256 of the build context (what .dockerignore lets the builder see) and the Dockerfile, so
`make image` can skip a build that would change nothing.

.dockerignore is read with Docker's rules: patterns in order, the last match wins, `!` re-includes,
a pattern matching a directory covers everything under it.

    python context_hash.py Dockerfile [extra-string ...]
"""

from __future__ import annotations

import hashlib
import os
import sys
from fnmatch import fnmatchcase
from pathlib import Path


def read_patterns(root: Path) -> list[tuple[bool, list[str]]]:
    path = root / ".dockerignore"
    patterns = []
    for raw in path.read_text().splitlines() if path.is_file() else []:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        parts = [p for p in line.lstrip("!").strip("/").split("/") if p not in ("", ".")]
        patterns.append((negated, parts))
    return patterns


def _matches(parts: list[str], pattern: list[str]) -> bool:
    """The path or one of its parent directories matches (`**` spans any number of directories)."""
    if not pattern:
        return True
    if pattern[0] == "**":
        return any(_matches(parts[i:], pattern[1:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], pattern[0]) and _matches(parts[1:], pattern[1:])


def excluded(parts: list[str], patterns: list[tuple[bool, list[str]]]) -> bool:
    result = False
    for negated, pattern in patterns:
        if _matches(parts, pattern):
            result = not negated
    return result


def may_reinclude(parts: list[str], patterns: list[tuple[bool, list[str]]]) -> bool:
    """Whether some `!` pattern could match below this excluded directory (else skip walking it)."""
    for negated, pattern in patterns:
        if negated and (
            "**" in pattern[: len(parts)]
            or (
                len(pattern) > len(parts)
                and all(fnmatchcase(d, p) for d, p in zip(parts, pattern, strict=False))
            )
        ):
            return True
    return False


def context_files(root: Path) -> list[Path]:
    patterns = read_patterns(root)
    files = []
    for directory, dirnames, filenames in os.walk(root):
        rel = Path(directory).relative_to(root).parts
        dirnames[:] = sorted(
            d for d in dirnames if not excluded([*rel, d], patterns) or may_reinclude([*rel, d], patterns)
        )
        files += [Path(directory, f) for f in filenames if not excluded([*rel, f], patterns)]
    return sorted(files)


def main() -> None:
    dockerfile = Path(sys.argv[1]).resolve()
    root = dockerfile.parent
    digest = hashlib.sha256()
    for extra in sys.argv[2:]:
        digest.update(extra.encode() + b"\0")
    for path in [dockerfile, *context_files(root)]:
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    print(digest.hexdigest())


if __name__ == "__main__":
    main()
