"""Print a pyproject's runtime dependencies, one a line, for `pip install -r`.

The image installs them in a layer of their own, before the sources are copied, so a change to
the operator's code does not download and install the dependencies again.

    python requirements.py pyproject.toml > requirements.txt
"""

from __future__ import annotations

import sys
import tomllib


def main() -> None:
    with open(sys.argv[1], "rb") as f:
        project = tomllib.load(f)["project"]
    print("\n".join(project.get("dependencies", [])))


if __name__ == "__main__":
    main()
