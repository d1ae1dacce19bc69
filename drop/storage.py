"""Blobs on local disk. A blob's path derives from its token alone."""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# An upload is copied in pieces this large: four times fewer Python-level reads, hash
# updates and writes per MiB than 64 KiB. 1 MiB (gunicorn's largest read) would add
# another 2 MiB to each upload's memory for little more speed.
CHUNK_BYTES = 256 * 1024
TEMP_SUFFIX = ".part"


class UploadTooLarge(Exception):
    """The body part carried more bytes than the configured limit."""


@dataclass(frozen=True)
class TempBlob:
    path: Path
    size: int
    sha256: str


class BlobFile(io.FileIO):
    """A blob opened for a response, which can run a callback once the server closes it.

    A real file object, so gunicorn's wsgi.file_wrapper can hand it to sendfile().
    """

    def __init__(self, path: Path):
        super().__init__(path, "rb")
        self._on_close: Callable[[], None] | None = None
        self._left: int | None = None  # bytes of the selected range not yet read

    def select(self, start: int, length: int) -> None:
        """Serve only `length` bytes from `start`: gunicorn's sendfile() starts at the
        file's position and sends Content-Length bytes; plain reads stop at the end."""
        self.seek(start)
        self._left = length

    def read(self, size: int = -1) -> bytes:
        if self._left is None:
            return super().read(size)
        if size is None or size < 0 or size > self._left:
            size = self._left
        chunk = super().read(size)
        self._left -= len(chunk)
        return chunk

    def after_close(self, callback: Callable[[], None]) -> None:
        self._on_close = callback

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()


def blob_key(token: str) -> str:
    """A blob's path below the blob directory (also the tail of its X-Accel-Redirect URI)."""
    return f"{token[:2]}/{token}"


class BlobStorage:
    """Keeps blobs under `root/blobs/ab/<token>` and uploads in progress under `root/tmp`."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.blob_dir = self.root / "blobs"
        self.temp_dir = self.root / "tmp"
        self.quarantine_dir = self.root / "quarantine"

    def ensure_dirs(self) -> None:
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.temp_dir.mkdir(parents=True, exist_ok=True)

    def path_for(self, token: str) -> Path:
        return self.blob_dir / blob_key(token)

    def receive(self, stream, limit: int) -> TempBlob:
        """Copy `stream` to a temp file in chunks, counting bytes; never more than `limit`."""
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
        return TempBlob(path, size, digest.hexdigest())

    def commit(self, temp: TempBlob, token: str) -> Path:
        """Move a received upload into place atomically and make the rename durable."""
        target = self.path_for(token)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp.path, target)
        _fsync_dir(target.parent)
        return target

    def open(self, token: str) -> BlobFile:
        return BlobFile(self.path_for(token))

    def exists(self, token: str) -> bool:
        return self.path_for(token).is_file()

    def delete(self, token: str) -> bool:
        try:
            self.path_for(token).unlink()
        except FileNotFoundError:
            return False
        return True

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

    def blob_tokens(self) -> Iterator[tuple[str, os.stat_result]]:
        """Every blob on disk, with its stat, whatever the database says."""
        if not self.blob_dir.is_dir():
            return
        for shard in self.blob_dir.iterdir():
            if shard.is_dir():
                for blob in shard.iterdir():
                    yield blob.name, blob.stat()

    def stale_temp_files(self, older_than_seconds: float) -> list[Path]:
        if not self.temp_dir.is_dir():
            return []
        cutoff = time.time() - older_than_seconds
        return [p for p in self.temp_dir.iterdir() if p.stat().st_mtime < cutoff]

    def bytes_on_disk(self) -> int:
        return sum(stat.st_size for _, stat in self.blob_tokens())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
