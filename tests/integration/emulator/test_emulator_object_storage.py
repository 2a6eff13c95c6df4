"""Object Storage through the real ``oci.object_storage.ObjectStorageClient``, signed and verified."""

from __future__ import annotations

import base64
import hashlib
import io
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import oci
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from oci.object_storage import models as M
from ocids_emulator.testing import RunningEmulator

pytestmark = pytest.mark.integration


@pytest.fixture
def store(emu: RunningEmulator) -> Any:
    return emu.object_storage_client(retries=False)


@pytest.fixture
def ns(emu: RunningEmulator) -> str:
    return emu.ids["OBJECT_STORAGE_NAMESPACE"]


def _error(call: Any) -> oci.exceptions.ServiceError:
    with pytest.raises(oci.exceptions.ServiceError) as err:
        call()
    return err.value


def test_namespace_and_default_bucket_come_from_ids_env(emu: RunningEmulator, store: Any, ns: str) -> None:
    assert store.get_namespace().data == ns
    bucket = store.get_bucket(ns, emu.ids["OBJECT_STORAGE_BUCKET"]).data
    assert (bucket.namespace, bucket.compartment_id) == (ns, emu.ids["COMPARTMENT_ID"])
    assert bucket.etag


def test_create_bucket_then_conflict_and_missing_bucket(emu: RunningEmulator, store: Any, ns: str) -> None:
    details = M.CreateBucketDetails(name="models", compartment_id=emu.ids["COMPARTMENT_ID"])
    created = store.create_bucket(ns, details)
    assert created.data.name == "models" and created.headers["etag"] == created.data.etag
    assert store.get_bucket(ns, "models").data.id == created.data.id
    again = _error(lambda: store.create_bucket(ns, details))
    assert (again.status, again.code) == (409, "BucketAlreadyExists")
    missing = _error(lambda: store.get_bucket(ns, "nope"))
    assert (missing.status, missing.code) == (404, "BucketNotFound")
    assert "nope" in missing.message and ns in missing.message
    bad = _error(
        lambda: store.create_bucket(
            ns, M.CreateBucketDetails(name="a b", compartment_id=details.compartment_id)
        )
    )
    assert (bad.status, bad.code) == (400, "InvalidParameter") and "name" in bad.message


def test_put_get_head_object_with_slashes_metadata_and_md5(emu: RunningEmulator, store: Any, ns: str) -> None:
    bucket = emu.ids["OBJECT_STORAGE_BUCKET"]
    name = "team a/run 1/artifact.zip"
    body = b"PK\x03\x04 not really a zip"
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    put = store.put_object(
        ns,
        bucket,
        name,
        io.BytesIO(body),
        content_md5=md5,
        content_type="application/zip",
        opc_meta={"k": "v"},
    )
    assert put.status == 200 and put.headers["opc-content-md5"] == md5
    got = store.get_object(ns, bucket, name)
    assert got.data.content == body
    assert got.headers["etag"] == put.headers["etag"]
    assert got.headers["content-md5"] == md5
    assert got.headers["content-type"] == "application/zip"
    assert got.headers["opc-meta-k"] == "v"
    head = store.head_object(ns, bucket, name)
    assert (head.headers["content-length"], head.headers["etag"]) == (str(len(body)), put.headers["etag"])
    # Replacing an object gives it a new etag.
    again = store.put_object(ns, bucket, name, b"new bytes")
    assert again.headers["etag"] != put.headers["etag"]
    assert store.get_object(ns, bucket, name).data.content == b"new bytes"


def test_object_errors_and_preconditions(emu: RunningEmulator, store: Any, ns: str) -> None:
    bucket = emu.ids["OBJECT_STORAGE_BUCKET"]
    missing = _error(lambda: store.get_object(ns, bucket, "a/missing.zip"))
    assert (missing.status, missing.code) == (404, "ObjectNotFound") and "a/missing.zip" in missing.message
    assert _error(lambda: store.head_object(ns, bucket, "a/missing.zip")).status == 404
    assert _error(lambda: store.get_object(ns, "no-bucket", "x")).code == "BucketNotFound"
    bad_md5 = _error(
        lambda: store.put_object(ns, bucket, "x", b"abc", content_md5="AAAAAAAAAAAAAAAAAAAAAA==")
    )
    assert (bad_md5.status, bad_md5.code) == (400, "UnmatchedContentMD5")
    etag = store.put_object(ns, bucket, "x", b"abc").headers["etag"]
    assert (
        _error(lambda: store.put_object(ns, bucket, "x", b"def", if_none_match="*")).code
        == "IfNoneMatchFailed"
    )
    assert _error(lambda: store.put_object(ns, bucket, "x", b"def", if_match="other")).code == "IfMatchFailed"
    assert store.put_object(ns, bucket, "x", b"def", if_match=etag).status == 200
    assert store.delete_object(ns, bucket, "x").status == 204
    assert _error(lambda: store.delete_object(ns, bucket, "x")).code == "ObjectNotFound"


def test_list_objects_prefix_paging_and_delimiter(emu: RunningEmulator, store: Any, ns: str) -> None:
    bucket = emu.ids["OBJECT_STORAGE_BUCKET"]
    names = ["a/1", "a/2", "a/3", "a/sub/4", "b/1", "c"]
    for name in names:
        store.put_object(ns, bucket, name, name.encode())
    page = store.list_objects(ns, bucket, prefix="a/", limit=2, fields="name,size,md5,etag").data
    assert [o.name for o in page.objects] == ["a/1", "a/2"] and page.next_start_with == "a/3"
    assert page.objects[0].size == 3 and page.objects[0].etag and page.objects[0].md5
    rest = store.list_objects(ns, bucket, prefix="a/", start=page.next_start_with).data
    assert [o.name for o in rest.objects] == ["a/3", "a/sub/4"] and rest.next_start_with is None
    assert rest.objects[0].size is None  # only the name unless fields asks for more, as OCI does
    everything = oci.pagination.list_call_get_all_results(store.list_objects, ns, bucket, limit=1).data
    assert [o.name for o in everything.objects] == names
    top = store.list_objects(ns, bucket, delimiter="/").data
    assert [o.name for o in top.objects] == ["c"] and top.prefixes == ["a/", "b/"]


def test_objects_survive_a_restart(emu: RunningEmulator, store: Any, ns: str) -> None:
    bucket = emu.ids["OBJECT_STORAGE_BUCKET"]
    etag = store.put_object(ns, bucket, "keep/me.txt", b"still here").headers["etag"]
    emu.restart(hard=True)
    got = emu.object_storage_client(retries=False).get_object(ns, bucket, "keep/me.txt")
    assert (got.data.content, got.headers["etag"]) == (b"still here", etag)


def test_unsigned_or_foreign_key_requests_are_refused(emu: RunningEmulator, ns: str, tmp_path: Path) -> None:
    bucket = emu.ids["OBJECT_STORAGE_BUCKET"]
    url = f"{emu.endpoint}/n/{ns}/b/{bucket}/o/x"
    request = urllib.request.Request(url, data=b"abc", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 401
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "other.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    config = emu.oci_config()
    signer = oci.signer.Signer(config["tenancy"], config["user"], config["fingerprint"], str(key_file))
    foreign = oci.object_storage.ObjectStorageClient(
        config, signer=signer, service_endpoint=emu.endpoint, retry_strategy=oci.retry.NoneRetryStrategy()
    )
    for call in (
        lambda: foreign.put_object(ns, bucket, "x", b"abc"),
        lambda: foreign.get_object(ns, bucket, "x"),
        lambda: foreign.get_namespace(),
    ):
        refused = _error(call)
        assert (refused.status, refused.code) == (401, "NotAuthenticated")
    counts = emu.admin.stats()["operations"]
    assert counts["put_object"]["byStatus"]["401"] == 2


def test_a_gzip_encoded_object_is_kept_and_served_as_sent(store: Any, ns: str, emu: RunningEmulator) -> None:
    import gzip

    sent = gzip.compress(b"print('kept as sent')\n" * 50)
    bucket = emu.ids["OBJECT_STORAGE_BUCKET"]
    store.put_object(ns, bucket, "gz/a.py.gz", sent, content_encoding="gzip")
    head = store.head_object(ns, bucket, "gz/a.py.gz")
    assert int(head.headers["content-length"]) == len(sent)
    assert head.headers["content-encoding"] == "gzip"
    raw = store.get_object(ns, bucket, "gz/a.py.gz").data.raw
    assert raw.read(decode_content=False) == sent
