"""OCI as the operator reaches it: the same `OCIDS_*` settings (auth mode, config file, profile,
region, endpoints) and the same auth code (`adapters/oci_sdk.SdkAuth`), for the Logging search."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ..settings import SettingsError, load_settings
from .errors import CliError
from .log_search import Search, paged_search


def log_search_factory() -> Callable[[str], Search]:
    """query -> `Search`, over one LogSearchClient built on first use (a principal signer reaches
    the network when built)."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise CliError(str(exc)) from None
    from oci.loggingsearch import LogSearchClient

    from ..adapters.oci_sdk import SdkAuth

    auth = SdkAuth(settings)

    def make(query: str) -> Search:
        with oci_errors(), auth.lock:
            config, kwargs = auth.client_args(settings.logging_endpoint, settings.oci_timeout_seconds)
            client = LogSearchClient(config, **kwargs)
        search = paged_search(client, query)

        def guarded(start: dt.datetime, end: dt.datetime) -> Iterator[Mapping[str, Any]]:
            with oci_errors():
                yield from search(start, end)

        return guarded

    return make


@contextmanager
def oci_errors() -> Iterator[None]:
    """OCI's refusals and a broken OCI config as one line naming what to check."""
    import oci

    from ..core.errors import ReconcileError

    try:
        yield
    except ReconcileError as exc:
        raise CliError(exc.outcome.message) from None
    except oci.exceptions.ServiceError as exc:
        hint = ""
        if exc.status in (401, 404):
            hint = (
                " (check OCIDS_AUTH / OCIDS_OCI_CONFIG_FILE / OCIDS_OCI_PROFILE, OCIDS_LOGGING_ENDPOINT, and "
                "that a policy lets you 'read log-content' in the log's compartment)"
            )
        retryable = exc.status == 429 or exc.status >= 500
        message = f"OCI Logging search: {exc.status} {exc.code}: {exc.message}{hint}"
        raise CliError(message, retryable=retryable) from None
    except oci.exceptions.ClientError as exc:  # the OCI config: file, profile, key
        raise CliError(f"OCI: {type(exc).__name__}: {exc}") from None
    except OSError as exc:  # the SDK's request errors (unreachable, timeouts) are OSErrors
        raise CliError(f"OCI Logging search: {type(exc).__name__}: {exc}", retryable=True) from None
