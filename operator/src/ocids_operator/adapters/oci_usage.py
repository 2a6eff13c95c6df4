"""OCI's Usage API (oci.usage_api.UsageapiClient): what the tenancy was billed per resource.

One client per OCI identity, with that identity's signer (an SdkAuth shared with its Data Science
gateway), endpoint OCIDS_USAGE_ENDPOINT (unset: the region's). The tenancy asked about is the
identity's own: the API key's `tenancy`, a principal's token's tenancy. The policy it needs is
`Allow group <g> to read usage-report in tenancy` (`ocids-operator iam-policy --feature cost`).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Sequence
from typing import Any

from ..settings import OperatorSettings
from .oci_client import _off_loop
from .oci_sdk import CallCounter, SdkAuth, _session_claims

log = logging.getLogger(__name__)

OPERATION = "request_summarized_usages"
# Bounds on one read: resource ids asked about (an OR filter) and pages of the answer. A DAILY
# answer has one item per (resource, day, SKU), so a few pages hold a cycle's runs.
PAGE_LIMIT = 1000
MAX_PAGES = 10


@dataclasses.dataclass(frozen=True)
class ResourceCost:
    amount: float
    currency: str | None


class UsageReader:
    def __init__(self, settings: OperatorSettings, auth: SdkAuth, client: Any = None) -> None:
        self._settings = settings
        self.auth = auth
        self._client = client
        self._counter = CallCounter()
        self.calls = self._counter.calls

    @property
    def client(self) -> Any:
        with self.auth.lock:
            if self._client is None:
                # Imported on first use: an operator that never reads costs never loads it.
                from oci.usage_api import UsageapiClient

                config, kwargs = self.auth.client_args(
                    self._settings.usage_endpoint, self._settings.oci_timeout_seconds
                )
                self._client = UsageapiClient(config, **kwargs)
            return self._client

    def tenancy(self) -> str | None:
        """The identity's tenancy OCID: the API key config's `tenancy`, an instance principal's
        `tenancy_id`, a session token's tenant claim; None when its auth does not say."""
        self.client  # noqa: B018  (builds the auth: a principal's signer reaches the network)
        config, signer = self.auth.built()
        tenancy = (config or {}).get("tenancy") or getattr(signer, "tenancy_id", None)
        if not tenancy and signer is not None:
            claims = _session_claims(signer)
            tenancy = claims.get("res_tenant") or claims.get("tenant") or claims.get("ttenant")
        return str(tenancy) if tenancy else None

    @_off_loop
    def costs(
        self,
        resource_ids: Sequence[str],
        start: datetime.datetime,
        end: datetime.datetime,
    ) -> tuple[dict[str, ResourceCost], bool]:
        """The cost of each resource in [start, end) (whole UTC days), summed over days and SKUs, and
        whether the answer was read whole (False: more pages than MAX_PAGES). Only resources with a
        reported amount are in it."""
        from oci.usage_api.models import Dimension, Filter, RequestSummarizedUsagesDetails

        tenancy = self.tenancy()
        if tenancy is None:
            raise ValueError("the OCI identity names no tenancy; its usage cannot be asked for")
        details = RequestSummarizedUsagesDetails(
            tenant_id=tenancy,
            time_usage_started=start,
            time_usage_ended=end,
            granularity="DAILY",
            query_type="COST",
            group_by=["resourceId"],
            is_aggregate_by_time=False,
            filter=Filter(
                operator="OR",
                dimensions=[Dimension(key="resourceId", value=rid) for rid in dict.fromkeys(resource_ids)],
            ),
        )
        found: dict[str, ResourceCost] = {}
        page: str | None = None
        for _ in range(MAX_PAGES):
            response = self._counter.call(
                OPERATION, self.client.request_summarized_usages, details, limit=PAGE_LIMIT, page=page
            )
            for item in response.data.items or []:
                rid, amount = item.resource_id, item.computed_amount
                if not rid or amount is None:
                    continue
                before = found.get(rid)
                found[rid] = ResourceCost(
                    (before.amount if before else 0.0) + float(amount),
                    item.currency or (before.currency if before else None),
                )
            page = response.headers.get("opc-next-page")
            if not page:
                return found, True
        return found, False
