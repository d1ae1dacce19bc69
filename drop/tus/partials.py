"""The bytes of unfinished tus uploads, on local disk under `<data_dir>/uploads/<key>`.

Every touch of a partial upload's bytes goes through `PartialUploads`: create, append at
an offset, finish (the finished bytes as a blob for its drop), delete, list. With
DROP_STORAGE=s3, `S3PartialUploads` (drop/tus/s3_partials.py) takes its place behind
the same few methods, so that any web node can take an upload's next PATCH;
`open_partial_uploads` picks one. Callers keep only the `storage_key` it hands out, which
starts with the upload's id.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from drop.storage import BlobStorage, TempBlob, UploadTooLarge
from drop.storage.local import CHUNK_BYTES, TEMP_SUFFIX

# Reading a finished upload back for its sha256: fewer, larger reads than an upload's.
HASH_READ_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Appended:
    """What one append stored, and what ended it early (None: the body ended normally)."""

    size: int
    interrupted_by: BaseException | None = None


def _nothing() -> None:
    pass


class ChunkBody:
    """A PATCH's body in pieces of `chunk_bytes`, at most `limit` bytes in all, for both
    backends to store as they go.

    Past `limit` it raises UploadTooLarge. A read that fails (the client went away, or was
    too slow) ends it quietly with the error kept: tus keeps what arrived. `keep_alive` is
    called once each piece has been stored, so the caller can hold on to the upload.
    """

    def __init__(self, stream, limit: int, chunk_bytes: int, keep_alive: Callable[[], None]):
        self._stream = stream
        self._limit = limit
        self._chunk_bytes = chunk_bytes
        self._keep_alive = keep_alive
        self.size = 0
        self.interrupted_by: BaseException | None = None

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                chunk = self._stream.read(self._chunk_bytes)
            except Exception as error:  # the client's side: keep what arrived
                self.interrupted_by = error
                return
            if not chunk:
                return
            if self.size + len(chunk) > self._limit:
                raise UploadTooLarge()
            yield chunk
            self.size += len(chunk)
            self._keep_alive()

    def appended(self) -> Appended:
        return Appended(self.size, self.interrupted_by)


@dataclass(frozen=True)
class StagedFile:
    """A finished upload, hard-linked under tmp/ and hashed."""

    path: Path
    size: int
    sha256: str


class PartialStore(Protocol):
    """What drop.tus.records and the tus resources do with an unfinished upload's bytes."""

    on_local_disk: bool  # whether the node's free-space floor applies
    # How long after its creation an upload can last at most, however many chunks keep it
    # alive; None for no bound but DROP_UPLOAD_EXPIRES_IN between chunks.
    longest_life: datetime.timedelta | None

    def ensure_dir(self) -> None: ...

    def create(self, upload_id: str) -> str:
        """Room for a new upload's bytes; returns its storage key."""

    def append(
        self, key: str, offset: int, stream, limit: int, keep_alive: Callable[[], None] = ...
    ) -> Appended:
        """Store what `stream` carries at `offset` (see PartialUploads.append)."""

    def finish(
        self, key: str, storage: BlobStorage, keep_alive: Callable[[], None] = ...
    ) -> TempBlob:
        """The finished upload as a blob of a new token, hashed."""

    def delete(self, key: str) -> bool: ...

    def listing(self) -> Iterator[tuple[str, float]]:
        """(storage key, last change in epoch seconds) of everything stored."""


class PartialUploads:
    """Partial uploads as files named by their storage key, grown by appends."""

    on_local_disk = True  # under the node's free-space floor
    longest_life = None

    def __init__(self, root: Path):
        self.dir = Path(root) / "uploads"
        self.temp_dir = Path(root) / "tmp"

    def ensure_dir(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        # Keys are this module's own hex names, never a client's; checked all the same.
        if not key or not key.isalnum():
            raise ValueError(f"not a partial upload key: {key!r}")
        return self.dir / key

    def create(self, upload_id: str) -> str:
        """An empty partial upload; returns its storage key."""
        self.ensure_dir()
        key = upload_id
        with open(self._path(key), "xb") as new:
            os.fsync(new.fileno())
        return key

    def append(
        self,
        key: str,
        offset: int,
        stream,
        limit: int,
        keep_alive: Callable[[], None] = _nothing,
    ) -> Appended:
        """Write what `stream` carries at `offset`, at most `limit` bytes, durably.

        Bytes past `offset` left by an append that was never acknowledged are cut off
        first. A stream that fails part-way (the client went away, or was too slow)
        keeps what arrived: it is flushed to disk and its error returned, for the
        caller to record the new offset before answering. A body longer than `limit`
        stores nothing (UploadTooLarge). `keep_alive` is called for every piece written,
        so the caller can hold on to the upload while a long body arrives.
        """
        body = ChunkBody(stream, limit, CHUNK_BYTES, keep_alive)
        with open(self._path(key), "r+b") as out:
            out.truncate(offset)
            out.seek(offset)
            try:
                for chunk in body:
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            except (UploadTooLarge, OSError):
                # Nothing of this append is kept: the offset stays where it was. (Any other
                # error, such as losing the upload to another request, leaves the file to
                # whoever holds it now.)
                out.truncate(offset)
                raise
        return body.appended()

    def stage(self, key: str, keep_alive: Callable[[], None] = _nothing) -> StagedFile:
        """The finished upload as a file that BlobStorage.adopt makes a blob of.

        Its sha256 is computed by reading the file once. The temp blob is a hard link:
        the partial upload stays whole until `delete`, so a drop whose row cannot be
        committed leaves the upload as it was, to be completed again.
        """
        path = self._path(key)
        digest = hashlib.sha256()
        buffer = bytearray(HASH_READ_BYTES)
        view = memoryview(buffer)
        size = 0
        with open(path, "rb", buffering=0) as source:
            while read := source.readinto(buffer):
                digest.update(view[:read])
                size += read
                keep_alive()
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        staged = self.temp_dir / (secrets.token_hex(16) + TEMP_SUFFIX)
        os.link(path, staged)
        return StagedFile(staged, size, digest.hexdigest())

    def finish(
        self, key: str, storage: BlobStorage, keep_alive: Callable[[], None] = _nothing
    ) -> TempBlob:
        """The finished upload as a blob of a new token for its drop to commit (staged,
        then adopted by `storage`). The partial upload stays until `delete`."""
        staged = self.stage(key, keep_alive)
        return storage.adopt(staged.path, staged.size, staged.sha256)

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def listing(self) -> Iterator[tuple[str, float]]:
        """Every partial upload on disk, with its last change, whatever the database says."""
        if not self.dir.is_dir():
            return
        for entry in self.dir.iterdir():
            try:
                yield entry.name, entry.stat().st_mtime
            except FileNotFoundError:  # deleted while listed
                continue
