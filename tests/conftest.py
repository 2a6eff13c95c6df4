"""Every test folder's shared support modules (tests/support/: e.g. git_repos, the Git repositories
the unit and the integration tests of Git sources both make) are importable by their plain names."""

from __future__ import annotations

import sys
from pathlib import Path

SUPPORT = str(Path(__file__).parent / "support")
if SUPPORT not in sys.path:
    sys.path.insert(0, SUPPORT)
