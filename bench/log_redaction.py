"""Time of one log record's redaction and formatting, by size and shape of the record.

Before redaction was made linear, one 40,000-character DEBUG line (a TrainingJob with an inline
hex script, as kopf logs it) took 3.7 s in `without_url_secrets` (7.7 s on a busy 2-CPU machine,
and 192 s for 200 KiB), while the leader Lease went unrenewed. Each shape below is a worst case
for one of the patterns (long words, many slashes, percent escapes, scheme-like runs, PAR-like
segments). `--compare REF` also times `without_url_secrets` as it was at a git revision (slow:
give small sizes).

    .venv/bin/python bench/log_redaction.py
    .venv/bin/python bench/log_redaction.py --sizes 40000 --compare 5c34dc0
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ocids_operator.__main__ import ObjectLogFormatter
from ocids_operator.core.links import without_url_secrets

REPO_ROOT = Path(__file__).resolve().parent.parent
LINKS = "operator/src/ocids_operator/core/links.py"
PAR = "https://objectstorage.us-ashburn-1.oraclecloud.com/p/TOKEN/n/ns/b/bucket/o/train.py"


def kopf_patch(size: int) -> str:
    script = secrets.token_hex(size // 2)
    artifact = f"{{'inline': {{'content': '{script}'}}, 'url': '{PAR}'}}"
    return f"Patching with: {{'spec': {{'artifact': {artifact}}}}}"


SHAPES: dict[str, Callable[[int], str]] = {
    "kopf patch, hex script": kopf_patch,
    "one word [a-z0-9]": lambda n: "a1" * (n // 2),
    "slashes": lambda n: "/" * n,
    "percent escapes": lambda n: "%2F" * (n // 3),
    "scheme-like a://": lambda n: "a://" * (n // 4),
    "PAR-like /p/x": lambda n: "/p/x" * (n // 4),
    "short words with escapes": lambda n: "'a%41 " * (n // 6),
}


def best_of(fn: Callable[[str], object], text: str, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - started)
    return min(times)


def old_redaction(ref: str) -> Callable[[str], str]:
    source = subprocess.run(
        ["git", "show", f"{ref}:{LINKS}"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "old_links.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_links", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.without_url_secrets  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="40000,204800", help="record sizes in characters")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", metavar="REF", help="also time without_url_secrets at this git revision")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    formatter = ObjectLogFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    old = old_redaction(args.compare) if args.compare else None

    def formatted(text: str) -> str:
        record = logging.LogRecord("kopf.objects", logging.DEBUG, __file__, 1, text, (), None)
        return formatter.format(record)

    header = f"{'shape':26s} {'chars':>8s} {'redact ms':>10s} {'format ms':>10s}"
    print(header + (f" {'old ms':>10s}" if old else ""))
    for name, shape in SHAPES.items():
        for size in sizes:
            text = shape(size)
            redact = best_of(without_url_secrets, text, args.rounds)
            fmt = best_of(formatted, text, args.rounds)
            line = f"{name:26s} {len(text):8d} {redact * 1000:10.2f} {fmt * 1000:10.2f}"
            if old:
                line += f" {best_of(old, text, 1) * 1000:10.1f}"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
