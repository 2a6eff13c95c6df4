#!/usr/bin/env python3
"""The quick start: `make demo` (= demo.py up) and `make demo-down` (= demo.py down); see --help.

Runs with any python3: commands that need the project re-run themselves with .venv/bin/python.
"""

import sys

from ocids_demo.cli import run

if __name__ == "__main__":
    sys.exit(run(sys.argv[1:], __file__))
