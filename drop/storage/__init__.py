"""Where blobs live: the interface every caller uses, and the backend the config chooses.

Two backends: `local` (drop/storage/local.py, a directory on this machine) and `s3`
(drop/storage/s3.py, an S3-compatible object store shared by many web nodes). Callers
never ask which one they hold; `open_storage(config)` picks it from DROP_STORAGE.

A blob's name derives from its token alone (`blob_key`), on disk and in a bucket alike.
"""

from __future__ import annotations

from drop.storage.blobs import (
    BACKENDS,
    LOCAL,
    S3,
    BlobStorage,
    ServedBlob,
    StaleUpload,
    StorageUnavailable,
    StoredBlob,
    TempBlob,
    UploadTooLarge,
    blob_key,
)

__all__ = [
    "LOCAL",
    "S3",
    "BACKENDS",
    "UploadTooLarge",
    "StorageUnavailable",
    "TempBlob",
    "StoredBlob",
    "StaleUpload",
    "ServedBlob",
    "BlobStorage",
    "blob_key",
    "open_storage",
    "open_storage_for_task",
    "s3_settings",
    "task_s3_settings",
]


def s3_settings(config):
    """The bucket `config` names (DROP_S3_*), for the S3 backend; no credential."""
    from drop.storage.s3 import S3Settings

    return S3Settings(
        bucket=config.s3_bucket or "",
        endpoint_url=config.s3_endpoint_url,
        region=config.s3_region,
        prefix=config.s3_prefix,
        addressing_style=config.s3_addressing_style,
    )


def open_storage(config) -> BlobStorage:
    """The backend DROP_STORAGE chooses, for `config`."""
    if config.storage == S3:
        from drop.storage.s3 import S3Storage

        return S3Storage(s3_settings(config))
    from drop.storage.local import LocalStorage

    return LocalStorage(config.data_dir, min_free_bytes=config.min_free_bytes)


def task_s3_settings(config) -> dict | None:
    """What a queued task needs to find the bucket (no credential), None for local storage."""
    return s3_settings(config).as_dict() if config.storage == S3 else None


def open_storage_for_task(data_dir: str, s3_settings: dict | None) -> BlobStorage:
    """The backend a queued task names: the S3 settings it carries, else the data directory.

    Tasks carry their store (never its credentials, which come from the worker's
    environment) so a message queued by one node is run against the same store anywhere.
    """
    if s3_settings:
        from drop.storage.s3 import S3Settings, S3Storage

        return S3Storage(S3Settings(**s3_settings))
    from pathlib import Path

    from drop.storage.local import LocalStorage

    return LocalStorage(Path(data_dir))
