"""A 2 GiB tus upload through real gunicorn costs its worker only a few MiB of memory, and
one to S3 about a part.

The bytes are made on demand by the test (never 2 GiB in memory on either side), sent by
tuspy in 64 MiB chunks, and the 2 GiB on disk are removed afterwards.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path

import pytest
import requests
from tusclient.client import TusClient

from drop.db.models import open_database
from tests.support.common import LiveServer
from tests.support.tus import UPLOADS

MIB = 1024 * 1024
GIB = 1024 * MIB
FILE_BYTES = 2 * GIB
CHUNK_BYTES = 64 * MIB


class GeneratedFile(io.RawIOBase):
    """`size` bytes made as they are read: MiB number k is one random MiB rotated by
    k * 4099 bytes, so no two MiB are alike and nothing but that one MiB is kept."""

    def __init__(self, size: int):
        self.size = size
        self.position = 0
        self._base = os.urandom(MIB)

    def _block(self, number: int) -> bytes:
        turn = number * 4099 % MIB
        return self._base[turn:] + self._base[:turn]

    def read(self, size: int = -1) -> bytes:
        end = self.size if size < 0 else min(self.size, self.position + size)
        parts = []
        while self.position < end:
            number, inner = divmod(self.position, MIB)
            take = min(MIB - inner, end - self.position)
            parts.append(self._block(number)[inner : inner + take])
            self.position += take
        return b"".join(parts)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = base + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for number in range(self.size // MIB):
            digest.update(self._block(number))
        return digest.hexdigest()


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc status")


def tus_upload(base: str, stream, chunk_size: int) -> dict[str, str]:
    uploader = TusClient(base + UPLOADS).uploader(
        file_stream=stream, chunk_size=chunk_size, metadata={"filename": "big.bin"}
    )
    uploader.upload()
    return uploader.request.response_headers


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_2_gib_tus_upload_grows_the_worker_peak_rss_by_less_than_16_mib(config):
    content = GeneratedFile(FILE_BYTES)
    try:
        with LiveServer(
            config, workers=1, DROP_MAX_UPLOAD_BYTES=FILE_BYTES, DROP_WEB_THREADS=4
        ) as server:
            (worker,) = server.web_worker_pids()
            # Warm the worker up: imports, the database connection, a completed upload.
            warm = tus_upload(server.url, io.BytesIO(os.urandom(300 * 1024)), 128 * 1024)
            assert requests.get(warm["drop-url"], timeout=30).status_code == 200
            before = peak_rss_kib(worker)
            links = tus_upload(server.url, content, CHUNK_BYTES)
            growth_mib = (peak_rss_kib(worker) - before) / 1024
            print(f"2 GiB through tus: worker peak RSS grew by {growth_mib:.1f} MiB")
            assert growth_mib < 16
        token = links["drop-url"].rsplit("/", 1)[1]
        database = open_database(config.effective_database_url)
        with database:
            size, sha256 = database.execute_sql(
                f'SELECT "size", "sha256" FROM "drop" WHERE "token" = {database.param}', (token,)
            ).fetchone()
        assert size == FILE_BYTES
        assert sha256 == content.sha256()
    finally:
        # 2 GiB must not stay behind in pytest's kept temp directories.
        for part in ("blobs", "uploads", "tmp"):
            shutil.rmtree(config.data_dir / part, ignore_errors=True)


S3_FILE_BYTES = 512 * MIB


@pytest.mark.parametrize("backend", ["postgres"])
@pytest.mark.parametrize("blob_store", ["s3"])
def test_a_tus_upload_to_s3_grows_the_worker_by_about_one_part(config, s3_store):
    """Each PATCH streams into 8 MiB parts through one buffer, the tail read back into it:
    the worker holds one part, never the chunk (64 MiB) or the file."""
    content = GeneratedFile(S3_FILE_BYTES)
    with LiveServer(
        config, workers=1, DROP_MAX_UPLOAD_BYTES=S3_FILE_BYTES, DROP_WEB_THREADS=4
    ) as server:
        (worker,) = server.web_worker_pids()
        warm = tus_upload(server.url, io.BytesIO(os.urandom(9 * MIB)), 5 * MIB)
        assert requests.get(warm["drop-url"], timeout=30).status_code == 200
        before = peak_rss_kib(worker)
        # Chunks of 64 MiB and 3 bytes: every PATCH leaves a tail for the next.
        links = tus_upload(server.url, content, CHUNK_BYTES + 3)
        growth_mib = (peak_rss_kib(worker) - before) / 1024
        print(f"512 MiB through tus to S3: worker peak RSS grew by {growth_mib:.1f} MiB")
        assert growth_mib < 16
    token = links["drop-url"].rsplit("/", 1)[1]
    database = open_database(config.effective_database_url)
    with database:
        size, sha256 = database.execute_sql(
            f'SELECT "size", "sha256" FROM "drop" WHERE "token" = {database.param}', (token,)
        ).fetchone()
    assert (size, sha256) == (S3_FILE_BYTES, content.sha256())
