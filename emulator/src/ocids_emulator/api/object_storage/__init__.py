"""Object Storage (``/n/...``, API 20160918): the namespace, buckets and objects, enough for artifacts.

Paths and shapes follow ``oci.object_storage.ObjectStorageClient``; object names arrive
percent-encoded (the SDK encodes ``/`` as ``%2F``) and are stored as given. Buckets are resources in
the store; object bytes live in the store's ``objects`` table. Error codes are OCI's as far as known
(BucketNotFound, ObjectNotFound, BucketAlreadyExists, BucketNotEmpty, IfMatchFailed,
IfNoneMatchFailed; UnmatchedContentMD5 is unverified).
"""

from __future__ import annotations

from aiohttp import web

from ocids_emulator.api.object_storage.buckets import (
    PREFIX,
    create_bucket,
    delete_bucket,
    get_bucket,
    get_namespace,
    head_bucket,
    list_buckets,
)
from ocids_emulator.api.object_storage.objects import (
    delete_object,
    get_object,
    head_object,
    list_objects,
    put_object,
)


def routes() -> list[web.RouteDef]:
    b = f"{PREFIX}/{{namespace}}/b"
    # The SDK percent-encodes '/' in object names; the tail pattern keeps any that arrive decoded.
    o = f"{b}/{{bucket}}/o/{{object:.+}}"
    return [
        web.get(PREFIX, get_namespace, allow_head=False),
        web.get(f"{PREFIX}/", get_namespace, allow_head=False),
        web.post(b, create_bucket),
        web.post(f"{b}/", create_bucket),
        web.get(b, list_buckets, allow_head=False),
        web.get(f"{b}/", list_buckets, allow_head=False),
        web.get(f"{b}/{{bucket}}", get_bucket, allow_head=False),
        web.head(f"{b}/{{bucket}}", head_bucket),
        web.delete(f"{b}/{{bucket}}", delete_bucket),
        web.get(f"{b}/{{bucket}}/o", list_objects, allow_head=False),
        web.put(o, put_object),
        web.get(o, get_object, allow_head=False),
        web.head(o, head_object),
        web.delete(o, delete_object),
    ]
