"""Test-only crash point (OCIDS_DEBUG_CRASH_AFTER): exit right after an OCI create, before any status write.

The crash tests use it to prove that a create interrupted there is found again, never repeated.
"""

from __future__ import annotations

import logging
import os
from typing import Literal

from ..settings import OperatorSettings

log = logging.getLogger(__name__)
CRASH_EXIT_CODE = 137


CrashPoint = Literal[
    "create_job", "create_job_run", "prune_run", "create_trial", "create_scheduled_run", "create_retry_run"
]


def crash_after(settings: OperatorSettings, operation: CrashPoint) -> None:
    if settings.debug_crash_after == operation:
        log.warning("OCIDS_DEBUG_CRASH_AFTER=%s: exiting right after the call", operation)
        os._exit(CRASH_EXIT_CODE)
