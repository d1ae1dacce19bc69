"""Resumable uploads (tus 1.0): the upload records (records.py) and the bytes received so far
(partials.py on this node's disk, s3_partials.py in the bucket); `open_partial_uploads`
picks where."""

from __future__ import annotations

from pathlib import Path

from drop.storage import S3, BlobStorage
from drop.tus.partials import PartialStore, PartialUploads


def open_partial_uploads(data_dir: Path, storage: BlobStorage) -> PartialStore:
    """Where unfinished tus uploads keep their bytes: in the bucket when blobs are in S3
    (shared by every web node), else on this node's disk beside its blobs."""
    if storage.kind == S3:
        from drop.tus.s3_partials import S3PartialUploads

        return S3PartialUploads(storage)
    return PartialUploads(data_dir)
