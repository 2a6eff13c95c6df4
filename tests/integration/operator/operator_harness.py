"""The operator end to end: the operator as a real subprocess, kubectl against a real API server, and the
real `oci` SDK against the emulator. No pytest here, so the benchmark drives the same code.

One import point for the tests; each concern lives in its own harness_* module.
"""

from harness_kube import CRD_DIR, GC_TIMEOUT, GROUP, JOBS, REPO_ROOT, RUNS, VERSION, Kube, condition, wait_for
from harness_oci import OciTarget, OciView, log_query_from_url
from harness_operator import OperatorProcess
from harness_scenario import Scenario

__all__ = [
    "CRD_DIR",
    "GC_TIMEOUT",
    "GROUP",
    "JOBS",
    "REPO_ROOT",
    "RUNS",
    "VERSION",
    "Kube",
    "OciTarget",
    "OciView",
    "OperatorProcess",
    "Scenario",
    "condition",
    "log_query_from_url",
    "wait_for",
]
