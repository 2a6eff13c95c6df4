"""What ends a `kubectl ocids` command early: a message for stderr and an exit code."""

from __future__ import annotations


class CliError(Exception):
    """A problem the user can act on; `main` prints it (`kubectl-ocids: <message>`) and exits."""

    def __init__(self, message: str, exit_code: int = 1, retryable: bool = False) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        # A server busy or out of reach (429, 5xx, a connection error): `logs -f` tries again.
        self.retryable = retryable
