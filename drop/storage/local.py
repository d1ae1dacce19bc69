"""Blobs on local disk, under `data_dir/blobs/ab/<token>`; uploads in progress under `tmp/`."""

from __future__ import annotations

import datetime
import hashlib
import io
import os
import secrets
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from drop import crypto
from drop.clock import naive_utc_epoch
from drop.storage.blobs import LOCAL, StaleUpload, StoredBlob, TempBlob, UploadTooLarge, blob_key
from drop.storage.disk import FreeSpaceFloor

# An upload is copied in pieces this large: four times fewer Python-level reads, hash
# updates and writes per MiB than 64 KiB. 1 MiB (gunicorn's largest read) would add
# another 2 MiB to each upload's memory for little more speed.
CHUNK_BYTES = 256 * 1024
TEMP_SUFFIX = ".part"


class BlobFile(io.FileIO):
    """A blob opened for a response, which can run a callback once the server closes it,
    and knows by then whether the whole body was sent (`completed`).

    A real file object, so gunicorn's wsgi.file_wrapper can hand it to sendfile().
    """

    def __init__(self, path: Path):
        super().__init__(path, "rb")
        self._on_close: Callable[[], None] | None = None
        self._left: int | None = None  # bytes of the selected range not yet read
        self.length = os.fstat(self.fileno()).st_size  # the body's bytes
        self.sent = 0  # of them, those the server has handed to the connection
        self._unconfirmed = 0  # the last chunk read: not sent until the next read

    def select(self, start: int, length: int) -> None:
        """Serve only `length` bytes from `start`: gunicorn's sendfile() starts at the
        file's position and sends Content-Length bytes; plain reads stop at the end."""
        self.seek(start)
        self._left = length
        self.length = length

    def read(self, size: int = -1) -> bytes:
        # A server that reads (no sendfile: TLS, the test client) writes each chunk before
        # it asks for the next, so the chunk before this read has been sent.
        self.sent += self._unconfirmed
        if self._left is None:
            chunk = super().read(size)
        else:
            if size is None or size < 0 or size > self._left:
                size = self._left
            chunk = super().read(size)
            self._left -= len(chunk)
        self._unconfirmed = len(chunk)
        return chunk

    def note_sent(self, count: int) -> None:
        """`count` bytes went out through sendfile() (drop.serving.PacedSocket).

        The most, not a sum: socket.sendfile() may fall back to reads, already counted."""
        self.sent = max(self.sent, count)

    @property
    def completed(self) -> bool:
        """Every byte of the body was handed to the connection."""
        return self.sent >= self.length

    def after_close(self, callback: Callable[[], None]) -> None:
        self._on_close = callback

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()


class LocalStorage:
    """Keeps blobs under `root/blobs/ab/<token>` and uploads in progress under `root/tmp`."""

    kind = LOCAL

    def __init__(self, root: Path, min_free_bytes: int = 0):
        self.root = Path(root)
        self.blob_dir = self.root / "blobs"
        self.temp_dir = self.root / "tmp"
        self.quarantine_dir = self.root / "quarantine"
        self.floor = FreeSpaceFloor(self.root, min_free_bytes)

    def describe(self) -> str:
        return str(self.root)

    def ensure_ready(self) -> None:
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.temp_dir.mkdir(parents=True, exist_ok=True)

    def admit(self, incoming_bytes: int) -> None:
        self.floor.require_room(incoming_bytes)

    def path_for(self, token: str) -> Path:
        return self.blob_dir / blob_key(token)

    def receive(self, stream, limit: int, token: str | None = None) -> TempBlob:
        """Copy `stream` to a temp file in chunks, counting bytes; never more than `limit`.

        `token`: store under this one (a blob copied from another store), else a new one.
        """
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        path = self.temp_dir / (secrets.token_hex(16) + TEMP_SUFFIX)
        digest = hashlib.sha256()
        size = 0
        try:
            with open(path, "wb") as out:
                while chunk := stream.read(CHUNK_BYTES):
                    size += len(chunk)
                    if size > limit:
                        raise UploadTooLarge()
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return TempBlob(token or crypto.new_token(), size, digest.hexdigest(), handle=path)

    def adopt(self, path: Path, size: int, sha256: str) -> TempBlob:
        return TempBlob(crypto.new_token(), size, sha256, handle=Path(path))

    def commit(self, temp: TempBlob) -> None:
        """Move a received upload into place atomically and make the rename durable."""
        target = self.path_for(temp.token)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp.handle, target)
        _fsync_dir(target.parent)

    def discard(self, temp: TempBlob) -> None:
        # Not committed yet (the temp file) or committed just before its row failed.
        Path(temp.handle).unlink(missing_ok=True)
        self.delete(temp.token)

    def open(self, token: str) -> BlobFile:
        return BlobFile(self.path_for(token))

    def open_range(self, token: str, start: int, length: int) -> BlobFile:
        blob = self.open(token)
        blob.select(start, length)
        return blob

    def exists(self, token: str) -> bool:
        return self.path_for(token).is_file()

    def size_of(self, token: str) -> int:
        try:
            return self.path_for(token).stat().st_size
        except FileNotFoundError:
            return 0

    def delete(self, token: str) -> bool:
        try:
            self.path_for(token).unlink()
        except FileNotFoundError:
            return False
        return True

    def delete_many(self, tokens: Iterable[str]) -> list[str]:
        return [token for token in tokens if self.delete(token)]

    def quarantine(self, token: str) -> bool:
        """Move a blob out of the served tree into `quarantine/<token>`; False if it is gone.

        Nothing serves, sweeps or purges that directory: the operator inspects and
        deletes what is there.
        """
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(self.path_for(token), self.quarantine_dir / token)
        except FileNotFoundError:
            return False
        _fsync_dir(self.quarantine_dir)
        return True

    def blob_tokens(self) -> Iterator[StoredBlob]:
        """Every blob on disk in token order, whatever the database says.

        Only reconciliation walks this. One shard directory (1/256th of the blobs) is
        held in memory at a time, to sort it.
        """
        if not self.blob_dir.is_dir():
            return
        for shard in sorted(self.blob_dir.iterdir()):
            if shard.is_dir():
                for name in sorted(entry.name for entry in os.scandir(shard)):
                    try:
                        stat = (shard / name).stat()
                    except FileNotFoundError:
                        continue  # deleted since the directory was read
                    yield StoredBlob(name, stat.st_size, stat.st_mtime)

    def stale_uploads(self, now: datetime.datetime, older_than_seconds: float) -> list[StaleUpload]:
        """Temp files not written to for `older_than_seconds`: an upload still receiving
        bytes keeps touching its own."""
        if not self.temp_dir.is_dir():
            return []
        cutoff = naive_utc_epoch(now) - older_than_seconds
        return [
            StaleUpload(str(path), path)
            for path in sorted(self.temp_dir.iterdir())
            if path.stat().st_mtime < cutoff
        ]

    def remove_stale_upload(self, stale: StaleUpload) -> None:
        Path(stale.handle).unlink(missing_ok=True)

    def accel_path(self, token: str) -> str:
        return blob_key(token)

    def redirect_url(self, token: str, headers: dict[str, str]) -> str:
        raise NotImplementedError("a local blob has no URL of its own; use DROP_ACCEL_REDIRECT")

    def probe(self) -> str | None:
        try:
            self.ensure_ready()
            # One byte, flushed: an empty file still fits on a disk that is full.
            with tempfile.NamedTemporaryFile(dir=self.temp_dir, prefix="probe-") as f:
                f.write(b"r")
                f.flush()
        except OSError as error:
            return f"{self.root} is not writable: {error.strerror}"
        return None

    def readiness(self) -> str | None:
        if self.probe() is not None:
            return "not writable"
        if self.floor.below():
            return "below DROP_MIN_FREE_BYTES"
        return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
