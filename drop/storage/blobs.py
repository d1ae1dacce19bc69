"""The storage interface: what a backend is asked to do, and what it answers with.

Every backend (local.py, s3.py) implements `BlobStorage`; callers import these names from
`drop.storage`, which also picks the backend.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

LOCAL = "local"
S3 = "s3"
BACKENDS = (LOCAL, S3)


class UploadTooLarge(Exception):
    """The body part carried more bytes than the configured limit."""


class StorageUnavailable(Exception):
    """The blob store could not be reached or refused a request: answered 503, never 500.

    The message names the store and what went wrong, never a credential.
    """


@dataclass(frozen=True)
class TempBlob:
    """An upload received whole but not yet a drop: its token is chosen, no row points at it.

    `handle` is the backend's own (the local temp file's path; nothing for S3, whose object
    is already in place under the token's key).
    """

    token: str
    size: int
    sha256: str
    handle: Any = None


@dataclass(frozen=True)
class StoredBlob:
    """A blob found by listing the store, whatever the database says."""

    token: str
    size: int
    modified: float  # seconds since the epoch


@dataclass(frozen=True)
class StaleUpload:
    """An upload abandoned half-way (a temp file, an S3 multipart upload) that nobody owns."""

    name: str  # what an operator reads
    handle: Any = field(default=None, compare=False)

    def __str__(self) -> str:
        return self.name


class ServedBlob(Protocol):
    """A blob opened for a response: readable in chunks, running a callback once closed."""

    def read(self, size: int = -1) -> bytes: ...

    def close(self) -> None: ...

    def after_close(self, callback: Callable[[], None]) -> None: ...


class BlobStorage(Protocol):
    """What drop does with blobs; each backend implements all of it."""

    kind: str

    def describe(self) -> str:
        """Where the blobs are, for an operator (no secret)."""

    def ensure_ready(self) -> None:
        """Create what the store needs locally (directories); cheap, idempotent."""

    def admit(self, incoming_bytes: int) -> None:
        """Raise an HTTPError (507) when `incoming_bytes` more cannot be stored."""

    def receive(self, stream, limit: int, token: str | None = None) -> TempBlob:
        """Copy `stream` in chunks under a new token (or `token`), counting and hashing;
        never past `limit`.

        Raises UploadTooLarge past the limit; nothing received survives a failure.
        """

    def adopt(self, path, size: int, sha256: str) -> TempBlob:
        """A file received whole on this node's disk (a finished tus upload, hard-linked
        for us) as a blob of a new token to commit: the file itself on local disk; in S3,
        its bytes copied into the bucket and the file removed."""

    def commit(self, temp: TempBlob) -> None:
        """Make a received blob servable under its token (before its row is committed)."""

    def discard(self, temp: TempBlob) -> None:
        """Throw away a received blob whose drop will not exist."""

    def open(self, token: str) -> ServedBlob:
        """The blob for a response; FileNotFoundError when it is missing."""

    def open_range(self, token: str, start: int, length: int) -> ServedBlob:
        """`length` bytes of the blob from `start` (a resumed download's 206)."""

    def exists(self, token: str) -> bool: ...

    def size_of(self, token: str) -> int:
        """The blob's size in bytes, 0 when it is missing."""

    def delete(self, token: str) -> bool:
        """Remove one blob; False when it was not there."""

    def delete_many(self, tokens: Iterable[str]) -> list[str]:
        """Remove blobs in batches; the tokens whose blob was removed (or already gone)."""

    def quarantine(self, token: str) -> bool:
        """Move a blob where nothing serves it (an infected upload); False if it is gone."""

    def blob_tokens(self) -> Iterator[StoredBlob]:
        """Every blob in the store in token order, page by page (reconciliation only:
        nothing else lists the store)."""

    def stale_uploads(self, now: datetime.datetime, older_than_seconds: float) -> list[StaleUpload]:
        """Uploads abandoned for longer than `older_than_seconds` that no request owns."""

    def remove_stale_upload(self, stale: StaleUpload) -> None: ...

    def accel_path(self, token: str) -> str:
        """What follows DROP_ACCEL_REDIRECT's location in X-Accel-Redirect: the file below
        the blob directory, or an S3 presigned URL's path and query for nginx to proxy."""

    def redirect_url(self, token: str, headers: dict[str, str]) -> str:
        """A URL the client fetches the blob from itself, with `headers` as the store's
        answer (DROP_S3_REDIRECT=presigned; S3 only)."""

    def probe(self) -> str | None:
        """Write and remove a tiny object; None when that works, else why not (one line)."""

    def readiness(self) -> str | None:
        """For /readyz: None when uploads can be stored, else a short reason."""


def blob_key(token: str) -> str:
    """A blob's name below the store's root (also the tail of its X-Accel-Redirect URI)."""
    return f"{token[:2]}/{token}"
