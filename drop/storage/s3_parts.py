"""The S3 backend's moving parts: object bodies read in chunks, parts written to multipart
uploads (and their rows, so the sweep knows what is alive), and the key layout of tus uploads.
drop/storage/s3.py is the backend itself; the `storage` these take is its S3Storage (not
imported here, which imports this module)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import suppress

from botocore.exceptions import BotoCoreError

from drop.clock import utcnow
from drop.db.models import RECEIVING, MultipartUpload, TusUpload
from drop.storage.blobs import StorageUnavailable

# Parts of 8 MiB: above S3's 5 MiB minimum, and a 1 GiB upload is 128 parts of S3's 10,000.
PART_BYTES = 8 * 1024 * 1024


# Reads from the request body, and chunks of a download sent on to the client.
CHUNK_BYTES = 256 * 1024


# Where a resumable upload's parts wait (drop/tus/s3_partials.py), below the prefix.
UPLOADS_PREFIX = "uploads/"


class S3Blob:
    """An object's body for a response, sent on in bounded chunks; runs a callback once closed.

    Iterable rather than file-like: Falcon hands a file-like object to the server's
    file_wrapper in 8 KiB reads, while this yields CHUNK_BYTES at a time.
    """

    def __init__(self, body, on_error: Callable[[Exception], None], length: int = 0):
        self._body = body
        self._on_error = on_error
        self._on_close: Callable[[], None] | None = None
        self.closed = False
        self.length = length  # the body's bytes
        self.sent = 0  # of them, those the server has handed to the connection
        self._unconfirmed = 0  # the last chunk given out: not sent until the next is asked

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._body.iter_chunks(CHUNK_BYTES):
                self._confirm(len(chunk))
                yield chunk
            self._confirm(0)
        except (BotoCoreError, OSError) as error:
            self._on_error(error)
            raise

    def read(self, size: int = -1) -> bytes:
        chunk = self._body.read(None if size < 0 else size)
        self._confirm(len(chunk))
        return chunk

    def _confirm(self, given: int) -> None:
        # A server writes each chunk before it asks for the next: the one before was sent.
        self.sent += self._unconfirmed
        self._unconfirmed = given

    @property
    def completed(self) -> bool:
        """Every byte of the body was handed to the connection."""
        return self.sent >= self.length

    def after_close(self, callback: Callable[[], None]) -> None:
        self._on_close = callback

    def __enter__(self) -> S3Blob:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._body.close()
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()


class PartBody(io.RawIOBase):
    """The first `length` bytes of a buffer as a seekable file, read without a copy of the
    whole (botocore takes bytes or a file, not a memoryview; it may seek back to retry)."""

    def __init__(self, buffer, length: int):
        self._view = memoryview(buffer)[:length]
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        count = min(len(target), len(self._view) - self._position)
        target[:count] = self._view[self._position : self._position + count]
        self._position += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}
        self._position = max(0, min(base[whence] + offset, len(self._view)))
        return self._position

    def tell(self) -> int:
        return self._position

    def __len__(self) -> int:
        return len(self._view)

    def close(self) -> None:
        self._view.release()  # so the buffer can be unmapped
        super().close()


class MultipartWriter:
    """One multipart upload in flight, recorded in `multipart_upload` until it ends."""

    def __init__(self, storage, key: str):
        self._storage = storage
        self._key = key
        self._parts: list[dict] = []
        with storage._request("create_multipart_upload"):
            response = storage.client.create_multipart_upload(Bucket=storage.bucket, Key=key)
        self.upload_id = response["UploadId"]
        now = utcnow()
        MultipartUpload.insert(
            upload_id=self.upload_id, key=key, started_at=now, touched_at=now
        ).execute()

    def send(self, data: PartBody) -> None:
        number = len(self._parts) + 1
        with self._storage._request("upload_part"):
            response = self._storage.client.upload_part(
                Bucket=self._storage.bucket,
                Key=self._key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=data,
            )
        self._parts.append({"ETag": response["ETag"], "PartNumber": number})
        # The sign of life a reconciliation looks for before it aborts an old upload.
        MultipartUpload.update(touched_at=utcnow()).where(
            MultipartUpload.upload_id == self.upload_id
        ).execute()

    def complete(self) -> None:
        with self._storage._request("complete_multipart_upload"):
            self._storage.client.complete_multipart_upload(
                Bucket=self._storage.bucket,
                Key=self._key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        _forget(self.upload_id)

    def abort(self) -> None:
        """Abort, keeping the request's own error: a store that is down leaves the upload
        (and its row) to the next reconciliation."""
        with suppress(StorageUnavailable):
            abort_multipart(self._storage, self._key, self.upload_id)


def abort_multipart(storage, key: str, upload_id: str) -> None:
    try:
        with storage._request("abort_multipart_upload"):
            storage.client.abort_multipart_upload(
                Bucket=storage.bucket, Key=key, UploadId=upload_id
            )
    except FileNotFoundError:
        pass  # already gone
    except StorageUnavailable as error:
        if "NoSuchUpload" not in str(error):
            raise
    _forget(upload_id)


def _forget(upload_id: str) -> None:
    MultipartUpload.delete().where(MultipartUpload.upload_id == upload_id).execute()


def receiving_upload_ids(upload_ids: list[str]) -> set[str]:
    """Which of `upload_ids` are tus uploads still receiving (their multipart upload is
    alive, however long it has been idle: the upload's expiry is the sweep's business)."""
    found = set()
    for start in range(0, len(upload_ids), 500):
        query = TusUpload.select(TusUpload.id).where(
            TusUpload.id.in_(upload_ids[start : start + 500]) & (TusUpload.status == RECEIVING)
        )
        found.update(row.id for row in query)
    return found


def tus_upload_id(storage, object_key: str) -> str | None:
    """The tus upload an object key belongs to, None for any other key."""
    prefix = storage.prefix + UPLOADS_PREFIX
    if not object_key.startswith(prefix):
        return None
    return object_key[len(prefix) :].partition("/")[0]
