"""kopf's diff base without inline artifact content.

kopf keeps the last handled spec in an annotation, and `kubectl apply` keeps a second copy in
`last-applied-configuration`; the API server caps all annotations together at 256 KiB. With a
large inline script in both, kopf's metadata patch is rejected (422): status is never written
and the finalizer can never be removed. The essence keeps a digest of the content instead, which
changes whenever the content does, so an edit of the script is still seen as a spec change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import kopf

INLINE_CONTENT = ("spec", "artifact", "inline", "content")


class DigestedDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        essence = super().build(body=body, extra_fields=extra_fields)
        digest_inline_content(essence)
        return essence


def digest_inline_content(essence: Any) -> None:
    parent = essence
    for key in INLINE_CONTENT[:-1]:
        parent = parent.get(key) if isinstance(parent, dict) else None
    if isinstance(parent, dict) and isinstance(parent.get(INLINE_CONTENT[-1]), str):
        content: str = parent[INLINE_CONTENT[-1]]
        parent[INLINE_CONTENT[-1]] = "sha256:" + hashlib.sha256(content.encode()).hexdigest()
