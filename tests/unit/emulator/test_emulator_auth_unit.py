"""Signature verification against requests signed by the real SDK signer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import oci
import pytest
from oci._vendor import requests
from oci._vendor.requests.structures import CaseInsensitiveDict
from ocids_emulator.config import init_data_dir, load_tenancy
from ocids_emulator.core.errors import ApiError
from ocids_emulator.security.signatures import Verifier


@pytest.fixture(scope="module")
def tenancy(tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp("tenancy")
    init_data_dir(data_dir)
    return data_dir, load_tenancy(data_dir)


def _signed(data_dir: Path, method: str, url: str, body: str | None = None, **kwargs):
    config = oci.config.from_file(str(data_dir / "config"))
    signer = oci.signer.Signer.from_config(config)
    request = requests.Request(method, url, data=body, headers={"content-type": "application/json"}).prepare()
    return signer(request, **kwargs)


def _verify(verifier: Verifier, request, body_signed: bool, now: dt.datetime | None = None):
    target = request.path_url
    body = request.body.encode() if isinstance(request.body, str) else request.body
    return verifier.verify(
        request.method,
        target,
        CaseInsensitiveDict(request.headers),
        body or b"",
        body_signed=body_signed,
        now=now,
    )


def test_get_and_post_signatures_verify(tenancy):
    data_dir, tenant = tenancy
    verifier = Verifier(tenant.key_ids)
    get = _signed(data_dir, "GET", "http://127.0.0.1:9/20190101/jobs?compartmentId=x&limit=5")
    assert _verify(verifier, get, body_signed=False).user_id == tenant.user_id
    post = _signed(data_dir, "POST", "http://127.0.0.1:9/20190101/jobs", '{"a": 1}')
    assert _verify(verifier, post, body_signed=True).tenancy_id == tenant.tenancy_id


def test_changed_query_string_fails(tenancy):
    data_dir, tenant = tenancy
    request = _signed(data_dir, "GET", "http://127.0.0.1:9/20190101/jobs?compartmentId=x")
    request.url = request.url + "&limit=1"
    with pytest.raises(ApiError) as err:
        _verify(Verifier(tenant.key_ids), request, body_signed=False)
    assert err.value.status == 401


def test_skew_limit(tenancy):
    data_dir, tenant = tenancy
    request = _signed(data_dir, "GET", "http://127.0.0.1:9/20190101/jobShapes")
    verifier = Verifier(tenant.key_ids)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=4)
    _verify(verifier, request, body_signed=False, now=soon)
    with pytest.raises(ApiError, match="5 minutes"):
        _verify(verifier, request, body_signed=False, now=soon + dt.timedelta(minutes=2))


def test_post_signed_without_body_headers_only_allowed_for_uploads(tenancy):
    data_dir, tenant = tenancy
    request = _signed(
        data_dir, "POST", "http://127.0.0.1:9/20190101/jobs/x/artifact", "abc", enforce_content_headers=False
    )
    verifier = Verifier(tenant.key_ids)
    _verify(verifier, request, body_signed=False)
    with pytest.raises(ApiError, match="x-content-sha256"):
        _verify(verifier, request, body_signed=True)
