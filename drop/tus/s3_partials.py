"""The bytes of unfinished tus uploads in the bucket, so any web node can take the next PATCH.

With DROP_STORAGE=s3, each tus upload has an S3 multipart upload of its own, of the
object `<prefix>uploads/<upload id>/data`, begun when the upload is created. A PATCH's
body is streamed into parts of PART_BYTES (one part in memory at most, as
S3Storage.receive does); each part sent is a row of `tus_part` (migration 0016) with its
ETag. S3 takes no part below 5 MiB but the last, so the bytes past the last full part
(the tail) go to an object `<prefix>uploads/<upload id>/tail-<where it starts>` before
the new offset is acknowledged; the next PATCH, on whatever node, reads it back into its
buffer first. The state is thus: the offset (tus_upload), the parts (tus_part), and one
tail whose start is the parts' total and whose length is the rest of the offset.

A write that was never acknowledged can leave parts past the offset or another tail:
the next append forgets part rows that end past the offset (their numbers are sent
again, which replaces them in the store) and deletes every tail but the current one.

The last PATCH sends the last part, short or not; `finish` completes the multipart
upload, reads the object back once for its sha256 and copies it (in the store) to a new
blob key. The assembled object stays until `delete`: if the drop's row cannot be
committed, the client's retry finds it and completes again.

The storage key of such an upload is `<upload id>/<S3 UploadId>`.
"""

from __future__ import annotations

import hashlib
import mmap
from collections.abc import Callable, Iterator
from contextlib import suppress

import peewee
from boto3.s3.transfer import TransferConfig

from drop import crypto
from drop.db.group_commit import durable_write
from drop.db.models import TusPart, give_back_connection
from drop.storage import StorageUnavailable, TempBlob
from drop.storage.s3 import DELETE_BATCH, TUS_LONGEST_LIFE, S3Storage
from drop.storage.s3_parts import CHUNK_BYTES, PART_BYTES, UPLOADS_PREFIX, PartBody
from drop.tus.partials import HASH_READ_BYTES, Appended, ChunkBody

# Below the store's prefix, beside the blob keys (`ab/<token>`, never "uploads/").
TAIL = "tail-"
# The server-side copy of the assembled object to its blob key: in this thread.
COPY_CONFIG = TransferConfig(use_threads=False)


def _nothing() -> None:
    pass


class S3PartialUploads:
    """Partial uploads as S3 multipart uploads, their parts in `tus_part` and a tail object."""

    on_local_disk = False  # the node's free-space floor does not apply
    longest_life = TUS_LONGEST_LIFE  # the bucket's lifecycle aborts older multipart uploads

    def __init__(self, storage: S3Storage):
        self._storage = storage

    # --- plumbing

    @property
    def _client(self):
        return self._storage.client

    @property
    def _bucket(self) -> str:
        return self._storage.bucket

    def _base(self, upload_id: str) -> str:
        # Upload ids are drop's own hex names, never a client's; checked all the same.
        if not upload_id or not upload_id.isalnum():
            raise ValueError(f"not a partial upload id: {upload_id!r}")
        return f"{self._storage.prefix}{UPLOADS_PREFIX}{upload_id}/"

    def _data_key(self, upload_id: str) -> str:
        return self._base(upload_id) + "data"

    def _tail_key(self, upload_id: str, start: int) -> str:
        return f"{self._base(upload_id)}{TAIL}{start}"

    @staticmethod
    def _split(key: str) -> tuple[str, str]:
        upload_id, _, multipart_id = key.partition("/")
        return upload_id, multipart_id

    # --- the interface of drop.tus.partials.PartialUploads

    def ensure_dir(self) -> None:
        pass  # nothing local

    def create(self, upload_id: str) -> str:
        """A new multipart upload for `upload_id`; returns the storage key naming both."""
        with self._storage._request("create_multipart_upload"):
            response = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=self._data_key(upload_id)
            )
        return f"{upload_id}/{response['UploadId']}"

    def append(
        self,
        key: str,
        offset: int,
        stream,
        limit: int,
        keep_alive: Callable[[], None] = _nothing,
    ) -> Appended:
        """Stream what `stream` carries into parts, from `offset`, at most `limit` bytes.

        As PartialUploads.append: a stream that fails part-way keeps what arrived (parts
        sent, the rest in the tail) and its error is returned; a body past `limit` keeps
        nothing (UploadTooLarge). The body that reaches the upload's end (`limit` bytes)
        sends its rest as the last part instead of a tail. A store that fails raises
        StorageUnavailable, and the upload stays where it was acknowledged.
        """
        upload_id, multipart_id = self._split(key)
        if self._all_parts_sent(upload_id, offset + limit):
            # A last PATCH whose drop was never committed (the database failed): the
            # client sends the same bytes again, and the store has them all already.
            give_back_connection()
            return _count_body(stream, limit, keep_alive)
        parts = self._parts_within(upload_id, offset)
        start = sum(part.size for part in parts)  # of the tail, and of the part being filled
        number = len(parts) + 1
        give_back_connection()  # none is held while the bytes arrive
        # One buffer, as in S3Storage.receive: an anonymous mapping, given back at once.
        buffer = mmap.mmap(-1, PART_BYTES)
        try:
            filled = self._read_tail(upload_id, start, offset - start, buffer)
            self._forget_other_tails(upload_id, start)
            body = ChunkBody(stream, limit, CHUNK_BYTES, keep_alive)
            for chunk in body:
                taken = 0
                while taken < len(chunk):
                    fits = min(len(chunk) - taken, PART_BYTES - filled)
                    buffer[filled : filled + fits] = chunk[taken : taken + fits]
                    filled += fits
                    taken += fits
                    if filled == PART_BYTES:
                        self._send_part(upload_id, multipart_id, number, buffer, filled)
                        number += 1
                        start += filled
                        filled = 0
            if filled and body.size == limit and body.interrupted_by is None:
                self._send_part(upload_id, multipart_id, number, buffer, filled)  # the last
            elif filled and body.size:
                self._put_tail(upload_id, start, buffer, filled)
        finally:
            with suppress(BufferError):  # a traceback still holds a view: the GC unmaps it
                buffer.close()
        return body.appended()

    def finish(
        self, key: str, storage: S3Storage, keep_alive: Callable[[], None] = _nothing
    ) -> TempBlob:
        """The finished upload as a blob of a new token, for its drop to commit.

        Completes the multipart upload (or finds it completed by an earlier try whose drop
        was never committed), hashes the object by reading it once, and copies it to the
        new token's key in the store. FileNotFoundError: the upload was deleted meanwhile.
        """
        upload_id, multipart_id = self._split(key)
        data_key = self._data_key(upload_id)
        parts = list(
            TusPart.select().where(TusPart.tus_upload_id == upload_id).order_by(TusPart.part_number)
        )
        if parts:
            self._complete(data_key, multipart_id, parts)
        else:  # an empty file: S3 completes no multipart upload without a part
            with self._storage._request("put_object"):
                self._client.put_object(Bucket=self._bucket, Key=data_key, Body=b"")
        size, sha256 = self._hash(data_key, keep_alive)
        token = crypto.new_token()
        with self._storage._request("copy_object"):
            self._client.copy(
                {"Bucket": self._bucket, "Key": data_key},
                self._bucket,
                storage.key(token),
                Config=COPY_CONFIG,
            )
        return TempBlob(token, size, sha256)

    def delete(self, key: str) -> bool:
        """Abort the multipart upload, delete the tails and the assembled object, forget
        the parts; False when nothing of it was there."""
        upload_id, multipart_id = self._split(key)
        found = False
        if multipart_id:
            try:
                with self._storage._request("abort_multipart_upload"):
                    self._client.abort_multipart_upload(
                        Bucket=self._bucket, Key=self._data_key(upload_id), UploadId=multipart_id
                    )
                found = True
            except FileNotFoundError:
                pass
            except StorageUnavailable as error:
                if "NoSuchUpload" not in str(error):
                    raise
        keys = self._object_keys(self._base(upload_id))
        for batch in range(0, len(keys), DELETE_BATCH):
            objects = [{"Key": key} for key in keys[batch : batch + DELETE_BATCH]]
            with self._storage._request("delete_objects"):
                self._client.delete_objects(
                    Bucket=self._bucket, Delete={"Objects": objects, "Quiet": True}
                )
        forgotten = durable_write(
            lambda: TusPart.delete().where(TusPart.tus_upload_id == upload_id).execute()
        )
        return found or bool(keys) or bool(forgotten)

    def listing(self) -> Iterator[tuple[str, float]]:
        """Every partial upload in the bucket, whatever `tus_upload` says: each multipart
        upload (key, when it began), the objects of uploads without one (`<id>/`, their
        latest change), and part rows of uploads with neither (`<id>/`, as if long ago: a
        chunk that was still sending when its upload was terminated). A storage key starts
        with its upload's id."""
        prefix = self._storage.prefix + UPLOADS_PREFIX
        with_multipart = set()
        paginator = self._client.get_paginator("list_multipart_uploads")
        with self._storage._request("list_multipart_uploads"):
            pages = list(paginator.paginate(Bucket=self._bucket, Prefix=prefix))
        for page in pages:
            for upload in page.get("Uploads", []):
                upload_id = upload["Key"][len(prefix) :].partition("/")[0]
                with_multipart.add(upload_id)
                yield f"{upload_id}/{upload['UploadId']}", upload["Initiated"].timestamp()
        latest: dict[str, float] = {}
        paginator = self._client.get_paginator("list_objects_v2")
        with self._storage._request("list_objects"):
            for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    upload_id = item["Key"][len(prefix) :].partition("/")[0]
                    modified = item["LastModified"].timestamp()
                    latest[upload_id] = max(latest.get(upload_id, 0.0), modified)
        for upload_id, modified in latest.items():
            if upload_id not in with_multipart:
                yield f"{upload_id}/", modified
        for (upload_id,) in TusPart.select(TusPart.tus_upload_id).distinct().tuples():
            if upload_id not in with_multipart and upload_id not in latest:
                yield f"{upload_id}/", 0.0

    # --- the steps

    def _all_parts_sent(self, upload_id: str, length: int) -> bool:
        sent = (
            TusPart.select(peewee.fn.COALESCE(peewee.fn.SUM(TusPart.size), 0))
            .where(TusPart.tus_upload_id == upload_id)
            .scalar()
        )
        return length > 0 and sent == length

    def _parts_within(self, upload_id: str, offset: int) -> list[TusPart]:
        """The parts that end at or before `offset`, in order; rows of parts past it (sent
        by a write never acknowledged) are deleted."""
        rows = list(
            TusPart.select().where(TusPart.tus_upload_id == upload_id).order_by(TusPart.part_number)
        )
        kept, end = [], 0
        for row in rows:
            if end + row.size > offset:
                break
            kept.append(row)
            end += row.size
        if len(kept) < len(rows):
            durable_write(
                lambda: (
                    TusPart.delete()
                    .where((TusPart.tus_upload_id == upload_id) & (TusPart.part_number > len(kept)))
                    .execute()
                )
            )
        return kept

    def _read_tail(self, upload_id: str, start: int, length: int, buffer) -> int:
        """The acknowledged tail's `length` bytes into `buffer`; returns `length`."""
        if length == 0:
            return 0
        wanted = f"bytes=0-{length - 1}"
        # A tail rewritten by a write never acknowledged starts with the same bytes:
        # only the first `length` are read.
        with self._storage._request("get_object"):
            response = self._client.get_object(
                Bucket=self._bucket, Key=self._tail_key(upload_id, start), Range=wanted
            )
            filled = 0
            for piece in response["Body"].iter_chunks(CHUNK_BYTES):
                buffer[filled : filled + len(piece)] = piece
                filled += len(piece)
        if filled != length:
            raise StorageUnavailable(
                f"{self._storage.describe()}: the tail of upload {upload_id} holds "
                f"{filled} bytes, not {length}"
            )
        return filled

    def _forget_other_tails(self, upload_id: str, start: int) -> None:
        """Delete tails that are not the acknowledged one (superseded, or never acked)."""
        current = self._tail_key(upload_id, start)
        others = [key for key in self._object_keys(self._base(upload_id) + TAIL) if key != current]
        if others:
            with self._storage._request("delete_objects"):
                self._client.delete_objects(
                    Bucket=self._bucket,
                    Delete={"Objects": [{"Key": key} for key in others], "Quiet": True},
                )

    def _send_part(self, upload_id: str, multipart_id: str, number: int, buffer, size: int):
        try:
            with self._storage._request("upload_part"), PartBody(buffer, size) as body:
                response = self._client.upload_part(
                    Bucket=self._bucket,
                    Key=self._data_key(upload_id),
                    UploadId=multipart_id,
                    PartNumber=number,
                    Body=body,
                )
        except StorageUnavailable as error:
            if "NoSuchUpload" in str(error):  # deleted meanwhile (or aborted by the store)
                raise FileNotFoundError(upload_id) from error
            raise
        durable_write(
            lambda: TusPart.insert(
                tus_upload_id=upload_id, part_number=number, etag=response["ETag"], size=size
            ).execute()
        )
        give_back_connection()

    def _put_tail(self, upload_id: str, start: int, buffer, size: int) -> None:
        with self._storage._request("put_object"), PartBody(buffer, size) as body:
            self._client.put_object(
                Bucket=self._bucket, Key=self._tail_key(upload_id, start), Body=body
            )

    def _complete(self, data_key: str, multipart_id: str, parts: list[TusPart]) -> None:
        listed = [{"PartNumber": part.part_number, "ETag": part.etag} for part in parts]
        try:
            with self._storage._request("complete_multipart_upload"):
                self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=data_key,
                    UploadId=multipart_id,
                    MultipartUpload={"Parts": listed},
                )
        except StorageUnavailable as error:
            if "NoSuchUpload" not in str(error):
                raise
            # Completed by an earlier try whose drop was not committed, or deleted.
            expected = sum(part.size for part in parts)
            with self._storage._request("head_object"):
                found = self._client.head_object(Bucket=self._bucket, Key=data_key)
            if found["ContentLength"] != expected:
                raise FileNotFoundError(data_key) from error

    def _hash(self, data_key: str, keep_alive: Callable[[], None]) -> tuple[int, str]:
        digest = hashlib.sha256()
        size = 0
        with self._storage._request("get_object"):
            response = self._client.get_object(Bucket=self._bucket, Key=data_key)
            for piece in response["Body"].iter_chunks(HASH_READ_BYTES):
                digest.update(piece)
                size += len(piece)
                keep_alive()
        return size, digest.hexdigest()

    def _object_keys(self, prefix: str) -> list[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        with self._storage._request("list_objects"):
            return [
                item["Key"]
                for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix)
                for item in page.get("Contents", [])
            ]


def _count_body(stream, limit: int, keep_alive: Callable[[], None]) -> Appended:
    """Read a body through without keeping it: its size, within `limit`."""
    body = ChunkBody(stream, limit, CHUNK_BYTES, keep_alive)
    for _ in body:
        pass
    return body.appended()
